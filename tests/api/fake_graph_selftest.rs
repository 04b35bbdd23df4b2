//! The fake Microsoft Graph ([`crate::helpers::fake_graph`]) against itself, through plain HTTP:
//! the PKCE code exchange and refresh-token rotation, delta paging then the delta link (changes,
//! removals, 410 once expired), `transactionId` dedupe and Teams links, the subscription validation
//! handshake (passed, and failed by an endpoint answering wrongly), and throttling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::fake_graph::{
    all_day, join_url, timed, FakeGraph, CALENDAR, CLIENT_ID, CLIENT_SECRET, FAMILY,
};

const REDIRECT: &str = "http://127.0.0.1:9/microsoft/callback";
const VERIFIER: &str = "pkce-verifier-of-at-least-forty-three-chars-0123456789abcdef";
const SCOPE: &str = "openid email offline_access Calendars.ReadWrite";
const UTC: &str = "outlook.timezone=\"UTC\"";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Goes through the consent page with `scope`; the redirect's query.
async fn consent(graph: &FakeGraph, scope: &str) -> HashMap<String, String> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let response = client()
        .get(format!("{}/common/oauth2/v2.0/authorize", graph.base()))
        .query(&[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("response_mode", "query"),
            ("scope", scope),
            ("state", "st 1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let location = url::Url::parse(location).unwrap();
    location.query_pairs().into_owned().collect()
}

async fn token(graph: &FakeGraph, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(format!("{}/common/oauth2/v2.0/token", graph.base()))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn redeem(graph: &FakeGraph, code: &str, verifier: &str) -> (u16, Value) {
    token(
        graph,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("scope", SCOPE),
        ],
    )
    .await
}

async fn refresh(graph: &FakeGraph, refresh_token: &str) -> (u16, Value) {
    token(
        graph,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", SCOPE),
        ],
    )
    .await
}

/// Consents and redeems the code; the access token.
async fn signed_in(graph: &FakeGraph) -> String {
    let back = consent(graph, SCOPE).await;
    let (status, body) = redeem(graph, &back["code"], VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// A Graph call with the token and `Prefer: outlook.timezone="UTC"`.
fn call(method: reqwest::Method, url: &str, access: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, url)
        .bearer_auth(access)
        .header("prefer", UTC)
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn graph_url(graph: &FakeGraph, path: &str) -> String {
    format!("{}/v1.0{path}", graph.base())
}

#[tokio::test]
async fn pkce_exchange_and_refresh_rotation() {
    let graph = FakeGraph::start().await;
    let back = consent(&graph, SCOPE).await;
    assert_eq!(back["state"], "st 1");
    assert!(back.contains_key("session_state"));
    assert_eq!(graph.consents()[0]["code_challenge_method"], "S256");

    // A wrong verifier spends the code.
    let (status, body) = redeem(&graph, &back["code"], "another-verifier").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_codes"].is_array() && body["trace_id"].is_string(),
        "{body}"
    );

    let back = consent(&graph, SCOPE).await;
    let (status, tokens) = redeem(&graph, &back["code"], VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3599);
    assert!(tokens["id_token"].is_string());
    assert!(tokens["scope"]
        .as_str()
        .unwrap()
        .contains("https://graph.microsoft.com/Calendars.ReadWrite"));
    let (status, body) = redeem(&graph, &back["code"], VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "code used twice"
    );

    let access = tokens["access_token"].as_str().unwrap();
    let (status, calendars) = answer(call(
        reqwest::Method::GET,
        &graph_url(&graph, "/me/calendars"),
        access,
    ))
    .await;
    assert_eq!(status, 200, "{calendars}");
    assert_eq!(calendars["value"][0]["id"], CALENDAR);
    assert_eq!(calendars["value"][0]["isDefaultCalendar"], true);
    assert_eq!(calendars["value"][1]["id"], FAMILY);

    // Rotation: a new pair; the old refresh token is spent.
    let old = tokens["refresh_token"].as_str().unwrap();
    let (status, renewed) = refresh(&graph, old).await;
    assert_eq!(status, 200, "{renewed}");
    let new = renewed["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_ne!(renewed["access_token"], tokens["access_token"]);
    let (status, body) = refresh(&graph, old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS70008:"));
    assert_eq!(refresh(&graph, new).await.0, 200);

    // Expired access tokens: 401 in Graph's error shape.
    graph.expire_access_tokens();
    let (status, body) = answer(call(
        reqwest::Method::GET,
        &graph_url(&graph, "/me/calendars"),
        access,
    ))
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["innerError"]["request-id"].is_string());

    // A bad secret; no offline_access, no refresh token; a denied consent; a revoked grant.
    let back = consent(&graph, SCOPE).await;
    let (status, body) = token(
        &graph,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let back = consent(&graph, "Calendars.ReadWrite").await;
    let (status, body) = redeem(&graph, &back["code"], VERIFIER).await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    graph.deny_next_consent();
    let back = consent(&graph, SCOPE).await;
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], "st 1");
    assert!(!back.contains_key("code"));
    let back = consent(&graph, SCOPE).await;
    let (_, tokens) = redeem(&graph, &back["code"], VERIFIER).await;
    graph.revoke_grant();
    let (status, _) = refresh(&graph, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    assert!(graph.token_requests().len() >= 9);
}

fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let id = e["id"].as_str().unwrap();
            if e.get("@removed").is_some() {
                format!("-{id}")
            } else {
                id.to_string()
            }
        })
        .collect()
}

