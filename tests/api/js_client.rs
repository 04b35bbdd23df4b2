//! Interop with the JavaScript client the React dashboard uses: `tests/js/interop.mjs` drives the
//! reference `graphql-ws` npm client over a real socket against `/graphql/ws` (subscriptions, live
//! notification and count, a refused token closing with 4403).
//!
//! Needs `node` and `npm ci` in `tests/js`; without them the test says it is skipped, unless
//! `REQUIRE_JS_CLIENT=1` (as in CI), when it fails instead.

use mentor_scheduler::auth::Role;

use crate::helpers::{Backend, TestApp};
use crate::node::{node_available, run_node, verdict};

const STUDENT: &str = "ckstudent0000000000000001";
const ADMIN: &str = "admin-js";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_npm_client_interoperates() {
    if !node_available(
        "js_client::graphql_ws_npm_client_interoperates",
        &["graphql-ws", "ws"],
    )
    .await
    {
        return;
    }

    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let student = app.user(STUDENT, Role::Student, "Europe/Berlin").await;
    let admin = app.user(ADMIN, Role::Admin, "UTC").await;
    // Well formed, but signed with another key.
    let (unsigned, _) = student.rsplit_once('.').unwrap();
    let bad = format!("{unsigned}.{}", "A".repeat(43));

    let ws_url = format!("ws://{}/graphql/ws", app.addr);
    let http_url = app.url("/graphql");
    let out = run_node(
        "interop.mjs",
        &[
            ("WS_URL", &ws_url),
            ("HTTP_URL", &http_url),
            ("STUDENT_TOKEN", &student),
            ("STUDENT_ID", STUDENT),
            ("ADMIN_TOKEN", &admin),
            ("BAD_TOKEN", &bad),
            ("INTEROP_TRACE", "1"),
        ],
    )
    .await;
    let (stdout, stderr, summary) = verdict("interop.mjs", &out);
    assert!(summary.is_object(), "no JSON summary line: {stdout}");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["counts"], serde_json::json!([0, 1, 0]), "{summary}");
    assert_eq!(summary["badTokenClose"], 4403, "{summary}");
    assert_eq!(summary["badCursorError"], "BAD_USER_INPUT", "{summary}");
    assert_eq!(summary["protocol"], "graphql-transport-ws", "{summary}");
    // The server answers the client's close handshake, so graphql-ws sees a normal closure.
    assert_eq!(summary["studentCloseCode"], 1000, "{summary}");
    // Shown with --nocapture: the frames exchanged, then the summary.
    println!("interop.mjs frames:\n{stderr}interop.mjs: {summary}");
}
