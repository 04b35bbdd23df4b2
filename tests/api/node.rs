//! Running the JavaScript clients in `tests/js` (the dashboard's real libraries, and a browser driven
//! by playwright-core) against a spawned server: the prerequisites, the skip rule, one way to run a
//! script and read its verdict.
//!
//! Without `node` or the packages a test says it is skipped, unless its `REQUIRE_*` variable is `1`
//! (as in CI), when it fails instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

/// The repository's root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn js_dir() -> PathBuf {
    repo().join("tests/js")
}

/// Why `node` with `packages` (under `tests/js/node_modules`) cannot run here, if it cannot.
pub async fn missing_node(packages: &[&str]) -> Option<String> {
    match Command::new("node").arg("--version").output().await {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`node --version` failed: {}", out.status)),
        Err(e) => return Some(format!("`node` is not available ({e})")),
    }
    let dir = js_dir();
    packages
        .iter()
        .find(|package| !dir.join("node_modules").join(package).is_dir())
        .map(|package| {
            format!(
                "{}/node_modules/{package} is not installed (run `npm ci` there)",
                dir.display()
            )
        })
}

/// Whether `test` may run given `missing` (what is missing, if anything): `false`, saying SKIPPED on
/// stderr, when something is; a panic instead when `require` (an env variable) is `1`.
pub fn may_run(test: &str, require: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else {
        return true;
    };
    let required = std::env::var(require).is_ok_and(|v| v == "1");
    assert!(!required, "{require}=1 but {why}");
    // Straight to stderr, past the harness's capture, like the PostgreSQL skips.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    false
}

/// Whether a test needing node and `packages` may run (`REQUIRE_JS_CLIENT`).
pub async fn node_available(test: &str, packages: &[&str]) -> bool {
    may_run(test, "REQUIRE_JS_CLIENT", missing_node(packages).await)
}

/// Runs `node script` in `tests/js` with `env`, and returns its output once it exits (the scripts
/// give up by themselves well before; 90 s here is a backstop).
pub async fn run_node(script: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("node");
    command
        .arg(script)
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().expect("spawn node");
    tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} finished within 90 s"))
        .unwrap_or_else(|e| panic!("{script} output: {e}"))
}

/// Asserts the script succeeded, and returns its stdout, its stderr and the JSON summary it prints as
/// its last line.
pub fn verdict(script: &str, out: &Output) -> (String, String, serde_json::Value) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{script} exited with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default().to_string();
    let summary = serde_json::from_str(&last).unwrap_or(serde_json::Value::Null);
    (stdout, stderr, summary)
}
