use mentor_scheduler::auth::{Principal, Role};
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const ME: &str = "{ me { id role name email timeZone } }";

on_both_backends! {
    async fn first_request_creates_the_user_and_later_tokens_update_it(app) {
        let mut p = Principal {
            user_id: "ckx1mentor0000000000000001".into(),
            role: Role::Mentor,
            email: "old@example.com".into(),
            name: "Old Name".into(),
            time_zone: "Europe/London".parse().unwrap(),
            phone: None,
        };
        let me = app.ok(&app.token_for(&p), ME, json!({})).await;
        assert_eq!(me["me"], json!({"id": p.user_id, "role": "MENTOR", "name": "Old Name", "email": "old@example.com", "timeZone": "Europe/London"}));

        p.name = "New Name".into();
        p.email = "new@example.com".into();
        p.time_zone = "Australia/Sydney".parse().unwrap();
        let me = app.ok(&app.token_for(&p), ME, json!({})).await;
        assert_eq!(me["me"]["name"], "New Name");
        assert_eq!(me["me"]["email"], "new@example.com");
        assert_eq!(me["me"]["timeZone"], "Australia/Sydney");
        let stored = app.services.users.find(&p.user_id).await.unwrap().unwrap();
        assert_eq!(stored.time_zone.name(), "Australia/Sydney");
    }

    async fn missing_or_bad_tokens_are_unauthenticated(app) {
        let error = app.fails(None, ME, json!({}), "UNAUTHENTICATED").await;
        assert!(error["message"].as_str().unwrap().contains("bearer token is required"), "{error}");
        let error = app.fails(Some("garbage"), ME, json!({}), "UNAUTHENTICATED").await;
        assert!(error["message"].as_str().unwrap().contains("malformed"), "{error}");

        let expired = {
            let keys = mentor_scheduler::auth::jwt::JwtKeys::new(&mentor_scheduler::config::Secret::new(crate::helpers::JWT_SECRET), None, None);
            let p = Principal { user_id: "u1".into(), role: Role::Student, email: String::new(), name: String::new(), time_zone: "UTC".parse().unwrap(), phone: None };
            keys.mint(&p, chrono::Duration::hours(-2)).unwrap()
        };
        let error = app.fails(Some(&expired), ME, json!({}), "UNAUTHENTICATED").await;
        assert!(error["message"].as_str().unwrap().contains("expired"), "{error}");

        let forged = {
            let keys = mentor_scheduler::auth::jwt::JwtKeys::new(&mentor_scheduler::config::Secret::new("not-our-secret"), None, None);
            let p = Principal { user_id: "u1".into(), role: Role::Admin, email: String::new(), name: String::new(), time_zone: "UTC".parse().unwrap(), phone: None };
            keys.mint(&p, chrono::Duration::hours(1)).unwrap()
        };
        let error = app.fails(Some(&forged), ME, json!({}), "UNAUTHENTICATED").await;
        assert!(error["message"].as_str().unwrap().contains("signature"), "{error}");

        // A wrong scheme is rejected too, and no user record appears for any of these.
        let body: serde_json::Value = app.client.post(app.url("/graphql")).header("authorization", "Basic dTpw")
            .json(&json!({"query": ME})).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert!(app.services.users.find("u1").await.unwrap().is_none());
    }

    async fn students_cannot_edit_availability(app) {
        let student = app.user("ckx1student000000000000001", Role::Student, "UTC").await;
        let error = app.fails(
            Some(&student),
            "mutation { addAvailabilityBlock(input: {weekday: MONDAY, start: \"09:00\", end: \"10:00\"}) { mentorId } }",
            json!({}),
            "FORBIDDEN",
        ).await;
        assert!(error["message"].as_str().unwrap().contains("mentor"), "{error}");
    }
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("JWT_ISSUER", "platform"), ("JWT_AUDIENCE", "mentor-api")],
    )
    .await
    .unwrap();
    let good = app.token("u-iss", Role::Student, "UTC");
    app.ok(&good, ME, json!({})).await;

    let keys = mentor_scheduler::auth::jwt::JwtKeys::new(
        &mentor_scheduler::config::Secret::new(crate::helpers::JWT_SECRET),
        Some("someone-else".into()),
        Some("mentor-api".into()),
    );
    let p = Principal {
        user_id: "u-iss".into(),
        role: Role::Student,
        email: String::new(),
        name: String::new(),
        time_zone: "UTC".parse().unwrap(),
        phone: None,
    };
    let wrong_issuer = keys.mint(&p, chrono::Duration::hours(1)).unwrap();
    let error = app
        .fails(Some(&wrong_issuer), ME, json!({}), "UNAUTHENTICATED")
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("issuer"),
        "{error}"
    );

    let no_audience = mentor_scheduler::auth::jwt::JwtKeys::new(
        &mentor_scheduler::config::Secret::new(crate::helpers::JWT_SECRET),
        Some("platform".into()),
        None,
    );
    let error = app
        .fails(
            Some(&no_audience.mint(&p, chrono::Duration::hours(1)).unwrap()),
            ME,
            json!({}),
            "UNAUTHENTICATED",
        )
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("aud"),
        "{error}"
    );
}
