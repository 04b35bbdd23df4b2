use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::schedule::{every_day, MENTOR};
use crate::helpers::TestApp;
use crate::on_both_backends;

const SLOTS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!, $d: Int, $tz: TimeZone) { availableSlots(mentorId: $m, from: $from, to: $to, durationMinutes: $d, timeZone: $tz) { start end } }";

async fn schedule(app: &TestApp, token: &str, input: Value) {
    app.ok(
        token,
        "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { mentorId } }",
        json!({"i": input}),
    )
    .await;
}

async fn starts(app: &TestApp, token: &str, vars: Value) -> Vec<String> {
    let data = app.ok(token, SLOTS, vars).await;
    data["availableSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_string())
        .collect()
}

on_both_backends! {
    async fn a_london_student_sees_a_new_york_mentors_hours_move_at_dst(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "America/New_York").await;
        let student = app.user("ckstudent0000000000000001", Role::Student, "Europe/London").await;
        schedule(&app, &mentor, json!({"timeZone": "America/New_York", "blocks": every_day("09:00", "10:00"), "minimumNoticeMinutes": 0, "horizonDays": 366})).await;
        app.clock.set("2026-10-20T00:00:00Z".parse().unwrap());
        // London fell back on 25 October, New York on 1 November: for one week the gap is 4 hours.
        let seen = starts(&app, &student, json!({"m": MENTOR, "from": "2026-10-24T00:00:00Z", "to": "2026-11-03T00:00:00Z"})).await;
        assert_eq!(seen, [
            "2026-10-24T14:00:00+01:00", "2026-10-25T13:00:00+00:00", "2026-10-26T13:00:00+00:00", "2026-10-27T13:00:00+00:00",
            "2026-10-28T13:00:00+00:00", "2026-10-29T13:00:00+00:00", "2026-10-30T13:00:00+00:00", "2026-10-31T13:00:00+00:00",
            "2026-11-01T14:00:00+00:00", "2026-11-02T14:00:00+00:00",
        ]);
        // The mentor, in their own zone, sees 09:00 every day.
        let own = starts(&app, &mentor, json!({"m": MENTOR, "from": "2026-10-31T00:00:00Z", "to": "2026-11-03T00:00:00Z"})).await;
        assert_eq!(own, ["2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00", "2026-11-02T09:00:00-05:00"]);
        // Any zone may be asked for; the instants are the same.
        let kolkata = starts(&app, &student, json!({"m": MENTOR, "from": "2026-10-31T00:00:00Z", "to": "2026-11-03T00:00:00Z", "tz": "Asia/Kolkata"})).await;
        assert_eq!(kolkata, ["2026-10-31T18:30:00+05:30", "2026-11-01T19:30:00+05:30", "2026-11-02T19:30:00+05:30"]);
    }

    async fn sydney_mentor_across_the_southern_spring_forward(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "Australia/Sydney").await;
        schedule(&app, &mentor, json!({"timeZone": "Australia/Sydney", "blocks": every_day("09:00", "10:00"), "minimumNoticeMinutes": 0, "horizonDays": 366})).await;
        app.clock.set("2026-09-01T00:00:00Z".parse().unwrap());
        let seen = starts(&app, &mentor, json!({"m": MENTOR, "from": "2026-10-02T12:00:00Z", "to": "2026-10-05T12:00:00Z", "tz": "UTC"})).await;
        assert_eq!(seen, ["2026-10-02T23:00:00+00:00", "2026-10-03T22:00:00+00:00", "2026-10-04T22:00:00+00:00"]);
    }

    async fn busy_time_buffer_notice_horizon_and_overrides_apply(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        schedule(&app, &mentor, json!({"timeZone": "UTC", "blocks": every_day("09:00", "13:00"), "bufferMinutes": 15, "minimumNoticeMinutes": 120, "horizonDays": 3})).await;
        app.clock.set("2026-03-02T08:00:00Z".parse().unwrap());
        app.busy(MENTOR, "2026-03-03T10:00:00Z", "2026-03-03T10:30:00Z").await;
        app.ok(&mentor, "mutation { setDateOverride(date: \"2026-03-04\", blocks: [{start: \"15:00\", end: \"16:00\"}]) { mentorId } }", json!({})).await;
        let seen = starts(&app, &mentor, json!({"m": MENTOR, "from": "2026-03-01T00:00:00Z", "to": "2026-03-20T00:00:00Z"})).await;
        assert_eq!(seen, [
            // Notice: nothing before 10:00 on the 2nd.
            "2026-03-02T10:00:00+00:00", "2026-03-02T11:00:00+00:00", "2026-03-02T12:00:00+00:00",
            // Busy 10:00-10:30 widened to 09:45-10:45: 09:00 and 10:00 go, the grid resumes at 11:00.
            "2026-03-03T11:00:00+00:00", "2026-03-03T12:00:00+00:00",
            // The override replaces the 4th's hours.
            "2026-03-04T15:00:00+00:00",
            // Horizon: starts until 2026-03-05T08:00 only.
        ]);
        // Durations that 60 does not divide use a finer grid.
        let half_hours = starts(&app, &mentor, json!({"m": MENTOR, "from": "2026-03-02T11:00:00Z", "to": "2026-03-02T13:00:00Z", "d": 90})).await;
        assert_eq!(half_hours, ["2026-03-02T11:00:00+00:00", "2026-03-02T11:30:00+00:00"]);
    }

    async fn slots_default_to_the_callers_zone(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        schedule(&app, &mentor, json!({"timeZone": "UTC", "blocks": every_day("09:00", "10:00"), "minimumNoticeMinutes": 0})).await;
        let kathmandu = app.user("ckstudentnp00000000000001", Role::Student, "Asia/Kathmandu").await;
        let seen = starts(&app, &kathmandu, json!({"m": MENTOR, "from": "2026-01-06T00:00:00Z", "to": "2026-01-07T00:00:00Z"})).await;
        assert_eq!(seen, ["2026-01-06T14:45:00+05:45"]);
    }
}

