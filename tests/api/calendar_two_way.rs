//! What the mentor does on Google to a session's event, against the fake Google: a deleted event
//! cancels the session (the default), is put back (`RESTORE_EVENT`), or raises a conflict the
//! mentor settles (`ASK`); a read that fails never cancels anything; the conflict operations refuse
//! bad input.

use mentor_scheduler::integrations::calendar::google::events::event_id_for;
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student};
use crate::helpers::fake_google::{self, FakeGoogle};
use crate::helpers::google::connect;
use crate::helpers::TestApp;

const PRIMARY: &str = fake_google::ACCOUNT;
const SESSIONS: &str =
    "query($id: ID!) { booking(id: $id) { sessions { id status cancelReason } } }";
const UPDATE: &str =
    "mutation($i: CalendarSyncSettingsInput!) { updateCalendarSync(input: $i) { state } }";
const CONFLICTS: &str = "query($open: Boolean) { calendarConflicts(openOnly: $open) { edges { cursor node { id kind provider resolution resolvedAt detectedAt session { id status } } } pageInfo { hasNextPage } } }";
const RESOLVE: &str = "mutation($id: ID!, $a: ConflictResolution!, $s: DateTime) { resolveCalendarConflict(id: $id, action: $a, start: $s) { id resolution resolvedAt session { id status start } } }";

fn event_id(session: &Value) -> String {
    event_id_for(session["id"].as_str().unwrap())
}

/// A connected mentor (pushes on) with one session written to Google; the session.
async fn one_session(app: &TestApp, google: &FakeGoogle, at: &str) -> (String, String, Value) {
    let (mentor, student) = tutor_and_student(app).await;
    google.accept_http_pushes();
    connect(app, &mentor).await;
    app.jobs.drain().await.unwrap();
    let session = booked(app, &student, at).await;
    (mentor, student, session)
}

async fn booked(app: &TestApp, student: &str, at: &str) -> Value {
    let booking = book(app, student, request(&[at], json!(1))).await;
    app.jobs.drain().await.unwrap();
    let mut session = app
        .ok(student, SESSIONS, json!({ "id": booking["id"] }))
        .await["booking"]["sessions"][0]
        .clone();
    session["bookingId"] = booking["id"].clone();
    session
}

async fn status_of(app: &TestApp, token: &str, session: &Value) -> Value {
    app.ok(token, SESSIONS, json!({ "id": session["bookingId"] }))
        .await["booking"]["sessions"][0]
        .clone()
}

/// The mentor deletes the session's event on Google (Google pushes the change).
async fn delete_on_google(google: &FakeGoogle, session: &Value) {
    let answers = google
        .put_event_and_push(
            PRIMARY,
            json!({ "id": event_id(session), "status": "cancelled" }),
        )
        .await;
    assert_eq!(answers, [200]);
}

