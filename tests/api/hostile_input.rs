//! Hostile input gets a clear, coded answer on both backends: NUL characters anywhere, tokens not
//! valid yet, huge values that must not be echoed back, and ids that must not tell whether they exist.

use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, OTHER_STUDENT, TUTOR};
use crate::on_both_backends;

const SLOTS: &str = "query($m: ID!) { availableSlots(mentorId: $m, from: \"2026-01-06T00:00:00Z\", to: \"2026-01-07T00:00:00Z\") { start } }";

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {body}"))
}

on_both_backends! {
    async fn nul_characters_are_bad_input_everywhere(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        // A variable, a literal, a key of an input object.
        let body = app.gql(Some(&student), SLOTS, json!({"m": "ck\u{0}x"})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        let body = app.gql(Some(&student), "{ availableSlots(mentorId: \"a\\u0000b\", from: \"2026-01-06T00:00:00Z\", to: \"2026-01-07T00:00:00Z\") { start } }", json!({})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        let body = app.gql(Some(&student), "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }", json!({"i": {"mentorId": TUTOR, "frequency": "ONCE_WEEKLY", "slots": ["2026-01-12T10:00:00Z"], "subject": "Alg\u{0}ebra"}})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        let body = app.gql(Some(&mentor), "mutation { saveAvailabilityTemplate(name: \"x\\u0000\") { id } }", json!({})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        // REST: in the path, the query and a JSON body.
        for (method, path, body) in [
            ("POST", "/notifications/ab%00cd/read", None),
            ("GET", "/notifications?after=%00", None),
            ("PUT", "/notifications/preferences", Some(r#"{"preferences":[{"type":"SYSTEM_UPDATE\u0000","channel":"EMAIL","enabled":false}]}"#)),
        ] {
            let mut request = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(&student);
            if let Some(body) = body {
                request = request.header("content-type", "application/json").body(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 400, "{method} {path}");
            let answer: Value = response.json().await.unwrap();
            assert_eq!(answer["error"]["code"], "BAD_USER_INPUT", "{method} {path}: {answer}");
        }
        // A token whose claims carry one is refused.
        let (header, _) = student.split_once('.').unwrap();
        let _ = header;
        let named = app.token_for(&mentor_scheduler::auth::Principal {
            user_id: "cknulname0000000000000001".into(),
            role: Role::Student,
            email: "n@example.com".into(),
            name: "Nul\u{0}Name".into(),
            time_zone: "UTC".parse().unwrap(),
            phone: None,
        });
        let body = app.gql(Some(&named), "{ me { id } }", json!({})).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
        // Nothing was written by any of it.
        let bookings = app.ok(&student, "{ bookings { edges { node { id } } } }", json!({})).await;
        assert_eq!(bookings["bookings"]["edges"], json!([]));
    }

    async fn huge_values_are_not_echoed_back(app) {
        let (_, student) = tutor_and_student(&app).await;
        let huge = "x".repeat(100_000);
        for (query, variables) in [
            (SLOTS, json!({"m": huge})),
            ("query($id: ID!) { booking(id: $id) { id } sessions(after: $id) { edges { cursor } } }", json!({"id": huge})),
            ("mutation($id: ID!) { cancelBooking(id: $id) { id } }", json!({"id": huge})),
            ("query($tz: TimeZone) { availableSlots(mentorId: \"m\", from: \"2026-01-06T00:00:00Z\", to: \"2026-01-07T00:00:00Z\", timeZone: $tz) { start } }", json!({"tz": huge})),
        ] {
            let text = app.client.post(app.url("/graphql")).bearer_auth(&student).json(&json!({"query": query, "variables": variables})).send().await.unwrap().text().await.unwrap();
            assert!(text.len() < 2_000, "{} bytes came back: {}", text.len(), &text[..300]);
            let body: Value = serde_json::from_str(&text).unwrap();
            assert!(body["errors"][0]["extensions"]["code"].is_string(), "{body}");
        }
        // As long a path as a URL may carry.
        let long = "y".repeat(8_000);
        let text = app.client.post(app.url(&format!("/notifications/{long}/read"))).bearer_auth(&student).send().await.unwrap().text().await.unwrap();
        assert!(text.len() < 2_000, "{} bytes came back", text.len());
    }

    async fn someone_elses_ids_answer_exactly_as_unknown_ones(app) {
        let (_, student) = tutor_and_student(&app).await;
        let other = app.user(OTHER_STUDENT, Role::Student, "UTC").await;
        let booking = book(&app, &student, request(&["2026-01-12T10:00:00Z"], json!(2))).await;
        let session = booking["sessions"][0]["id"].clone();
        let view = "query($id: ID!) { booking(id: $id) { status sessions { status start } } }";
        let before = app.ok(&student, view, json!({"id": booking["id"]})).await;
        let pairs = [
            ("query($id: ID!) { booking(id: $id) { id } }", booking["id"].clone(), json!({})),
            ("mutation($id: ID!) { cancelBooking(id: $id) { id } }", booking["id"].clone(), json!({})),
            ("mutation($id: ID!) { cancelSession(id: $id) { id } }", session.clone(), json!({})),
            ("mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id } }", session.clone(), json!({"s": "2026-01-13T10:00:00Z"})),
        ];
        for (query, real, extra) in pairs {
            let mut theirs = extra.clone();
            theirs["id"] = real.clone();
            let mut unknown = extra;
            unknown["id"] = json!("ckunknown0000000000000001");
            let a = app.gql(Some(&other), query, theirs).await;
            let b = app.gql(Some(&other), query, unknown).await;
            assert_eq!(a, b, "{query}");
        }
        // And nothing changed for the real owner.
        assert_eq!(app.ok(&student, view, json!({"id": booking["id"]})).await, before);
    }
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "cknbf000000000000000001", "role": "student", "exp": now + 3600, "nbf": now + 600});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let body = app.gql(Some(&token), "{ me { id } }", json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not valid yet"),
        "{body}"
    );
}
