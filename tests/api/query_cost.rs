//! A query's cost is known before it runs: lists count their bound, `availableSlots` its window, and
//! introspection its real size, so nested lists, aliases and batches that would cost seconds and
//! gigabytes are refused up front. Every list has a bound, and the schedule lists cannot outgrow it.

use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, TUTOR};
use crate::helpers::{Backend, TestApp};

fn refused_for_cost(body: &Value) -> bool {
    body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        && body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("budget"))
        && body.get("data").is_none()
}

#[tokio::test]
async fn nested_session_lists_are_refused_before_they_run() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, student) = tutor_and_student(&app).await;
    let booking = book(
        &app,
        &student,
        request(
            &[
                "2026-01-12T10:00:00Z",
                "2026-01-14T10:00:00Z",
                "2026-01-16T10:00:00Z",
            ],
            json!(4),
        ),
    )
    .await;
    let id = booking["id"].as_str().unwrap();
    // The issue's 108-byte query: three levels of sessions multiply.
    let nested = "query($id: ID!) { booking(id: $id) { sessions { id booking { sessions { id booking { sessions { id } } } } } } }";
    let body = app.gql(Some(&student), nested, json!({"id": id})).await;
    assert!(refused_for_cost(&body), "{body}");
    // One level is fine, and a smaller `first` makes a deeper one fit.
    let one = app
        .ok(
            &student,
            "query($id: ID!) { booking(id: $id) { sessions { id start } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(one["booking"]["sessions"].as_array().unwrap().len(), 12);
    let small = "query($id: ID!) { booking(id: $id) { sessions(first: 3) { id booking { sessions(first: 3) { id } } } } }";
    let two = app.ok(&student, small, json!({"id": id})).await;
    assert_eq!(two["booking"]["sessions"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_bookings_sessions_can_be_windowed_and_bounded() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, student) = tutor_and_student(&app).await;
    let booking = book(&app, &student, request(&["2026-01-12T10:00:00Z"], json!(6))).await;
    let id = booking["id"].as_str().unwrap();
    let q = "query($id: ID!, $from: DateTime, $to: DateTime, $first: Int) { booking(id: $id) { sessions(from: $from, to: $to, first: $first) { start } } }";
    let window = app
        .ok(
            &student,
            q,
            json!({"id": id, "from": "2026-01-19T00:00:00Z", "to": "2026-02-02T10:00:00Z"}),
        )
        .await;
    let starts: Vec<&str> = window["booking"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["2026-01-19T10:00:00+00:00", "2026-01-26T10:00:00+00:00"]
    );
    let first = app.ok(&student, q, json!({"id": id, "first": 2})).await;
    assert_eq!(first["booking"]["sessions"].as_array().unwrap().len(), 2);
    for bad in [0, 501, -1] {
        let body = app
            .gql(Some(&student), q, json!({"id": id, "first": bad}))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{bad}: {body}"
        );
    }
}

const SLOTS_90_DAYS: &str = r#"availableSlots(mentorId: $m, from: "2026-01-06T00:00:00Z", to: "2026-04-06T00:00:00Z", durationMinutes: $d) { start end }"#;

#[tokio::test]
async fn available_slots_cost_grows_with_window_and_slot_count() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, student) = tutor_and_student(&app).await;
    let one = format!("query($m: ID!, $d: Int) {{ {SLOTS_90_DAYS} }}");
    let found = app.ok(&student, &one, json!({"m": TUTOR, "d": 15})).await;
    assert!(!found["availableSlots"].as_array().unwrap().is_empty());
    // 60 aliases of the same (short enough for GRAPHQL_MAX_QUERY_BYTES; the issue's 300 are longer)
    // are refused before any runs.
    let aliases: String = (0..60).map(|i| format!("a{i}: {SLOTS_90_DAYS} ")).collect();
    let body = app
        .gql(
            Some(&student),
            &format!("query($m: ID!, $d: Int) {{ {aliases} }}"),
            json!({"m": TUTOR, "d": 15}),
        )
        .await;
    assert!(
        refused_for_cost(&body),
        "{}",
        &body.to_string()[..300.min(body.to_string().len())]
    );
    // Even a single window of one-minute slots is too many.
    let body = app
        .gql(Some(&student), &one, json!({"m": TUTOR, "d": 1}))
        .await;
    assert!(refused_for_cost(&body), "{body}");
    // A week of one-minute slots is fine.
    let week = r#"query($m: ID!) { availableSlots(mentorId: $m, from: "2026-01-06T00:00:00Z", to: "2026-01-13T00:00:00Z", durationMinutes: 1) { start } }"#;
    app.ok(&student, week, json!({"m": TUTOR})).await;
}