crate::with_fake_google! {
    async fn a_session_deleted_on_google_is_cancelled_and_the_student_told(app, google) {
        let (mentor, student, session) = one_session(&app, &google, "2026-01-06T10:00:00Z").await;
        assert!(google.event(PRIMARY, &event_id(&session)).is_some());
        delete_on_google(&google, &session).await;
        app.jobs.drain().await.unwrap();
        let now = status_of(&app, &mentor, &session).await;
        assert_eq!((now["status"].as_str(), now["cancelReason"].as_str()), (Some("CANCELLED"), Some("removed from Google Calendar")), "{now}");
        let told = crate::helpers::notify::inbox(&app, &student).await;
        assert!(told.iter().any(|n| n["type"] == "SESSION_CANCELLED"), "{told:?}");
        let mentor_told = crate::helpers::notify::inbox(&app, &mentor).await;
        assert!(!mentor_told.iter().any(|n| n["type"] == "SESSION_CANCELLED"), "the mentor did it");

        // A read that fails (503) cancels nothing, however often it fails.
        let other = booked(&app, &student, "2026-01-07T10:00:00Z").await;
        google.fail_reads(3);
        delete_on_google(&google, &other).await;
        let report = app.jobs.drain().await.unwrap();
        assert!(report.retried >= 1, "{report:?}");
        assert_eq!(status_of(&app, &mentor, &other).await["status"], "SCHEDULED");
    }

    async fn restore_event_puts_the_deleted_event_back(app, google) {
        let (mentor, _student, session) = one_session(&app, &google, "2026-01-06T10:00:00Z").await;
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "onSessionEventDeleted": "RESTORE_EVENT" } })).await;
        delete_on_google(&google, &session).await;
        assert!(google.event(PRIMARY, &event_id(&session)).is_none());
        app.jobs.drain().await.unwrap();
        let back = google.event(PRIMARY, &event_id(&session)).expect("the event is back");
        assert_eq!(back["start"]["dateTime"], "2026-01-06T10:00:00Z");
        assert_eq!(status_of(&app, &mentor, &session).await["status"], "SCHEDULED");
        // Reading our own restore back changes nothing.
        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(status_of(&app, &mentor, &session).await["status"], "SCHEDULED");
    }

    async fn ask_raises_a_conflict_the_mentor_settles(app, google) {
        let (mentor, student, session) = one_session(&app, &google, "2026-01-06T10:00:00Z").await;
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "onSessionEventDeleted": "ASK" } })).await;
        delete_on_google(&google, &session).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(status_of(&app, &mentor, &session).await["status"], "SCHEDULED", "kept until the mentor decides");
        let open = app.ok(&mentor, CONFLICTS, json!({})).await["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(open.len(), 1, "{open:?}");
        let conflict = &open[0]["node"];
        assert_eq!((conflict["kind"].as_str(), conflict["provider"].as_str()), (Some("SESSION_EVENT_DELETED"), Some("GOOGLE")));
        assert_eq!(conflict["session"]["id"], session["id"]);
        assert!(conflict["resolution"].is_null());
        let alerts = crate::helpers::notify::inbox(&app, &mentor).await;
        assert_eq!(alerts.iter().filter(|n| n["type"] == "CALENDAR_CONFLICT").count(), 1, "{alerts:?}");
        // The same deletion read again raises nothing new.
        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(app.ok(&mentor, CONFLICTS, json!({})).await["calendarConflicts"]["edges"].as_array().unwrap().len(), 1);

        // Bad input: a student, an unknown id, a start without a move, a move without a start.
        app.fails(Some(&student), CONFLICTS, json!({}), "FORBIDDEN").await;
        app.fails(Some(&student), RESOLVE, json!({ "id": conflict["id"], "a": "KEEP_SESSION" }), "FORBIDDEN").await;
        app.fails(Some(&mentor), RESOLVE, json!({ "id": "nope", "a": "KEEP_SESSION" }), "NOT_FOUND").await;
        app.fails(Some(&mentor), RESOLVE, json!({ "id": conflict["id"], "a": "KEEP_SESSION", "s": "2026-01-06T12:00:00Z" }), "BAD_USER_INPUT").await;
        app.fails(Some(&mentor), RESOLVE, json!({ "id": conflict["id"], "a": "RESCHEDULE_SESSION" }), "BAD_USER_INPUT").await;
        app.fails(Some(&mentor), "{ calendarConflicts(first: 0) { edges { cursor } } }", json!({}), "BAD_USER_INPUT").await;

        // Two settlements at once (a double click, two tabs): one acts, the other is CONFLICT.
        let (one, two) = tokio::join!(
            app.gql(Some(&mentor), RESOLVE, json!({ "id": conflict["id"], "a": "KEEP_SESSION" })),
            app.gql(Some(&mentor), RESOLVE, json!({ "id": conflict["id"], "a": "KEEP_SESSION" })),
        );
        let codes: Vec<Option<&str>> = [&one, &two].iter().map(|r| r["errors"][0]["extensions"]["code"].as_str()).collect();
        assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 1, "{one} {two}");
        assert!(codes.contains(&Some("CONFLICT")), "{one} {two}");
        // Kept: the session goes on without its event, and reading the deletion again (the daily
        // whole read shows deleted events) raises nothing.
        app.clock.set(crate::helpers::default_now() + chrono::Duration::days(1));
        app.jobs.drain().await.unwrap();
        assert!(app.ok(&mentor, CONFLICTS, json!({})).await["calendarConflicts"]["edges"].as_array().unwrap().is_empty());
        assert_eq!(status_of(&app, &mentor, &session).await["status"], "SCHEDULED");

        // Another session's event deleted: this one the mentor puts back.
        let session = booked(&app, &student, "2026-01-08T10:00:00Z").await;
        delete_on_google(&google, &session).await;
        app.jobs.drain().await.unwrap();
        let open = app.ok(&mentor, CONFLICTS, json!({})).await["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(open.len(), 1, "{open:?}");
        let conflict = &open[0]["node"];

        // Restore: the event comes back, the conflict is settled.
        let settled = app.ok(&mentor, RESOLVE, json!({ "id": conflict["id"], "a": "RESTORE_EVENT" })).await["resolveCalendarConflict"].clone();
        assert_eq!(settled["resolution"], "RESTORE_EVENT");
        assert!(settled["resolvedAt"].is_string());
        app.jobs.drain().await.unwrap();
        assert!(google.event(PRIMARY, &event_id(&session)).is_some());
        app.fails(Some(&mentor), RESOLVE, json!({ "id": conflict["id"], "a": "KEEP_SESSION" }), "CONFLICT").await;
        assert!(app.ok(&mentor, CONFLICTS, json!({})).await["calendarConflicts"]["edges"].as_array().unwrap().is_empty());
        assert_eq!(app.ok(&mentor, CONFLICTS, json!({ "open": false })).await["calendarConflicts"]["edges"].as_array().unwrap().len(), 2);

        // Deleted again, and this time the mentor cancels the session.
        delete_on_google(&google, &session).await;
        app.jobs.drain().await.unwrap();
        let open = app.ok(&mentor, CONFLICTS, json!({})).await["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(open.len(), 1);
        let settled = app.ok(&mentor, RESOLVE, json!({ "id": open[0]["node"]["id"], "a": "CANCEL_SESSION" })).await["resolveCalendarConflict"].clone();
        assert_eq!(settled["session"]["status"], "CANCELLED");
        let told = crate::helpers::notify::inbox(&app, &student).await;
        assert!(told.iter().any(|n| n["type"] == "SESSION_CANCELLED"));
    }
}

