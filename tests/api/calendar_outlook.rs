//! Outlook through the fake Microsoft identity platform and Graph: the connection (PKCE,
//! `offline_access` and `Calendars.ReadWrite`, rotating refresh tokens), busy time from
//! `calendarView/delta` (pages, deltaLinks, removals, a whole read after 410, `showAs` and all-day
//! rules, every call in UTC), sessions written as events with Teams links (a `transactionId` per
//! session, no duplicate after a lost answer, moves and cancels), subscriptions with Graph's
//! validation handshake, checked notifications and lifecycle events, and throttling.

use chrono::Duration;
use mentor_scheduler::auth::Role;
use mentor_scheduler::clock::Clock as _;
use mentor_scheduler::domain::calendar::CalendarProvider;
use mentor_scheduler::entity::{busy_block, session};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, TUTOR};
use crate::helpers::busy::{span, utc_of as utc};
use crate::helpers::fake_graph::{self, all_day, join_url, occurrence, timed, FakeGraph, CALENDAR};
use crate::helpers::graph::connect_outlook;
use crate::helpers::{default_now, TestApp};

const MENTOR: &str = "outlook-mentor-1";
const SESSIONS: &str = "query($id: ID!) { booking(id: $id) { sessions { id start status meeting { provider status } } } }";
const RESCHEDULE: &str =
    "mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id sequence } }";
const CANCEL_SESSION: &str = "mutation($id: ID!) { cancelSession(id: $id) { id status } }";

/// `mentor`'s busy blocks read from Outlook, as (start, end) in UTC.
async fn outlook_busy(app: &TestApp, mentor: &str) -> Vec<(String, String)> {
    crate::helpers::busy::blocks(app, mentor, "outlook").await
}

async fn sync(app: &TestApp, mentor: &str) {
    crate::helpers::busy::sync(app, mentor, CalendarProvider::Outlook).await
}

async fn status(app: &TestApp, mentor: &str) -> Value {
    app.ok(
        mentor,
        "{ calendarStatus(provider: OUTLOOK) { connected state lastError accountEmail pushActive calendars { id name primary countsAsBusy receivesSessions } } }",
        json!({}),
    )
    .await["calendarStatus"]
        .clone()
}

async fn sessions(app: &TestApp, token: &str, booking: &Value) -> Vec<Value> {
    app.ok(token, SESSIONS, json!({ "id": booking["id"] }))
        .await["booking"]["sessions"]
        .as_array()
        .unwrap()
        .clone()
}

async fn room(app: &TestApp, id: &str) -> session::Model {
    session::Entity::find_by_id(id)
        .one(app.services.db.conn())
        .await
        .unwrap()
        .unwrap()
}

/// The events the fake holds on the default calendar that are our sessions.
fn session_events(graph: &FakeGraph) -> Vec<Value> {
    graph
        .events(CALENDAR)
        .into_iter()
        .filter(|e| {
            e["transactionId"]
                .as_str()
                .is_some_and(|t| t.starts_with("mentor-session-"))
        })
        .collect()
}

