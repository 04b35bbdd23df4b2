//! Sessions written to the mentor's Google calendar, against the fake Google: one event per session
//! (its id from the session's, `sendUpdates=none`, tagged as ours), a Meet link that starts pending
//! and becomes the session's room (the `/join` link opens it), moves patch the same event, cancels
//! delete it; a lost answer makes no second event, a rate limit's `Retry-After` is honoured, and a
//! Meet link that cannot be made (or a grant that is gone) leaves the built-in room.

use chrono::{DateTime, Duration, Utc};
use mentor_scheduler::entity::session;
use mentor_scheduler::integrations::calendar::google::events::event_id_for;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, TUTOR};
use crate::helpers::fake_google::{self, meet_link, FakeGoogle};
use crate::helpers::google::{busy_from_google, connect};
use crate::helpers::{default_now, TestApp};

const PRIMARY: &str = fake_google::ACCOUNT;
const SESSIONS: &str = "query($id: ID!) { booking(id: $id) { sessions { id start status meeting { provider status } joinUrl } } }";
const RESCHEDULE: &str =
    "mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id sequence } }";
const CANCEL_SESSION: &str = "mutation($id: ID!) { cancelSession(id: $id) { id status } }";
const CANCEL_BOOKING: &str = "mutation($id: ID!) { cancelBooking(id: $id) { id status } }";

async fn sessions(app: &TestApp, token: &str, booking: &Value) -> Vec<Value> {
    app.ok(token, SESSIONS, json!({ "id": booking["id"] }))
        .await["booking"]["sessions"]
        .as_array()
        .unwrap()
        .clone()
}