/// The mentor moves the session's event on Google to `start`-`end` (Google pushes the change).
async fn move_on_google(google: &FakeGoogle, session: &Value, start: &str, end: &str) {
    let mut event = google
        .event(PRIMARY, &event_id(session))
        .expect("the session's event");
    event["start"] = json!({ "dateTime": start });
    event["end"] = json!({ "dateTime": end });
    assert_eq!(google.put_event_and_push(PRIMARY, event).await, [200]);
}

/// Emails written for calendar conflicts.
async fn conflict_emails(app: &TestApp) -> usize {
    use mentor_scheduler::entity::email_notification as email;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    email::Entity::find()
        .filter(email::Column::Template.eq("calendar_conflict"))
        .all(app.services.db.conn())
        .await
        .unwrap()
        .len()
}

async fn open_conflicts(app: &TestApp, mentor: &str) -> Vec<Value> {
    app.ok(mentor, CONFLICTS, json!({})).await["calendarConflicts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

const WHEN: &str = "query($id: ID!) { booking(id: $id) { sessions { id start status sequence } } }";

crate::with_fake_google! {
    async fn a_session_moved_on_google_follows_when_it_can(app, google) {
        let (mentor, student, session) = one_session(&app, &google, "2026-01-06T10:00:00Z").await;
        // Outside the mentor's weekly hours (09:00-17:00), but the mentor chose it: followed.
        move_on_google(&google, &session, "2026-01-06T18:00:00Z", "2026-01-06T19:00:00Z").await;
        app.jobs.drain().await.unwrap();
        let now = app.ok(&student, WHEN, json!({ "id": session["bookingId"] })).await["booking"]["sessions"][0].clone();
        assert_eq!((now["start"].as_str().map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap().to_rfc3339()), now["sequence"].as_i64()),
            (Some("2026-01-06T18:00:00+00:00".to_string()), Some(1)), "{now}");
        let told = crate::helpers::notify::inbox(&app, &student).await;
        assert!(told.iter().any(|n| n["type"] == "SESSION_RESCHEDULED"), "{told:?}");
        assert_eq!(google.event(PRIMARY, &event_id(&session)).unwrap()["start"]["dateTime"], "2026-01-06T18:00:00Z");
        assert!(open_conflicts(&app, &mentor).await.is_empty());

        // Only its end changed (same start): the session keeps its length, nothing to settle.
        move_on_google(&google, &session, "2026-01-06T18:00:00Z", "2026-01-06T19:30:00Z").await;
        app.jobs.drain().await.unwrap();
        let now = app.ok(&student, WHEN, json!({ "id": session["bookingId"] })).await["booking"]["sessions"][0].clone();
        assert_eq!(now["sequence"], 1, "{now}");
        assert!(open_conflicts(&app, &mentor).await.is_empty());

        // Onto another session: the session stays, a conflict says where the event went.
        let other = booked(&app, &student, "2026-01-07T10:00:00Z").await;
        move_on_google(&google, &session, "2026-01-07T10:00:00Z", "2026-01-07T11:00:00Z").await;
        app.jobs.drain().await.unwrap();
        let now = app.ok(&student, WHEN, json!({ "id": session["bookingId"] })).await["booking"]["sessions"][0].clone();
        assert_eq!(now["sequence"], 1, "not moved onto {other}");
        let open = open_conflicts(&app, &mentor).await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["kind"], "SESSION_EVENT_MOVED");
        let conflict = app.ok(&mentor, "query { calendarConflicts { edges { node { externalStart externalEnd } } } }", json!({})).await;
        let start = conflict["calendarConflicts"]["edges"][0]["node"]["externalStart"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-07T10:00:00+00:00");
        // Moved once more while the conflict is open: the conflict says where it is now.
        move_on_google(&google, &session, "2026-01-07T10:30:00Z", "2026-01-07T11:30:00Z").await;
        app.jobs.drain().await.unwrap();
        let conflict = app.ok(&mentor, "query { calendarConflicts { edges { node { id externalStart } } } }", json!({})).await;
        let edges = conflict["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1);
        let start = edges[0]["node"]["externalStart"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-07T10:30:00+00:00");
        // Put back: the event returns to the session's time.
        app.ok(&mentor, RESOLVE, json!({ "id": open[0]["id"], "a": "RESTORE_EVENT" })).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event(PRIMARY, &event_id(&session)).unwrap()["start"]["dateTime"], "2026-01-06T18:00:00Z");

        // ASK: a conflict even where the session could follow; RESTORE_EVENT: the event goes back.
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "onSessionEventMoved": "ASK" } })).await;
        move_on_google(&google, &session, "2026-01-08T12:00:00Z", "2026-01-08T13:00:00Z").await;
        app.jobs.drain().await.unwrap();
        assert_eq!(open_conflicts(&app, &mentor).await.len(), 1);
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "onSessionEventMoved": "RESTORE_EVENT" } })).await;
        let third = booked(&app, &student, "2026-01-09T10:00:00Z").await;
        move_on_google(&google, &third, "2026-01-09T14:00:00Z", "2026-01-09T15:00:00Z").await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event(PRIMARY, &event_id(&third)).unwrap()["start"]["dateTime"], "2026-01-09T10:00:00Z");
    }

    async fn outside_busy_time_over_a_session_is_a_conflict_that_closes_itself(app, google) {
        let (mentor, student, session) = one_session(&app, &google, "2026-01-06T10:00:00Z").await;
        let overlap = fake_google::timed("dentist", "2026-01-06T10:30:00Z", "2026-01-06T11:30:00Z");
        assert_eq!(google.put_event_and_push(PRIMARY, overlap).await, [200]);
        app.jobs.drain().await.unwrap();
        let open = open_conflicts(&app, &mentor).await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!((open[0]["kind"].as_str(), open[0]["session"]["id"].as_str()), (Some("BUSY_OVER_SESSION"), session["id"].as_str()));
        assert_eq!(status_of(&app, &mentor, &session).await["status"], "SCHEDULED", "the session stays");
        let alerts = crate::helpers::notify::inbox(&app, &mentor).await;
        assert_eq!(alerts.iter().filter(|n| n["type"] == "CALENDAR_CONFLICT").count(), 1);
        assert_eq!(conflict_emails(&app).await, 1, "told by email too");
        // Read again: still one.
        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(open_conflicts(&app, &mentor).await.len(), 1);
        app.fails(Some(&mentor), RESOLVE, json!({ "id": open[0]["id"], "a": "RESTORE_EVENT" }), "BAD_USER_INPUT").await;

        // The dentist is cancelled: the conflict closes by itself (settled, without a resolution).
        assert_eq!(google.put_event_and_push(PRIMARY, json!({ "id": "dentist", "status": "cancelled" })).await, [200]);
        app.jobs.drain().await.unwrap();
        assert!(open_conflicts(&app, &mentor).await.is_empty());
        let all = app.ok(&mentor, CONFLICTS, json!({ "open": false })).await["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(all.len(), 1);
        assert!(all[0]["node"]["resolvedAt"].is_string() && all[0]["node"]["resolution"].is_null(), "{all:?}");

        // Busy again; the mentor keeps the session: the same overlap is not raised again.
        let again = fake_google::timed("dentist1", "2026-01-06T10:45:00Z", "2026-01-06T11:15:00Z");
        google.put_event_and_push(PRIMARY, again).await;
        app.jobs.drain().await.unwrap();
        let open = open_conflicts(&app, &mentor).await;
        assert_eq!(open.len(), 1);
        app.ok(&mentor, RESOLVE, json!({ "id": open[0]["id"], "a": "KEEP_SESSION" })).await;
        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        app.jobs.drain().await.unwrap();
        assert!(open_conflicts(&app, &mentor).await.is_empty(), "kept is kept");
        let alerts = crate::helpers::notify::inbox(&app, &mentor).await;
        assert_eq!(alerts.iter().filter(|n| n["type"] == "CALENDAR_CONFLICT").count(), 2, "{alerts:?}");
        assert_eq!(google.put_event_and_push(PRIMARY, json!({ "id": "dentist1", "status": "cancelled" })).await, [200]);
        app.jobs.drain().await.unwrap();

        // Busy again, then the session is cancelled: closed too.
        let again = fake_google::timed("dentist2", "2026-01-06T09:30:00Z", "2026-01-06T10:15:00Z");
        google.put_event_and_push(PRIMARY, again).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(open_conflicts(&app, &mentor).await.len(), 1);
        app.ok(&student, "mutation($id: ID!) { cancelSession(id: $id) { id } }", json!({ "id": session["id"] })).await;
        app.jobs.drain().await.unwrap();
        assert!(open_conflicts(&app, &mentor).await.is_empty());
    }
}

