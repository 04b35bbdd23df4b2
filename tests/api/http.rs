use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let alive: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alive["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["database"], "ok");
}

#[tokio::test]
async fn graphiql_is_served_to_browsers_asking_for_a_page() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    // An API client without a query gets a JSON error, not a page.
    let bare = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(bare.status(), 400);
    let error: Value = bare.json().await.unwrap();
    assert_eq!(error["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("graphiql") && html.contains("/graphql/ws"),
        "{}",
        &html[..200.min(html.len())]
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let padding = "x".repeat(300 * 1024);
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": format!("{{ me {{ id }} }} # {padding}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn batched_requests_and_introspection_work() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app.token("u-batch", Role::Student, "UTC");
    let body: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!([{ "query": "{ me { id } }" }, { "query": "{ __schema { queryType { name } } }" }]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["data"]["me"]["id"], "u-batch");
    assert_eq!(body[1]["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn graphiql_introspection_fits_the_limits_but_deep_queries_do_not() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app.token("u-limits", Role::Student, "UTC");
    // The introspection query GraphiQL sends nests `ofType` seven levels deep.
    let of_type = "ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let introspection = format!(
        "{{ __schema {{ types {{ name fields {{ name type {{ kind name {of_type} }} }} }} }} }}"
    );
    app.ok(&token, &introspection, json!({})).await;

    let mut deep = "__typename".to_string();
    for _ in 0..20 {
        deep = format!("ofType {{ {deep} }}");
    }
    let error = app
        .fails(
            Some(&token),
            &format!("{{ __type(name: \"Query\") {{ {deep} }} }}"),
            json!({}),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{error}"
    );
}

#[tokio::test]
async fn malformed_graphql_is_bad_user_input() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app.token("u-parse", Role::Student, "UTC");
    app.fails(Some(&token), "{ me { id ", json!({}), "BAD_USER_INPUT")
        .await;
    app.fails(Some(&token), "{ noSuchField }", json!({}), "BAD_USER_INPUT")
        .await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Closing a clone closes the shared pool under the running server.
    app.services.db.conn().clone().close().await.unwrap();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["database"],
        "unreachable"
    );
    // The process itself still answers.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
