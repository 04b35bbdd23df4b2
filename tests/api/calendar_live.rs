//! `calendarStatusChanged` over graphql-transport-ws, against the fake Google: the mentor hears every
//! change to their connection (connected, read, push opened, sync asked for, access revoked,
//! disconnected) and nothing about another provider; a student may not subscribe.

use std::collections::HashMap;

use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::google::connect;
use crate::helpers::notify::{next_for, subscribe};
use crate::helpers::socket::{next_json, send, signed_in, Socket};

const MENTOR: &str = "live-mentor-1";
const CHANGED: &str = "subscription($p: CalendarProvider) { calendarStatusChanged(provider: $p) { provider connected state pushActive lastError } }";

/// Subscribes `id` and waits until the server has taken it (a ping answered after it).
async fn listening(socket: &mut Socket, id: &str, provider: &str) {
    subscribe(socket, id, CHANGED, json!({ "p": provider })).await;
    send(socket, json!({"type": "ping"})).await;
    assert_eq!(next_json(socket).await["type"], "pong");
}

async fn heard(socket: &mut Socket, stash: &mut HashMap<String, Vec<Value>>) -> Value {
    next_for(socket, "google", stash).await["calendarStatusChanged"].clone()
}

crate::with_fake_google! {
    async fn the_mentor_hears_every_change_to_the_connection(app, google) {
        let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;
        let student = app.user("live-student-1", Role::Student, "Europe/London").await;

        let mut refused = signed_in(&app, &student).await;
        subscribe(&mut refused, "s", CHANGED, json!({ "p": "GOOGLE" })).await;
        let answer = next_json(&mut refused).await;
        assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{answer}");

        let mut socket = signed_in(&app, &mentor).await;
        listening(&mut socket, "google", "GOOGLE").await;
        listening(&mut socket, "outlook", "OUTLOOK").await;
        let mut stash = HashMap::new();
        google.accept_http_pushes();

        connect(&app, &mentor).await;
        let now = heard(&mut socket, &mut stash).await;
        assert_eq!((now["connected"].as_bool(), now["state"].as_str(), now["pushActive"].as_bool()), (Some(true), Some("IDLE"), Some(false)), "{now}");
        app.jobs.drain().await.unwrap();
        let now = heard(&mut socket, &mut stash).await;
        assert_eq!((now["state"].as_str(), now["pushActive"].as_bool()), (Some("IDLE"), Some(true)), "{now}");

        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        assert_eq!(heard(&mut socket, &mut stash).await["state"], "SYNCING");
        app.jobs.drain().await.unwrap();
        assert_eq!(heard(&mut socket, &mut stash).await["state"], "IDLE");

        google.revoke_grant();
        app.ok(&mentor, "mutation { syncCalendarNow(provider: GOOGLE) { state } }", json!({})).await;
        assert_eq!(heard(&mut socket, &mut stash).await["state"], "SYNCING");
        app.jobs.drain().await.unwrap();
        let now = heard(&mut socket, &mut stash).await;
        assert_eq!(now["state"], "RECONNECT_REQUIRED", "{now}");
        assert!(now["lastError"].as_str().is_some_and(|e| e.contains("reconnect")), "{now}");

        app.ok(&mentor, "mutation { disconnectCalendar(provider: GOOGLE) { connected } }", json!({})).await;
        let now = heard(&mut socket, &mut stash).await;
        assert_eq!((now["connected"].as_bool(), now["state"].as_str()), (Some(false), Some("DISCONNECTED")), "{now}");

        // Nothing was said on the Outlook subscription (heard before the pong, it would be stashed).
        send(&mut socket, json!({"type": "ping"})).await;
        assert_eq!(next_json(&mut socket).await["type"], "pong");
        assert!(stash.get("outlook").is_none_or(Vec::is_empty), "{stash:?}");
    }
}
