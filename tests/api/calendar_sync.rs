//! Reading a connected Google calendar into busy time, against the fake Google: what blocks, paging,
//! incremental reads from the sync token, a whole read after 410, refreshes, and a revoked grant.

use mentor_scheduler::auth::Role;
use mentor_scheduler::domain::calendar::CalendarProvider;
use mentor_scheduler::entity::calendar_connection;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::fake_google::{self, timed, FAMILY};
use crate::helpers::google::{busy_from_google, connect};
use crate::helpers::schedule::set_schedule;
use crate::helpers::{default_now, TestApp};

const MENTOR: &str = "sync-mentor-1";
const STUDENT: &str = "sync-student-1";

async fn google_busy(app: &TestApp) -> Vec<(String, String)> {
    busy_from_google(app, MENTOR)
        .await
        .into_iter()
        .map(|b| (b.start_at.to_rfc3339(), b.end_at.to_rfc3339()))
        .collect()
}

async fn sync(app: &TestApp) {
    app.services
        .calendar
        .sync(MENTOR, CalendarProvider::Google, None, None)
        .await
        .unwrap();
}

async fn state(app: &TestApp, mentor: &str) -> Value {
    app.ok(
        mentor,
        "{ calendarStatus { state lastError lastSyncedAt } }",
        json!({}),
    )
    .await["calendarStatus"]
        .clone()
}

