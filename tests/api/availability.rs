use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::schedule::{set_schedule, AVAILABILITY_FIELDS, MENTOR};
use crate::helpers::TestApp;
use crate::on_both_backends;

/// `(weekday, start, end)` of every block, in order.
pub fn shape(availability: &Value) -> Vec<(String, String, String)> {
    availability["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["weekday"].as_str().unwrap().into(),
                b["start"].as_str().unwrap().into(),
                b["end"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn t(d: &str, s: &str, e: &str) -> (String, String, String) {
    (d.into(), s.into(), e.into())
}

async fn add(app: &TestApp, token: &str, day: &str, s: &str, e: &str) -> Value {
    let q = format!("mutation($i: AvailabilityBlockInput!) {{ addAvailabilityBlock(input: $i) {{ {AVAILABILITY_FIELDS} }} }}");
    app.ok(
        token,
        &q,
        json!({"i": {"weekday": day, "start": s, "end": e}}),
    )
    .await["addAvailabilityBlock"]
        .clone()
}

on_both_backends! {
    async fn a_new_mentor_has_defaults_in_their_own_zone(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "Asia/Kolkata").await;
        let q = format!("query($id: ID!) {{ availability(mentorId: $id) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &q, json!({"id": MENTOR})).await["availability"].clone();
        assert_eq!(a, json!({"mentorId": MENTOR, "timeZone": "Asia/Kolkata", "bufferMinutes": 15, "minimumNoticeMinutes": 120, "horizonDays": 28, "blocks": [], "overrides": []}));
    }

    async fn bulk_replace_merges_overlapping_and_touching_blocks_and_sets_rules(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        let q = format!("mutation($input: WeeklyScheduleInput!) {{ setWeeklySchedule(input: $input) {{ {AVAILABILITY_FIELDS} }} }}");
        let input = json!({"timeZone": "Europe/London", "bufferMinutes": 10, "minimumNoticeMinutes": 60, "horizonDays": 14, "blocks": [
            {"weekday": "MONDAY", "start": "09:00", "end": "10:00"},
            {"weekday": "MONDAY", "start": "10:00", "end": "11:00"},
            {"weekday": "MONDAY", "start": "10:30", "end": "12:00"},
            {"weekday": "MONDAY", "start": "14:00", "end": "15:00"},
            {"weekday": "SUNDAY", "start": "22:00", "end": "24:00"},
        ]});
        let a = app.ok(&mentor, &q, json!({"input": input})).await["setWeeklySchedule"].clone();
        assert_eq!(shape(&a), vec![t("MONDAY", "09:00", "12:00"), t("MONDAY", "14:00", "15:00"), t("SUNDAY", "22:00", "24:00")]);
        assert_eq!((a["timeZone"].clone(), a["bufferMinutes"].clone(), a["minimumNoticeMinutes"].clone(), a["horizonDays"].clone()), (json!("Europe/London"), json!(10), json!(60), json!(14)));

        // Omitted rules keep their values; the blocks are replaced.
        let a = set_schedule(&app, &mentor, "Europe/London", json!([{"weekday": "TUESDAY", "start": "08:00", "end": "09:00"}])).await;
        assert_eq!(shape(&a), vec![t("TUESDAY", "08:00", "09:00")]);
        assert_eq!(a["bufferMinutes"], 10);
    }

    async fn drag_to_create_move_resize_and_delete_blocks(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        add(&app, &mentor, "MONDAY", "09:00", "10:00").await;
        add(&app, &mentor, "MONDAY", "11:00", "12:00").await;
        // A block bridging both absorbs them.
        let a = add(&app, &mentor, "MONDAY", "09:30", "11:00").await;
        assert_eq!(shape(&a), vec![t("MONDAY", "09:00", "12:00")]);
        let a = add(&app, &mentor, "WEDNESDAY", "15:00", "16:00").await;
        let wednesday = a["blocks"][1]["id"].as_str().unwrap().to_string();

        // Move Wednesday's block to Monday afternoon and resize it: same id.
        let q = format!("mutation($id: ID!, $i: AvailabilityBlockInput!) {{ updateAvailabilityBlock(id: $id, input: $i) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &q, json!({"id": wednesday, "i": {"weekday": "MONDAY", "start": "13:00", "end": "17:30"}})).await["updateAvailabilityBlock"].clone();
        assert_eq!(shape(&a), vec![t("MONDAY", "09:00", "12:00"), t("MONDAY", "13:00", "17:30")]);
        assert_eq!(a["blocks"][1]["id"], json!(wednesday));

        // Resizing it to touch the morning block merges them, keeping the dragged block's id.
        let a = app.ok(&mentor, &q, json!({"id": wednesday, "i": {"weekday": "MONDAY", "start": "12:00", "end": "17:30"}})).await["updateAvailabilityBlock"].clone();
        assert_eq!(shape(&a), vec![t("MONDAY", "09:00", "17:30")]);
        assert_eq!(a["blocks"][0]["id"], json!(wednesday));

        let q = format!("mutation($id: ID!) {{ deleteAvailabilityBlock(id: $id) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &q, json!({"id": wednesday})).await["deleteAvailabilityBlock"].clone();
        assert!(shape(&a).is_empty());
        let error = app.fails(Some(&mentor), &q, json!({"id": wednesday}), "NOT_FOUND").await;
        assert!(error["message"].as_str().unwrap().contains("no such availability block"), "{error}");
    }

    async fn another_mentors_blocks_and_templates_are_forbidden(app) {
        let owner = app.user(MENTOR, Role::Mentor, "UTC").await;
        let other = app.user("ckothermentor000000000001", Role::Mentor, "UTC").await;
        let a = add(&app, &owner, "FRIDAY", "09:00", "10:00").await;
        let id = a["blocks"][0]["id"].as_str().unwrap();
        app.fails(Some(&other), "mutation($id: ID!) { deleteAvailabilityBlock(id: $id) { mentorId } }", json!({"id": id}), "NOT_FOUND").await;
        app.fails(Some(&other), "mutation($id: ID!) { updateAvailabilityBlock(id: $id, input: {weekday: FRIDAY, start: \"11:00\", end: \"12:00\"}) { mentorId } }", json!({"id": id}), "NOT_FOUND").await;
        let template = app.ok(&owner, "mutation { saveAvailabilityTemplate(name: \"Term\") { id } }", json!({})).await;
        let template_id = template["saveAvailabilityTemplate"]["id"].as_str().unwrap();
        app.fails(Some(&other), "mutation($id: ID!) { applyAvailabilityTemplate(id: $id) { mentorId } }", json!({"id": template_id}), "NOT_FOUND").await;
        app.fails(Some(&other), "mutation($id: ID!) { applyAvailabilityTemplate(id: $id) { mentorId } }", json!({"id": "nope"}), "NOT_FOUND").await;
        // The owner's schedule is untouched.
        let q = format!("query($id: ID!) {{ availability(mentorId: $id) {{ {AVAILABILITY_FIELDS} }} }}");
        assert_eq!(shape(&app.ok(&owner, &q, json!({"id": MENTOR})).await["availability"]), vec![t("FRIDAY", "09:00", "10:00")]);
    }

    async fn copy_a_day_onto_others(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        set_schedule(&app, &mentor, "UTC", json!([
            {"weekday": "MONDAY", "start": "09:00", "end": "10:00"},
            {"weekday": "MONDAY", "start": "13:00", "end": "14:00"},
            {"weekday": "TUESDAY", "start": "18:00", "end": "20:00"},
        ])).await;
        let q = format!("mutation {{ copyAvailabilityDay(from: MONDAY, to: [TUESDAY, FRIDAY, MONDAY]) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &q, json!({})).await["copyAvailabilityDay"].clone();
        assert_eq!(shape(&a), vec![
            t("MONDAY", "09:00", "10:00"), t("MONDAY", "13:00", "14:00"),
            t("TUESDAY", "09:00", "10:00"), t("TUESDAY", "13:00", "14:00"),
            t("FRIDAY", "09:00", "10:00"), t("FRIDAY", "13:00", "14:00"),
        ]);
        let error = app.fails(Some(&mentor), "mutation { copyAvailabilityDay(from: MONDAY, to: []) { mentorId } }", json!({}), "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], "to");
    }

    async fn date_overrides_set_replace_and_clear(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        let set = format!("mutation($d: Date!, $b: [TimeRangeInput!]!) {{ setDateOverride(date: $d, blocks: $b) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &set, json!({"d": "2026-01-10", "b": [{"start": "10:00", "end": "11:00"}, {"start": "11:00", "end": "12:00"}]})).await["setDateOverride"].clone();
        assert_eq!(a["overrides"], json!([{"date": "2026-01-10", "blocks": [{"start": "10:00", "end": "12:00"}]}]));
        let a = app.ok(&mentor, &set, json!({"d": "2026-01-10", "b": []})).await["setDateOverride"].clone();
        assert_eq!(a["overrides"], json!([{"date": "2026-01-10", "blocks": []}]));
        let a = app.ok(&mentor, &set, json!({"d": "2026-01-08", "b": []})).await["setDateOverride"].clone();
        assert_eq!(a["overrides"].as_array().unwrap().len(), 2);
        assert_eq!(a["overrides"][0]["date"], "2026-01-08");

        let clear = format!("mutation($d: Date!) {{ clearDateOverride(date: $d) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &clear, json!({"d": "2026-01-10"})).await["clearDateOverride"].clone();
        assert_eq!(a["overrides"], json!([{"date": "2026-01-08", "blocks": []}]));
        // Clearing again is harmless.
        app.ok(&mentor, &clear, json!({"d": "2026-01-10"})).await;
        // The clock says 2026-01-05: earlier dates are refused.
        let error = app.fails(Some(&mentor), &set, json!({"d": "2026-01-04", "b": []}), "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], "date");
    }

    async fn templates_save_list_apply_and_delete(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        set_schedule(&app, &mentor, "UTC", json!([{"weekday": "MONDAY", "start": "09:00", "end": "12:00"}, {"weekday": "THURSDAY", "start": "14:00", "end": "16:00"}])).await;
        let saved = app.ok(&mentor, "mutation { saveAvailabilityTemplate(name: \" Term time \") { id name blocks { weekday start end } } }", json!({})).await;
        let term = saved["saveAvailabilityTemplate"].clone();
        assert_eq!(term["name"], "Term time");
        assert_eq!(term["blocks"], json!([{"weekday": "MONDAY", "start": "09:00", "end": "12:00"}, {"weekday": "THURSDAY", "start": "14:00", "end": "16:00"}]));

        set_schedule(&app, &mentor, "UTC", json!([{"weekday": "SATURDAY", "start": "10:00", "end": "11:00"}])).await;
        app.ok(&mentor, "mutation { saveAvailabilityTemplate(name: \"Holidays\") { id } }", json!({})).await;
        // Saving under an existing name replaces that template.
        let again = app.ok(&mentor, "mutation { saveAvailabilityTemplate(name: \"Holidays\") { id } }", json!({})).await;
        let list = app.ok(&mentor, "{ availabilityTemplates { id name } }", json!({})).await["availabilityTemplates"].clone();
        assert_eq!(list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect::<Vec<_>>(), ["Holidays", "Term time"]);
        assert_eq!(list[0]["id"], again["saveAvailabilityTemplate"]["id"]);

        let q = format!("mutation($id: ID!) {{ applyAvailabilityTemplate(id: $id) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &q, json!({"id": term["id"]})).await["applyAvailabilityTemplate"].clone();
        assert_eq!(shape(&a), vec![t("MONDAY", "09:00", "12:00"), t("THURSDAY", "14:00", "16:00")]);

        app.ok(&mentor, "mutation($id: ID!) { deleteAvailabilityTemplate(id: $id) }", json!({"id": term["id"]})).await;
        app.fails(Some(&mentor), &q, json!({"id": term["id"]}), "NOT_FOUND").await;
        let error = app.fails(Some(&mentor), "mutation { saveAvailabilityTemplate(name: \"   \") { id } }", json!({}), "BAD_USER_INPUT").await;
        assert_eq!(error["extensions"]["field"], "name");
    }

    async fn unknown_mentors_are_not_found(app) {
        let student = app.user("ckstudent0000000000000001", Role::Student, "UTC").await;
        app.fails(Some(&student), "{ availability(mentorId: \"nobody\") { mentorId } }", json!({}), "NOT_FOUND").await;
        // A student's id is not a mentor's.
        app.fails(Some(&student), "{ availability(mentorId: \"ckstudent0000000000000001\") { mentorId } }", json!({}), "NOT_FOUND").await;
    }

    async fn concurrent_drags_on_one_day_never_leave_overlapping_blocks(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        // 24 overlapping or touching half-hour-apart blocks fired at once: the result must be one merged block.
        let mut tasks = Vec::new();
        for i in 0..24u32 {
            let (client, url, token) = (app.client.clone(), app.url("/graphql"), mentor.clone());
            let (start, end) = (format!("{:02}:{:02}", 8 + i / 2, (i % 2) * 30), format!("{:02}:{:02}", 8 + (i + 2) / 2, ((i + 2) % 2) * 30));
            tasks.push(tokio::spawn(async move {
                let body = json!({"query": "mutation($i: AvailabilityBlockInput!) { addAvailabilityBlock(input: $i) { mentorId } }", "variables": {"i": {"weekday": "MONDAY", "start": start, "end": end}}});
                let response: Value = client.post(url).bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap();
                assert!(response.get("errors").is_none(), "{response}");
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let q = format!("query($id: ID!) {{ availability(mentorId: $id) {{ {AVAILABILITY_FIELDS} }} }}");
        let a = app.ok(&mentor, &q, json!({"id": MENTOR})).await["availability"].clone();
        assert_eq!(shape(&a), vec![t("MONDAY", "08:00", "20:30")]);
    }
}
