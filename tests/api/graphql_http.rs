//! GraphQL over HTTP as the spec and the dashboard's tools expect: content types, media types and
//! status codes, GET, persisted queries, batches, CORS, and a clear JSON error for every bad request.

use futures::stream;
use mentor_scheduler::auth::Role;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, TestApp};

const GQL_JSON: &str = "application/graphql-response+json";

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = app.client.post(app.url("/graphql")).body(body);
    if let Some(ct) = content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    request.send().await.unwrap()
}

/// The status, the content type and the JSON body, asserting it has a coded error.
async fn coded_error(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let code = body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no coded error: {body}"))
        .to_string();
    assert!(
        body.get("data").is_none(),
        "a request error has no data: {body}"
    );
    assert!(
        !text.contains("Error(") && !text.contains("Custom {"),
        "debug text leaked: {text}"
    );
    (status, content_type, code)
}

#[tokio::test]
async fn only_json_bodies_are_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let query = r#"{"query":"{ __typename }"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=latin1"),
    ] {
        let (status, _, code) = coded_error(post_raw(&app, content_type, None, query).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "BAD_USER_INPUT"),
            "{content_type:?}"
        );
    }
    let ok = post_raw(&app, Some("application/json; charset=utf-8"), None, query).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn malformed_requests_get_a_json_400_with_a_code() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    for body in [
        "",
        "{ \"not a JSON",
        "{}",
        "[]",
        "[1]",
        "null",
        r#"{"query":"{ __typename }","variables":[1]}"#,
        r#"{"query":"{ __typename }","variables":"nope"}"#,
        r#"{"query":42}"#,
        r#"{"qeury":"{ __typename }"}"#,
    ] {
        for accept in [None, Some("application/json"), Some(GQL_JSON)] {
            let (status, content_type, code) =
                coded_error(post_raw(&app, Some("application/json"), accept, body).await).await;
            assert_eq!(status, 400, "{body:?} {accept:?}");
            assert_eq!(code, "BAD_USER_INPUT", "{body:?}");
            let expected = if accept == Some(GQL_JSON) {
                GQL_JSON
            } else {
                "application/json"
            };
            assert!(content_type.starts_with(expected), "{content_type}");
        }
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_even_when_chunked() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("MAX_BODY_BYTES", "1024")])
        .await
        .unwrap();
    let big = format!(r#"{{"query":"{{ __typename }} # {}"}}"#, "x".repeat(4096));
    let (status, _, code) =
        coded_error(post_raw(&app, Some("application/json"), None, big.clone()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT")
    );
    // No Content-Length: the body arrives in chunks.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(100)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let chunked = reqwest::Body::wrap_stream(stream::iter(chunks));
    let (status, _, code) =
        coded_error(post_raw(&app, Some("application/json"), None, chunked).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT")
    );
}

#[tokio::test]
async fn request_errors_are_400_without_data_for_graphql_response_json_and_200_for_json() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    for (body, what) in [
        (json!({"query": "{"}), "parse"),
        (json!({"query": "{ nope }"}), "validation"),
        (
            json!({"query": "query($n: String!) { __type(name: $n) { name } }", "variables": {"n": 5}}),
            "variables",
        ),
    ] {
        let strict = post_raw(
            &app,
            Some("application/json"),
            Some(GQL_JSON),
            body.to_string(),
        )
        .await;
        assert_eq!(strict.status(), 400, "{what}");
        assert!(strict.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(GQL_JSON));
        let strict: Value = strict.json().await.unwrap();
        assert!(
            strict.get("data").is_none()
                && strict["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT",
            "{what}: {strict}"
        );

        let legacy = post_raw(
            &app,
            Some("application/json"),
            Some("application/json"),
            body.to_string(),
        )
        .await;
        assert_eq!(legacy.status(), 200, "{what}");
        assert!(legacy.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
    }
    // A field error is not a request error: data is there, and the status is 200.
    let executed = post_raw(
        &app,
        Some("application/json"),
        Some(GQL_JSON),
        json!({"query": "{ me { id } }"}).to_string(),
    )
    .await;
    assert_eq!(executed.status(), 200);
    let executed: Value = executed.json().await.unwrap();
    assert!(executed.get("data").is_some(), "{executed}");
    assert_eq!(
        executed["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    // Nothing this endpoint can write.
    let (status, _, code) = coded_error(
        post_raw(
            &app,
            Some("application/json"),
            Some("text/html"),
            json!({"query": "{ __typename }"}).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_ACCEPTABLE, "BAD_USER_INPUT")
    );
}

#[tokio::test]
async fn queries_run_over_get_and_mutations_do_not() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app
        .user("ckgetstudent0000000000001", Role::Student, "UTC")
        .await;
    let get = |params: Vec<(&'static str, String)>| {
        app.client
            .get(app.url("/graphql"))
            .query(&params)
            .bearer_auth(&token)
            .send()
    };
    let answer = get(vec![
        (
            "query",
            "query Me($x: Boolean!) { me @include(if: $x) { id } }".into(),
        ),
        ("variables", json!({"x": true}).to_string()),
        ("operationName", "Me".into()),
    ])
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "private, no-store");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["me"]["id"], "ckgetstudent0000000000001");

    let mutation = get(vec![(
        "query",
        "mutation { markAllNotificationsRead }".into(),
    )])
    .await
    .unwrap();
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
    let (_, _, code) = coded_error(mutation).await;
    assert_eq!(code, "BAD_USER_INPUT");
    // Nothing was marked: the mutation did not run. (It would have answered 0 anyway; the proof is
    // the 405 before any work, and the same mutation over POST works.)
    let posted = app
        .ok(&token, "mutation { markAllNotificationsRead }", json!({}))
        .await;
    assert_eq!(posted["markAllNotificationsRead"], 0);

    // An anonymous GET that worked may be cached by a CDN.
    let anonymous = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.headers()["cache-control"], "public, max-age=60");
    let (status, _, code) = coded_error(
        app.client
            .get(app.url("/graphql"))
            .query(&[("query", "{ __typename }"), ("variables", "{nope")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "BAD_USER_INPUT")
    );
}

#[tokio::test]
async fn other_methods_and_unknown_paths_answer_json() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let put = app
        .client
        .request(Method::PUT, app.url("/graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, POST");
    let (_, _, code) = coded_error(put).await;
    assert_eq!(code, "BAD_USER_INPUT");
    let missing = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn automatic_persisted_queries_work_as_apollo_expects() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app
        .user("ckapqstudent0000000000001", Role::Student, "UTC")
        .await;
    let query = "query Me { me { id } }";
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}});
    let send = |body: Value| {
        app.client
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .header(
                ACCEPT,
                "application/graphql-response+json,application/json;q=0.9",
            )
            .json(&body)
            .send()
    };
    // 1. Only the hash: unknown, so the client is told to send the text.
    let miss = send(json!({"extensions": extensions})).await.unwrap();
    assert_eq!(miss.status(), 400);
    let miss: Value = miss.json().await.unwrap();
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(
        miss["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    // 2. The text with its hash runs and is kept.
    let full: Value = send(json!({"query": query, "extensions": extensions}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full["data"]["me"]["id"], "ckapqstudent0000000000001");
    // 3. Now the hash alone runs, over POST and over GET.
    let hit: Value = send(json!({"extensions": extensions}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hit["data"]["me"]["id"], "ckapqstudent0000000000001");
    let via_get: Value = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("operationName", "Me".to_string()),
            ("extensions", extensions.to_string()),
        ])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_get["data"]["me"]["id"], "ckapqstudent0000000000001");
    // A hash that does not match its text is refused and not kept.
    let forged = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256("{ __typename }")}});
    let wrong = send(json!({"query": query, "extensions": forged}))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    let wrong: Value = wrong.json().await.unwrap();
    assert!(wrong["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    let still_unknown: Value = send(json!({"extensions": forged}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        still_unknown["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
}

#[tokio::test]
async fn batches_are_capped_and_share_one_budget() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("GRAPHQL_MAX_BATCH", "4"),
            ("GRAPHQL_MAX_COMPLEXITY", "1000"),
        ],
    )
    .await
    .unwrap();
    let token = app
        .user("ckbatchstudent00000000001", Role::Student, "UTC")
        .await;
    let batch =
        |n: usize, query: &str| json!((0..n).map(|_| json!({"query": query})).collect::<Vec<_>>());
    let too_many = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&batch(5, "{ me { id } }"))
        .send()
        .await
        .unwrap();
    let (status, _, code) = coded_error(too_many).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "BAD_USER_INPUT")
    );

    // Each operation costs 60 (the page) x 7 (an edge: itself, its cursor, its node and four fields)
    // = 420 of the 1000: two fit, the third and fourth are refused before they run.
    let costly = "{ notifications(first: 60) { edges { node { id title body type } cursor } } }";
    let answers: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&batch(4, costly))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused: Vec<bool> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("budget"))
        })
        .collect();
    assert_eq!(refused, [false, false, true, true], "{answers}");
    assert!(answers[0]["data"]["notifications"]["edges"].is_array());
    // Alone, the same operation fits.
    app.ok(&token, costly, json!({})).await;
}

#[tokio::test]
async fn cors_admits_the_dashboard_and_no_one_else() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("DASHBOARD_URL", "https://dash.example.com/app")],
    )
    .await
    .unwrap();
    let preflight = |origin: &str| {
        app.client
            .request(Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://dash.example.com").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let allowed_headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"));
    let evil = preflight("https://evil.example.net").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let simple = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://evil.example.net")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert!(simple
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let simple = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://dash.example.com")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
}