crate::with_fake_graph! {
    async fn connecting_reads_busy_time_through_delta_pages_in_utc(app, graph) {
        let mentor = app.user(MENTOR, Role::Mentor, "America/New_York").await;
        graph.put_event(CALENDAR, timed("busy1", "2026-01-06T15:00:00Z", "2026-01-06T16:00:00Z"));
        let mut tentative = timed("tentative1", "2026-01-06T17:00:00Z", "2026-01-06T18:00:00Z");
        tentative["showAs"] = json!("tentative");
        graph.put_event(CALENDAR, tentative);
        let mut free = timed("free1", "2026-01-06T19:00:00Z", "2026-01-06T20:00:00Z");
        free["showAs"] = json!("free");
        graph.put_event(CALENDAR, free);
        let mut elsewhere = timed("elsewhere1", "2026-01-06T20:00:00Z", "2026-01-06T21:00:00Z");
        elsewhere["showAs"] = json!("workingElsewhere");
        graph.put_event(CALENDAR, elsewhere);
        let mut declined = timed("declined1", "2026-01-06T21:00:00Z", "2026-01-06T22:00:00Z");
        declined["responseStatus"] = json!({ "response": "declined" });
        graph.put_event(CALENDAR, declined);
        let mut away = timed("oof1", "2026-01-07T09:00:00Z", "2026-01-07T11:00:00Z");
        away["showAs"] = json!("oof");
        graph.put_event(CALENDAR, away);
        graph.put_event(CALENDAR, occurrence("weekly1", "series1", "2026-01-08T14:00:00Z", "2026-01-08T15:00:00Z"));
        // A busy all-day event in its own zone (Kolkata): its day there, not the mentor's.
        let mut holiday = all_day("holiday1", "2026-01-09", "2026-01-10", "Asia/Kolkata");
        holiday["showAs"] = json!("busy");
        graph.put_event(CALENDAR, holiday);
        // More events than a page holds (100 asked for): the read goes through pages.
        for i in 0..101 {
            let start = chrono::DateTime::parse_from_rfc3339("2026-01-20T00:00:00Z").unwrap() + Duration::minutes(10 * i);
            let end = start + Duration::minutes(5);
            graph.put_event(CALENDAR, timed(&format!("bulk{i}"), &start.to_rfc3339(), &end.to_rfc3339()));
        }
        // The family calendar does not count as busy until the mentor says so.
        graph.put_event(fake_graph::FAMILY, timed("family1", "2026-01-06T12:00:00Z", "2026-01-06T13:00:00Z"));

        let asked = connect_outlook(&app, &mentor).await;
        assert_eq!(asked["code_challenge_method"], "S256");
        assert!(asked["scope"].split(' ').any(|s| s == "offline_access"), "{asked:?}");
        assert!(asked["scope"].contains("Calendars.ReadWrite"), "{asked:?}");
        assert_eq!(asked["response_mode"], "query");
        let exchange = graph.token_requests().into_iter().find(|r| r["grant_type"] == "authorization_code").unwrap();
        assert!(exchange.contains_key("code_verifier"), "PKCE: {exchange:?}");
        app.jobs.drain().await.unwrap();

        let s = status(&app, &mentor).await;
        assert_eq!(s["connected"], true, "{s}");
        assert_eq!(s["accountEmail"], fake_graph::ACCOUNT);
        let calendars = s["calendars"].as_array().unwrap();
        assert_eq!(calendars.len(), 2);
        assert!(calendars.iter().any(|c| c["primary"] == true && c["countsAsBusy"] == true && c["receivesSessions"] == true));
        let busy = outlook_busy(&app, MENTOR).await;
        assert_eq!(busy[..5], [
            span("2026-01-06T15:00:00Z", "2026-01-06T16:00:00Z"),
            span("2026-01-06T17:00:00Z", "2026-01-06T18:00:00Z"),
            span("2026-01-07T09:00:00Z", "2026-01-07T11:00:00Z"),
            span("2026-01-08T14:00:00Z", "2026-01-08T15:00:00Z"),
            span("2026-01-08T18:30:00Z", "2026-01-09T18:30:00Z"),
        ]);
        assert_eq!(busy.len(), 5 + 101);
        // Every read asked for UTC and went through pages of the size asked for.
        assert!(graph.calls_without_utc().is_empty(), "{:?}", graph.calls_without_utc());
        let reads: Vec<_> = graph.requests().into_iter().filter(|c| c.path.contains("/calendarView/delta")).collect();
        assert_eq!(reads.len(), 2, "two pages");
        assert!(reads.iter().all(|c| c.prefer.iter().any(|p| p == "odata.maxpagesize=100")), "{reads:?}");
        assert!(reads.iter().any(|c| c.query.contains_key("$skiptoken")));
        assert!(reads.iter().all(|c| !c.query.contains_key("$select")));
    }

    async fn changes_come_through_the_delta_link_and_an_expired_one_reads_again(app, graph) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        graph.put_event(CALENDAR, timed("a", "2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"));
        graph.put_event(CALENDAR, timed("b", "2026-01-06T11:00:00Z", "2026-01-06T12:00:00Z"));
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(outlook_busy(&app, MENTOR).await.len(), 2);
        // A new event, one deleted, one moved: the next read asks only what changed.
        graph.put_event(CALENDAR, timed("c", "2026-01-07T09:00:00Z", "2026-01-07T10:00:00Z"));
        graph.remove_event(CALENDAR, "a");
        graph.put_event(CALENDAR, timed("b", "2026-01-06T13:00:00Z", "2026-01-06T14:00:00Z"));
        let before = graph.requests().len();
        sync(&app, MENTOR).await;
        let round: Vec<_> = graph.requests().into_iter().skip(before).filter(|c| c.path.ends_with("/delta")).collect();
        assert!(!round.is_empty() && round.iter().all(|c| c.query.contains_key("$deltatoken") || c.query.contains_key("$skiptoken")), "{round:?}");
        assert_eq!(outlook_busy(&app, MENTOR).await, vec![
            span("2026-01-06T13:00:00Z", "2026-01-06T14:00:00Z"),
            span("2026-01-07T09:00:00Z", "2026-01-07T10:00:00Z"),
        ]);
        // Graph forgets the delta state (410): the whole window is read again, nothing lost.
        graph.expire_delta_tokens();
        graph.put_event(CALENDAR, timed("d", "2026-01-08T09:00:00Z", "2026-01-08T10:00:00Z"));
        let before = graph.requests().len();
        sync(&app, MENTOR).await;
        let round: Vec<_> = graph.requests().into_iter().skip(before).filter(|c| c.path.ends_with("/delta")).collect();
        assert!(round.iter().any(|c| c.query.contains_key("startDateTime")), "a whole read: {round:?}");
        assert_eq!(outlook_busy(&app, MENTOR).await.len(), 3);
        assert_eq!(status(&app, &mentor).await["state"], "IDLE");
    }

    async fn refresh_tokens_rotate_and_the_newest_is_kept(app, graph) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        // Twice the access token expires: each refresh must use the refresh token the last one
        // gave (the fake refuses a used one, as rotation means).
        for round in 0..2 {
            graph.expire_access_tokens();
            graph.put_event(CALENDAR, timed(&format!("r{round}"), "2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"));
            sync(&app, MENTOR).await;
            let s = status(&app, &mentor).await;
            assert_eq!(s["state"], "IDLE", "round {round}: {s}");
        }
        let refreshes: Vec<_> = graph.token_requests().into_iter().filter(|r| r["grant_type"] == "refresh_token").collect();
        assert_eq!(refreshes.len(), 2);
        assert_ne!(refreshes[0]["refresh_token"], refreshes[1]["refresh_token"]);
        // The grant revoked: the connection asks the mentor to reconnect.
        graph.revoke_grant();
        graph.expire_access_tokens();
        let _ = app.services.calendar.sync(MENTOR, CalendarProvider::Outlook, None, None).await;
        assert_eq!(status(&app, &mentor).await["state"], "RECONNECT_REQUIRED");
    }

    async fn sessions_become_outlook_events_with_teams_links(app, graph) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        graph.join_url_later(1);
        // The first create's answer is lost: the retry makes no second event.
        graph.lose_next_create_answer();
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z", "2026-01-07T09:00:00Z"], json!(1))).await;
        let now = sessions(&app, &student, &booking).await;
        assert!(now.iter().all(|s| s["meeting"]["provider"] == "MICROSOFT_TEAMS" && s["meeting"]["status"] == "PENDING"), "{now:?}");
        for step in 1..=3 {
            app.jobs.drain().await.unwrap();
            app.clock.set(default_now() + Duration::seconds(70 * step));
        }
        app.jobs.drain().await.unwrap();
        let events = session_events(&graph);
        assert_eq!(events.len(), 2, "{events:?}");
        for s in sessions(&app, &student, &booking).await {
            let id = s["id"].as_str().unwrap();
            let event = events.iter().find(|e| e["transactionId"] == format!("mentor-session-{id}")).expect("its event");
            assert_eq!(event["isOnlineMeeting"], true);
            assert_eq!(event["onlineMeetingProvider"], "teamsForBusiness");
            assert!(event["attendees"].as_array().is_none_or(|a| a.is_empty()), "Outlook sends no invitation: {event}");
            assert!(event["location"]["displayName"].as_str().unwrap().contains("/join/"));
            assert_eq!(s["meeting"], json!({ "provider": "MICROSOFT_TEAMS", "status": "READY" }), "{s}");
            assert_eq!(room(&app, id).await.meeting_url, join_url(event["id"].as_str().unwrap()));
        }
        assert!(graph.calls_without_utc().is_empty());
        // A move patches the same event; a cancel deletes it.
        let first = sessions(&app, &student, &booking).await[0].clone();
        let event_id = session_events(&graph).into_iter().find(|e| e["transactionId"] == format!("mentor-session-{}", first["id"].as_str().unwrap())).unwrap()["id"].as_str().unwrap().to_string();
        app.ok(&mentor, RESCHEDULE, json!({ "id": first["id"], "s": "2026-01-05T11:00:00Z" })).await;
        app.jobs.drain().await.unwrap();
        let moved = graph.event(CALENDAR, &event_id).unwrap();
        assert!(moved["start"]["dateTime"].as_str().unwrap().starts_with("2026-01-05T11:00:00"), "{moved}");
        app.ok(&mentor, CANCEL_SESSION, json!({ "id": first["id"] })).await;
        app.jobs.drain().await.unwrap();
        assert!(graph.event(CALENDAR, &event_id).is_none());
        assert_eq!(session_events(&graph).len(), 1);
    }

    async fn an_account_without_teams_keeps_the_built_in_room(app, graph) {
        graph.without_teams();
        let (mentor, student) = tutor_and_student(&app).await;
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(1))).await;
        let id = sessions(&app, &student, &booking).await[0]["id"].as_str().unwrap().to_string();
        let built_in = room(&app, &id).await.meeting_url;
        app.jobs.drain().await.unwrap();
        // The event is written; Graph made no meeting, so the built-in room stays the session's.
        assert_eq!(session_events(&graph).len(), 1);
        assert_eq!(session_events(&graph)[0]["isOnlineMeeting"], false);
        let s = &sessions(&app, &student, &booking).await[0];
        assert_eq!(s["meeting"]["status"], "FAILED", "{s}");
        assert_eq!(room(&app, &id).await.meeting_url, built_in);
    }

    async fn subscriptions_pass_the_handshake_and_notifications_are_checked(app, graph) {
        graph.accept_http();
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        let subs = graph.subscriptions();
        assert_eq!(subs.len(), 1, "one subscription on the busy calendar: {subs:?}");
        assert_eq!(graph.handshakes(), vec![200, 200], "the notification and lifecycle addresses answered");
        assert!(subs[0]["resource"].as_str().unwrap().contains(CALENDAR));
        let lifetime = subs[0]["expirationDateTime"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap() - app.clock.now();
        assert!(lifetime <= Duration::minutes(4_200) && lifetime > Duration::days(2), "{lifetime}");
        assert_eq!(status(&app, &mentor).await["pushActive"], true);

        // A change: the notification is taken (202) and a read of that calendar follows.
        graph.put_event(CALENDAR, timed("n1", "2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"));
        assert_eq!(graph.notify(CALENDAR, "n1").await, vec![202]);
        app.jobs.drain().await.unwrap();
        assert_eq!(outlook_busy(&app, MENTOR).await.len(), 1);

        // A forged notification (wrong clientState) is refused and reads nothing.
        graph.put_event(CALENDAR, timed("n2", "2026-01-06T11:00:00Z", "2026-01-06T12:00:00Z"));
        assert_eq!(graph.notify_with_client_state(CALENDAR, "n2", "guessed").await, vec![403]);
        let before = graph.requests().len();
        app.jobs.drain().await.unwrap();
        assert!(graph.requests().iter().skip(before).all(|c| !c.path.ends_with("/delta")), "nothing read");

        // Graph says notifications were missed: a read catches up.
        let id = subs[0]["id"].as_str().unwrap().to_string();
        assert_eq!(graph.lifecycle(&id, "missed").await, 202);
        app.jobs.drain().await.unwrap();
        assert_eq!(outlook_busy(&app, MENTOR).await.len(), 2);

        // Graph removed the subscription: a new one is made.
        assert_eq!(graph.lifecycle(&id, "subscriptionRemoved").await, 202);
        app.jobs.drain().await.unwrap();
        let now = graph.subscriptions();
        assert_eq!(now.len(), 1, "{now:?}");
        assert_ne!(now[0]["id"], json!(id));
        // Graph asks for reauthorization: a fresh subscription replaces it, the old one is ended.
        let second = now[0]["id"].as_str().unwrap().to_string();
        assert_eq!(graph.lifecycle(&second, "reauthorizationRequired").await, 202);
        app.jobs.drain().await.unwrap();
        let now = graph.subscriptions();
        assert_eq!(now.len(), 1, "{now:?}");
        assert_ne!(now[0]["id"], json!(second));
        // Pushes stay live throughout.
        assert_eq!(status(&app, &mentor).await["pushActive"], true);
    }

    async fn throttling_is_waited_out_not_hammered(app, graph) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        graph.put_event(CALENDAR, timed("t1", "2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"));
        graph.throttle(429, 1, 30);
        let before = graph.requests().len();
        let failed = app.services.calendar.sync(MENTOR, CalendarProvider::Outlook, None, None).await;
        assert_eq!(failed.unwrap_err().code(), "RATE_LIMITED");
        // One call, not a loop.
        assert_eq!(graph.requests().len() - before, 1);
        sync(&app, MENTOR).await;
        assert_eq!(outlook_busy(&app, MENTOR).await.len(), 1);
    }
}

