//! Cancelling and rescheduling, who may do it, and keeping ongoing bookings four weeks ahead.

use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::booking::{book, events, request, starts, tutor_and_student, OTHER_STUDENT};
use crate::helpers::TestApp;
use crate::on_both_backends;

const CANCEL_SESSION: &str = "mutation($id: ID!, $r: String) { cancelSession(id: $id, reason: $r) { id status cancelReason joinUrl } }";
const CANCEL_BOOKING: &str = "mutation($id: ID!, $r: String) { cancelBooking(id: $id, reason: $r) { id status cancelReason sessions { start status } } }";
const RESCHEDULE: &str = "mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id start end sequence status } }";

fn session_id(booking: &Value, i: usize) -> Value {
    booking["sessions"][i]["id"].clone()
}

on_both_backends! {
    async fn a_participant_cancels_one_future_session_with_a_reason(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let other = app.user(OTHER_STUDENT, Role::Student, "UTC").await;
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(3))).await;
        let second = session_id(&booking, 1);
        app.fails(Some(&other), CANCEL_SESSION, json!({"id": second}), "NOT_FOUND").await;
        app.fails(Some(&student), CANCEL_SESSION, json!({"id": "nope"}), "NOT_FOUND").await;
        let e = app.fails(Some(&student), CANCEL_SESSION, json!({"id": second, "r": "x".repeat(1001)}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "reason");
        let cancelled = app.ok(&mentor, CANCEL_SESSION, json!({"id": second, "r": " ill "})).await["cancelSession"].clone();
        assert_eq!(cancelled["status"], "CANCELLED");
        assert_eq!(cancelled["cancelReason"], "ill");
        assert!(cancelled["joinUrl"].is_null());
        app.fails(Some(&student), CANCEL_SESSION, json!({"id": second}), "CONFLICT").await;
        // The freed hour can be booked by someone else.
        book(&app, &other, request(&["2026-01-12T09:00:00Z"], json!(1))).await;
        // A session that has started cannot be cancelled.
        app.clock.set("2026-01-05T09:10:00Z".parse().unwrap());
        let e = app.fails(Some(&student), CANCEL_SESSION, json!({"id": session_id(&booking, 0)}), "BAD_USER_INPUT").await;
        assert!(e["message"].as_str().unwrap().contains("already started"), "{e}");
        let ev = events(&app, "SESSION_CANCELLED").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["session_id"], second);
        assert_eq!(ev[0]["reason"], "ill");
    }

    async fn cancelling_a_booking_cancels_only_what_has_not_started(app) {
        let (_, student) = tutor_and_student(&app).await;
        let admin = app.user("admin-1", Role::Admin, "UTC").await;
        let other = app.user(OTHER_STUDENT, Role::Student, "UTC").await;
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(3))).await;
        app.fails(Some(&other), CANCEL_BOOKING, json!({"id": booking["id"]}), "NOT_FOUND").await;
        app.clock.set("2026-01-06T00:00:00Z".parse().unwrap());
        let done = app.ok(&admin, CANCEL_BOOKING, json!({"id": booking["id"], "r": "moved abroad"})).await["cancelBooking"].clone();
        assert_eq!(done["status"], "CANCELLED");
        assert_eq!(done["cancelReason"], "moved abroad");
        let statuses: Vec<&str> = done["sessions"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["SCHEDULED", "CANCELLED", "CANCELLED"]);
        app.fails(Some(&student), CANCEL_BOOKING, json!({"id": booking["id"]}), "CONFLICT").await;
        app.fails(Some(&student), CANCEL_BOOKING, json!({"id": "nope"}), "NOT_FOUND").await;
        let ev = events(&app, "BOOKING_CANCELLED").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["cancelled_session_ids"].as_array().unwrap().len(), 2);
    }

    async fn rescheduling_rechecks_the_new_time_and_raises_the_sequence(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let other = app.user(OTHER_STUDENT, Role::Student, "UTC").await;
        let mine = book(&app, &student, request(&["2026-01-06T09:00:00Z"], json!(2))).await;
        book(&app, &other, request(&["2026-01-07T13:00:00Z"], json!(1))).await;
        let id = session_id(&mine, 1);
        // Onto someone else's session (with its buffer), outside hours, or off the minute: refused.
        let e = app.fails(Some(&student), RESCHEDULE, json!({"id": id, "s": "2026-01-07T12:30:00Z"}), "CONFLICT").await;
        assert_eq!(e["extensions"]["clashes"][0]["reason"], "SESSION_TAKEN");
        let e = app.fails(Some(&student), RESCHEDULE, json!({"id": id, "s": "2026-01-10T10:00:00Z"}), "CONFLICT").await;
        assert_eq!(e["extensions"]["clashes"][0]["reason"], "OUTSIDE_AVAILABILITY");
        let e = app.fails(Some(&student), RESCHEDULE, json!({"id": id, "s": "2026-01-08T10:00:01Z"}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "start");
        app.fails(Some(&other), RESCHEDULE, json!({"id": id, "s": "2026-01-08T10:00:00Z"}), "NOT_FOUND").await;
        // Moving it an hour within its own slot is fine: it does not clash with itself.
        let moved = app.ok(&mentor, RESCHEDULE, json!({"id": id, "s": "2026-01-13T10:00:00Z"})).await["rescheduleSession"].clone();
        assert_eq!(moved["start"], "2026-01-13T10:00:00+00:00");
        assert_eq!(moved["end"], "2026-01-13T11:00:00+00:00");
        assert_eq!(moved["sequence"], 1);
        let moved = app.ok(&student, RESCHEDULE, json!({"id": id, "s": "2026-01-08T10:00:00Z"})).await["rescheduleSession"].clone();
        assert_eq!(moved["sequence"], 2);
        let ev = events(&app, "SESSION_RESCHEDULED").await;
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1]["from"], "2026-01-13T10:00:00Z");
        assert_eq!(ev[1]["to"], "2026-01-08T10:00:00Z");
        // Past sessions cannot move.
        app.clock.set("2026-01-06T09:30:00Z".parse().unwrap());
        app.fails(Some(&student), RESCHEDULE, json!({"id": session_id(&mine, 0), "s": "2026-01-09T10:00:00Z"}), "BAD_USER_INPUT").await;
        // Nor can cancelled ones.
        app.ok(&student, CANCEL_SESSION, json!({"id": id})).await;
        app.fails(Some(&student), RESCHEDULE, json!({"id": id, "s": "2026-01-09T10:00:00Z"}), "CONFLICT").await;
    }

    async fn an_ongoing_booking_is_kept_four_weeks_ahead_and_skips_what_is_gone(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z", "2026-01-07T09:00:00Z"], Value::Null)).await;
        assert!(booking["weeks"].is_null());
        assert!(booking["endDate"].is_null());
        assert_eq!(starts(&booking).len(), 8);
        assert!(!booking["recurrenceRule"].as_str().unwrap().contains("COUNT"));
        let id = booking["id"].as_str().unwrap().to_string();
        // Nothing is due yet: the job for week 5 waits until its Monday is four weeks away.
        app.jobs.drain().await.unwrap();
        assert_eq!(extensions_run(&app).await, 0);
        let early = app.services.bookings.extend_ongoing(&id).await.unwrap();
        assert_eq!((early.created, early.skipped), (0, 0));
        // A week later the job has run due; the mentor has taken week 5's Wednesday off.
        app.ok(&mentor, "mutation { setDateOverride(date: \"2026-02-04\", blocks: []) { mentorId } }", json!({})).await;
        app.clock.set("2026-01-12T00:00:00Z".parse().unwrap());
        let ran = app.jobs.drain().await.unwrap();
        assert_eq!((ran.retried, ran.dead), (0, 0));
        assert_eq!(extensions_run(&app).await, 1);
        // Running it again changes nothing (the job may be delivered twice).
        let again = app.services.bookings.extend_ongoing(&id).await.unwrap();
        assert_eq!((again.created, again.skipped), (0, 0));
        app.jobs.drain().await.unwrap();
        assert_eq!(extensions_run(&app).await, 1);
        let data = app.ok(&student, "query($id: ID!) { booking(id: $id) { sessions { start } } }", json!({"id": id})).await;
        let all = starts(&data["booking"]);
        assert_eq!(all.len(), 9);
        assert_eq!(all.last().unwrap(), "2026-02-02T09:00:00+00:00");
        let skipped = events(&app, "OCCURRENCE_SKIPPED").await;
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0]["start"], "2026-02-04T09:00:00Z");
        assert_eq!(skipped[0]["reasonCode"], "OUTSIDE_AVAILABILITY");
        // Both participants are told the week could not be booked.
        for token in [&student, &mentor] {
            let told = crate::helpers::notify::inbox(&app, token).await;
            let skip = told
                .iter()
                .find(|n| n["title"].as_str().unwrap().contains("could not be scheduled"))
                .unwrap_or_else(|| panic!("{told:?}"));
            assert_eq!(skip["type"], "SESSION_CANCELLED");
            assert!(skip["body"].as_str().unwrap().contains("Wednesday 4 February 2026, 09:00 GMT"), "{skip}");
        }
        // The next run was queued by this one; a week on it adds week 6 on its own.
        app.clock.set("2026-01-19T00:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        assert_eq!(extensions_run(&app).await, 2);
        let data = app.ok(&student, "query($id: ID!) { booking(id: $id) { sessions { start } } }", json!({"id": id})).await;
        assert_eq!(starts(&data["booking"]).len(), 11);
        // A cancelled ongoing booking is not extended, and its chain of jobs ends.
        app.ok(&student, CANCEL_BOOKING, json!({"id": id})).await;
        app.clock.set("2026-01-26T00:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        assert_eq!(extensions_run(&app).await, 3);
        app.clock.set("2026-02-09T00:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        assert_eq!(extensions_run(&app).await, 3);
        let data = app.ok(&student, "query($id: ID!) { booking(id: $id) { sessions { status } } }", json!({"id": id})).await;
        assert_eq!(data["booking"]["sessions"].as_array().unwrap().len(), 11);
    }
}

/// `booking.extend` jobs that have run to completion.
async fn extensions_run(app: &TestApp) -> u64 {
    use mentor_scheduler::entity::job;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    job::Entity::find()
        .filter(job::Column::Kind.eq("booking.extend"))
        .filter(job::Column::State.eq("done"))
        .count(app.services.db.conn())
        .await
        .unwrap()
}
