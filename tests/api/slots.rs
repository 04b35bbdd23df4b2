use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::availability::MENTOR;
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

fn every_day(start: &str, end: &str) -> Value {
    Value::Array(
        [
            "MONDAY",
            "TUESDAY",
            "WEDNESDAY",
            "THURSDAY",
            "FRIDAY",
            "SATURDAY",
            "SUNDAY",
        ]
        .iter()
        .map(|d| json!({"weekday": d, "start": start, "end": end}))
        .collect(),
    )
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