/// Hourly slots on Tuesday 2026-01-06 from 13:00 to 19:00 UTC (08:00 to 14:00 in New York).
async fn slots_on_tuesday(app: &TestApp, student: &str) -> Vec<String> {
    let slots = app
        .ok(
            student,
            "query($m: ID!) { availableSlots(mentorId: $m, from: \"2026-01-06T13:00:00Z\", to: \"2026-01-06T19:00:00Z\", durationMinutes: 60) { start } }",
            json!({ "m": MENTOR }),
        )
        .await;
    slots["availableSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| utc(s["start"].as_str().unwrap()))
        .collect()
}

fn utc(s: &str) -> String {
    s.parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .to_rfc3339()
}

crate::with_fake_google! {
    async fn the_first_read_blocks_what_keeps_the_mentor_busy(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "America/New_York").await;
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        set_schedule(&app, &mentor, "America/New_York", json!([{ "weekday": "TUESDAY", "start": "08:00", "end": "18:00" }])).await;
        let primary = fake_google::ACCOUNT;
        google.put_event(primary, timed("busy1", "2026-01-06T15:00:00Z", "2026-01-06T16:00:00Z"));
        google.put_event(primary, json!({ "id": "free1", "transparency": "transparent",
            "start": { "dateTime": "2026-01-06T17:00:00Z" }, "end": { "dateTime": "2026-01-06T18:00:00Z" } }));
        google.put_event(primary, json!({ "id": "declined1", "attendees": [{ "email": primary, "self": true, "responseStatus": "declined" }],
            "start": { "dateTime": "2026-01-06T19:00:00Z" }, "end": { "dateTime": "2026-01-06T20:00:00Z" } }));
        google.put_event(primary, json!({ "id": "allday1", "start": { "date": "2026-01-07" }, "end": { "date": "2026-01-08" } }));
        google.put_event(primary, json!({ "id": "ours1", "extendedProperties": { "private": { "mentorSchedulerSession": "s1" } },
            "start": { "dateTime": "2026-01-09T15:00:00Z" }, "end": { "dateTime": "2026-01-09T16:00:00Z" } }));
        google.put_event(primary, timed("kolkata1", "2026-01-08T20:30:00+05:30", "2026-01-08T21:30:00+05:30"));
        google.put_event(primary, timed("gone1", "2026-01-06T12:00:00Z", "2026-01-06T13:00:00Z"));
        google.cancel_event(primary, "gone1");
        // Not a busy calendar: never read.
        google.put_event(FAMILY, timed("family1", "2026-01-06T14:00:00Z", "2026-01-06T15:00:00Z"));

        let before = slots_on_tuesday(&app, &student).await;
        assert_eq!(before.len(), 6, "{before:?}");
        connect(&app, &mentor).await;
        assert!(google_busy(&app).await.is_empty(), "nothing is read before the job runs");
        app.jobs.drain().await.unwrap();

        assert_eq!(google_busy(&app).await, vec![
            (utc("2026-01-06T15:00:00Z"), utc("2026-01-06T16:00:00Z")),
            // The mentor's whole local day, midnight to midnight in New York.
            (utc("2026-01-07T05:00:00Z"), utc("2026-01-08T05:00:00Z")),
            (utc("2026-01-08T15:00:00Z"), utc("2026-01-08T16:00:00Z")),
        ]);
        let reads = google.event_reads();
        // Seven events (the deleted one too: whole reads show deletions, as incremental ones do),
        // two a page.
        assert_eq!(reads.len(), 4, "{reads:?}");
        assert!(reads.iter().all(|r| r["singleEvents"] == "true" && r["showDeleted"] == "true" && !r.contains_key("syncToken")));
        assert_eq!(reads[1]["pageToken"], "pg-1");
        let status = state(&app, &mentor).await;
        assert_eq!(status["state"], "IDLE");
        assert!(status["lastSyncedAt"].is_string());

        // The slots that overlap busy time (widened by the default buffer) are gone, at once (the
        // slot cache was told).
        assert_eq!(slots_on_tuesday(&app, &student).await, vec![utc("2026-01-06T13:00:00Z"), utc("2026-01-06T17:00:00Z"), utc("2026-01-06T18:00:00Z")]);
    }

    async fn later_reads_follow_changes_and_an_expired_token_reads_everything(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let primary = fake_google::ACCOUNT;
        google.put_event(primary, timed("a", "2026-01-06T10:00:00Z", "2026-01-06T11:00:00Z"));
        google.put_event(primary, timed("b", "2026-01-06T12:00:00Z", "2026-01-06T13:00:00Z"));
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google_busy(&app).await.len(), 2);

        // Incremental: one moved, one deleted, one new; the read carries the sync token only.
        google.put_event(primary, timed("a", "2026-01-06T14:00:00Z", "2026-01-06T15:00:00Z"));
        google.cancel_event(primary, "b");
        google.put_event(primary, timed("c", "2026-01-07T09:00:00Z", "2026-01-07T09:30:00Z"));
        sync(&app).await;
        let last = google.event_reads().last().cloned().unwrap();
        assert!(last.contains_key("syncToken") && !last.contains_key("timeMin"), "{last:?}");
        assert_eq!(google_busy(&app).await, vec![
            (utc("2026-01-06T14:00:00Z"), utc("2026-01-06T15:00:00Z")),
            (utc("2026-01-07T09:00:00Z"), utc("2026-01-07T09:30:00Z")),
        ]);

        // The token expires (410), and meanwhile an event is deleted: a whole read drops it too.
        google.expire_sync_tokens();
        google.cancel_event(primary, "c");
        sync(&app).await;
        let reads = google.event_reads();
        let last = &reads[reads.len() - 1];
        assert!(last.contains_key("timeMin") && !last.contains_key("syncToken"), "{last:?}");
        assert_eq!(google_busy(&app).await, vec![(utc("2026-01-06T14:00:00Z"), utc("2026-01-06T15:00:00Z"))]);
        // And reads go on incrementally from the new token.
        google.put_event(primary, timed("d", "2026-01-08T09:00:00Z", "2026-01-08T10:00:00Z"));
        sync(&app).await;
        assert!(google.event_reads().last().unwrap().contains_key("syncToken"));
        assert_eq!(google_busy(&app).await.len(), 2);
    }

    async fn tokens_are_refreshed_and_a_revoked_grant_asks_to_reconnect(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let primary = fake_google::ACCOUNT;
        google.put_event(primary, timed("a", "2026-01-06T10:00:00Z", "2026-01-06T11:00:00Z"));
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        let refreshes = || google.token_requests().iter().filter(|r| r["grant_type"] == "refresh_token").count();
        assert_eq!(refreshes(), 0, "a fresh access token is used as it is");

        // Google refuses the access token before its time (401): refreshed once, and the read goes on.
        google.expire_access_tokens();
        google.put_event(primary, timed("b", "2026-01-06T12:00:00Z", "2026-01-06T13:00:00Z"));
        sync(&app).await;
        assert_eq!(refreshes(), 1);
        assert_eq!(google_busy(&app).await.len(), 2);

        // An access token near its expiry is refreshed before the read.
        // Two syncs racing for it (as two nodes would): one refresh, the other uses its token.
        app.clock.set(default_now() + chrono::Duration::minutes(59) + chrono::Duration::seconds(30));
        let (one, two) = tokio::join!(
            app.services.calendar.sync(MENTOR, CalendarProvider::Google, None, None),
            app.services.calendar.sync(MENTOR, CalendarProvider::Google, None, None),
        );
        one.unwrap();
        two.unwrap();
        assert_eq!(refreshes(), 2);
        let reads_before = google.event_reads().len();

        // The mentor revoked access at Google: RECONNECT_REQUIRED with the reason, busy time kept.
        google.revoke_grant();
        app.clock.set(default_now() + chrono::Duration::hours(3));
        sync(&app).await;
        let status = state(&app, &mentor).await;
        assert_eq!(status["state"], "RECONNECT_REQUIRED", "{status}");
        assert!(status["lastError"].as_str().unwrap().contains("revoked"), "{status}");
        assert_eq!(google_busy(&app).await.len(), 2, "busy time already read stays in force");
        assert_eq!(google.event_reads().len(), reads_before, "nothing was read without access");
        // The mentor is told at once, in the app and by email: neither can be switched off.
        for channel in ["IN_APP", "EMAIL"] {
            app.fails(Some(&mentor), "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { type } }",
                json!({ "i": [{ "type": "CALENDAR_DISCONNECTED", "channel": channel, "enabled": false }] }), "BAD_USER_INPUT").await;
        }
        let told = |app: &TestApp| {
            let db = app.services.db.conn().clone();
            async move {
                use mentor_scheduler::entity::email_notification as email;
                use sea_orm::{ColumnTrait, QueryFilter};
                email::Entity::find()
                    .filter(email::Column::Template.eq("calendar_disconnected"))
                    .all(&db)
                    .await
                    .unwrap()
            }
        };
        let inbox = crate::helpers::notify::inbox(&app, &mentor).await;
        let alerts: Vec<&Value> = inbox.iter().filter(|n| n["type"] == "CALENDAR_DISCONNECTED").collect();
        assert_eq!(alerts.len(), 1, "{inbox:?}");
        assert_eq!(alerts[0]["link"], "/settings/calendar?provider=google");
        assert!(alerts[0]["body"].as_str().unwrap().contains("reconnect"), "{}", alerts[0]);
        let emails = told(&app).await;
        assert_eq!(emails.len(), 1);
        assert_eq!(emails[0].user_id, MENTOR);
        // Further syncs do nothing (and say nothing again) until the mentor reconnects.
        sync(&app).await;
        assert_eq!(refreshes(), 3);
        let row = calendar_connection::Entity::find().one(app.services.db.conn()).await.unwrap().unwrap();
        assert!(row.last_error.is_some());
        assert_eq!(told(&app).await.len(), 1);
    }
}

