//! A mentor and their weekly schedule.

use serde_json::{json, Value};

use super::TestApp;

pub const AVAILABILITY_FIELDS: &str = "mentorId timeZone bufferMinutes minimumNoticeMinutes horizonDays blocks { id weekday start end } overrides { date blocks { start end } }";

/// Every weekday as the API names them, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

/// The same block on every day of the week.
pub fn every_day(start: &str, end: &str) -> Value {
    WEEKDAYS
        .iter()
        .map(|d| json!({"weekday": d, "start": start, "end": end}))
        .collect()
}

pub const MENTOR: &str = "ckmentor00000000000000001";

pub async fn set_schedule(app: &TestApp, token: &str, zone: &str, blocks: Value) -> Value {
    let q = format!("mutation($input: WeeklyScheduleInput!) {{ setWeeklySchedule(input: $input) {{ {AVAILABILITY_FIELDS} }} }}");
    app.ok(
        token,
        &q,
        json!({"input": {"timeZone": zone, "blocks": blocks}}),
    )
    .await["setWeeklySchedule"]
        .clone()
}