#[tokio::test]
async fn delta_pages_then_reports_changes_and_removals_then_expires() {
    let graph = FakeGraph::start().await;
    let access = signed_in(&graph).await;
    graph.put_event(
        CALENDAR,
        timed("e1", "2026-01-05T09:00:00Z", "2026-01-05T10:00:00Z"),
    );
    graph.put_event(
        CALENDAR,
        timed("e2", "2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"),
    );
    graph.put_event(
        CALENDAR,
        timed("e3", "2026-01-07T09:00:00Z", "2026-01-07T10:00:00Z"),
    );
    graph.put_event(
        CALENDAR,
        timed("later", "2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z"),
    );
    let mut master = timed("series", "2026-01-05T12:00:00Z", "2026-01-05T13:00:00Z");
    master["type"] = json!("seriesMaster");
    graph.put_event(CALENDAR, master);
    graph.put_event(
        CALENDAR,
        all_day(
            "holiday",
            "2026-01-08",
            "2026-01-09",
            "Pacific Standard Time",
        ),
    );
    graph.put_event(
        FAMILY,
        timed("family", "2026-01-05T09:00:00Z", "2026-01-05T10:00:00Z"),
    );

    let first = format!(
        "{}?startDateTime=2026-01-05T00:00:00Z&endDateTime=2026-01-12T00:00:00Z",
        graph_url(
            &graph,
            &format!("/me/calendars/{CALENDAR}/calendarView/delta")
        )
    );
    let (status, page1) = answer(call(reqwest::Method::GET, &first, &access)).await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(ids(&page1), ["e1", "e2"]);
    assert_eq!(
        page1["value"][0]["start"],
        json!({ "dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "UTC" })
    );
    let next = page1["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skiptoken=") && page1.get("@odata.deltaLink").is_none());
    let (_, page2) = answer(call(reqwest::Method::GET, next, &access)).await;
    assert_eq!(ids(&page2), ["e3", "holiday"]);
    assert_eq!(
        page2["value"][1]["start"]["timeZone"],
        "Pacific Standard Time"
    );
    assert_eq!(
        page2["value"][1]["start"]["dateTime"],
        "2026-01-08T00:00:00.0000000"
    );
    let delta_link = page2["@odata.deltaLink"].as_str().unwrap().to_string();
    assert!(delta_link.contains("$deltatoken=") && page2.get("@odata.nextLink").is_none());

    // Unsupported query options.
    let (status, body) = answer(call(
        reqwest::Method::GET,
        &format!("{first}&$select=subject"),
        &access,
    ))
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("ErrorInvalidUrlQuery"))
    );

    // Changes: e1 patched, e2 deleted, e3 moved out of the window, e4 new.
    let (status, patched) = answer(
        call(
            reqwest::Method::PATCH,
            &graph_url(&graph, "/me/events/e1"),
            &access,
        )
        .json(&json!({ "subject": "Moved lunch" })),
    )
    .await;
    assert_eq!(
        (status, patched["subject"].as_str()),
        (200, Some("Moved lunch"))
    );
    graph.remove_event(CALENDAR, "e2");
    graph.put_event(
        CALENDAR,
        timed("e3", "2026-02-07T09:00:00Z", "2026-02-07T10:00:00Z"),
    );
    graph.put_event(
        CALENDAR,
        timed("e4", "2026-01-09T09:00:00Z", "2026-01-09T10:00:00Z"),
    );
    let (status, changes) = answer(
        call(reqwest::Method::GET, &delta_link, &access).header("prefer", "odata.maxpagesize=10"),
    )
    .await;
    assert_eq!(status, 200, "{changes}");
    assert_eq!(ids(&changes), ["e1", "e4", "-e2", "-e3"]);
    assert_eq!(changes["value"][2]["@removed"]["reason"], "deleted");
    assert_eq!(changes["value"][0]["subject"], "Moved lunch");
    let again = changes["@odata.deltaLink"].as_str().unwrap();
    let (_, quiet) = answer(call(reqwest::Method::GET, again, &access)).await;
    assert!(ids(&quiet).is_empty() && quiet["@odata.deltaLink"].is_string());

    // A read without the UTC preference is recorded.
    client()
        .get(&first)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(graph.calls_without_utc().len(), 1);

    graph.expire_delta_tokens();
    let (status, body) = answer(call(reqwest::Method::GET, &delta_link, &access)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("syncStateNotFound"))
    );
    assert_eq!(
        answer(call(reqwest::Method::GET, next, &access)).await.0,
        410
    );
}

