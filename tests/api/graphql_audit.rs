//! The GraphQL-over-HTTP spec's own server audits: `tests/js/audit.mjs` runs every audit of the
//! `graphql-http` npm package (its reference implementation) against `/graphql` over real sockets,
//! anonymously, and fails on any MUST or SHOULD audit that is not ok (MAY ones are printed).
//!
//! Needs `node` and `npm ci` in `tests/js`; without them the test says it is skipped, unless
//! `REQUIRE_JS_CLIENT=1` (as in CI), when it fails instead.

use crate::helpers::{Backend, TestApp};
use crate::node::{node_available, run_node, verdict};

/// One audit line of `audit.mjs`: `ID STATUS LEVEL name...`.
fn audit_lines(stdout: &str) -> Vec<(&str, &str, &str)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (id, status, level) = (words.next()?, words.next()?, words.next()?);
            ["MUST", "SHOULD", "MAY"]
                .contains(&level)
                .then_some((id, status, level))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_http_server_audits_pass() {
    if !node_available(
        "graphql_audit::graphql_http_server_audits_pass",
        &["graphql-http", "graphql"],
    )
    .await
    {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let out = run_node("audit.mjs", &[("GRAPHQL_URL", &app.url("/graphql"))]).await;
    let (stdout, _, _) = verdict("audit.mjs", &out);
    // The script's verdict, checked again from its lines: the suite really ran, and every MUST and
    // SHOULD audit is ok.
    let lines = audit_lines(&stdout);
    let count = |level: &str| lines.iter().filter(|(_, _, l)| *l == level).count();
    assert!(
        count("MUST") >= 10 && count("SHOULD") >= 20,
        "too few audits ran:\n{stdout}"
    );
    for (id, status, level) in &lines {
        assert!(
            *level == "MAY" || *status == "ok",
            "{level} audit {id} is {status}:\n{stdout}"
        );
    }
    assert!(stdout.contains("summary: "), "no summary line:\n{stdout}");
    // Shown with --nocapture.
    println!("audit.mjs:\n{stdout}");
}
