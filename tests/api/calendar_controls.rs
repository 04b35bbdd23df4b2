//! The sync settings page against the fake Google: polling, sync now, what counts as busy, turning
//! sync off, disconnecting, and the bad input each control refuses.

use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::calendar_connection;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::fake_google::{self, timed, FAMILY};
use crate::helpers::google::{busy_from_google, connect};
use crate::helpers::{default_now, TestApp};

const MENTOR: &str = "ctl-mentor-1";
const STUDENT: &str = "ctl-student-1";
const UPDATE: &str = "mutation($i: CalendarSyncSettingsInput!) { updateCalendarSync(input: $i) { state syncEnabled frequencyMinutes calendars { id countsAsBusy receivesSessions } } }";

async fn google_busy(app: &TestApp) -> Vec<(String, String)> {
    busy_from_google(app, MENTOR)
        .await
        .into_iter()
        .map(|b| (b.calendar_id.unwrap_or_default(), b.start_at.to_rfc3339()))
        .collect()
}

async fn status(app: &TestApp, mentor: &str) -> Value {
    app.ok(
        mentor,
        "{ calendarStatus { state syncEnabled nextSyncAt lastSyncedAt } }",
        json!({}),
    )
    .await["calendarStatus"]
        .clone()
}

fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    default_now() + chrono::Duration::minutes(minutes)
}

