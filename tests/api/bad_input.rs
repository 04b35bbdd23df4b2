//! Every bad input answers BAD_USER_INPUT with a message naming the field.

use mentor_scheduler::auth::Role;
use serde_json::json;

use crate::helpers::schedule::MENTOR;
use crate::on_both_backends;

const SLOTS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!, $d: Int, $tz: TimeZone) { availableSlots(mentorId: $m, from: $from, to: $to, durationMinutes: $d, timeZone: $tz) { start } }";
const SCHEDULE: &str =
    "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { mentorId } }";

on_both_backends! {
    async fn each_bad_input_names_its_field(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        let ok_block = json!({"weekday": "MONDAY", "start": "09:00", "end": "10:00"});
        let window = |from: &str, to: &str, d: i64| json!({"m": MENTOR, "from": from, "to": to, "d": d});
        let cases = vec![
            ("unknown viewer zone", SLOTS, json!({"m": MENTOR, "from": "2026-01-06T00:00:00Z", "to": "2026-01-07T00:00:00Z", "tz": "Mars/Olympus_Mons"}), "timeZone"),
            ("unknown mentor zone", SCHEDULE, json!({"i": {"timeZone": "Europe/Lundun", "blocks": [ok_block]}}), "input.timeZone"),
            ("to before from", SLOTS, window("2026-01-07T00:00:00Z", "2026-01-06T00:00:00Z", 60), "to"),
            ("window over 90 days", SLOTS, window("2026-01-06T00:00:00Z", "2026-04-06T00:00:01Z", 60), "to"),
            ("zero duration", SLOTS, window("2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z", 0), "durationMinutes"),
            ("negative duration", SLOTS, window("2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z", -60), "durationMinutes"),
            ("date-time without offset", SLOTS, json!({"m": MENTOR, "from": "2026-01-06T00:00:00", "to": "2026-01-07T00:00:00Z"}), "from"),
            ("negative buffer", SCHEDULE, json!({"i": {"timeZone": "UTC", "blocks": [ok_block], "bufferMinutes": -5}}), "input.bufferMinutes"),
            ("negative notice", SCHEDULE, json!({"i": {"timeZone": "UTC", "blocks": [ok_block], "minimumNoticeMinutes": -1}}), "input.minimumNoticeMinutes"),
            ("zero horizon", SCHEDULE, json!({"i": {"timeZone": "UTC", "blocks": [ok_block], "horizonDays": 0}}), "input.horizonDays"),
            ("block end before start", SCHEDULE, json!({"i": {"timeZone": "UTC", "blocks": [ok_block, {"weekday": "TUESDAY", "start": "11:00", "end": "10:00"}]}}), "input.blocks[1].end"),
            ("block past 24:00", SCHEDULE, json!({"i": {"timeZone": "UTC", "blocks": [{"weekday": "TUESDAY", "start": "23:00", "end": "24:30"}]}}), "input.blocks.0.end"),
            ("malformed time", SCHEDULE, json!({"i": {"timeZone": "UTC", "blocks": [{"weekday": "TUESDAY", "start": "9am", "end": "10:00"}]}}), "input.blocks.0.start"),
            ("unknown weekday", SCHEDULE, json!({"i": {"timeZone": "UTC", "blocks": [{"weekday": "FUNDAY", "start": "09:00", "end": "10:00"}]}}), "input.blocks.0.weekday"),
        ];
        for (what, query, variables, field) in cases {
            let body = app.gql(Some(&mentor), query, variables).await;
            let error = &body["errors"][0];
            assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{what}: {body}");
            let message = error["message"].as_str().unwrap();
            let named = error["extensions"]["field"].as_str() == Some(field) || message.contains(&format!("\"{field}\"")) || message.contains(&format!("{field}:"));
            assert!(named, "{what}: the error should name {field}: {body}");
            assert!(body["data"].is_null() || body["data"].as_object().is_some_and(|d| d.values().all(|v| v.is_null())), "{what}: nothing returned: {body}");
        }
        // Nothing was written by the rejected mutations.
        let a = app.ok(&mentor, "query($m: ID!) { availability(mentorId: $m) { blocks { id } bufferMinutes } }", json!({"m": MENTOR})).await;
        assert_eq!(a["availability"], json!({"blocks": [], "bufferMinutes": 15}));
    }

    async fn bad_dates_and_literals_in_documents_name_the_argument(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        let error = app.fails(Some(&mentor), "mutation { setDateOverride(date: \"2026-02-30\", blocks: []) { mentorId } }", json!({}), "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap().contains("\"date\""), "{error}");
        let error = app.fails(Some(&mentor), "mutation { addAvailabilityBlock(input: {weekday: MONDAY, start: \"10:00\", end: \"25:00\"}) { mentorId } }", json!({}), "BAD_USER_INPUT").await;
        assert!(error["message"].as_str().unwrap().contains("input.end"), "{error}");
        let error = app.fails(Some(&mentor), "mutation { addAvailabilityBlock(input: {weekday: MONDAY, start: \"10:00\", end: \"09:00\"}) { mentorId } }", json!({}), "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], "input.end");
    }
}