#[tokio::test]
async fn transaction_id_dedupes_creates_and_teams_links() {
    let graph = FakeGraph::start().await;
    let access = signed_in(&graph).await;
    let events = graph_url(&graph, &format!("/me/calendars/{CALENDAR}/events"));
    let body = |tx: &str| {
        json!({
            "subject": "Intro",
            "start": { "dateTime": "2026-01-10T15:00:00", "timeZone": "UTC" },
            "end": { "dateTime": "2026-01-10T15:30:00", "timeZone": "UTC" },
            "isOnlineMeeting": true,
            "onlineMeetingProvider": "teamsForBusiness",
            "transactionId": tx,
        })
    };
    let create = |tx: &str| call(reqwest::Method::POST, &events, &access).json(&body(tx));
    let (status, made) = answer(create("tx-1")).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["onlineMeeting"]["joinUrl"], join_url(&id));
    assert!(made["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    let (status, again) = answer(create("tx-1")).await;
    assert_eq!((status, again["id"].as_str()), (201, Some(id.as_str())));
    assert_eq!(graph.events(CALENDAR).len(), 1);

    // The answer is lost; the retry finds the event made.
    graph.lose_next_create_answer();
    let (status, body) = answer(create("tx-2")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("generalException"))
    );
    let (status, retried) = answer(create("tx-2")).await;
    assert_eq!(status, 201);
    assert_eq!(graph.events(CALENDAR).len(), 2);
    assert!(graph
        .event(CALENDAR, retried["id"].as_str().unwrap())
        .is_some());

    // The Teams link only on a later read.
    graph.join_url_later(1);
    let (_, pending) = answer(create("tx-3")).await;
    assert!(pending["onlineMeeting"].is_null() && pending["isOnlineMeeting"] == true);
    let pending_id = pending["id"].as_str().unwrap();
    let path = graph_url(
        &graph,
        &format!("/me/events/{pending_id}?$select=onlineMeeting"),
    );
    let (_, read) = answer(call(reqwest::Method::GET, &path, &access)).await;
    assert_eq!(read["onlineMeeting"]["joinUrl"], join_url(pending_id));
    assert!(read.get("subject").is_none(), "{read}");

    // A personal account makes no Teams meeting.
    graph.without_teams();
    let (_, plain) = answer(create("tx-4")).await;
    assert_eq!(
        (
            plain["isOnlineMeeting"].as_bool(),
            plain["onlineMeeting"].is_null()
        ),
        (Some(false), true)
    );

    // Patch (a stale If-Match refused), delete, then 404.
    let one = graph_url(&graph, &format!("/me/calendars/{CALENDAR}/events/{id}"));
    let (status, patched) = answer(
        call(reqwest::Method::PATCH, &one, &access)
            .json(&json!({ "start": { "dateTime": "2026-01-10T16:00:00", "timeZone": "UTC" } })),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["start"]["dateTime"], "2026-01-10T16:00:00.0000000");
    assert_ne!(patched["@odata.etag"], made["@odata.etag"]);
    let stale = made["@odata.etag"].as_str().unwrap();
    let (status, _) = answer(
        call(reqwest::Method::PATCH, &one, &access)
            .header("if-match", stale)
            .json(&json!({ "subject": "x" })),
    )
    .await;
    assert_eq!(status, 412);
    assert_eq!(
        answer(call(reqwest::Method::DELETE, &one, &access)).await.0,
        204
    );
    let (status, body) = answer(call(reqwest::Method::GET, &one, &access)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("ErrorItemNotFound"))
    );
    let methods: Vec<String> = graph.writes().into_iter().map(|w| w.method).collect();
    assert_eq!(
        methods,
        ["POST", "POST", "POST", "POST", "POST", "POST", "PATCH", "PATCH", "DELETE"]
    );
}

