//! `/join/{sessionId}`: participants only, from 15 minutes before the start until the end.

use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::session;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, OTHER_STUDENT};
use crate::helpers::TestApp;
use crate::on_both_backends;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The path and query of a join URL, on this test's server.
fn local(app: &TestApp, join_url: &str) -> String {
    let path = &join_url[join_url.find("/join/").unwrap()..];
    app.url(path)
}

async fn visit(url: &str, bearer: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut request = no_redirects().get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let policy = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.starts_with("default-src 'none'; style-src 'sha256-")
            && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let body = response.text().await.unwrap();
    if let (Some(start), Some(end)) = (body.find("<style>"), body.find("</style>")) {
        // The page's one style is exactly the one the policy allows, and nothing is styled inline.
        let style = &body[start + "<style>".len()..end];
        let hash = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            <sha2::Sha256 as sha2::Digest>::digest(style.as_bytes()),
        );
        assert!(
            policy.contains(&format!("'sha256-{hash}'")),
            "{policy} vs {style}"
        );
        assert!(
            !body.contains("style=") && !body.contains("<script"),
            "{body}"
        );
    }
    (status, body, location)
}

async fn room_of(app: &TestApp, session_id: &Value) -> String {
    session::Entity::find_by_id(session_id.as_str().unwrap())
        .one(app.services.db.conn())
        .await
        .unwrap()
        .unwrap()
        .meeting_url
}

on_both_backends! {
    async fn the_join_link_opens_fifteen_minutes_before_and_closes_at_the_end(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(2))).await;
        // The student moves to New York and sees times in their new zone on the waiting page.
        let ny = app.token(crate::helpers::booking::STUDENT, Role::Student, "America/New_York");
        app.ok(&ny, "{ me { id } }", json!({})).await;
        let first = &booking["sessions"][0];
        let link = local(&app, first["joinUrl"].as_str().unwrap());
        let room = room_of(&app, &first["id"]).await;

        let (status, page, _) = visit(&link, None).await;
        assert_eq!(status, StatusCode::TOO_EARLY);
        assert!(page.contains("Monday 5 January 2026, 03:45 (America/New_York)"), "{page}");

        app.clock.set("2026-01-05T08:45:00Z".parse().unwrap());
        let (status, _, location) = visit(&link, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location.as_deref(), Some(room.as_str()));
        // The mentor gets in with a bearer token and no link token.
        let bare = app.url(&format!("/join/{}", first["id"].as_str().unwrap()));
        let (status, _, location) = visit(&bare, Some(&mentor)).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(room.as_str())));

        app.clock.set("2026-01-05T10:00:00Z".parse().unwrap());
        let (status, page, _) = visit(&link, None).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(page.contains("has ended"), "{page}");
    }

    async fn the_join_link_admits_only_its_participants(app) {
        let (_, student) = tutor_and_student(&app).await;
        let other = app.user(OTHER_STUDENT, Role::Student, "UTC").await;
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(2))).await;
        let [a, b] = [&booking["sessions"][0], &booking["sessions"][1]];
        app.clock.set("2026-01-05T08:50:00Z".parse().unwrap());
        // No credentials, or someone else's bearer token.
        let bare = app.url(&format!("/join/{}", a["id"].as_str().unwrap()));
        assert_eq!(visit(&bare, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(visit(&bare, Some(&other)).await.0, StatusCode::NOT_FOUND, "as an unknown session");
        assert_eq!(visit(&bare, Some("not-a-jwt")).await.0, StatusCode::UNAUTHORIZED);
        // One session's link token does not open another session, and a forged one opens nothing.
        let link_b = b["joinUrl"].as_str().unwrap();
        let token_b = &link_b[link_b.find("token=").unwrap() + 6..];
        let crossed = app.url(&format!("/join/{}?token={token_b}", a["id"].as_str().unwrap()));
        assert_eq!(visit(&crossed, None).await.0, StatusCode::FORBIDDEN);
        let forged = format!("{}x", local(&app, a["joinUrl"].as_str().unwrap()));
        assert_eq!(visit(&forged, None).await.0, StatusCode::FORBIDDEN);
        // An API token is not a link token.
        let api = app.url(&format!("/join/{}?token={student}", a["id"].as_str().unwrap()));
        assert_eq!(visit(&api, None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(visit(&app.url("/join/unknown-session"), Some(&student)).await.0, StatusCode::NOT_FOUND);
        // A cancelled session says so.
        app.ok(&student, "mutation($id: ID!) { cancelSession(id: $id) { id } }", json!({"id": b["id"]})).await;
        let (status, page, _) = visit(&local(&app, link_b), None).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(page.contains("cancelled"), "{page}");
        // Admins see sessions but get no join link: they are not participants.
        let admin = app.user("admin-2", Role::Admin, "UTC").await;
        let data = app.ok(&admin, "query($id: ID!) { booking(id: $id) { sessions { joinUrl } } }", json!({"id": booking["id"]})).await;
        assert!(data["booking"]["sessions"][0]["joinUrl"].is_null());
    }
}
