//! Push from Google against the fake: channels opened on the busy calendars, the `sync` handshake,
//! a push reading its calendar once however many arrive, a push during a running read asking for
//! another, forged and unknown pushes refused, channels replaced before half their life and
//! stopped when no longer wanted, a refused watch falling back to polling, and the daily whole read
//! that heals a missed push.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::calendar_channel;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::fake_google::{self, timed, FakeGoogle, FAMILY};
use crate::helpers::google::{busy_from_google, connect};
use crate::helpers::schedule::set_schedule;
use crate::helpers::{default_now, TestApp};

const MENTOR: &str = "push-mentor-1";
const STUDENT: &str = "push-student-1";
const PRIMARY: &str = fake_google::ACCOUNT;
const UPDATE: &str = "mutation($i: CalendarSyncSettingsInput!) { updateCalendarSync(input: $i) { state pushActive } }";

async fn status(app: &TestApp, mentor: &str) -> Value {
    app.ok(
        mentor,
        "{ calendarStatus { state pushActive pushExpiresAt nextSyncAt lastError } }",
        json!({}),
    )
    .await["calendarStatus"]
        .clone()
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(|s| s.parse().unwrap())
}

async fn busy_ids(app: &TestApp) -> Vec<String> {
    busy_from_google(app, MENTOR)
        .await
        .into_iter()
        .filter_map(|b| b.external_id)
        .collect()
}

fn at(hour: u32) -> String {
    format!("2026-01-06T{hour:02}:00:00Z")
}

/// Connects with pushes accepted and runs the first sync: one channel on the primary calendar.
async fn connected(app: &TestApp, google: &FakeGoogle) -> String {
    let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
    google.accept_http_pushes();
    connect(app, &mentor).await;
    app.jobs.drain().await.unwrap();
    mentor
}