fn meetings(sessions: &[Value]) -> Vec<(String, String)> {
    sessions
        .iter()
        .map(|s| {
            let m = &s["meeting"];
            (
                m["provider"].as_str().unwrap().into(),
                m["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn pair(provider: &str, status: &str) -> (String, String) {
    (provider.into(), status.into())
}

/// The room URL a session holds now.
async fn room(app: &TestApp, id: &str) -> String {
    session::Entity::find_by_id(id)
        .one(app.services.db.conn())
        .await
        .unwrap()
        .unwrap()
        .meeting_url
}

fn event_id(session: &Value) -> String {
    event_id_for(session["id"].as_str().unwrap())
}

fn inserts(google: &FakeGoogle) -> usize {
    google.writes().iter().filter(|w| w.0 == "insert").count()
}

/// Where a `/join` link sends its participant now.
async fn joins_to(app: &TestApp, join_url: &str) -> Option<String> {
    let path = &join_url[join_url.find("/join/").unwrap()..];
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

crate::with_fake_google! {
    async fn sessions_become_events_each_with_its_own_meet_link(app, google) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        google.meet_pending_reads(1);
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z", "2026-01-07T09:00:00Z"], json!(2))).await;
        // At once: a Meet link is on its way, and the built-in room serves meanwhile.
        let now = sessions(&app, &student, &booking).await;
        assert_eq!(now.len(), 4);
        assert!(meetings(&now).iter().all(|m| *m == pair("GOOGLE_MEET", "PENDING")), "{now:?}");
        let built_in = room(&app, now[0]["id"].as_str().unwrap()).await;

        // The writes: one event per session, ours, with no invitation mail from Google.
        app.jobs.drain().await.unwrap();
        assert_eq!(inserts(&google), 4);
        for s in &now {
            let event = google.event(PRIMARY, &event_id(s)).expect("the session's event");
            assert_eq!(event["extendedProperties"]["private"]["mentorSchedulerSession"], s["id"]);
            assert_eq!(event["attendees"][0]["email"].as_str().map(|e| e.contains('@')), Some(true));
            assert_eq!(event["start"]["dateTime"], s["start"].as_str().map(|t| at(t).format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap());
            assert!(event["location"].as_str().unwrap().contains("/join/"), "{event}");
            assert!(event["summary"].as_str().unwrap().contains("Algebra"));
        }
        assert!(google.writes().iter().all(|w| w.3.get("sendUpdates").map(String::as_str) == Some("none")));
        // Google was still making the links: looked for again two seconds later.
        assert!(meetings(&sessions(&app, &student, &booking).await).iter().all(|m| *m == pair("GOOGLE_MEET", "PENDING")));
        app.clock.set(default_now() + Duration::seconds(2));
        app.jobs.drain().await.unwrap();
        let ready = sessions(&app, &student, &booking).await;
        assert!(meetings(&ready).iter().all(|m| *m == pair("GOOGLE_MEET", "READY")), "{ready:?}");
        let first = ready[0]["id"].as_str().unwrap();
        assert_eq!(room(&app, first).await, meet_link(&event_id(&ready[0])));
        assert_ne!(room(&app, first).await, built_in);
        assert_ne!(room(&app, first).await, room(&app, ready[1]["id"].as_str().unwrap()).await, "a link per session");
        // The session's /join link opens the Meet link.
        app.clock.set(at("2026-01-05T08:50:00Z"));
        assert_eq!(joins_to(&app, ready[0]["joinUrl"].as_str().unwrap()).await, Some(meet_link(&event_id(&ready[0]))));

        // Our events never count as outside busy time.
        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        app.jobs.drain().await.unwrap();
        assert!(busy_from_google(&app, TUTOR).await.is_empty());

        // A move patches the same event (same Meet link); a cancel deletes it.
        let moved = &ready[2];
        app.ok(&mentor, RESCHEDULE, json!({ "id": moved["id"], "s": "2026-01-12T11:00:00Z" })).await;
        app.jobs.drain().await.unwrap();
        let event = google.event(PRIMARY, &event_id(moved)).unwrap();
        assert_eq!(event["start"]["dateTime"], "2026-01-12T11:00:00Z");
        assert_eq!(event["conferenceData"]["entryPoints"][0]["uri"], meet_link(&event_id(moved)));
        assert_eq!(google.writes().iter().filter(|w| w.0 == "patch").count(), 1);
        assert_eq!(inserts(&google), 4);
        app.ok(&student, CANCEL_SESSION, json!({ "id": ready[3]["id"] })).await;
        app.jobs.drain().await.unwrap();
        assert!(google.event(PRIMARY, &event_id(&ready[3])).is_none());
        app.ok(&student, CANCEL_BOOKING, json!({ "id": booking["id"] })).await;
        app.jobs.drain().await.unwrap();
        // The first session has started (08:50 is before its 09:00 start, so it is cancelled too).
        let left: Vec<Value> = ready.iter().filter_map(|s| google.event(PRIMARY, &event_id(s))).collect();
        assert!(left.is_empty(), "{left:?}");
    }

    async fn a_lost_answer_makes_no_second_event_and_a_rate_limit_is_waited_out(app, google) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        // Google makes the event but its answer is lost: the retry finds it (409) and reads it back.
        google.lose_next_insert_answer();
        let booking = book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        let report = app.jobs.drain().await.unwrap();
        assert_eq!(report.retried, 1, "{report:?}");
        app.clock.set(default_now() + Duration::minutes(2));
        app.jobs.drain().await.unwrap();
        assert_eq!(inserts(&google), 2);
        let only = &sessions(&app, &student, &booking).await[0];
        assert!(google.event(PRIMARY, &event_id(only)).is_some());
        assert_eq!(meetings(std::slice::from_ref(only)), [pair("GOOGLE_MEET", "READY")]);

        // Lost again, and the session moves before the retry: the event ends up where the session
        // is (the 409 is followed by a patch), not where it was first written.
        google.lose_next_insert_answer();
        let moving = book(&app, &student, request(&["2026-01-08T10:00:00Z"], json!(1))).await;
        let moving = &sessions(&app, &student, &moving).await[0];
        app.jobs.drain().await.unwrap();
        app.ok(&mentor, RESCHEDULE, json!({ "id": moving["id"], "s": "2026-01-08T14:00:00Z" })).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(google.event(PRIMARY, &event_id(moving)).unwrap()["start"]["dateTime"], "2026-01-08T14:00:00Z");
        // Lost again, and the session is cancelled before the retry: the event is deleted anyway.
        google.lose_next_insert_answer();
        let dropped = book(&app, &student, request(&["2026-01-09T10:00:00Z"], json!(1))).await;
        let dropped = &sessions(&app, &student, &dropped).await[0];
        app.jobs.drain().await.unwrap();
        app.ok(&student, CANCEL_SESSION, json!({ "id": dropped["id"] })).await;
        app.jobs.drain().await.unwrap();
        assert!(google.event(PRIMARY, &event_id(dropped)).is_none(), "no orphan event");

        // 429 (then 403 rateLimitExceeded) with Retry-After: 600 s: not tried again before then,
        // though the backoff is shorter.
        let mut start = default_now() + Duration::minutes(2);
        for (status, day) in [(429, "2026-01-07T12:00:00Z"), (403, "2026-01-07T15:00:00Z")] {
            google.limit_writes(status, 1, 600);
            let second = book(&app, &student, request(&[day], json!(1))).await;
            app.jobs.drain().await.unwrap();
            app.clock.set(start + Duration::minutes(5));
            app.jobs.drain().await.unwrap();
            let waiting = &sessions(&app, &student, &second).await[0];
            assert!(google.event(PRIMARY, &event_id(waiting)).is_none(), "{status}: not before Retry-After");
            start += Duration::seconds(601);
            app.clock.set(start);
            app.jobs.drain().await.unwrap();
            assert!(google.event(PRIMARY, &event_id(waiting)).is_some(), "{status}");
        }
    }

    async fn without_a_meet_link_the_built_in_room_stays(app, google) {
        let (mentor, student) = tutor_and_student(&app).await;
        // Not connected: the built-in room, nothing written.
        let plain = book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(1))).await;
        assert_eq!(meetings(&sessions(&app, &student, &plain).await), [pair("BUILT_IN", "READY")]);
        assert!(google.writes().is_empty());

        // Connecting takes the sessions already booked to the calendar too.
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(meetings(&sessions(&app, &student, &plain).await), [pair("GOOGLE_MEET", "READY")]);
        google.fail_meet();
        let failing = book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        let s = &sessions(&app, &student, &failing).await[0];
        assert_eq!(meetings(std::slice::from_ref(s)), [pair("GOOGLE_MEET", "FAILED")]);
        assert!(!room(&app, s["id"].as_str().unwrap()).await.contains("meet.google.com"));
        assert!(google.event(PRIMARY, &event_id(s)).is_some(), "the event is there, without Meet");

        // The grant is gone before the writes: the built-in room, the mentor must reconnect, and
        // is told once however many writes found it gone.
        google.revoke_grant();
        app.clock.set(default_now() + Duration::hours(2));
        let orphan = book(&app, &student, request(&["2026-01-07T10:00:00Z", "2026-01-08T10:00:00Z"], json!(2))).await;
        app.jobs.drain().await.unwrap();
        let orphans = sessions(&app, &student, &orphan).await;
        assert!(meetings(&orphans).iter().all(|m| *m == pair("GOOGLE_MEET", "FAILED")), "{orphans:?}");
        let state = app.ok(&mentor, "{ calendarStatus { state } }", json!({})).await;
        assert_eq!(state["calendarStatus"]["state"], "RECONNECT_REQUIRED");
        let alerts = crate::helpers::notify::inbox(&app, &mentor).await;
        assert_eq!(alerts.iter().filter(|n| n["type"] == "CALENDAR_DISCONNECTED").count(), 1, "{alerts:?}");
        // A later booking is not even tried.
        let later = book(&app, &student, request(&["2026-01-09T10:00:00Z"], json!(1))).await;
        assert_eq!(meetings(&sessions(&app, &student, &later).await), [pair("BUILT_IN", "READY")]);

        // Reconnected: what was owed is written, and every session gets its Meet link.
        google.fail_meet_no_more();
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        let mut caught_up = sessions(&app, &student, &orphan).await;
        caught_up.extend(sessions(&app, &student, &later).await);
        assert!(meetings(&caught_up).iter().all(|m| *m == pair("GOOGLE_MEET", "READY")), "{caught_up:?}");
        assert!(caught_up.iter().all(|s| google.event(PRIMARY, &event_id(s)).is_some()));

        // A calendar that will not take events (read-only): refused for good, not retried.
        google.make_read_only();
        let refused = book(&app, &student, request(&["2026-01-12T10:00:00Z"], json!(1))).await;
        let report = app.jobs.drain().await.unwrap();
        assert_eq!(report.retried, 0, "{report:?}");
        assert_eq!(meetings(&sessions(&app, &student, &refused).await), [pair("GOOGLE_MEET", "FAILED")]);
    }
}