/// Two service instances on one PostgreSQL database (as two nodes), each with its own in-process
/// locks, refresh a connection's token at the same moment: the connection's row lock lets one refresh
/// and the other use its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_refresh_a_connection_once() {
    use crate::helpers::fake_google::FakeGoogle;
    use crate::helpers::{fresh_postgres_database, Backend};
    let Some(database_url) = fresh_postgres_database().await else {
        crate::helpers::say_skipped("calendar_sync::two_nodes_refresh_a_connection_once");
        return;
    };
    let google = FakeGoogle::start().await;
    let mut settings = google.settings();
    settings.push(("DATABASE_URL".into(), database_url));
    // Both open the same sealed tokens.
    settings.push((
        "CALENDAR_TOKEN_KEY".into(),
        "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
    ));
    let extra: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = TestApp::spawn_with(Backend::Postgres, &extra)
        .await
        .unwrap();
    let b = TestApp::spawn_with(Backend::Postgres, &extra)
        .await
        .unwrap();
    let mentor = a.user(MENTOR, Role::Mentor, "Europe/London").await;
    connect(&a, &mentor).await;
    a.jobs.drain().await.unwrap();
    let refreshes = || {
        google
            .token_requests()
            .iter()
            .filter(|r| r["grant_type"] == "refresh_token")
            .count()
    };
    assert_eq!(refreshes(), 0);
    for round in 1..=3 {
        // Each round, both nodes find the token about to expire at the same instant.
        let near_expiry =
            default_now() + chrono::Duration::minutes(59 * round) + chrono::Duration::seconds(30);
        a.clock.set(near_expiry);
        b.clock.set(near_expiry);
        let (one, two) = tokio::join!(
            a.services
                .calendar
                .sync(MENTOR, CalendarProvider::Google, None, None),
            b.services
                .calendar
                .sync(MENTOR, CalendarProvider::Google, None, None),
        );
        one.unwrap();
        two.unwrap();
        assert_eq!(
            refreshes(),
            round as usize,
            "round {round}: one refresh for both nodes"
        );
    }
}
