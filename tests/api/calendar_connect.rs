//! Connecting Google Calendar against the fake Google: the consent URL, the way back through this
//! service's callback (and the dashboard's mutation), single-use states, tokens sealed at rest.

use std::collections::HashMap;

use mentor_scheduler::auth::vault::TokenVault;
use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::calendar_connection;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::fake_google;
use crate::helpers::{default_now, TestApp};

const MENTOR: &str = "cal-mentor-1";
const OTHER_MENTOR: &str = "cal-mentor-2";
const STUDENT: &str = "cal-student-1";

const CONNECT: &str =
    "mutation($p: CalendarProvider!) { connectCalendar(provider: $p) { authorizationUrl state } }";
const STATUS: &str =
    "{ calendarStatus { provider connected state syncEnabled frequencyMinutes accountEmail \
    lastSyncedAt pushActive calendars { id name primary countsAsBusy receivesSessions } } }";
const COMPLETE: &str = "mutation($c: String!, $s: String!) { completeCalendarConnection(provider: GOOGLE, code: $c, state: $s) { connected state accountEmail } }";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The mentor opens the consent URL and "allows": Google's redirect, as a URL on this service.
async fn consent(app: &TestApp, authorization_url: &str) -> String {
    let answer = no_redirects().get(authorization_url).send().await.unwrap();
    assert_eq!(answer.status(), 303, "the fake consents by redirecting");
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    // Google sends the browser to GOOGLE_REDIRECT_URI; here, this service's callback on its real port.
    let path = location
        .split_once("/calendar/")
        .map(|(_, rest)| rest)
        .unwrap();
    app.url(&format!("/calendar/{path}"))
}

/// Follows the way back through this service; the dashboard URL it redirects to.
async fn come_back(url: &str) -> String {
    let answer = no_redirects().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 303, "{url}");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert_eq!(answer.headers()["referrer-policy"], "no-referrer");
    answer.headers()["location"].to_str().unwrap().to_string()
}

async fn start(app: &TestApp, token: &str) -> (String, String) {
    let data = app.ok(token, CONNECT, json!({ "p": "GOOGLE" })).await;
    let start = &data["connectCalendar"];
    (
        start["authorizationUrl"].as_str().unwrap().to_string(),
        start["state"].as_str().unwrap().to_string(),
    )
}

async fn status(app: &TestApp, token: &str) -> Value {
    app.ok(token, STATUS, json!({})).await["calendarStatus"].clone()
}

