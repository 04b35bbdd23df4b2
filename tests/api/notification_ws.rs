//! Live notifications over graphql-transport-ws with a real client: delivery, replay with `after`
//! (no gap, no duplicate, even while notifications are being written), many tabs, isolation.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use mentor_scheduler::auth::Role;
use serde_json::json;

use crate::helpers::booking::{book, request, tutor_and_student, STUDENT};
use crate::helpers::notify::{
    next_for, quiet, rows_in_order, send_many, subscribe, ADMIN, COUNT, LIST, RECEIVED, SEND,
};
use crate::helpers::socket::{next_json, signed_in};
use crate::helpers::TestApp;
use crate::on_both_backends;

async fn newest_cursor(app: &TestApp, token: &str) -> String {
    let data = app.ok(token, LIST, json!({"first": 1})).await;
    data["notifications"]["edges"][0]["cursor"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn ids_in_seq_order(app: &TestApp, user: &str) -> Vec<String> {
    rows_in_order(app, user)
        .await
        .into_iter()
        .map(|n| n.id)
        .collect()
}

on_both_backends! {
    async fn a_subscriber_hears_of_a_new_booking_and_its_count_moves(app) {
        let (_, student) = tutor_and_student(&app).await;
        let mut socket = signed_in(&app, &student).await;
        let mut stash = HashMap::new();
        subscribe(&mut socket, "n", RECEIVED, json!({})).await;
        subscribe(&mut socket, "c", COUNT, json!({})).await;
        assert_eq!(next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"], 0);
        book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(1))).await;
        let got = next_for(&mut socket, "n", &mut stash).await["notificationReceived"].clone();
        assert_eq!(got["type"], "SESSION_CONFIRMATION");
        assert_eq!(next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"], 1);
        app.ok(&student, "mutation { markAllNotificationsRead }", json!({})).await;
        assert_eq!(next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"], 0);
        quiet(&mut socket).await;
    }

    async fn reconnecting_with_after_replays_exactly_what_was_missed(app) {
        let student = app.user(STUDENT, Role::Student, "UTC").await;
        let admin = send_many(&app, STUDENT, 1).await;
        let first = newest_cursor(&app, &student).await;
        let notify = |title: &str| {
            let (app, admin, title) = (&app, admin.clone(), title.to_string());
            async move {
                app.ok(&admin, SEND, json!({"i": {"userIds": [STUDENT], "type": "SYSTEM_UPDATE", "title": title, "body": ""}})).await;
            }
        };
        let mut stash = HashMap::new();
        let mut tab = signed_in(&app, &student).await;
        subscribe(&mut tab, "n", RECEIVED, json!({"after": first})).await;
        notify("two").await;
        let two = next_for(&mut tab, "n", &mut stash).await["notificationReceived"].clone();
        assert_eq!(two["title"], "two");
        tab.close(None).await.ok();

        // Offline: two more arrive.
        notify("three").await;
        notify("four").await;
        let mut tab = signed_in(&app, &student).await;
        subscribe(&mut tab, "n", RECEIVED, json!({"after": two["cursor"]})).await;
        let mut titles = Vec::new();
        for _ in 0..2 {
            titles.push(next_for(&mut tab, "n", &mut stash).await["notificationReceived"]["title"].clone());
        }
        assert_eq!(titles, [json!("three"), json!("four")], "missed ones first, oldest first");
        notify("five").await;
        assert_eq!(next_for(&mut tab, "n", &mut stash).await["notificationReceived"]["title"], "five");
        quiet(&mut tab).await;
    }

    async fn no_gap_and_no_duplicate_while_notifications_arrive_during_the_switch_over(app) {
        let student = app.user(STUDENT, Role::Student, "UTC").await;
        let admin = send_many(&app, STUDENT, 1).await;
        let after = newest_cursor(&app, &student).await;
        const BURST: usize = 40;
        // Writers race the subscriber's catch-up and its switch to live rings.
        let writers = {
            let client = app.client.clone();
            let url = app.url("/graphql");
            tokio::spawn(async move {
                let sends = (0..BURST).map(|i| {
                    let body = json!({"query": SEND, "variables": {"i": {"userIds": [STUDENT], "type": "SYSTEM_UPDATE", "title": format!("burst {i}"), "body": ""}}});
                    client.post(&url).bearer_auth(&admin).json(&body).send()
                });
                for r in futures::future::join_all(sends).await {
                    assert!(r.unwrap().status().is_success());
                }
            })
        };
        let mut socket = signed_in(&app, &student).await;
        subscribe(&mut socket, "n", RECEIVED, json!({"after": after})).await;
        let mut stash = HashMap::new();
        let mut got = Vec::new();
        while got.len() < BURST {
            got.push(next_for(&mut socket, "n", &mut stash).await["notificationReceived"]["id"].as_str().unwrap().to_string());
        }
        writers.await.unwrap();
        quiet(&mut socket).await;
        let all = ids_in_seq_order(&app, STUDENT).await;
        assert_eq!(got, all[1..], "every notification after the cursor, once, in order");
    }

    async fn every_tab_gets_every_event_and_the_same_count(app) {
        let student = app.user(STUDENT, Role::Student, "UTC").await;
        let mut tabs = Vec::new();
        for _ in 0..3 {
            let mut tab = signed_in(&app, &student).await;
            let mut stash = HashMap::new();
            subscribe(&mut tab, "n", RECEIVED, json!({})).await;
            subscribe(&mut tab, "c", COUNT, json!({})).await;
            assert_eq!(next_for(&mut tab, "c", &mut stash).await["unreadNotificationCount"], 0);
            tabs.push((tab, stash));
        }
        send_many(&app, STUDENT, 2).await;
        for (tab, stash) in &mut tabs {
            for expected in ["update 0", "update 1"] {
                assert_eq!(next_for(tab, "n", stash).await["notificationReceived"]["title"], expected);
            }
            // Counts only move forward to the true value; the last one seen is 2 in every tab.
            let mut count = next_for(tab, "c", stash).await["unreadNotificationCount"].clone();
            if count == 1 {
                count = next_for(tab, "c", stash).await["unreadNotificationCount"].clone();
            }
            assert_eq!(count, 2);
        }
        app.ok(&student, "mutation { markAllNotificationsRead }", json!({})).await;
        for (tab, stash) in &mut tabs {
            assert_eq!(next_for(tab, "c", stash).await["unreadNotificationCount"], 0);
            quiet(tab).await;
        }
    }

    async fn a_subscriber_that_falls_behind_misses_nothing(app) {
        app.user(STUDENT, Role::Student, "UTC").await;
        let mut stream = Box::pin(app.services.notifications.received(STUDENT.into(), None).await.unwrap());
        send_many(&app, STUDENT, 1).await;
        assert_eq!(stream.next().await.unwrap().unwrap().title, "update 0");
        // Not read while 40 more ring: more than the bus keeps for a slow subscriber.
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        for i in 1..=40 {
            app.ok(&admin, SEND, json!({"i": {"userIds": [STUDENT], "type": "SYSTEM_UPDATE", "title": format!("update {i}"), "body": ""}})).await;
        }
        let mut titles = Vec::new();
        for _ in 0..40 {
            titles.push(stream.next().await.unwrap().unwrap().title);
        }
        assert_eq!(titles, (1..=40).map(|i| format!("update {i}")).collect::<Vec<_>>());
        let more = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
        assert!(more.is_err(), "nothing twice: {more:?}");
    }

    async fn users_hear_only_their_own(app) {
        app.user(STUDENT, Role::Student, "UTC").await;
        let other = app.user("ckotherstudent0000000001", Role::Student, "UTC").await;
        let mut socket = signed_in(&app, &other).await;
        let mut stash = HashMap::new();
        subscribe(&mut socket, "n", RECEIVED, json!({})).await;
        subscribe(&mut socket, "c", COUNT, json!({})).await;
        assert_eq!(next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"], 0);
        send_many(&app, STUDENT, 2).await;
        quiet(&mut socket).await;
    }
}

#[tokio::test]
async fn a_bad_after_cursor_is_refused_with_a_code() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let student = app.user(STUDENT, Role::Student, "UTC").await;
    let _ = ADMIN;
    let mut socket = signed_in(&app, &student).await;
    subscribe(&mut socket, "n", RECEIVED, json!({"after": "not-a-cursor"})).await;
    let message = next_json(&mut socket).await;
    let errors = if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{message}"
    );
    assert_eq!(errors[0]["extensions"]["field"], "after", "{message}");
}
