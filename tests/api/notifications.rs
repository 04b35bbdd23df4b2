//! The notification center over HTTP: producers (bookings, timeline jobs, other services), pages,
//! marking read, preferences, the REST routes, and bad input.

use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, STUDENT, TUTOR};
use crate::helpers::notify::{inbox, rows_in_order, send_many, ADMIN, LIST, SEND};
use crate::helpers::TestApp;
use crate::on_both_backends;

const MARK: &str = "mutation($id: ID!) { markNotificationRead(id: $id) { id readAt } }";
const MARK_ALL: &str = "mutation { markAllNotificationsRead }";
const PREFS: &str = "{ notificationPreferences { type channel enabled locked offered } }";
const SET_PREFS: &str = "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { type channel enabled locked } }";

async fn seqs(app: &TestApp, user: &str) -> Vec<i64> {
    rows_in_order(app, user)
        .await
        .into_iter()
        .map(|n| n.seq)
        .collect()
}

const RESCHEDULE: &str =
    "mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id } }";
const CANCEL_SESSION: &str =
    "mutation($id: ID!) { cancelSession(id: $id, reason: \"  sick  \") { id } }";

on_both_backends! {
    async fn a_booking_tells_student_mentor_and_admins_each_in_their_zone(app) {
        let admin = app.user(ADMIN, Role::Admin, "Asia/Kolkata").await;
        let (mentor, student) = tutor_and_student(&app).await;
        book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(2))).await;
        let mine = inbox(&app, &student).await;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["type"], "SESSION_CONFIRMATION");
        assert_eq!(mine[0]["title"], format!("Booking confirmed with User {TUTOR}"));
        assert!(mine[0]["body"].as_str().unwrap().contains("2 sessions, the first on Monday 5 January 2026, 10:00 GMT (Europe/London)"), "{}", mine[0]);
        assert!(mine[0]["link"].as_str().unwrap().starts_with("/bookings/"));
        assert_eq!(mine[0]["data"]["sessions"], 2);
        assert!(mine[0]["readAt"].is_null());
        let theirs = inbox(&app, &mentor).await;
        assert_eq!(theirs[0]["title"], format!("New booking from User {STUDENT}"));
        let admins = inbox(&app, &admin).await;
        assert!(admins[0]["body"].as_str().unwrap().contains("15:30 IST (Asia/Kolkata)"), "{}", admins[0]);
        // Times carry the reader's offset.
        assert!(admins[0]["createdAt"].as_str().unwrap().ends_with("+05:30"));
        let count = app.ok(&student, "{ unreadNotificationCount }", json!({})).await;
        assert_eq!(count["unreadNotificationCount"], 1);
    }

    async fn moves_and_cancellations_tell_the_other_party_only(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(2))).await;
        let first = booking["sessions"][0]["id"].as_str().unwrap().to_string();
        let second = booking["sessions"][1]["id"].as_str().unwrap().to_string();
        app.ok(&student, RESCHEDULE, json!({"id": first, "s": "2026-01-06T11:00:00Z"})).await;
        let theirs = inbox(&app, &mentor).await;
        assert_eq!(theirs[0]["type"], "SESSION_RESCHEDULED");
        assert!(theirs[0]["body"].as_str().unwrap().contains("to Tuesday 6 January 2026, 11:00"), "{}", theirs[0]);
        assert_eq!(inbox(&app, &student).await.len(), 1, "the one who moved it is not told");
        app.ok(&mentor, CANCEL_SESSION, json!({"id": second})).await;
        let mine = inbox(&app, &student).await;
        assert_eq!(mine[0]["type"], "SESSION_CANCELLED");
        assert!(mine[0]["body"].as_str().unwrap().ends_with("Reason: sick"), "{}", mine[0]);
        assert_eq!(inbox(&app, &mentor).await.len(), 2);
    }

    async fn pages_newest_first_unread_only_and_marking_read(app) {
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        let other = app.user("ckotherstudent0000000001", Role::Student, "UTC").await;
        send_many(&app, STUDENT, 5).await;
        let page = app.ok(&student, LIST, json!({"first": 2})).await["notifications"].clone();
        let titles: Vec<_> = page["edges"].as_array().unwrap().iter().map(|e| e["node"]["title"].clone()).collect();
        assert_eq!(titles, [json!("update 4"), json!("update 3")]);
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        let rest = app.ok(&student, LIST, json!({"first": 10, "after": page["pageInfo"]["endCursor"]})).await["notifications"].clone();
        assert_eq!(rest["edges"].as_array().unwrap().len(), 3);
        assert_eq!(rest["pageInfo"]["hasNextPage"], false);
        assert_eq!(rest["edges"][0]["node"]["title"], "update 2");

        let id = page["edges"][0]["node"]["id"].as_str().unwrap().to_string();
        app.clock.set("2026-01-05T00:05:00Z".parse().unwrap());
        let read = app.ok(&student, MARK, json!({"id": id})).await["markNotificationRead"].clone();
        let read_at = read["readAt"].as_str().unwrap().to_string();
        assert_eq!(read_at, "2026-01-05T00:05:00+00:00");
        app.clock.set("2026-01-05T00:10:00Z".parse().unwrap());
        let again = app.ok(&student, MARK, json!({"id": id})).await["markNotificationRead"].clone();
        assert_eq!(again["readAt"], read_at.as_str(), "marking twice keeps the first time");
        let unread = app.ok(&student, LIST, json!({"first": 10, "unread": true})).await;
        assert_eq!(unread["notifications"]["edges"].as_array().unwrap().len(), 4);
        assert_eq!(unread["unreadNotificationCount"], 4);

        app.fails(Some(&other), MARK, json!({"id": id}), "NOT_FOUND").await;
        app.fails(Some(&student), MARK, json!({"id": "nope"}), "NOT_FOUND").await;
        assert_eq!(app.ok(&other, MARK_ALL, json!({})).await["markAllNotificationsRead"], 0);
        assert_eq!(app.ok(&student, MARK_ALL, json!({})).await["markAllNotificationsRead"], 4);
        assert_eq!(app.ok(&student, MARK_ALL, json!({})).await["markAllNotificationsRead"], 0);
        assert_eq!(app.ok(&student, LIST, json!({})).await["unreadNotificationCount"], 0);

        for first in [0, -1, 101] {
            let e = app.fails(Some(&student), LIST, json!({"first": first}), "BAD_USER_INPUT").await;
            assert_eq!(e["extensions"]["field"], "first", "{e}");
        }
        for after in ["zz", "6e6f7065", ""] {
            let e = app.fails(Some(&student), LIST, json!({"after": after}), "BAD_USER_INPUT").await;
            assert_eq!(e["extensions"]["field"], "after", "{e}");
        }
        app.fails(None, LIST, json!({}), "UNAUTHENTICATED").await;
    }

    async fn preferences_have_defaults_locks_and_mute_the_app(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let prefs = app.ok(&student, PREFS, json!({})).await["notificationPreferences"].clone();
        let prefs = prefs.as_array().unwrap();
        assert_eq!(prefs.len(), 48);
        let find = |list: &[Value], t: &str, c: &str| list.iter().find(|p| p["type"] == t && p["channel"] == c).unwrap().clone();
        assert_eq!(find(prefs, "SESSION_CANCELLED", "IN_APP"), json!({"type": "SESSION_CANCELLED", "channel": "IN_APP", "enabled": true, "locked": true, "offered": true}));
        assert_eq!(find(prefs, "SYSTEM_UPDATE", "SMS"), json!({"type": "SYSTEM_UPDATE", "channel": "SMS", "enabled": false, "locked": false, "offered": false}));
        assert_eq!(find(prefs, "SESSION_REMINDER", "SMS"), json!({"type": "SESSION_REMINDER", "channel": "SMS", "enabled": false, "locked": false, "offered": true}));

        // All or nothing: the locked pair refuses the whole request.
        let e = app.fails(Some(&student), SET_PREFS, json!({"i": [
            {"type": "SESSION_CONFIRMATION", "channel": "IN_APP", "enabled": false},
            {"type": "SESSION_CANCELLED", "channel": "IN_APP", "enabled": false},
        ]}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "input[1]");
        assert!(e["message"].as_str().unwrap().contains("cannot be switched off"), "{e}");
        let unchanged = app.ok(&student, PREFS, json!({})).await["notificationPreferences"].clone();
        assert_eq!(find(unchanged.as_array().unwrap(), "SESSION_CONFIRMATION", "IN_APP")["enabled"], true);
        let e = app.fails(Some(&student), SET_PREFS, json!({"i": [
            {"type": "SESSION_REMINDER", "channel": "SMS", "enabled": true},
            {"type": "SESSION_REMINDER", "channel": "SMS", "enabled": false},
        ]}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "input[1]");
        // News is never texted: switching it on by SMS is refused, not kept to no effect.
        let e = app.fails(Some(&student), SET_PREFS, json!({"i": [
            {"type": "SESSION_REMINDER", "channel": "SMS", "enabled": true},
            {"type": "SYSTEM_UPDATE", "channel": "SMS", "enabled": true},
        ]}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "input[1]");
        assert!(e["message"].as_str().unwrap().contains("SYSTEM_UPDATE is never sent by SMS"), "{e}");
        let unchanged = app.ok(&student, PREFS, json!({})).await["notificationPreferences"].clone();
        assert_eq!(find(unchanged.as_array().unwrap(), "SESSION_REMINDER", "SMS")["enabled"], false);
        app.fails(Some(&student), SET_PREFS, json!({"i": [{"type": "NOPE", "channel": "SMS", "enabled": true}]}), "BAD_USER_INPUT").await;

        let updated = app.ok(&student, SET_PREFS, json!({"i": [
            {"type": "SESSION_CONFIRMATION", "channel": "IN_APP", "enabled": false},
            {"type": "SESSION_REMINDER", "channel": "SMS", "enabled": true},
        ]})).await["updateNotificationPreferences"].clone();
        assert_eq!(find(updated.as_array().unwrap(), "SESSION_CONFIRMATION", "IN_APP")["enabled"], false);
        assert_eq!(find(updated.as_array().unwrap(), "SESSION_REMINDER", "SMS")["enabled"], true);

        // The student muted confirmations in the app; the mentor did not.
        book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(1))).await;
        assert!(inbox(&app, &student).await.is_empty());
        assert_eq!(inbox(&app, &mentor).await.len(), 1);
        // Switching back on works, and is kept.
        app.ok(&student, SET_PREFS, json!({"i": [{"type": "SESSION_CONFIRMATION", "channel": "IN_APP", "enabled": true}]})).await;
        let prefs = app.ok(&student, PREFS, json!({})).await["notificationPreferences"].clone();
        assert_eq!(find(prefs.as_array().unwrap(), "SESSION_CONFIRMATION", "IN_APP")["enabled"], true);
    }

    async fn other_services_notify_through_an_admin_only_mutation(app) {
        let student = app.user(STUDENT, Role::Student, "UTC").await;
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        let input = |extra: Value| {
            let mut i = json!({"userIds": [STUDENT, "ckneverseenuser000000001"], "type": "NEW_MENTOR_MATCH", "title": "  A new match  ", "body": "Meet Maya", "link": "/mentors/maya", "data": {"mentorId": "maya"}});
            for (k, v) in extra.as_object().unwrap() {
                i[k] = v.clone();
            }
            json!({"i": i})
        };
        app.fails(Some(&student), SEND, input(json!({})), "FORBIDDEN").await;
        for (extra, field) in [
            (json!({"userIds": []}), "input.userIds"),
            (json!({"userIds": [""]}), "input.userIds[0]"),
            (json!({"title": "   "}), "input.title"),
            (json!({"title": "x".repeat(201)}), "input.title"),
            (json!({"link": "javascript:alert(1)"}), "input.link"),
            (json!({"link": "//evil.example/x"}), "input.link"),
            (json!({"data": [1, 2]}), "input.data"),
            (json!({"data": {"big": "x".repeat(9000)}}), "input.data"),
        ] {
            let e = app.fails(Some(&admin), SEND, input(extra.clone()), "BAD_USER_INPUT").await;
            assert_eq!(e["extensions"]["field"], field, "{extra}: {e}");
        }
        assert!(inbox(&app, &student).await.is_empty(), "nothing is written by a refused request");
        let sent = app.ok(&admin, SEND, input(json!({"idempotencyKey": "match-42"}))).await;
        assert_eq!(sent["sendNotification"], json!({"delivered": 2, "skipped": 0}));
        let again = app.ok(&admin, SEND, input(json!({"idempotencyKey": "match-42"}))).await;
        assert_eq!(again["sendNotification"], json!({"delivered": 0, "skipped": 2}));
        // Numbers reserved for the skipped duplicates are given back: the next one follows on.
        assert_eq!(seqs(&app, STUDENT).await, [1]);
        send_many(&app, STUDENT, 1).await;
        assert_eq!(seqs(&app, STUDENT).await, [1, 2]);
        let mine = inbox(&app, &student).await;
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[1]["title"], "A new match");
        assert_eq!(mine[1]["type"], "NEW_MENTOR_MATCH");
        assert_eq!(mine[1]["data"], json!({"mentorId": "maya"}));
    }

    async fn concurrent_producers_number_a_users_notifications_without_gaps(app) {
        app.user(STUDENT, Role::Student, "UTC").await;
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        let sends = (0..24).map(|i| {
            let app = &app;
            let admin = admin.clone();
            async move {
                app.ok(&admin, SEND, json!({"i": {"userIds": [STUDENT, TUTOR], "type": "SYSTEM_UPDATE", "title": format!("n{i}"), "body": ""}})).await
            }
        });
        futures::future::join_all(sends).await;
        assert_eq!(seqs(&app, STUDENT).await, (1..=24).collect::<Vec<i64>>());
        assert_eq!(seqs(&app, TUTOR).await, (1..=24).collect::<Vec<i64>>());
    }

    async fn the_session_timeline_reminds_completes_and_asks_for_feedback(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(2))).await;
        let first = booking["sessions"][0]["id"].as_str().unwrap().to_string();
        let second = booking["sessions"][1]["id"].as_str().unwrap().to_string();
        app.ok(&mentor, MARK_ALL, json!({})).await;
        app.ok(&student, MARK_ALL, json!({})).await;
        // Nothing is due before 09:50.
        app.clock.set("2026-01-05T09:49:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        assert_eq!(inbox(&app, &student).await.len(), 1);
        app.clock.set("2026-01-05T09:50:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        let mine = inbox(&app, &student).await;
        assert_eq!(mine[0]["type"], "SESSION_REMINDER");
        assert_eq!(mine[0]["title"], format!("Your session with User {TUTOR} starts in 10 minutes"));
        let link = mine[0]["link"].as_str().unwrap();
        assert!(link.contains(&format!("/join/{first}?token=")), "{link}");
        let theirs = inbox(&app, &mentor).await;
        assert_eq!(theirs[0]["type"], "SESSION_REMINDER");
        assert_ne!(theirs[0]["link"], mine[0]["link"], "each participant has their own join link");
        // The join link works (the door opens 15 minutes ahead).
        let door = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let path = &link[link.find("/join/").unwrap()..];
        assert_eq!(door.get(app.url(path)).send().await.unwrap().status(), 303);
        // A repeated run (a job delivered twice) writes nothing new.
        let job = mentor_scheduler::jobs::session_timeline::SessionTimeline {
            session_id: first.clone(),
            sequence: 0,
            phase: mentor_scheduler::domain::timeline::Phase::StartingSoon,
        };
        app.services.timeline.run(&job).await.unwrap();
        assert_eq!(inbox(&app, &student).await.len(), 2);

        // At the end: completed, and the student is asked for feedback.
        app.clock.set("2026-01-05T11:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        let mine = inbox(&app, &student).await;
        assert_eq!(mine[0]["type"], "FEEDBACK_REQUEST");
        assert_eq!(mine[0]["link"], format!("/sessions/{first}/feedback"));
        assert_eq!(inbox(&app, &mentor).await.len(), 2, "the mentor is not asked for feedback");
        let status = "query($id: ID!) { booking(id: $id) { status sessions { status } } }";
        let b = app.ok(&student, status, json!({"id": booking["id"]})).await["booking"].clone();
        assert_eq!(b["sessions"][0]["status"], "COMPLETED");
        assert_eq!(b["status"], "CONFIRMED");

        // The second session moves: the old chain goes quiet, the new one reminds at the new time.
        app.ok(&student, RESCHEDULE, json!({"id": second, "s": "2026-01-13T14:00:00Z"})).await;
        app.clock.set("2026-01-12T09:50:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        assert_eq!(inbox(&app, &student).await[0]["type"], "FEEDBACK_REQUEST");
        app.clock.set("2026-01-13T13:50:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        assert_eq!(inbox(&app, &student).await[0]["type"], "SESSION_REMINDER");
        app.clock.set("2026-01-13T15:00:00Z".parse().unwrap());
        let report = app.jobs.drain().await.unwrap();
        assert_eq!((report.retried, report.dead), (0, 0));
        // Its last session over, the two-week booking is complete.
        let b = app.ok(&student, status, json!({"id": booking["id"]})).await["booking"].clone();
        assert_eq!(b["status"], "COMPLETED");
        assert_eq!(inbox(&app, &student).await[0]["type"], "FEEDBACK_REQUEST");
    }

    async fn a_cancelled_session_gets_no_reminder(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(1))).await;
        app.ok(&mentor, CANCEL_SESSION, json!({"id": booking["sessions"][0]["id"]})).await;
        app.clock.set("2026-01-05T12:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        let kinds: Vec<_> = inbox(&app, &student).await.iter().map(|n| n["type"].clone()).collect();
        assert_eq!(kinds, [json!("SESSION_CANCELLED"), json!("SESSION_CONFIRMATION")]);
    }
}

on_both_backends! {
    async fn the_rest_routes_share_auth_errors_and_services(app) {
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        let other = app.user("ckotherstudent0000000001", Role::Student, "UTC").await;
        send_many(&app, STUDENT, 3).await;
        let client = &app.client;

        let anonymous = client.get(app.url("/notifications")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
        let forged = client.get(app.url("/notifications")).bearer_auth("x.y.z").send().await.unwrap();
        assert_eq!(forged.status(), 401);

        let list: Value = client.get(app.url("/notifications?first=2")).bearer_auth(&student).send().await.unwrap().json().await.unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        assert_eq!(list["items"][0]["title"], "update 2");
        assert_eq!(list["pageInfo"]["hasNextPage"], true);
        assert_eq!(list["unreadCount"], 3);
        let after = list["pageInfo"]["endCursor"].as_str().unwrap();
        let rest: Value = client.get(app.url(&format!("/notifications?after={after}&unreadOnly=true"))).bearer_auth(&student).send().await.unwrap().json().await.unwrap();
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        for bad in ["first=abc", "first=500", "unreadOnly=maybe", "after=%21"] {
            let r = client.get(app.url(&format!("/notifications?{bad}"))).bearer_auth(&student).send().await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "BAD_USER_INPUT", "{bad}: {body}");
        }

        let id = list["items"][0]["id"].as_str().unwrap();
        let r = client.post(app.url(&format!("/notifications/{id}/read"))).bearer_auth(&other).send().await.unwrap();
        assert_eq!(r.status(), 404, "someone else's answers as an unknown one");
        let theirs = r.json::<Value>().await.unwrap();
        let r = client.post(app.url("/notifications/nope/read")).bearer_auth(&student).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>().await.unwrap(), theirs);
        let read: Value = client.post(app.url(&format!("/notifications/{id}/read"))).bearer_auth(&student).send().await.unwrap().json().await.unwrap();
        assert_eq!(read["readAt"], "2026-01-05T00:00:00+00:00");
        let count = app.ok(&student, "{ unreadNotificationCount }", json!({})).await;
        assert_eq!(count["unreadNotificationCount"], 2, "REST and GraphQL share one service");

        let prefs: Value = client.get(app.url("/notifications/preferences")).bearer_auth(&student).send().await.unwrap().json().await.unwrap();
        assert_eq!(prefs["preferences"].as_array().unwrap().len(), 48);
        let put = |body: String| client.put(app.url("/notifications/preferences")).bearer_auth(&student).header("content-type", "application/json").body(body).send();
        for (bad, field) in [
            ("{", "body"),
            ("{}", "preferences"),
            (r#"{"preferences": [{"type": "SYSTEM_UPDATE", "channel": "FAX", "enabled": true}]}"#, "preferences[0].channel"),
            (r#"{"preferences": [{"type": "SYSTEM_UPDATE", "channel": "SMS"}]}"#, "preferences[0].enabled"),
            (r#"{"preferences": [{"type": "PAYMENT_RECEIPT", "channel": "EMAIL", "enabled": false}]}"#, "input[0]"),
        ] {
            let r = put(bad.into()).await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["field"], field, "{bad}: {body}");
        }
        let r = put(r#"{"preferences": [{"type": "SYSTEM_UPDATE", "channel": "IN_APP", "enabled": false}]}"#.into()).await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let p = body["preferences"].as_array().unwrap().iter().find(|p| p["type"] == "SYSTEM_UPDATE" && p["channel"] == "IN_APP").unwrap().clone();
        assert_eq!(p["enabled"], false);
        // Muted: the next system update is not written for this user.
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        let sent = app.ok(&admin, SEND, json!({"i": {"userIds": [STUDENT], "type": "SYSTEM_UPDATE", "title": "t", "body": ""}})).await;
        assert_eq!(sent["sendNotification"], json!({"delivered": 0, "skipped": 1}));
        assert_eq!(inbox(&app, &student).await.len(), 3);
    }
}