crate::with_fake_google! {
    async fn polls_follow_the_frequency_and_sync_now_reads_at_once(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        // A clock with nanoseconds, as in production: PostgreSQL keeps microseconds, and the poll
        // must still find itself due.
        app.clock.set(default_now() + chrono::Duration::nanoseconds(123_456_789));
        let primary = fake_google::ACCOUNT;
        google.put_event(primary, timed("a", "2026-01-06T10:00:00Z", "2026-01-06T11:00:00Z"));
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google_busy(&app).await.len(), 1);
        let reads = || google.event_reads().len();
        let after_first = reads();
        let now = status(&app, &mentor).await;
        assert_eq!(
            now["nextSyncAt"].as_str().map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
            Some(at(15)),
            "{now}"
        );

        // Nothing is due before the next poll; at it, the change is read.
        google.put_event(primary, timed("b", "2026-01-06T12:00:00Z", "2026-01-06T13:00:00Z"));
        app.clock.set(at(14));
        app.jobs.drain().await.unwrap();
        assert_eq!(reads(), after_first);
        assert_eq!(reads(), after_first);
        app.clock.set(at(15));
        app.jobs.drain().await.unwrap();
        assert_eq!(reads(), after_first + 1);
        assert_eq!(google_busy(&app).await.len(), 2);

        // Sync now: SYNCING until the job runs, then IDLE; it moves the next poll, and the poll it
        // replaced does nothing when its time comes.
        google.put_event(primary, timed("c", "2026-01-06T14:00:00Z", "2026-01-06T15:00:00Z"));
        app.clock.set(at(20));
        let asked = app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        assert_eq!(asked["syncCalendarNow"]["state"], "SYNCING");
        app.jobs.drain().await.unwrap();
        assert_eq!(status(&app, &mentor).await["state"], "IDLE");
        assert_eq!(google_busy(&app).await.len(), 3);
        let before_stale = reads();
        app.clock.set(at(30)); // the old poll's time (15 + 15)
        app.jobs.drain().await.unwrap();
        assert_eq!(reads(), before_stale, "the replaced poll read nothing");
        app.clock.set(at(35)); // 20 + 15
        app.jobs.drain().await.unwrap();
        assert_eq!(reads(), before_stale + 1);

        // A faster frequency brings the next poll forward.
        let changed = app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "frequencyMinutes": 5 } })).await;
        assert_eq!(changed["updateCalendarSync"]["frequencyMinutes"], 5);
        app.clock.set(at(40));
        app.jobs.drain().await.unwrap();
        assert_eq!(reads(), before_stale + 2);
    }

    async fn what_counts_as_busy_is_the_mentors_choice(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        google.put_event(fake_google::ACCOUNT, timed("a", "2026-01-06T10:00:00Z", "2026-01-06T11:00:00Z"));
        google.put_event(FAMILY, timed("f", "2026-01-07T10:00:00Z", "2026-01-07T11:00:00Z"));
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google_busy(&app).await, vec![(fake_google::ACCOUNT.to_string(), "2026-01-06T10:00:00+00:00".to_string())]);

        // Family counts instead of the primary: the primary's busy time goes at once, Family's is read.
        let changed = app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "busyCalendarIds": [FAMILY], "sessionCalendarId": FAMILY } })).await;
        let calendars = changed["updateCalendarSync"]["calendars"].as_array().unwrap().clone();
        let family = calendars.iter().find(|c| c["id"] == FAMILY).unwrap();
        assert_eq!((family["countsAsBusy"].as_bool(), family["receivesSessions"].as_bool()), (Some(true), Some(true)));
        assert!(calendars.iter().filter(|c| c["id"] != FAMILY).all(|c| c["countsAsBusy"] == false && c["receivesSessions"] == false));
        assert!(google_busy(&app).await.is_empty(), "freed before any read");
        app.jobs.drain().await.unwrap();
        assert_eq!(google_busy(&app).await, vec![(FAMILY.to_string(), "2026-01-07T10:00:00+00:00".to_string())]);

        // The account loses Family: connecting again drops the busy time read from it.
        google.remove_calendar(FAMILY);
        connect(&app, &mentor).await;
        assert!(google_busy(&app).await.is_empty(), "{:?}", google_busy(&app).await);
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "busyCalendarIds": [fake_google::ACCOUNT] } })).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google_busy(&app).await.len(), 1);

        // Sync off: DISABLED, and polls read nothing; on again: read at once.
        let off = app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "enabled": false } })).await;
        assert_eq!((off["updateCalendarSync"]["state"].as_str(), off["updateCalendarSync"]["syncEnabled"].as_bool()), (Some("DISABLED"), Some(false)));
        let reads = google.event_reads().len();
        app.clock.set(at(60));
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event_reads().len(), reads);
        app.fails(Some(&mentor), "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({}), "BAD_USER_INPUT").await;
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "enabled": true } })).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event_reads().len(), reads + 1);
    }

    async fn disconnecting_revokes_forgets_and_frees(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        google.put_event(fake_google::ACCOUNT, timed("a", "2026-01-06T10:00:00Z", "2026-01-06T11:00:00Z"));
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google_busy(&app).await.len(), 1);
        let done = app.ok(&mentor, "mutation { disconnectCalendar(provider: GOOGLE) { connected state calendars { id } } }", json!({})).await;
        assert_eq!(done["disconnectCalendar"], json!({ "connected": false, "state": "DISCONNECTED", "calendars": [] }));
        assert_eq!(google.revoked().len(), 1, "the grant was revoked at Google");
        assert!(google.revoked()[0].starts_with("1//refresh-"));
        assert!(google_busy(&app).await.is_empty());
        assert!(calendar_connection::Entity::find().one(app.services.db.conn()).await.unwrap().is_none(), "tokens forgotten");
        // Polls left behind do nothing; disconnecting again says there is nothing to disconnect.
        let reads = google.event_reads().len();
        app.clock.set(at(60));
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event_reads().len(), reads);
        app.fails(Some(&mentor), "mutation { disconnectCalendar(provider: GOOGLE) { state } }", json!({}), "BAD_USER_INPUT").await;
    }

    async fn the_controls_refuse_bad_input(app, _google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        // Not connected yet.
        for op in ["mutation { syncCalendarNow(provider: GOOGLE) { state } }", "mutation { disconnectCalendar(provider: GOOGLE) { state } }"] {
            app.fails(Some(&mentor), op, json!({}), "BAD_USER_INPUT").await;
        }
        connect(&app, &mentor).await;
        for minutes in [0, 4, 1441, -15] {
            let error = app.fails(Some(&mentor), UPDATE, json!({ "i": { "provider": "GOOGLE", "frequencyMinutes": minutes } }), "BAD_USER_INPUT").await;
            assert!(error["message"].as_str().unwrap().contains("frequencyMinutes"), "{error}");
        }
        let error = app.fails(Some(&mentor), UPDATE, json!({ "i": { "provider": "GOOGLE", "busyCalendarIds": ["someone-else@gmail.example"] } }), "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap().contains("busyCalendarIds"), "{error}");
        app.fails(Some(&mentor), UPDATE, json!({ "i": { "provider": "GOOGLE", "sessionCalendarId": "x".repeat(10_000) } }), "BAD_USER_INPUT").await;
        // Nothing changed by the refusals.
        let now = app.ok(&mentor, "{ calendarStatus { frequencyMinutes calendars { countsAsBusy } } }", json!({})).await;
        assert_eq!(now["calendarStatus"]["frequencyMinutes"], 15);
        for op in [
            "mutation { syncCalendarNow(provider: GOOGLE) { state } }",
            "mutation { disconnectCalendar(provider: GOOGLE) { state } }",
        ] {
            app.fails(Some(&student), op, json!({}), "FORBIDDEN").await;
        }
        app.fails(Some(&student), UPDATE, json!({ "i": { "provider": "GOOGLE", "enabled": false } }), "FORBIDDEN").await;
        app.fails(Some(&mentor), UPDATE, json!({ "i": { "provider": "OUTLOOK", "enabled": false } }), "BAD_USER_INPUT").await;
    }

    async fn the_seeds_rest_route_connects_or_syncs(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        let post = |token: Option<&str>, body: &str| {
            let mut request = app
                .client
                .post(app.url("/calendar/sync"))
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        // Not connected: where to connect.
        let answer = post(Some(&mentor), r#"{"provider":"google"}"#).await.unwrap();
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["connected"], false);
        assert!(body["authorizationUrl"].as_str().unwrap().starts_with(&google.url), "{body}");
        // Connected: a sync starts and the status comes back.
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        let reads = google.event_reads().len();
        let body: Value = post(Some(&mentor), "").await.unwrap().json().await.unwrap();
        assert_eq!((body["state"].as_str(), body["accountEmail"].as_str()), (Some("SYNCING"), Some(fake_google::ACCOUNT)));
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event_reads().len(), reads + 1);
        // Bad bodies and callers.
        for (token, body, status) in [
            (Some(mentor.as_str()), "{not json", 400),
            (Some(mentor.as_str()), r#"{"provider":"yahoo"}"#, 400),
            (Some(mentor.as_str()), r#"{"provider":7}"#, 400),
            (Some(student.as_str()), r#"{"provider":"google"}"#, 403),
            (None, r#"{"provider":"google"}"#, 401),
        ] {
            let answer = post(token, body).await.unwrap();
            assert_eq!(answer.status(), status, "{body}");
            let error: Value = answer.json().await.unwrap();
            assert!(error["error"]["code"].is_string(), "{error}");
        }
    }

    async fn a_failed_read_says_so_and_polling_goes_on(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        google.put_event(fake_google::ACCOUNT, timed("a", "2026-01-06T10:00:00Z", "2026-01-06T11:00:00Z"));
        connect(&app, &mentor).await;
        // Google fails every read for a while: the connection says ERROR with why, what was known
        // stays, and the next poll is still scheduled.
        google.fail_reads(usize::MAX);
        let report = app.jobs.drain().await.unwrap();
        let now = app.ok(&mentor, "{ calendarStatus { state lastError nextSyncAt } }", json!({})).await["calendarStatus"].clone();
        assert_eq!(now["state"], "ERROR", "{now} {report:?}");
        assert!(now["lastError"].as_str().unwrap().contains("Google Calendar"), "{now}");
        assert!(now["nextSyncAt"].is_string(), "{now}");
        assert!(google_busy(&app).await.is_empty());
        // Google is back: the next poll reads, and the status is IDLE again.
        google.fail_reads(0);
        app.clock.set(at(16));
        app.jobs.drain().await.unwrap();
        assert_eq!(status(&app, &mentor).await["state"], "IDLE");
        assert_eq!(google_busy(&app).await.len(), 1);
    }
}
