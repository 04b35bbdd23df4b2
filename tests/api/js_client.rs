//! Interop with the JavaScript client the React dashboard uses: `tests/js/interop.mjs` drives the
//! reference `graphql-ws` npm client over a real socket against `/graphql/ws` (subscriptions, live
//! notification and count, a refused token closing with 4403).
//!
//! Needs `node` and `npm ci` in `tests/js`; without them the test says it is skipped, unless
//! `REQUIRE_JS_CLIENT=1` (as in CI), when it fails instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mentor_scheduler::auth::Role;
use tokio::process::Command;

use crate::helpers::{Backend, TestApp};

const STUDENT: &str = "ckstudent0000000000000001";
const ADMIN: &str = "admin-js";

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Why the JS client cannot run here, if it cannot.
async fn missing_prerequisite(dir: &Path) -> Option<String> {
    match Command::new("node").arg("--version").output().await {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`node --version` failed: {}", out.status)),
        Err(e) => return Some(format!("`node` is not available ({e})")),
    }
    if !dir.join("node_modules/graphql-ws").is_dir() || !dir.join("node_modules/ws").is_dir() {
        return Some(format!(
            "{}/node_modules is not installed (run `npm ci` there)",
            dir.display()
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_npm_client_interoperates() {
    let dir = js_dir();
    if let Some(why) = missing_prerequisite(&dir).await {
        let required = std::env::var("REQUIRE_JS_CLIENT").is_ok_and(|v| v == "1");
        assert!(!required, "REQUIRE_JS_CLIENT=1 but {why}");
        // Straight to stderr, past the harness's capture, like the PostgreSQL skips.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED js_client::graphql_ws_npm_client_interoperates: {why}"
        );
        return;
    }

    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let student = app.user(STUDENT, Role::Student, "Europe/Berlin").await;
    let admin = app.user(ADMIN, Role::Admin, "UTC").await;
    // Well formed, but signed with another key.
    let (unsigned, _) = student.rsplit_once('.').unwrap();
    let bad = format!("{unsigned}.{}", "A".repeat(43));

    let child = Command::new("node")
        .arg("interop.mjs")
        .current_dir(&dir)
        .env("WS_URL", format!("ws://{}/graphql/ws", app.addr))
        .env("HTTP_URL", app.url("/graphql"))
        .env("STUDENT_TOKEN", &student)
        .env("STUDENT_ID", STUDENT)
        .env("ADMIN_TOKEN", &admin)
        .env("BAD_TOKEN", &bad)
        .env("INTEROP_TRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node");
    // The script gives up by itself after 20 s; this is a backstop.
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("interop.mjs finished within 60 s")
        .expect("interop.mjs output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "interop.mjs exited with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary line on stdout"))
            .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {stdout}"));
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
