//! The dashboard's GraphQL client against `/graphql`: `tests/js/apollo.mjs` drives Apollo Client 4
//! (`InMemoryCache`, `PersistedQueryLink` in front of `HttpLink`) over real sockets and asserts every
//! request it sends: automatic persisted queries over POST and over GET (`useGETForHashedQueries`),
//! a mutation through that link, a mutation's answer normalized into the `Availability:<mentorId>`
//! entry without a refetch, a validation error as `CombinedGraphQLErrors` with `BAD_USER_INPUT`, and
//! a client whose hashes are wrong refused every time.
//!
//! Needs `node` and `npm ci` in `tests/js`; without them the test says it is skipped, unless
//! `REQUIRE_JS_CLIENT=1` (as in CI), when it fails instead.

use mentor_scheduler::auth::Role;
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::node::{node_available, run_node, verdict};

const STUDENT: &str = "ckapollostudent0000000001";
const MENTOR: &str = "ckapollomentor00000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apollo_client_with_persisted_queries_works() {
    let packages = ["@apollo/client", "graphql", "rxjs"];
    if !node_available(
        "apollo_client::apollo_client_with_persisted_queries_works",
        &packages,
    )
    .await
    {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let student = app.user(STUDENT, Role::Student, "Europe/Berlin").await;
    let mentor = app.user(MENTOR, Role::Mentor, "Europe/London").await;

    let out = run_node(
        "apollo.mjs",
        &[
            ("GRAPHQL_URL", &app.url("/graphql")),
            ("TOKEN", &student),
            ("USER_ID", STUDENT),
            ("MENTOR_TOKEN", &mentor),
            ("MENTOR_ID", MENTOR),
        ],
    )
    .await;
    let (stdout, stderr, summary) = verdict("apollo.mjs", &out);
    assert!(summary.is_object(), "no JSON summary line: {stdout}");
    assert_eq!(summary["ok"], true, "{summary}");
    // What went over the wire, per step: method, what the request carried, the answer's status.
    assert_eq!(
        summary["post"],
        json!(["POST hash 400", "POST hash+text 200", "POST hash 200"]),
        "{summary}"
    );
    assert_eq!(
        summary["get"],
        json!(["GET hash 400", "POST hash+text 200", "GET hash 200"]),
        "{summary}"
    );
    assert_eq!(
        summary["mutation"],
        json!(["POST hash 400", "POST hash+text 200", "POST hash 200"]),
        "{summary}"
    );
    assert_eq!(
        summary["notFound"]["contentType"], "application/graphql-response+json; charset=utf-8",
        "{summary}"
    );
    assert_eq!(
        summary["cache"]["key"],
        format!("Availability:{MENTOR}"),
        "{summary}"
    );
    assert_eq!(summary["cache"]["watched"], json!([0, 1]), "{summary}");
    assert_eq!(
        summary["validationError"]["code"], "BAD_USER_INPUT",
        "{summary}"
    );
    assert_eq!(
        summary["wrongHash"], "refused twice, never kept",
        "{summary}"
    );
    // Nothing more than the steps above: 3 + 3 + 3 + 4 (query and mutation, each missed once) + 2
    // + 4 (a wrong hash, twice).
    assert_eq!(summary["requests"], 19, "{summary}");

    // The mentor's block really was stored (the cache saw the server's answer, not a guess).
    let data = app
        .ok(
            &mentor,
            "query($m: ID!) { availability(mentorId: $m) { blocks { weekday start end } } }",
            json!({ "m": MENTOR }),
        )
        .await;
    assert_eq!(
        data["availability"]["blocks"],
        json!([{ "weekday": "MONDAY", "start": "09:00", "end": "10:00" }])
    );
    // Shown with --nocapture: the requests, then the summary.
    println!("apollo.mjs requests:\n{stderr}apollo.mjs: {summary}");
}