crate::with_fake_google! {
    async fn a_mentor_connects_google_and_the_tokens_are_sealed(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "America/New_York").await;
        assert_eq!(status(&app, &mentor).await["state"], "DISCONNECTED");
        let (url, state) = start(&app, &mentor).await;

        // The consent URL: offline access, consent forced, PKCE S256, our state and scopes.
        let asked = query_of(&url);
        assert!(url.starts_with(&format!("{}/o/oauth2/v2/auth?", google.url)), "{url}");
        assert_eq!(asked["client_id"], fake_google::CLIENT_ID);
        assert_eq!((asked["access_type"].as_str(), asked["prompt"].as_str()), ("offline", "consent"));
        assert_eq!(asked["code_challenge_method"], "S256");
        assert_eq!(asked["state"], state);
        assert!(asked["scope"].contains("https://www.googleapis.com/auth/calendar.events"));
        assert!(asked["redirect_uri"].ends_with("/calendar/oauth/google/callback"));

        let back = consent(&app, &url).await;
        let dashboard = come_back(&back).await;
        assert_eq!(dashboard, "http://localhost:3000/settings/calendar?provider=google&result=connected");

        // The code was traded with the verifier (the fake checked it against the challenge) and
        // the client's credentials as form fields.
        let exchange = &google.token_requests()[0];
        assert_eq!(exchange["grant_type"], "authorization_code");
        assert!(exchange["code_verifier"].len() >= 43);
        assert_eq!(exchange["redirect_uri"], asked["redirect_uri"]);

        let now = status(&app, &mentor).await;
        assert_eq!(now["connected"], true);
        assert_eq!(now["state"], "IDLE");
        assert_eq!(now["syncEnabled"], true);
        assert_eq!(now["frequencyMinutes"], 15);
        assert_eq!(now["accountEmail"], fake_google::ACCOUNT);
        assert_eq!(now["pushActive"], false);
        // Every page of the calendar list, the primary first; it alone counts and receives sessions.
        let calendars = now["calendars"].as_array().unwrap();
        assert_eq!(calendars.len(), 3, "{now}");
        assert_eq!(calendars[0], json!({ "id": fake_google::ACCOUNT, "name": "Mentoring", "primary": true,
            "countsAsBusy": true, "receivesSessions": true }));
        assert!(calendars[1..].iter().all(|c| c["countsAsBusy"] == false && c["receivesSessions"] == false));

        // The REST status says the same.
        let rest: Value = app.client.get(app.url("/calendar/status?provider=google")).bearer_auth(&mentor)
            .send().await.unwrap().json().await.unwrap();
        assert_eq!((rest["state"].as_str(), rest["accountEmail"].as_str()), (Some("IDLE"), Some(fake_google::ACCOUNT)));

        // Tokens at rest: sealed (no token in the clear), and they open with the data dir's key
        // only where they are kept.
        let row = calendar_connection::Entity::find().one(app.services.db.conn()).await.unwrap().unwrap();
        let access = row.access_token.clone().unwrap();
        let refresh = row.refresh_token.clone().unwrap();
        assert!(!access.contains("ya29") && !refresh.contains("1//"), "{access} {refresh}");
        let vault = TokenVault::load(None, app.data_dir()).unwrap();
        let context = format!("calendar/google/{MENTOR}/refresh");
        assert!(vault.open(&context, &refresh).unwrap().expose().starts_with("1//refresh-"));
        assert!(vault.open(&context, &access).is_err(), "an access token does not open as the refresh token");
        assert!(!format!("{row:?}").contains("ya29"));

        // Coming back with the same URL again changes nothing: the state is spent.
        let again = come_back(&back).await;
        assert!(again.ends_with("result=error&reason=invalid_state"), "{again}");
        assert_eq!(google.token_requests().len(), 1, "a spent state never reaches Google");
    }

    async fn forged_expired_and_foreign_states_change_nothing(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let other = app.user(OTHER_MENTOR, Role::Mentor, "Europe/London").await;
        let callback = |query: &str| app.url(&format!("/calendar/oauth/google/callback?{query}"));

        // Forged, missing, absurd.
        for (query, reason) in [
            ("code=4/0Afake&state=forged-state", "invalid_state"),
            ("code=4/0Afake", "invalid_state"),
            (&*format!("code=x&state={}", "s".repeat(5000)), "invalid_state"),
        ] {
            let to = come_back(&callback(query)).await;
            assert!(to.ends_with(&format!("result=error&reason={reason}")), "{query}: {to}");
        }
        assert!(come_back(&app.url("/calendar/oauth/outlook/callback?code=x&state=y")).await.contains("provider=outlook&result=error"));
        let unknown = no_redirects().get(app.url("/calendar/oauth/yahoo/callback?code=x&state=y")).send().await.unwrap();
        assert_eq!(unknown.status(), 404);

        // Expired: more than 10 minutes between asking and coming back.
        let (url, _) = start(&app, &mentor).await;
        let back = consent(&app, &url).await;
        app.clock.set(default_now() + chrono::Duration::minutes(11));
        assert!(come_back(&back).await.ends_with("reason=expired_state"));
        app.clock.set(default_now());

        // Another mentor's state through the dashboard's mutation: refused, and the state is spent.
        let (url, state) = start(&app, &mentor).await;
        let code = query_of(&consent(&app, &url).await)["code"].clone();
        let error = app.fails(Some(&other), COMPLETE, json!({ "c": code, "s": state }), "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap().contains("not valid"), "{error}");
        app.fails(Some(&mentor), COMPLETE, json!({ "c": code, "s": state }), "BAD_USER_INPUT").await;

        // The mentor said no on Google's page: nothing connected, the state is spent.
        google.deny_next_consent();
        let (url, _) = start(&app, &mentor).await;
        let back = consent(&app, &url).await;
        assert!(back.contains("error=access_denied"));
        assert!(come_back(&back).await.ends_with("result=error&reason=access_denied"));

        assert!(google.token_requests().is_empty(), "no refused way back reached Google's token endpoint");
        for token in [&mentor, &other] {
            assert_eq!(status(&app, token).await["state"], "DISCONNECTED");
        }
        assert_eq!(google.consents().len(), 3);
    }

    async fn the_dashboard_can_finish_the_connection_itself_once(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Asia/Kolkata").await;
        let (url, state) = start(&app, &mentor).await;
        let code = query_of(&consent(&app, &url).await)["code"].clone();
        let done = app.ok(&mentor, COMPLETE, json!({ "c": code, "s": state })).await;
        assert_eq!(done["completeCalendarConnection"], json!({ "connected": true, "state": "IDLE",
            "accountEmail": fake_google::ACCOUNT }));
        // Replayed: refused before Google sees it.
        app.fails(Some(&mentor), COMPLETE, json!({ "c": code, "s": state }), "BAD_USER_INPUT").await;
        assert_eq!(google.token_requests().len(), 1);
        let all = app.ok(&mentor, "{ calendarConnections { provider connected } }", json!({})).await;
        assert_eq!(all["calendarConnections"], json!([{ "provider": "GOOGLE", "connected": true }]));

        // A code Google refuses (already traded through another state): a clear error, nothing kept.
        let (_, state) = start(&app, &mentor).await;
        let error = app.fails(Some(&mentor), COMPLETE, json!({ "c": code, "s": state }), "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap().contains("code was refused"), "{error}");
    }

    async fn a_consent_without_calendar_access_connects_nothing(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Asia/Kolkata").await;
        // The mentor unticks the calendar boxes on Google's page: only their email is granted.
        google.narrow_next_consent("openid https://www.googleapis.com/auth/userinfo.email");
        let (url, _state) = start(&app, &mentor).await;
        let back = come_back(&consent(&app, &url).await).await;
        assert!(back.ends_with("result=error&reason=insufficient_scopes"), "{back}");
        assert_eq!(status(&app, &mentor).await["connected"], false);
        // Events only (no calendar list): not enough either.
        google.narrow_next_consent("https://www.googleapis.com/auth/calendar.events");
        let (url, _state) = start(&app, &mentor).await;
        let back = come_back(&consent(&app, &url).await).await;
        assert!(back.ends_with("result=error&reason=insufficient_scopes"), "{back}");
        // Connecting again with calendar access works.
        let (url, _state) = start(&app, &mentor).await;
        let back = come_back(&consent(&app, &url).await).await;
        assert!(back.ends_with("result=connected"), "{back}");
    }

    async fn only_mentors_connect_calendars(app, _google) {
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        app.fails(Some(&student), CONNECT, json!({ "p": "GOOGLE" }), "FORBIDDEN").await;
        app.fails(Some(&student), STATUS, json!({}), "FORBIDDEN").await;
        app.fails(None, CONNECT, json!({ "p": "GOOGLE" }), "UNAUTHENTICATED").await;
        let rest = app.client.get(app.url("/calendar/status")).bearer_auth(&student).send().await.unwrap();
        assert_eq!(rest.status(), 403);
        let anonymous = app.client.get(app.url("/calendar/status")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        // A mentor asking again and again holds at most five open states: the oldest stop working.
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let mut states = Vec::new();
        for i in 0..7 {
            app.clock.set(default_now() + chrono::Duration::seconds(i));
            states.push(start(&app, &mentor).await);
        }
        let back = consent(&app, &states[0].0).await;
        assert!(come_back(&back).await.ends_with("reason=invalid_state"));
        let back = consent(&app, &states[6].0).await;
        assert!(come_back(&back).await.ends_with("result=connected"));
        // Providers this server has no client for.
        let error = app.fails(Some(&mentor), CONNECT, json!({ "p": "OUTLOOK" }), "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap().contains("Outlook is not configured"), "{error}");
    }
}

crate::on_both_backends! {
    async fn without_a_google_client_calendar_operations_say_so(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let error = app.fails(Some(&mentor), CONNECT, json!({ "p": "GOOGLE" }), "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap().contains("Google Calendar is not configured"), "{error}");
        // Reading the status still works: nothing is connected.
        assert_eq!(status(&app, &mentor).await["state"], "DISCONNECTED");
    }
}