crate::with_fake_google! {
    async fn a_deletion_whose_push_never_came_is_seen_by_the_daily_read(app, google) {
        let (mentor, _student, session) = one_session(&app, &google, "2026-01-09T10:00:00Z").await;
        // Deleted on Google, and the push is lost.
        google.cancel_event(PRIMARY, &event_id(&session));
        app.clock.set(crate::helpers::default_now() + chrono::Duration::days(1));
        app.jobs.drain().await.unwrap();
        let now = status_of(&app, &mentor, &session).await;
        assert_eq!(now["status"], "CANCELLED", "{now}");
    }

    async fn disconnecting_ends_the_conflicts(app, google) {
        let (mentor, _student, session) = one_session(&app, &google, "2026-01-06T10:00:00Z").await;
        let overlap = fake_google::timed("gym", "2026-01-06T10:30:00Z", "2026-01-06T11:30:00Z");
        google.put_event_and_push(PRIMARY, overlap).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(open_conflicts(&app, &mentor).await.len(), 1);
        app.ok(&mentor, "mutation { disconnectCalendar(provider: GOOGLE) { connected } }", json!({})).await;
        assert!(open_conflicts(&app, &mentor).await.is_empty());
        // The session's event stays on the mentor's calendar.
        assert!(google.event(PRIMARY, &event_id(&session)).is_some());
    }

    async fn a_conflict_ends_with_its_session(app, google) {
        let (mentor, student, session) = one_session(&app, &google, "2026-01-06T10:00:00Z").await;
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "onSessionEventDeleted": "ASK" } })).await;
        delete_on_google(&google, &session).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(open_conflicts(&app, &mentor).await.len(), 1);
        app.ok(&student, "mutation($id: ID!) { cancelSession(id: $id) { id } }", json!({ "id": session["id"] })).await;
        app.jobs.drain().await.unwrap();
        assert!(open_conflicts(&app, &mentor).await.is_empty(), "nothing left to settle");
    }
}