/// Posts to our webhook with these headers.
async fn push(app: &TestApp, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.client.post(app.url("/calendar/webhook"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// How many hourly slots the mentor offers on Tuesday 2026-01-06, 09:00 to 17:00 UTC.
async fn slots(app: &TestApp, student: &str) -> usize {
    app.ok(student, "query($m: ID!) { availableSlots(mentorId: $m, from: \"2026-01-06T09:00:00Z\", to: \"2026-01-06T17:00:00Z\", durationMinutes: 60) { start } }", json!({ "m": MENTOR }))
        .await["availableSlots"]
        .as_array()
        .unwrap()
        .len()
}

/// A push's headers, by name.
type Headers = Vec<(&'static str, String)>;

fn reads_with_token(google: &FakeGoogle) -> usize {
    google
        .event_reads()
        .iter()
        .filter(|r| r.contains_key("syncToken"))
        .count()
}

crate::with_fake_google! {
    async fn a_push_reads_its_calendar_once_and_slots_follow(app, google) {
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        set_schedule(&app, &mentor, "Europe/London", json!([{ "weekday": "TUESDAY", "start": "09:00", "end": "17:00" }])).await;
        let mentor = connected(&app, &google).await;

        // The first sync opened a channel on the busy calendar only, to our webhook, with a token;
        // the handshake Google posted before answering was accepted and read nothing.
        let watches = google.watches();
        assert_eq!(watches.len(), 1, "{watches:?}");
        assert_eq!(watches[0]["address"], app.url("/calendar/webhook"));
        assert!(watches[0]["token"].as_str().is_some_and(|t| t.len() >= 40));
        assert_eq!(google.open_channels().iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), [PRIMARY]);
        assert_eq!(google.handshakes(), [200]);
        let now = status(&app, &mentor).await;
        assert_eq!(now["pushActive"], true, "{now}");
        assert_eq!(instant(&now["pushExpiresAt"]), Some(default_now() + Duration::days(7)));
        // With every busy calendar pushed, polls come daily (the whole read) instead of every 15 min.
        assert_eq!(instant(&now["nextSyncAt"]), Some(default_now() + Duration::days(1)));
        // The stored token is a hash, never the token.
        let rows = calendar_channel::Entity::find().all(app.services.db.conn()).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_ne!(rows[0].token_hash, watches[0]["token"].as_str().unwrap());

        let before = slots(&app, &student).await;
        let reads = google.event_reads().len();

        // A change with its push: answered 200 at once, read by one job, and the slots (cached
        // above) follow.
        let answers = google.put_event_and_push(PRIMARY, timed("p1", &at(10), &at(11))).await;
        assert_eq!(answers, [200]);
        assert_eq!(google.event_reads().len(), reads, "the webhook itself reads nothing");
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event_reads().len(), reads + 1);
        assert!(google.event_reads().last().unwrap().contains_key("syncToken"), "incremental");
        assert_eq!(busy_ids(&app).await, ["p1"]);
        assert!(slots(&app, &student).await < before);

        // A burst of pushes is one read.
        for (i, hour) in [12, 13, 14, 15].into_iter().enumerate() {
            let answers = google.put_event_and_push(PRIMARY, timed(&format!("b{i}"), &at(hour), &at(hour + 1))).await;
            assert_eq!(answers, [200]);
        }
        app.jobs.drain().await.unwrap();
        let first_pages = google.event_reads()[reads..].iter().filter(|r| !r.contains_key("pageToken")).count();
        assert_eq!(first_pages, 2, "one read for the first push, one for the burst");
        assert_eq!(busy_ids(&app).await.len(), 5);

        // A calendar that does not count as busy is not watched; its changes push nothing here.
        assert!(google.pushes_for(FAMILY).is_empty());
    }

    async fn a_push_during_a_read_asks_for_another(app, google) {
        let _mentor = connected(&app, &google).await;
        google.put_event_and_push(PRIMARY, timed("first", &at(10), &at(11))).await;
        // The read that push asked for is held after Google read the events; meanwhile another change
        // is pushed. The running job still holds the push's place in the queue: only the count the
        // push left on the calendar asks for one more read.
        let hold = google.hold_next_read();
        let runner = app.jobs.clone();
        let draining = tokio::spawn(async move { runner.drain().await });
        hold.reached.notified().await;
        let answers = google.put_event_and_push(PRIMARY, timed("second", &at(12), &at(13))).await;
        assert_eq!(answers, [200]);
        hold.release.notify_one();
        draining.await.unwrap().unwrap();
        app.jobs.drain().await.unwrap();
        assert_eq!(busy_ids(&app).await, ["first", "second"]);
    }

    async fn forged_unknown_and_bare_pushes_are_refused_and_read_nothing(app, google) {
        let _mentor = connected(&app, &google).await;
        let delivery = google.pushes_for(PRIMARY).pop().unwrap();
        let real: HashMap<&str, String> = delivery.headers.iter().cloned().collect();
        let header = |k: &str| real[k].as_str();
        let reads = google.event_reads().len();
        let with = |name: &'static str, value: Option<String>| {
            let mut headers: Headers = delivery.headers.clone();
            headers.retain(|(n, _)| *n != name);
            if let Some(v) = value {
                headers.push((name, v));
            }
            headers
        };
        let cases: Vec<(Headers, u16, &str)> = vec![
            (vec![], 400, "BAD_USER_INPUT"),
            (with("X-Goog-Channel-ID", None), 400, "BAD_USER_INPUT"),
            (with("X-Goog-Resource-ID", None), 400, "BAD_USER_INPUT"),
            (with("X-Goog-Resource-State", None), 400, "BAD_USER_INPUT"),
            (with("X-Goog-Channel-ID", Some("00000000-0000-4000-8000-000000000000".into())), 404, "NOT_FOUND"),
            (with("X-Goog-Channel-Token", Some("guessed".into())), 403, "FORBIDDEN"),
            (with("X-Goog-Channel-Token", None), 403, "FORBIDDEN"),
            (with("X-Goog-Channel-Token", Some("x".repeat(600))), 403, "FORBIDDEN"),
            (with("X-Goog-Resource-ID", Some("res-someone-else".into())), 403, "FORBIDDEN"),
            (with("X-Goog-Channel-ID", Some("c".repeat(600))), 400, "BAD_USER_INPUT"),
        ];
        for (headers, code, error) in cases {
            let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body) = push(&app, &refs).await;
            assert_eq!((status, body["error"]["code"].as_str()), (code, Some(error)), "{headers:?}: {body}");
        }
        // The handshake again: accepted, reads nothing.
        let (status, _) = push(&app, &[
            ("X-Goog-Channel-ID", header("X-Goog-Channel-ID")),
            ("X-Goog-Channel-Token", header("X-Goog-Channel-Token")),
            ("X-Goog-Resource-ID", header("X-Goog-Resource-ID")),
            ("X-Goog-Resource-State", "sync"),
        ]).await;
        assert_eq!(status, 200);
        let report = app.jobs.drain().await.unwrap();
        assert_eq!(google.event_reads().len(), reads, "nothing read: {report:?}");
        // And the real one works.
        assert_eq!(delivery.post().await, 200);
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event_reads().len(), reads + 1);
    }

    async fn channels_are_replaced_early_and_stopped_when_not_wanted(app, google) {
        let mentor = connected(&app, &google).await;
        let first = google.open_channels();
        assert_eq!(first.len(), 1);
        // Daily polls keep the channel until two fifths of its week have passed; then a new one opens first
        // and the old one stops.
        for day in 1..=2 {
            app.clock.set(default_now() + Duration::days(day));
            app.jobs.drain().await.unwrap();
            assert_eq!(google.open_channels(), first, "day {day}");
        }
        app.clock.set(default_now() + Duration::days(3));
        app.jobs.drain().await.unwrap();
        let second = google.open_channels();
        assert_eq!(second.len(), 1);
        assert_ne!(second, first);
        assert_eq!(google.stopped(), [first[0].1.clone()]);
        let now = status(&app, &mentor).await;
        assert_eq!(instant(&now["pushExpiresAt"]), Some(default_now() + Duration::days(10)), "{now}");

        // Family counts and receives sessions instead of the primary: Family is watched, the
        // primary's channel stops (a calendar that receives sessions is read back, so it stays
        // watched while it does).
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "busyCalendarIds": [FAMILY], "sessionCalendarId": FAMILY } })).await;
        app.jobs.drain().await.unwrap();
        let third = google.open_channels();
        assert_eq!(third.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), [FAMILY]);
        assert!(google.stopped().contains(&second[0].1));

        // Sync off stops them; on again opens one; disconnecting stops it before revoking.
        let off = app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "enabled": false } })).await;
        assert_eq!(off["updateCalendarSync"]["pushActive"], false);
        assert!(google.open_channels().is_empty());
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "enabled": true } })).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google.open_channels().len(), 1);
        app.ok(&mentor, "mutation { disconnectCalendar(provider: GOOGLE) { connected } }", json!({})).await;
        assert!(google.open_channels().is_empty());
        assert_eq!(google.revoked().len(), 1);
        let rows = calendar_channel::Entity::find().all(app.services.db.conn()).await.unwrap();
        assert!(rows.is_empty(), "{rows:?}");
    }

    async fn a_refused_watch_falls_back_to_polling(app, google) {
        // Google refuses the http address (as it does): the calendar is polled at the frequency.
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google.watches().len(), 1);
        assert!(google.open_channels().is_empty());
        let now = status(&app, &mentor).await;
        assert_eq!((now["pushActive"].as_bool(), now["state"].as_str()), (Some(false), Some("IDLE")), "{now}");
        assert_eq!(instant(&now["nextSyncAt"]), Some(default_now() + Duration::minutes(15)));

        // Polls read changes; the refused watch is not asked again for hours.
        google.put_event(PRIMARY, timed("polled", &at(10), &at(11)));
        app.clock.set(default_now() + Duration::minutes(15));
        app.jobs.drain().await.unwrap();
        assert_eq!(busy_ids(&app).await, ["polled"]);
        assert_eq!(google.watches().len(), 1);

        // Hours later (and Google now accepting), the watch is asked again and polls slow down.
        google.accept_http_pushes();
        let later = default_now() + Duration::hours(6);
        app.clock.set(later);
        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google.watches().len(), 2);
        let now = status(&app, &mentor).await;
        assert_eq!(now["pushActive"], true, "{now}");
        assert_eq!(instant(&now["nextSyncAt"]), Some(later + Duration::days(1)));
    }

    async fn the_daily_whole_read_heals_missed_pushes(app, google) {
        let _mentor = connected(&app, &google).await;
        google.put_event_and_push(PRIMARY, timed("kept", &at(9), &at(10))).await;
        app.jobs.drain().await.unwrap();
        // Two changes whose pushes never arrive, one of them a deletion.
        google.put_event(PRIMARY, timed("missed", &at(10), &at(11)));
        google.cancel_event(PRIMARY, "kept");
        let incremental = reads_with_token(&google);
        app.clock.set(default_now() + Duration::hours(23));
        app.jobs.drain().await.unwrap();
        assert_eq!(busy_ids(&app).await, ["kept"], "nothing due before the day is over");
        app.clock.set(default_now() + Duration::days(1));
        app.jobs.drain().await.unwrap();
        assert_eq!(busy_ids(&app).await, ["missed"]);
        assert_eq!(reads_with_token(&google), incremental, "a whole read, not from the token");
        assert!(google.event_reads().last().unwrap().contains_key("timeMin"));
    }
}

/// With workers running and a poll a minute away, a push is read at once: the webhook rings the
/// workers' bell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_the_job_workers() {
    let settings = [("JOB_WORKERS", "1"), ("JOB_POLL_INTERVAL_MS", "60000")];
    let (app, google) =
        crate::helpers::google::app_with_google_and(crate::helpers::Backend::Sqlite, &settings)
            .await
            .expect("sqlite always runs");
    let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
    google.accept_http_pushes();
    connect(&app, &mentor).await;
    let appeared = |app: &TestApp| {
        let db = app.services.db.conn().clone();
        async move {
            use mentor_scheduler::entity::calendar_channel;
            calendar_channel::Entity::find()
                .all(&db)
                .await
                .unwrap()
                .iter()
                .any(|c| c.resource_id.is_some())
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !appeared(&app).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the first sync ran at once"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        google
            .put_event_and_push(PRIMARY, timed("rung", &at(10), &at(11)))
            .await,
        [200]
    );
    while busy_ids(&app).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the push was read at once"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
