//! A mentor and their weekly schedule.

use serde_json::{json, Value};

use super::TestApp;

pub const AVAILABILITY_FIELDS: &str = "mentorId timeZone bufferMinutes minimumNoticeMinutes horizonDays blocks { id weekday start end } overrides { date blocks { start end } }";

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
