//! Notifications to test with: an admin who sends them, the queries and subscriptions that read them.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::notification;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use super::socket::{next_json, send, Socket};
use super::TestApp;

/// Notifications of `token`'s user, newest first.
pub async fn inbox(app: &TestApp, token: &str) -> Vec<Value> {
    let data = app.ok(token, LIST, json!({"first": 100})).await;
    data["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

pub const ADMIN: &str = "cknotifyadmin00000000001";
pub const LIST: &str = "query($first: Int, $after: String, $unread: Boolean) { notifications(first: $first, after: $after, unreadOnly: $unread) { edges { cursor node { id type title body link data createdAt readAt cursor } } pageInfo { hasNextPage endCursor } } unreadNotificationCount }";
pub const SEND: &str =
    "mutation($i: SendNotificationInput!) { sendNotification(input: $i) { delivered skipped } }";

/// An admin sends `count` notifications to `user`, one request each; returns the admin's token.
pub async fn send_many(app: &TestApp, user: &str, count: usize) -> String {
    let admin = app.user(ADMIN, Role::Admin, "UTC").await;
    for i in 0..count {
        let sent = app
            .ok(&admin, SEND, json!({"i": {"userIds": [user], "type": "SYSTEM_UPDATE", "title": format!("update {i}"), "body": "b"}}))
            .await;
        assert_eq!(sent["sendNotification"]["delivered"], 1);
    }
    admin
}

/// The user's notification rows, by `seq`.
pub async fn rows_in_order(app: &TestApp, user: &str) -> Vec<notification::Model> {
    notification::Entity::find()
        .filter(notification::Column::UserId.eq(user))
        .order_by_asc(notification::Column::Seq)
        .all(app.services.db.conn())
        .await
        .unwrap()
}

pub const RECEIVED: &str =
    "subscription($after: String) { notificationReceived(after: $after) { id type title cursor } }";

pub const COUNT: &str = "subscription { unreadNotificationCount }";

pub async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}),
    )
    .await;
}

/// The payload data of the next `next` message for subscription `id` (others are kept in `stash`).
pub async fn next_for(
    socket: &mut Socket,
    id: &str,
    stash: &mut HashMap<String, Vec<Value>>,
) -> Value {
    if let Some(v) = stash.get_mut(id).filter(|v| !v.is_empty()) {
        return v.remove(0);
    }
    loop {
        let message = next_json(socket).await;
        assert_eq!(message["type"], "next", "{message}");
        let data = message["payload"]["data"].clone();
        let from = message["id"].as_str().unwrap().to_string();
        if from == id {
            return data;
        }
        stash.entry(from).or_default().push(data);
    }
}

/// Asserts nothing more arrives for a moment (no duplicates, no foreign events).
pub async fn quiet(socket: &mut Socket) {
    let more = tokio::time::timeout(Duration::from_millis(400), async {
        loop {
            match socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] != "ping" {
                        return v;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await;
    assert!(more.is_err(), "unexpected message: {more:?}");
}
