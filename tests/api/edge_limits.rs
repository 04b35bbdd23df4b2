//! One caller cannot crowd out the others: requests past a caller's rate are refused with 429
//! `RATE_LIMITED` and `Retry-After` before any work, counted per signed-in user (else per address),
//! WebSocket subscriptions count against the same allowance, and documents past `GRAPHQL_MAX_QUERY_BYTES` are refused before they are parsed, over HTTP and on
//! a WebSocket.

use mentor_scheduler::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::notify::COUNT;
use crate::helpers::socket::{next_json, send, signed_in};
use crate::helpers::{Backend, TestApp};

const ALICE: &str = "ckratelimitalice000000001";
const BOB: &str = "ckratelimitbob00000000001";

/// A rate of 1 a second (so no allowance comes back during the test) and a burst of 3.
const TIGHT: &[(&str, &str)] = &[("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "3")];

async fn post_graphql(app: &TestApp, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_caller_past_their_rate_is_refused_and_others_go_on() {
    let app = TestApp::spawn_with(Backend::Sqlite, TIGHT).await.unwrap();
    let alice = app.token(ALICE, Role::Student, "Europe/London");
    let bob = app.token(BOB, Role::Student, "Europe/London");
    let query = json!({ "query": "{ __typename }" });

    for _ in 0..3 {
        let answer = post_graphql(&app, Some(&alice), query.clone()).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    // The refusal comes once Alice's next allowance would (about a second), and spends it: the
    // requests she sends straight after are refused too, not served.
    let started = std::time::Instant::now();
    let refused = post_graphql(&app, Some(&alice), query.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");

    // The REST routes share Alice's allowance.
    let rest = app
        .client
        .get(app.url("/notifications"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), StatusCode::TOO_MANY_REQUESTS);

    // Bob, and anonymous callers from the same address, have allowances of their own; health
    // checks are never counted.
    let answer = post_graphql(&app, Some(&bob), query.clone()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let answer = post_graphql(&app, None, query.clone()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    for _ in 0..10 {
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn anonymous_callers_are_counted_by_address_and_a_forged_token_does_not_help() {
    let app = TestApp::spawn_with(Backend::Sqlite, TIGHT).await.unwrap();
    let query = json!({ "query": "{ __typename }" });
    for _ in 0..3 {
        assert_eq!(
            post_graphql(&app, None, query.clone()).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        post_graphql(&app, None, query.clone()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A token that does not verify is no one: still this address's allowance.
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    assert_eq!(
        post_graphql(&app, Some(forged), query).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_rate_of_zero_turns_the_limit_off() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("RATE_LIMIT_PER_SECOND", "0"), ("RATE_LIMIT_BURST", "1")],
    )
    .await
    .unwrap();
    for _ in 0..20 {
        let answer = post_graphql(&app, None, json!({ "query": "{ __typename }" })).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_document_too_long_is_refused_before_it_is_parsed() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("GRAPHQL_MAX_QUERY_BYTES", "1000")])
        .await
        .unwrap();
    // Within the limit: runs. One byte over (a comment, so the document itself is valid): refused
    // with a coded 400, over POST and GET alike, and in a batch only that operation is.
    let fits = format!("{{ __typename }} #{}", "x".repeat(1000 - 16));
    assert_eq!(fits.len(), 1000);
    let answer = post_graphql(&app, None, json!({ "query": fits })).await;
    assert_eq!(answer.status(), StatusCode::OK);

    let long = format!("{fits}x");
    let answer = post_graphql(&app, None, json!({ "query": long })).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("longer than 1000 bytes"));
    assert!(body.get("data").is_none(), "{body}");

    let answer = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", long.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);

    let batch = post_graphql(
        &app,
        None,
        json!([{ "query": "{ __typename }" }, { "query": long }]),
    )
    .await;
    let body: Value = batch.json().await.unwrap();
    assert!(body[0]["data"]["__typename"].is_string(), "{body}");
    assert_eq!(body[1]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_subscription_too_long_is_refused_and_the_socket_goes_on() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("GRAPHQL_MAX_QUERY_BYTES", "200")])
        .await
        .unwrap();
    let token = app.user(ALICE, Role::Student, "Europe/London").await;
    let mut socket = signed_in(&app, &token).await;
    let long = format!("{COUNT} #{}", "x".repeat(200));
    send(
        &mut socket,
        json!({ "id": "long", "type": "subscribe", "payload": { "query": long } }),
    )
    .await;
    let refused = next_json(&mut socket).await;
    assert_eq!(refused["id"], "long");
    assert_eq!(refused["type"], "error");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );

    send(
        &mut socket,
        json!({ "id": "fits", "type": "subscribe", "payload": { "query": COUNT } }),
    )
    .await;
    let first = next_json(&mut socket).await;
    assert_eq!(first["id"], "fits");
    assert_eq!(first["type"], "next", "{first}");
}

#[tokio::test]
async fn subscriptions_share_their_users_allowance_across_sockets() {
    // A burst of 5 and 1 a second. Alice's sign-up request spends one; her subscribes, alternating
    // between two sockets (the sockets' upgrades carry no token: they count for the address), get
    // the other 4, then refusals with a
    // wait (at most one more allowance comes back for each second the test takes); the sockets go
    // on, and Bob is not touched.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "5")],
    )
    .await
    .unwrap();
    let alice = app.user(ALICE, Role::Student, "Europe/London").await;
    let bob = app.user(BOB, Role::Student, "Europe/London").await;
    let mut sockets = [signed_in(&app, &alice).await, signed_in(&app, &alice).await];
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for i in 0..12 {
        let socket = &mut sockets[i % 2];
        send(
            socket,
            json!({ "id": format!("c{i}"), "type": "subscribe", "payload": { "query": COUNT } }),
        )
        .await;
        let answer = next_json(socket).await;
        assert_eq!(answer["id"], format!("c{i}"), "{answer}");
        answers.push(answer);
    }
    let seconds = started.elapsed().as_secs() as usize;
    assert!(
        answers[..4].iter().all(|a| a["type"] == "next"),
        "{answers:?}"
    );
    let refused: Vec<&Value> = answers[4..]
        .iter()
        .filter(|a| a["type"] == "error")
        .collect();
    assert!(refused.len() + seconds + 1 >= 8, "{answers:?}");
    for answer in refused {
        assert_eq!(answer["payload"][0]["extensions"]["code"], "RATE_LIMITED");
        assert_eq!(answer["payload"][0]["extensions"]["retryAfter"], 1);
    }

    // A refused socket still answers (a ping gets its pong).
    send(&mut sockets[1], json!({ "type": "ping" })).await;
    assert_eq!(next_json(&mut sockets[1]).await["type"], "pong");

    let mut other = signed_in(&app, &bob).await;
    send(
        &mut other,
        json!({ "id": "b", "type": "subscribe", "payload": { "query": COUNT } }),
    )
    .await;
    assert_eq!(next_json(&mut other).await["type"], "next");
}

#[tokio::test]
async fn a_socket_flooding_messages_is_read_at_its_pace_and_loses_nothing() {
    // 20 messages a second in bursts of 40: 80 pings sent back to back are all answered, the last
    // ones only as the pace allows (the server stops reading, so the flood waits on the client's
    // side); the socket stays open.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("WS_MAX_MESSAGES_PER_SECOND", "20"),
            ("RATE_LIMIT_PER_SECOND", "0"),
        ],
    )
    .await
    .unwrap();
    let token = app.user(ALICE, Role::Student, "Europe/London").await;
    let mut socket = signed_in(&app, &token).await;
    let started = std::time::Instant::now();
    for _ in 0..80 {
        send(&mut socket, json!({ "type": "ping" })).await;
    }
    for _ in 0..80 {
        assert_eq!(next_json(&mut socket).await["type"], "pong");
    }
    // 40 in the burst, the other 40 at 20 a second.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    send(
        &mut socket,
        json!({ "id": "after", "type": "subscribe", "payload": { "query": COUNT } }),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "next");
}