on_both_backends! {
    async fn cached_slots_follow_every_change_at_once(app) {
        // SLOT_CACHE_SECONDS is 30 here: every step below is seen at once, so none of it waits out
        // the expiry.
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        let student = app.user("ckstudent0000000000000001", Role::Student, "UTC").await;
        schedule(&app, &mentor, json!({"timeZone": "UTC", "blocks": every_day("09:00", "12:00"), "bufferMinutes": 0, "minimumNoticeMinutes": 0, "horizonDays": 30})).await;
        app.clock.set("2026-03-02T00:00:00Z".parse().unwrap());
        let day = json!({"m": MENTOR, "from": "2026-03-03T00:00:00Z", "to": "2026-03-04T00:00:00Z", "tz": "UTC"});
        let at = |hours: &[u32]| hours.iter().map(|h| format!("2026-03-03T{h:02}:00:00+00:00")).collect::<Vec<_>>();
        assert_eq!(starts(&app, &student, day.clone()).await, at(&[9, 10, 11]));

        app.ok(&mentor, "mutation { addAvailabilityBlock(input: {weekday: TUESDAY, start: \"14:00\", end: \"15:00\"}) { mentorId } }", json!({})).await;
        assert_eq!(starts(&app, &student, day.clone()).await, at(&[9, 10, 11, 14]), "a new block");

        app.busy(MENTOR, "2026-03-03T10:00:00Z", "2026-03-03T10:30:00Z").await;
        assert_eq!(starts(&app, &student, day.clone()).await, at(&[9, 11, 14]), "calendar busy time");

        let booking = app.ok(&student, "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id sessions { id } } }",
            json!({"i": {"mentorId": MENTOR, "frequency": "ONCE_WEEKLY", "slots": ["2026-03-03T11:00:00Z"], "weeks": 1, "subject": "Algebra"}})).await;
        assert_eq!(starts(&app, &student, day.clone()).await, at(&[9, 14]), "a booked session");

        let session = booking["createBooking"]["sessions"][0]["id"].as_str().unwrap().to_string();
        app.ok(&student, "mutation($id: ID!) { rescheduleSession(id: $id, start: \"2026-03-03T09:00:00Z\") { id } }", json!({"id": session})).await;
        assert_eq!(starts(&app, &student, day.clone()).await, at(&[11, 14]), "a moved session");

        app.ok(&student, "mutation($id: ID!) { cancelSession(id: $id) { id } }", json!({"id": session})).await;
        assert_eq!(starts(&app, &student, day.clone()).await, at(&[9, 11, 14]), "a cancelled session");

        schedule(&app, &mentor, json!({"timeZone": "UTC", "blocks": every_day("09:00", "12:00"), "bufferMinutes": 60, "minimumNoticeMinutes": 0, "horizonDays": 30})).await;
        assert_eq!(starts(&app, &student, day.clone()).await, Vec::<String>::new(), "a wider buffer");

        // A query the cached read does not reach (the clock moved weeks on) reads again.
        app.clock.set("2026-03-20T00:00:00Z".parse().unwrap());
        let later = json!({"m": MENTOR, "from": "2026-04-14T00:00:00Z", "to": "2026-04-15T00:00:00Z", "tz": "UTC"});
        assert_eq!(starts(&app, &student, later).await, ["2026-04-14T09:00:00+00:00", "2026-04-14T10:00:00+00:00", "2026-04-14T11:00:00+00:00"]);
    }

    async fn cached_slots_follow_the_mentors_token(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        let student = app.user("ckstudent0000000000000001", Role::Student, "UTC").await;
        let vars = json!({"m": MENTOR, "from": "2026-03-03T00:00:00Z", "to": "2026-03-04T00:00:00Z", "tz": "UTC"});
        app.clock.set("2026-03-01T00:00:00Z".parse().unwrap());
        app.ok(&mentor, "mutation { addAvailabilityBlock(input: {weekday: TUESDAY, start: \"09:00\", end: \"10:00\"}) { mentorId } }", json!({})).await;
        assert_eq!(starts(&app, &student, vars.clone()).await, ["2026-03-03T09:00:00+00:00"]);
        // Adding a block saved settings in the zone the mentor had then; a token in a new zone keeps them.
        app.user(MENTOR, Role::Mentor, "Asia/Kolkata").await;
        assert_eq!(starts(&app, &student, vars.clone()).await, ["2026-03-03T09:00:00+00:00"]);
        // The mentor is no longer a mentor: the cached mentor must not outlive that.
        app.user(MENTOR, Role::Student, "UTC").await;
        app.fails(Some(&student), SLOTS, vars, "NOT_FOUND").await;
    }
}