crate::with_fake_google! {
    async fn a_session_calendar_that_is_not_busy_is_still_read_back(app, google) {
        let (mentor, student) = tutor_and_student(&app).await;
        google.accept_http_pushes();
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        // Busy time from Family only; sessions go to the primary calendar.
        app.ok(&mentor, UPDATE, json!({ "i": { "provider": "GOOGLE", "busyCalendarIds": [fake_google::FAMILY] } })).await;
        app.jobs.drain().await.unwrap();
        let watched: Vec<String> = google.open_channels().into_iter().map(|c| c.0).collect();
        assert!(watched.contains(&PRIMARY.to_string()) && watched.contains(&fake_google::FAMILY.to_string()), "{watched:?}");
        // The primary's own events are not busy time.
        google.put_event_and_push(PRIMARY, fake_google::timed("lunch", "2026-01-06T12:00:00Z", "2026-01-06T13:00:00Z")).await;
        app.jobs.drain().await.unwrap();
        assert!(crate::helpers::google::busy_from_google(&app, crate::helpers::booking::TUTOR).await.is_empty());
        // A session's event deleted there is still followed.
        let session = booked(&app, &student, "2026-01-06T10:00:00Z").await;
        assert!(google.event(PRIMARY, &event_id(&session)).is_some());
        delete_on_google(&google, &session).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(status_of(&app, &mentor, &session).await["status"], "CANCELLED");
    }
}
