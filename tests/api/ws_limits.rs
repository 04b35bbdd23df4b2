//! No client can take a WebSocket, or the service, down: a burst of `subscribe` messages on many
//! sockets, subscriptions and sockets beyond their caps, the database connections subscriptions may
//! hold, and sockets that outlive their token.

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mentor_scheduler::auth::Role;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::notify::{subscribe, COUNT, RECEIVED};
use crate::helpers::notify::{ADMIN, SEND};
use crate::helpers::socket::{close_code, connect, next_json, send, signed_in, Socket};
use crate::helpers::{say_skipped, Backend, TestApp};

const STUDENT: &str = "ckburststudent00000000001";
const SOCKETS: usize = 16;
const BURST: usize = 30;
const MAX_SUBSCRIPTIONS: usize = 20;

/// Sends every message without waiting for anything in between (one flush at the end).
async fn burst(socket: &mut Socket, messages: impl IntoIterator<Item = Value>) {
    for message in messages {
        socket
            .feed(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    socket.flush().await.unwrap();
}

/// What a socket answered to a burst: `next` counts per subscription id, refusals by code, pongs.
#[derive(Default, Debug)]
struct Answers {
    first_counts: HashMap<String, Value>,
    refused: HashMap<String, String>,
    pongs: usize,
}

/// Reads until every subscription of the burst got its first answer and the trailing ping its pong.
async fn answers(socket: &mut Socket, subscriptions: usize) -> Answers {
    let mut answers = Answers::default();
    while answers.first_counts.len() + answers.refused.len() < subscriptions || answers.pongs == 0 {
        let message = next_json(socket).await;
        let id = message["id"].as_str().unwrap_or_default().to_string();
        match message["type"].as_str().unwrap() {
            "next" => {
                answers
                    .first_counts
                    .entry(id)
                    .or_insert(message["payload"].clone());
            }
            "error" => {
                let code = message["payload"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap();
                answers.refused.insert(id, code.to_string());
            }
            "pong" => answers.pongs += 1,
            other => panic!("unexpected {other}: {message}"),
        }
    }
    answers
}

/// The attack: 16 sockets, each `connection_init` then 30 `subscribe` for the unread count
/// back to back (and a `ping`), with few database connections. Every socket keeps answering, the
/// subscriptions past the cap are refused with RATE_LIMITED, queries and `/readyz` keep working
/// meanwhile, subscriptions never held more than their share of connections, and all is well once
/// the clients leave.
async fn subscribe_burst_on_many_sockets(app: TestApp) {
    let student = app.user(STUDENT, Role::Student, "UTC").await;
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        sockets.push(signed_in(&app, &student).await);
    }
    for socket in &mut sockets {
        let subscribes = (0..BURST).map(
            |i| json!({"id": format!("s{i}"), "type": "subscribe", "payload": {"query": COUNT}}),
        );
        burst(socket, subscribes.chain([json!({"type": "ping"})])).await;
    }

    // Meanwhile queries and readiness are served.
    let probes = async {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let queries = (0..20).map(|_| {
            app.gql(
                Some(&student),
                "{ me { id } unreadNotificationCount }",
                json!({}),
            )
        });
        for body in futures::future::join_all(queries).await {
            assert_eq!(body["data"]["me"]["id"], STUDENT, "{body}");
        }
    };
    let reads = futures::future::join_all(sockets.iter_mut().map(|s| answers(s, BURST)));
    let (all_answers, ()) = tokio::join!(reads, probes);

    for answers in &all_answers {
        assert_eq!(answers.first_counts.len(), MAX_SUBSCRIPTIONS, "{answers:?}");
        assert_eq!(
            answers.refused.len(),
            BURST - MAX_SUBSCRIPTIONS,
            "{answers:?}"
        );
        assert!(answers.refused.values().all(|code| code == "RATE_LIMITED"));
        assert!(answers
            .first_counts
            .values()
            .all(|p| p["data"]["unreadNotificationCount"] == 0));
    }
    let peak = app.services.db.live_peak();
    assert!(
        (1..=2).contains(&peak),
        "subscriptions held {peak} connections at once"
    );

    // A live subscription still works, and a refused id can be used once another one ended.
    let socket = &mut sockets[0];
    send(socket, json!({"id": "s0", "type": "complete"})).await;
    subscribe(socket, "again", RECEIVED, json!({})).await;
    let admin = app.user(ADMIN, Role::Admin, "UTC").await;
    app.ok(&admin, SEND, json!({"i": {"userIds": [STUDENT], "type": "SYSTEM_UPDATE", "title": "hello", "body": "b"}})).await;
    let mut got_notification = false;
    while !got_notification {
        let message = next_json(socket).await;
        got_notification = message["id"] == "again";
    }

    // The clients leave; the service is as before.
    for mut socket in sockets {
        socket.close(None).await.ok();
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let mut fresh = signed_in(&app, &student).await;
    subscribe(&mut fresh, "1", COUNT, json!({})).await;
    let first = next_json(&mut fresh).await;
    assert_eq!(
        first["payload"]["data"]["unreadNotificationCount"], 1,
        "{first}"
    );
}

/// The caller's rate is off here, so that the socket cap and the connection share are what is
/// tested (`edge_limits` tests the rate on subscriptions).
const BURST_SETTINGS: &[(&str, &str)] = &[
    ("RATE_LIMIT_PER_SECOND", "0"),
    ("DB_MAX_CONNECTIONS", "4"),
    ("DB_LIVE_CONNECTIONS", "2"),
    ("WS_MAX_SUBSCRIPTIONS", "20"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_burst_on_many_sockets_sqlite() {
    let app = TestApp::spawn_with(Backend::Sqlite, BURST_SETTINGS)
        .await
        .unwrap();
    subscribe_burst_on_many_sockets(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_burst_on_many_sockets_postgres() {
    match TestApp::spawn_with(Backend::Postgres, BURST_SETTINGS).await {
        Some(app) => subscribe_burst_on_many_sockets(app).await,
        None => say_skipped("ws_limits::subscribe_burst_on_many_sockets_postgres"),
    }
}

#[tokio::test]
async fn reusing_an_open_subscription_id_closes_with_4409() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let student = app.user(STUDENT, Role::Student, "UTC").await;
    let mut socket = signed_in(&app, &student).await;
    subscribe(&mut socket, "1", COUNT, json!({})).await;
    next_json(&mut socket).await;
    subscribe(&mut socket, "1", COUNT, json!({})).await;
    assert_eq!(close_code(&mut socket).await, 4409);
}

#[tokio::test]
async fn a_user_holds_at_most_the_configured_sockets() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_MAX_SOCKETS_PER_USER", "2")])
        .await
        .unwrap();
    let student = app.user(STUDENT, Role::Student, "UTC").await;
    let other = app
        .user("ckotherstudent00000000001", Role::Student, "UTC")
        .await;
    let first = signed_in(&app, &student).await;
    let _second = signed_in(&app, &student).await;

    let mut third = connect(&app, "graphql-transport-ws").await;
    send(&mut third, json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {student}")}})).await;
    assert_eq!(close_code(&mut third).await, 1013, "try again later");
    // Other users are not affected.
    let _theirs = signed_in(&app, &other).await;

    // Once one of the user's sockets is gone, a new one gets in.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut socket = connect(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {student}")}})).await;
        let answer = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap();
        match answer {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "the closed socket's place was never given back: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A socket whose token has `ttl` left, with a live notification subscription.
async fn short_lived_socket(app: &TestApp, ttl: chrono::Duration) -> Socket {
    let token = app.token_expiring(STUDENT, Role::Student, ttl);
    let mut socket = signed_in(app, &token).await;
    subscribe(&mut socket, "1", RECEIVED, json!({})).await;
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_with_4403_when_its_token_expires() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.user(STUDENT, Role::Student, "UTC").await;
    let mut socket = short_lived_socket(&app, chrono::Duration::seconds(2)).await;
    let started = std::time::Instant::now();
    assert_eq!(close_code(&mut socket).await, 4403);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed at expiry, not later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_token_sent_on_ping_keeps_the_socket_open() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let long = app.user(STUDENT, Role::Student, "UTC").await;
    let admin = app.user(ADMIN, Role::Admin, "UTC").await;
    let expires = std::time::Instant::now() + Duration::from_secs(2);
    let mut socket = short_lived_socket(&app, chrono::Duration::seconds(2)).await;
    send(
        &mut socket,
        json!({"type": "ping", "payload": {"authorization": format!("Bearer {long}")}}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "pong");

    // Past the first token's expiry, the socket still delivers.
    tokio::time::sleep_until((expires + Duration::from_secs(1)).into()).await;
    app.ok(&admin, SEND, json!({"i": {"userIds": [STUDENT], "type": "SYSTEM_UPDATE", "title": "still here", "body": "b"}})).await;
    let message = next_json(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["notificationReceived"]["title"], "still here",
        "{message}"
    );
}

#[tokio::test]
async fn a_fresh_token_for_someone_else_closes_the_socket() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let student = app.user(STUDENT, Role::Student, "UTC").await;
    let other = app.token("ckotherstudent00000000001", Role::Student, "UTC");
    let mut socket = signed_in(&app, &student).await;
    send(
        &mut socket,
        json!({"type": "ping", "payload": {"authorization": other}}),
    )
    .await;
    assert_eq!(close_code(&mut socket).await, 4403);
    let mut socket = signed_in(&app, &student).await;
    send(
        &mut socket,
        json!({"type": "ping", "payload": {"authorization": "Bearer not.a.token"}}),
    )
    .await;
    assert_eq!(close_code(&mut socket).await, 4403);
}
