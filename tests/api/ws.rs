//! GraphQL over WebSocket with a real client: both subprotocols, auth at `connection_init`, close codes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mentor_scheduler::auth::Role;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::availability::MENTOR;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(app: &TestApp, protocol: &str) -> Socket {
    connect_to(&app.addr, protocol).await
}

/// A socket to the server at `addr` (host:port), speaking `protocol`.
pub async fn connect_to(addr: &str, protocol: &str) -> Socket {
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// A socket past `connection_ack`, signed in with `token`.
pub async fn signed_in(app: &TestApp, token: &str) -> Socket {
    signed_in_at(&app.addr, token).await
}

pub async fn signed_in_at(addr: &str, token: &str) -> Socket {
    let mut socket = connect_to(addr, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    socket
}

/// The next JSON message from the server, skipping pings and keep-alives.
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("message in time")
            .expect("open")
            .expect("ok");
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "ka" && value["type"] != "ping" {
                    return value;
                }
            }
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// The close code the server ends with.
pub async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return 0,
            Some(Ok(_)) => continue,
        }
    }
}

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
    // Give the server a moment to register the subscription before the change.
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.ok(&mentor, "mutation { addAvailabilityBlock(input: {weekday: FRIDAY, start: \"13:00\", end: \"14:00\"}) { mentorId } }", json!({})).await;
    let event = next_json(&mut socket).await;
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
    // And the listener is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "still accepting after shutdown"
    );
}
