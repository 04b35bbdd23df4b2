//! GraphQL over WebSocket with a real client: both subprotocols, auth at `connection_init`, close codes.

use std::time::Duration;

use futures::SinkExt;
use mentor_scheduler::auth::Role;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::schedule::MENTOR;
use crate::helpers::socket::{close_code, connect, next_json, send, signed_in};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const CHANGED: &str = "subscription($m: ID!) { availabilityChanged(mentorId: $m) { mentorId blocks { weekday start end } } }";

on_both_backends! {
    async fn graphql_transport_ws_delivers_availability_changes(app) {
        let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
        let student = app.user("ckstudent0000000000000001", Role::Student, "UTC").await;
        let mut socket = signed_in(&app, &student).await;
        send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": CHANGED, "variables": {"m": MENTOR}}})).await;
        // Ping/pong at the protocol level works while subscribed.
        send(&mut socket, json!({"type": "ping"})).await;
        assert_eq!(next_json(&mut socket).await["type"], "pong");

        app.ok(&mentor, "mutation { addAvailabilityBlock(input: {weekday: MONDAY, start: \"09:00\", end: \"10:00\"}) { mentorId } }", json!({})).await;
        let event = next_json(&mut socket).await;
        assert_eq!(event["type"], "next", "{event}");
        assert_eq!(event["id"], "1");
        assert_eq!(event["payload"]["data"]["availabilityChanged"], json!({"mentorId": MENTOR, "blocks": [{"weekday": "MONDAY", "start": "09:00", "end": "10:00"}]}));

        send(&mut socket, json!({"id": "1", "type": "complete"})).await;
        socket.close(None).await.ok();
    }
}

#[tokio::test]
async fn legacy_graphql_ws_protocol_works_too() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mentor = app.user(MENTOR, Role::Mentor, "UTC").await;
    let mut socket = connect(&app, "graphql-ws").await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"authToken": mentor}}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({"id": "a", "type": "start", "payload": {"query": CHANGED, "variables": {"m": MENTOR}}})).await;
    // The legacy protocol has no ping to tell when the subscription is in place: change the
    // availability (an hour later each time) until the subscriber hears of a change.
    let mut event = None;
    for hour in 8..20 {
        let add = format!("mutation {{ addAvailabilityBlock(input: {{weekday: FRIDAY, start: \"{hour:02}:00\", end: \"{hour:02}:30\"}}) {{ mentorId }} }}");
        app.ok(&mentor, &add, json!({})).await;
        if let Ok(heard) =
            tokio::time::timeout(Duration::from_millis(500), next_json(&mut socket)).await
        {
            event = Some(heard);
            break;
        }
    }
    let event = event.expect("the subscriber heard of a change");
    assert_eq!(event["type"], "data", "{event}");
    assert_eq!(
        event["payload"]["data"]["availabilityChanged"]["blocks"][0]["weekday"],
        "FRIDAY"
    );
}

#[tokio::test]
async fn bad_missing_or_expired_tokens_close_with_4403() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    for payload in [
        json!({"authorization": "Bearer nonsense"}),
        json!({}),
        json!(null),
    ] {
        let mut socket = connect(&app, "graphql-transport-ws").await;
        send(
            &mut socket,
            json!({"type": "connection_init", "payload": payload}),
        )
        .await;
        assert_eq!(close_code(&mut socket).await, 4403, "payload {payload}");
    }
}

#[tokio::test]
async fn subscribing_before_connection_init_closes_with_4401() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mut socket = connect(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": CHANGED, "variables": {"m": MENTOR}}})).await;
    assert_eq!(close_code(&mut socket).await, 4401);
}

#[tokio::test]
async fn malformed_messages_close_with_4400() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mut socket = connect(&app, "graphql-transport-ws").await;
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut socket).await, 4400);

    // Also after a good handshake.
    let token = app
        .user("ckstudent0000000000000001", Role::Student, "UTC")
        .await;
    let mut socket = signed_in(&app, &token).await;
    send(&mut socket, json!({"no": "type"})).await;
    assert_eq!(close_code(&mut socket).await, 4400);
}

#[tokio::test]
async fn silence_past_the_init_timeout_closes_with_4408() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_INIT_TIMEOUT_SECONDS", "1")])
        .await
        .unwrap();
    let mut socket = connect(&app, "graphql-transport-ws").await;
    assert_eq!(close_code(&mut socket).await, 4408);
}

#[tokio::test]
async fn subscriptions_report_errors_with_codes() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app
        .user("ckstudent0000000000000001", Role::Student, "UTC")
        .await;
    let mut socket = signed_in(&app, &token).await;
    send(&mut socket, json!({"id": "x", "type": "subscribe", "payload": {"query": CHANGED, "variables": {"m": "nobody"}}})).await;
    let message = next_json(&mut socket).await;
    let errors = if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{message}");
}

#[tokio::test]
async fn shutdown_closes_open_sockets_with_1001() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app
        .user("ckstudent0000000000000001", Role::Student, "UTC")
        .await;
    let mut socket = signed_in(&app, &token).await;
    let addr = app.addr.clone();
    drop(app); // sends the shutdown signal
    assert_eq!(close_code(&mut socket).await, 1001);
    // And the listener is gone (once the server task has let go of it).
    let gone = async {
        while tokio::net::TcpStream::connect(&addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("still accepting after shutdown");
}