/// A webhook on 127.0.0.1: answers the validation request with `answer(token)`, keeps the rest.
async fn webhook(
    answer: fn(String) -> axum::response::Response,
) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(
            move |Query(q): Query<HashMap<String, String>>, body: axum::body::Bytes| async move {
                match q.get("validationToken") {
                    Some(token) => answer(token.clone()),
                    None => {
                        kept.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                        StatusCode::ACCEPTED.into_response()
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn echo(token: String) -> axum::response::Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        token,
    )
        .into_response()
}

fn wrong(token: String) -> axum::response::Response {
    axum::Json(json!({ "validationToken": token })).into_response()
}

#[tokio::test]
async fn subscription_handshake_passes_or_fails_then_notifies() {
    let graph = FakeGraph::start().await;
    let access = signed_in(&graph).await;
    let (url, seen) = webhook(echo).await;
    let subscriptions = graph_url(&graph, "/subscriptions");
    let request = |url: &str, expires: &str| {
        call(reqwest::Method::POST, &subscriptions, &access).json(&json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": url,
            "resource": "me/events",
            "expirationDateTime": expires,
            "clientState": "our-secret",
        }))
    };
    let (status, body) = answer(request(&url, "2026-01-07T00:00:00Z")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidRequest")),
        "http refused"
    );
    graph.accept_http();
    let (status, _) = answer(request(&url, "2026-01-13T00:00:00Z")).await;
    assert_eq!(status, 400, "more than 10,080 minutes ahead");
    let (status, made) = answer(request(&url, "2026-01-07T00:00:00Z")).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(graph.handshakes(), [200]);
    assert_eq!(made["clientState"], "our-secret");
    assert_eq!(made["applicationId"], CLIENT_ID);
    assert_eq!(graph.subscriptions().len(), 1);

    graph.put_event(
        CALENDAR,
        timed("e1", "2026-01-05T09:00:00Z", "2026-01-05T10:00:00Z"),
    );
    assert_eq!(graph.notify(CALENDAR, "e1").await, [202]);
    assert!(
        graph.notify(FAMILY, "e1").await.is_empty(),
        "no subscription on Family"
    );
    assert_eq!(
        graph
            .notify_with_client_state(CALENDAR, "e1", "forged")
            .await,
        [202]
    );
    let id = made["id"].as_str().unwrap();
    assert_eq!(graph.lifecycle(id, "reauthorizationRequired").await, 202);
    {
        let seen = seen.lock().unwrap();
        let first = &seen[0]["value"][0];
        assert_eq!(first["subscriptionId"], id);
        assert_eq!(first["clientState"], "our-secret");
        assert_eq!(first["changeType"], "updated");
        assert_eq!(first["resourceData"]["id"], "e1");
        assert!(first["resource"].as_str().unwrap().ends_with("/Events/e1"));
        assert_eq!(seen[1]["value"][0]["clientState"], "forged");
        assert_eq!(
            seen[2]["value"][0]["lifecycleEvent"],
            "reauthorizationRequired"
        );
    }

    // Renew, delete, then unknown.
    let one = format!("{subscriptions}/{id}");
    let (status, renewed) = answer(
        call(reqwest::Method::PATCH, &one, &access)
            .json(&json!({ "expirationDateTime": "2026-01-09T00:00:00Z" })),
    )
    .await;
    assert_eq!(status, 200);
    assert!(renewed["expirationDateTime"]
        .as_str()
        .unwrap()
        .starts_with("2026-01-09T00:00:00"));
    assert_eq!(
        answer(call(reqwest::Method::DELETE, &one, &access)).await.0,
        204
    );
    assert_eq!(
        answer(call(reqwest::Method::DELETE, &one, &access)).await.0,
        404
    );

    // An endpoint answering the token as JSON fails the handshake: no subscription.
    let (bad_url, _) = webhook(wrong).await;
    let (status, body) = answer(request(&bad_url, "2026-01-07T00:00:00Z")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("ValidationError"))
    );
    assert_eq!(graph.handshakes(), [200, 200]);
    assert!(graph.subscriptions().is_empty());
}

#[tokio::test]
async fn throttling_answers_with_retry_after() {
    let graph = FakeGraph::start().await;
    let access = signed_in(&graph).await;
    let url = graph_url(&graph, "/me/calendars");
    graph.throttle(429, 2, 7);
    for _ in 0..2 {
        let response = call(reqwest::Method::GET, &url, &access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "TooManyRequests");
    }
    assert_eq!(
        answer(call(reqwest::Method::GET, &url, &access)).await.0,
        200
    );
    graph.throttle_application(1, 3);
    let (status, body) = answer(call(reqwest::Method::GET, &url, &access)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("ApplicationThrottled"))
    );
    graph.throttle(503, 1, 1);
    assert_eq!(
        answer(call(reqwest::Method::GET, &url, &access)).await.0,
        503
    );
    let (status, body) = answer(call(
        reqwest::Method::GET,
        &graph_url(&graph, "/me/nothing"),
        &access,
    ))
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BadRequest"))
    );
    assert_eq!(graph.requests().len(), 6);
}