#[tokio::test]
async fn introspection_is_costed_by_the_schemas_real_size() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    // GraphiQL's own introspection query (the shape of graphql-js's getIntrospectionQuery) fits.
    let type_ref = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let graphiql = format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }} \
         types {{ ...FullType }} directives {{ name description locations args {{ ...InputValue }} }} }} }} \
         fragment FullType on __Type {{ kind name description fields(includeDeprecated: true) {{ name description args {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated deprecationReason }} \
         inputFields {{ ...InputValue }} interfaces {{ ...TypeRef }} enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }} possibleTypes {{ ...TypeRef }} }} \
         fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue }} \
         fragment TypeRef on __Type {{ {type_ref} }}"
    );
    let body = app.gql(None, &graphiql, json!({})).await;
    assert!(body.get("errors").is_none(), "{}", &body.to_string()[..300]);
    // Lists of types inside lists of fields inside lists of types...
    let nested = "{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }";
    assert!(refused_for_cost(&app.gql(None, nested, json!({})).await));
    // ... and the whole schema aliased many times.
    let aliased: String = (0..60)
        .map(|i| {
            format!("s{i}: __schema {{ types {{ name fields {{ name args {{ name }} }} }} }} ")
        })
        .collect();
    assert!(refused_for_cost(
        &app.gql(None, &format!("{{ {aliased} }}"), json!({})).await
    ));
}

#[tokio::test]
async fn availability_and_preferences_have_ids_for_apollos_cache() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (mentor, student) = tutor_and_student(&app).await;
    let av = app
        .ok(
            &student,
            "query($m: ID!) { availability(mentorId: $m) { id mentorId } }",
            json!({"m": TUTOR}),
        )
        .await;
    assert_eq!(av["availability"]["id"], TUTOR);
    let changed = app.ok(&mentor, r#"mutation { addAvailabilityBlock(input: {weekday: SUNDAY, start: "10:00", end: "11:00"}) { id } }"#, json!({})).await;
    assert_eq!(
        changed["addAvailabilityBlock"]["id"], TUTOR,
        "a mutation's answer updates the same cache entry"
    );
    let prefs = app
        .ok(
            &student,
            "{ notificationPreferences { id type channel } }",
            json!({}),
        )
        .await;
    let ids: Vec<&str> = prefs["notificationPreferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"ckbookingstudent000000001:SYSTEM_UPDATE:EMAIL"),
        "{ids:?}"
    );
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    let other = app
        .user("ckotherstudent00000000001", Role::Student, "UTC")
        .await;
    let theirs = app
        .ok(&other, "{ notificationPreferences { id } }", json!({}))
        .await;
    assert_ne!(
        theirs["notificationPreferences"][0]["id"],
        prefs["notificationPreferences"][0]["id"]
    );
}

#[tokio::test]
async fn a_schedule_cannot_outgrow_the_bounds_its_lists_are_costed_at() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mentor = app.user(TUTOR, Role::Mentor, "UTC").await;
    // 200 separate one-minute blocks on Monday, through the bulk edit (its own cap).
    let blocks: Vec<Value> = (0..200)
        .map(|i| json!({"weekday": "MONDAY", "start": format!("{:02}:{:02}", 8 + i * 2 / 60, (i * 2) % 60), "end": format!("{:02}:{:02}", 8 + (i * 2 + 1) / 60, (i * 2 + 1) % 60)}))
        .collect();
    app.ok(&mentor, "mutation($b: [AvailabilityBlockInput!]!) { setWeeklySchedule(input: {timeZone: \"UTC\", blocks: $b}) { id } }", json!({"b": blocks})).await;
    // One more separate block is refused, and nothing is written.
    let add = r#"mutation { addAvailabilityBlock(input: {weekday: TUESDAY, start: "10:00", end: "11:00"}) { id } }"#;
    let error = app
        .fails(Some(&mentor), add, json!({}), "BAD_USER_INPUT")
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("at most 200"),
        "{error}"
    );
    let copy = "mutation { copyAvailabilityDay(from: MONDAY, to: [TUESDAY]) { id } }";
    app.fails(Some(&mentor), copy, json!({}), "BAD_USER_INPUT")
        .await;
    let count = app
        .ok(
            &mentor,
            "query($m: ID!) { availability(mentorId: $m) { blocks { id } } }",
            json!({"m": TUTOR}),
        )
        .await;
    assert_eq!(
        count["availability"]["blocks"].as_array().unwrap().len(),
        200
    );
    // Overrides reach at most 366 days ahead (today is 2026-01-05 in the tests).
    let set = "mutation($d: Date!) { setDateOverride(date: $d, blocks: []) { id } }";
    app.ok(&mentor, set, json!({"d": "2027-01-06"})).await;
    let error = app
        .fails(
            Some(&mentor),
            set,
            json!({"d": "2027-01-07"}),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("366 days"),
        "{error}"
    );
}