const UPDATE_SYNC: &str =
    "mutation($i: CalendarSyncSettingsInput!) { updateCalendarSync(input: $i) { state } }";
const WHEN: &str =
    "query($id: ID!) { booking(id: $id) { sessions { id start status sequence cancelReason } } }";

/// A mentor on Outlook with one session written to their calendar: (mentor, student, booking id,
/// the event's Graph id).
async fn one_written_session(
    app: &TestApp,
    graph: &FakeGraph,
    at: &str,
) -> (String, String, Value, String) {
    let (mentor, student) = tutor_and_student(app).await;
    connect_outlook(app, &mentor).await;
    app.jobs.drain().await.unwrap();
    let booking = book(app, &student, request(&[at], json!(1))).await;
    app.jobs.drain().await.unwrap();
    let events = session_events(graph);
    assert_eq!(events.len(), 1, "{events:?}");
    let id = events[0]["id"].as_str().unwrap().to_string();
    (mentor, student, booking["id"].clone(), id)
}

async fn first_session(app: &TestApp, token: &str, booking: &Value) -> Value {
    app.ok(token, WHEN, json!({ "id": booking })).await["booking"]["sessions"][0].clone()
}

crate::with_fake_graph! {
    async fn a_session_deleted_in_outlook_is_cancelled_and_one_moved_follows(app, graph) {
        let (mentor, student, booking, event_id) = one_written_session(&app, &graph, "2026-01-06T10:00:00Z").await;
        // Moved in Outlook (outside weekly hours, the mentor's own choice): the session follows.
        let mut event = graph.event(CALENDAR, &event_id).unwrap();
        event["start"] = json!({ "dateTime": "2026-01-06T18:00:00.0000000", "timeZone": "UTC" });
        event["end"] = json!({ "dateTime": "2026-01-06T19:00:00.0000000", "timeZone": "UTC" });
        graph.put_event(CALENDAR, event);
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let now = first_session(&app, &student, &booking).await;
        assert_eq!((utc(&now["start"]), now["sequence"].as_i64()), ("2026-01-06T18:00:00+00:00".to_string(), Some(1)), "{now}");
        let told = crate::helpers::notify::inbox(&app, &student).await;
        assert!(told.iter().any(|n| n["type"] == "SESSION_RESCHEDULED"), "{told:?}");
        // Deleted in Outlook (delta reports it removed): cancelled as the mentor, the student told.
        graph.remove_event(CALENDAR, &event_id);
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let now = first_session(&app, &mentor, &booking).await;
        assert_eq!((now["status"].as_str(), now["cancelReason"].as_str()), (Some("CANCELLED"), Some("removed from Outlook")), "{now}");
        let told = crate::helpers::notify::inbox(&app, &student).await;
        assert!(told.iter().any(|n| n["type"] == "SESSION_CANCELLED"), "{told:?}");
    }

    async fn restore_event_writes_a_deleted_outlook_event_anew(app, graph) {
        let (mentor, student, booking, event_id) = one_written_session(&app, &graph, "2026-01-06T10:00:00Z").await;
        app.ok(&mentor, UPDATE_SYNC, json!({ "i": { "provider": "OUTLOOK", "onSessionEventDeleted": "RESTORE_EVENT" } })).await;
        // Deleted before any read saw it: the next delta round does not report it (Graph reports
        // removals only of what the client had seen)...
        graph.remove_event(CALENDAR, &event_id);
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        assert!(session_events(&graph).is_empty());
        // ...but a whole read (the daily one, or after Graph forgot the delta state) finds it
        // missing. Graph forgets deleted events: the event is made again (a new id), at its time.
        graph.expire_delta_tokens();
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let events = session_events(&graph);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_ne!(events[0]["id"], json!(event_id));
        assert!(events[0]["start"]["dateTime"].as_str().unwrap().starts_with("2026-01-06T10:00:00"));
        assert_eq!(first_session(&app, &student, &booking).await["status"], "SCHEDULED");
        // Reading our own new event back changes nothing.
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(first_session(&app, &student, &booking).await["status"], "SCHEDULED");
        assert_eq!(session_events(&graph).len(), 1);
    }

    async fn ask_raises_a_conflict_for_an_outlook_deletion(app, graph) {
        let (mentor, _student, booking, event_id) = one_written_session(&app, &graph, "2026-01-06T10:00:00Z").await;
        app.ok(&mentor, UPDATE_SYNC, json!({ "i": { "provider": "OUTLOOK", "onSessionEventDeleted": "ASK", "onSessionEventMoved": "ASK" } })).await;
        // A read sees the session's event (as the notification of its creation brings), then the
        // mentor deletes it.
        sync(&app, TUTOR).await;
        graph.remove_event(CALENDAR, &event_id);
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let conflicts = app.ok(&mentor, "query { calendarConflicts(openOnly: true) { edges { node { kind provider } } } }", json!({})).await;
        let edges = conflicts["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1, "{conflicts}");
        assert_eq!(edges[0]["node"]["kind"], "SESSION_EVENT_DELETED");
        assert_eq!(edges[0]["node"]["provider"], "OUTLOOK");
        assert_eq!(first_session(&app, &mentor, &booking).await["status"], "SCHEDULED");
    }

    async fn busy_time_in_outlook_over_a_session_is_a_conflict(app, graph) {
        let (mentor, _student, _booking, _event_id) = one_written_session(&app, &graph, "2026-01-06T10:00:00Z").await;
        graph.put_event(CALENDAR, timed("dentist", "2026-01-06T10:30:00Z", "2026-01-06T11:30:00Z"));
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let conflicts = app.ok(&mentor, "query { calendarConflicts(openOnly: true) { edges { node { kind provider } } } }", json!({})).await;
        let edges = conflicts["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1, "{conflicts}");
        assert_eq!(edges[0]["node"]["kind"], "BUSY_OVER_SESSION");
        // The event goes: the conflict closes by itself.
        graph.remove_event(CALENDAR, "dentist");
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let open = app.ok(&mentor, "query { calendarConflicts(openOnly: true) { edges { node { id } } } }", json!({})).await;
        assert!(open["calendarConflicts"]["edges"].as_array().unwrap().is_empty(), "{open}");
    }
}

mod with_google {
    use super::*;
    use crate::helpers::fake_google::{self, FakeGoogle};
    use crate::helpers::graph::app_with_google_and_graph;

    async fn google_busy(app: &TestApp) -> usize {
        busy_block::Entity::find()
            .filter(busy_block::Column::MentorId.eq(TUTOR))
            .filter(busy_block::Column::Source.eq("google"))
            .all(app.services.db.conn())
            .await
            .unwrap()
            .len()
    }

    /// Busy time comes from both accounts; sessions go to the one calendar that receives them
    /// (Google's, connected first), until the mentor picks Outlook's instead.
    async fn both_accounts(app: TestApp, google: FakeGoogle, graph: FakeGraph) {
        let (mentor, student) = tutor_and_student(&app).await;
        google.put_event(
            fake_google::ACCOUNT,
            fake_google::timed("g1", "2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"),
        );
        graph.put_event(
            CALENDAR,
            timed("o1", "2026-01-06T11:00:00Z", "2026-01-06T12:00:00Z"),
        );
        crate::helpers::google::connect(&app, &mentor).await;
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google_busy(&app).await, 1);
        assert_eq!(outlook_busy(&app, TUTOR).await.len(), 1);
        // Neither account's busy hour is offered.
        let slots = app.ok(&student, "query($m: ID!) { availableSlots(mentorId: $m, from: \"2026-01-06T08:00:00Z\", to: \"2026-01-06T13:00:00Z\") { start } }", json!({ "m": TUTOR })).await;
        let starts: Vec<String> = slots["availableSlots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| utc(&s["start"]))
            .collect();
        assert!(
            !starts.contains(&"2026-01-06T09:00:00+00:00".to_string()),
            "{starts:?}"
        );
        assert!(
            !starts.contains(&"2026-01-06T11:00:00+00:00".to_string()),
            "{starts:?}"
        );
        // Outlook, connected second, does not take the sessions from Google.
        let outlook = status(&app, &mentor).await;
        assert!(
            outlook["calendars"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["receivesSessions"] == false),
            "{outlook}"
        );
        book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(
            google.writes().iter().filter(|w| w.0 == "insert").count(),
            1
        );
        assert!(session_events(&graph).is_empty());
        // The mentor moves sessions to Outlook: Google's calendar stops receiving them, and the
        // next booking's sessions go to Outlook.
        app.ok(
            &mentor,
            "mutation($i: CalendarSyncSettingsInput!) { updateCalendarSync(input: $i) { state } }",
            json!({ "i": { "provider": "OUTLOOK", "sessionCalendarId": CALENDAR } }),
        )
        .await;
        let on_google = app
            .ok(
                &mentor,
                "{ calendarStatus(provider: GOOGLE) { calendars { receivesSessions } } }",
                json!({}),
            )
            .await;
        assert!(
            on_google["calendarStatus"]["calendars"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["receivesSessions"] == false),
            "{on_google}"
        );
        app.jobs.drain().await.unwrap();
        book(&app, &student, request(&["2026-01-07T09:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(session_events(&graph).len(), 1);
        assert_eq!(
            google.writes().iter().filter(|w| w.0 == "insert").count(),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_and_outlook_at_once_sqlite() {
        let (app, google, graph) = app_with_google_and_graph(crate::helpers::Backend::Sqlite)
            .await
            .unwrap();
        both_accounts(app, google, graph).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_and_outlook_at_once_postgres() {
        match app_with_google_and_graph(crate::helpers::Backend::Postgres).await {
            Some((app, google, graph)) => both_accounts(app, google, graph).await,
            None => crate::helpers::say_skipped("calendar_outlook::with_google::postgres"),
        }
    }
}

crate::with_fake_graph! {
    async fn the_notification_address_answers_only_what_graph_may_send(app, graph) {
        graph.accept_http();
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        connect_outlook(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        let channel: String = {
            use mentor_scheduler::entity::calendar_channel;
            calendar_channel::Entity::find().one(app.services.db.conn()).await.unwrap().expect("a channel").id
        };
        let post = |path: String, body: &'static str| {
            let client = app.client.clone();
            let url = app.url(&path);
            async move {
                client.post(url).header("content-type", "text/plain; charset=utf-8").body(body).send().await.unwrap()
            }
        };
        // The handshake: the token comes back decoded, as text/plain.
        let ok = post(format!("/calendar/webhook/outlook/{channel}?validationToken=Validation%3A+Testing+client+application"), "").await;
        assert_eq!(ok.status(), 200);
        assert!(ok.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert_eq!(ok.text().await.unwrap(), "Validation: Testing client application");
        // Not for a channel we opened, or not Graph's: nothing is echoed.
        let unknown = post("/calendar/webhook/outlook/no-such-channel?validationToken=abc".into(), "").await;
        assert_eq!(unknown.status(), 404);
        let long = "x".repeat(2_000);
        let too_long = post(format!("/calendar/webhook/outlook/{channel}?validationToken={long}"), "").await;
        assert_eq!(too_long.status(), 400);
        // Bodies that are not Graph notifications are refused and read nothing.
        let before = graph.requests().len();
        for body in ["not json", "{}", "{\"value\": []}", "{\"value\": [{\"subscriptionId\": \"s\"}]}"] {
            let answer = post(format!("/calendar/webhook/outlook/{channel}"), body).await;
            assert_eq!(answer.status(), 400, "{body}");
        }
        app.jobs.drain().await.unwrap();
        assert!(graph.requests().iter().skip(before).all(|c| !c.path.contains("/delta")));
    }
}
