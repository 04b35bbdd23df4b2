//! GraphiQL on `GET /graphql` with no CDN: the page and its allow-listed assets over plain HTTP
//! (against stand-in package files, so they run everywhere), the page that says how to install the
//! packages when they are missing, and the real thing in headless Chromium: `tests/js/graphiql.mjs`
//! opens the page, waits for GraphiQL's editors, runs a query with a token from the Headers tab and a
//! subscription over the socket, and fails on any request to another host or CSP violation.
//!
//! The browser test needs `node`, `npm ci` in `tests/js` (playwright-core), `npm ci --prefix
//! web/graphiql` and Chromium (`/usr/bin/chromium`, or `CHROMIUM`); without them it says it is
//! skipped, unless `REQUIRE_BROWSER=1` (as in CI), when it fails instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mentor_scheduler::auth::Role;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Backend, TestApp};
use crate::node::{may_run, missing_node, repo, run_node, verdict};

const STUDENT: &str = "ckstudent0000000000000001";

/// The package files the page uses, as `npm ci --prefix web/graphiql` installs them.
const PACKAGE_FILES: &[&str] = &[
    "graphiql/graphiql.min.css",
    "react/umd/react.production.min.js",
    "react-dom/umd/react-dom.production.min.js",
    "graphql-ws/umd/graphql-ws.min.js",
    "graphiql/graphiql.min.js",
];

/// An assets directory with a stand-in for each package file (its own path as its content), plus a
/// file that is not on the allow-list.
fn stand_in_packages() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in PACKAGE_FILES {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("/* stand-in for {file} */\n")).unwrap();
    }
    std::fs::write(dir.path().join("secret.txt"), "not for the web").unwrap();
    dir
}

async fn spawn_with_assets(dir: &Path) -> TestApp {
    let dir = dir.display().to_string();
    TestApp::spawn_with(Backend::Sqlite, &[("GRAPHIQL_ASSETS_DIR", &dir)])
        .await
        .unwrap()
}

async fn get_page(app: &TestApp) -> (reqwest::header::HeaderMap, String) {
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    (headers, page.text().await.unwrap())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

/// The page's own headers: a CSP that allows only this origin's scripts, and no framing, sniffing,
/// referrers or caching.
fn assert_page_headers(headers: &reqwest::header::HeaderMap) {
    assert_eq!(header(headers, "content-type"), "text/html; charset=utf-8");
    let csp: HashMap<&str, Vec<&str>> = header(headers, "content-security-policy")
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            Some((words.next()?, words.collect()))
        })
        .collect();
    for (directive, sources) in [
        ("default-src", vec!["'none'"]),
        ("script-src", vec!["'self'"]),
        ("style-src", vec!["'self'"]),
        ("connect-src", vec!["'self'"]),
        ("base-uri", vec!["'none'"]),
        ("form-action", vec!["'none'"]),
        ("frame-ancestors", vec!["'none'"]),
    ] {
        assert_eq!(csp.get(directive), Some(&sources), "{directive} in {csp:?}");
    }
    assert_eq!(header(headers, "x-frame-options"), "DENY");
    assert_eq!(header(headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(headers, "referrer-policy"), "no-referrer");
    assert_eq!(header(headers, "cache-control"), "no-store");
}

/// Every `src="..."` and `href="..."` of the page, in order.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    loop {
        let next = [" src=\"", " href=\""]
            .into_iter()
            .filter_map(|a| rest.find(a).map(|at| at + a.len()))
            .min();
        let Some(start) = next else { break };
        rest = &rest[start..];
        let end = rest.find('"').expect("a closing quote");
        found.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    found
}

/// The status line of a request sent as is: no client normalises its `..`.
async fn raw_get_status(app: &TestApp, target: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(&app.addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        app.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    response.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_page_loads_only_its_own_allow_listed_assets() {
    let packages = stand_in_packages();
    let app = spawn_with_assets(packages.path()).await;
    let (headers, html) = get_page(&app).await;
    assert_page_headers(&headers);

    // Nothing from another host, and no inline script or style.
    for absolute in ["http://", "https://", "//"] {
        assert!(!html.contains(absolute), "{absolute} in the page:\n{html}");
    }
    assert!(
        !html.contains("<script>") && !html.contains("<style"),
        "{html}"
    );
    assert!(
        html.contains(r#"data-subscription-endpoint="/graphql/ws""#),
        "{html}"
    );

    let assets: Vec<String> = references(&html)
        .into_iter()
        .filter(|r| r != "data:,") // the empty favicon, so that the browser asks for none
        .collect();
    assert!(
        assets.iter().all(|a| a.starts_with("/graphiql/assets/")),
        "{assets:?}"
    );
    let scripts = [
        "react.js",
        "react-dom.js",
        "graphql-ws.js",
        "graphiql.js",
        "init.js",
    ];
    let styles = ["graphiql.css", "page.css"];
    let names: Vec<&str> = assets
        .iter()
        .map(|a| a["/graphiql/assets/".len()..].split('?').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [&styles[..], &scripts[..]].concat(),
        "style sheets, then scripts in load order"
    );

    for (asset, name) in assets.iter().zip(&names) {
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let headers = response.headers().clone();
        let expected_type = if name.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&headers, "content-type"), expected_type, "{asset}");
        assert_eq!(
            header(&headers, "x-content-type-options"),
            "nosniff",
            "{asset}"
        );
        assert_eq!(
            header(&headers, "cache-control"),
            "public, max-age=31536000, immutable",
            "{asset}: its URL names its content"
        );
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{asset}");
        if name == &"init.js" {
            assert!(
                body.contains("graphqlWs.createClient"),
                "our init script: {body}"
            );
        }
    }
    // Public names map to the package files.
    for (name, file) in [
        ("react.js", "react/umd/react.production.min.js"),
        ("react-dom.js", "react-dom/umd/react-dom.production.min.js"),
        ("graphql-ws.js", "graphql-ws/umd/graphql-ws.min.js"),
        ("graphiql.js", "graphiql/graphiql.min.js"),
        ("graphiql.css", "graphiql/graphiql.min.css"),
    ] {
        let url = app.url(&format!("/graphiql/assets/{name}"));
        let response = app.client.get(url).send().await.unwrap();
        // Without the page's `v` (or with another one), the file must be revalidated.
        assert_eq!(
            header(response.headers(), "cache-control"),
            "no-cache",
            "{name}"
        );
        assert_eq!(
            response.text().await.unwrap(),
            format!("/* stand-in for {file} */\n")
        );
    }
    let stale = app
        .client
        .get(app.url("/graphiql/assets/graphiql.js?v=000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(header(stale.headers(), "cache-control"), "no-cache");

    // Nothing else: not other files of the directory, not package paths, not traversals.
    for path in [
        "/graphiql/assets/",
        "/graphiql/assets/nope.js",
        "/graphiql/assets/secret.txt",
        "/graphiql/assets/graphiql.min.js",
        "/graphiql/assets/graphiql.min.js.map",
        "/graphiql/assets/graphiql/graphiql.min.js",
        "/graphiql/assets/react/umd/react.production.min.js",
        "/graphiql/assets/..%2Fsecret.txt",
        "/graphiql/assets/..%2F..%2FCargo.toml",
        "/graphiql/assets/REACT.JS",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    // A NUL is refused before any route (400, as everywhere).
    let nul = app
        .client
        .get(app.url("/graphiql/assets/react.js%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(nul.status(), 400);
    for target in [
        "/graphiql/assets/../secret.txt",
        "/graphiql/assets/../../Cargo.toml",
        "/graphiql/assets/./react.js/../../secret.txt",
        "/graphiql/assets/../../../../../../etc/passwd",
        "/graphiql/assets/..\\secret.txt",
    ] {
        assert_eq!(
            raw_get_status(&app, target).await,
            "HTTP/1.1 404 Not Found",
            "{target}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_packages_the_page_says_how_to_install_them() {
    let empty = tempfile::tempdir().unwrap();
    let app = spawn_with_assets(empty.path()).await;
    let (headers, html) = get_page(&app).await;
    assert_page_headers(&headers);
    assert!(html.contains("npm ci --prefix web/graphiql"), "{html}");
    assert!(
        html.contains("graphiql/graphiql.min.js"),
        "names what is missing: {html}"
    );
    assert!(!html.contains("<script"), "{html}");
    // Our style sheet still comes; the packages' files do not.
    let css = app
        .client
        .get(app.url("/graphiql/assets/page.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    let react = app
        .client
        .get(app.url("/graphiql/assets/react.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(react.status(), 404);

    // Installed while the service runs: the next page load has GraphiQL, no restart needed.
    let packages = stand_in_packages();
    for file in PACKAGE_FILES {
        let to = empty.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(packages.path().join(file), to).unwrap();
    }
    let (_, html) = get_page(&app).await;
    assert!(html.contains("/graphiql/assets/graphiql.js?v="), "{html}");
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the browser test cannot run here, if it cannot.
async fn missing_prerequisite(packages: &Path) -> Option<String> {
    if let Some(why) = missing_node(&["playwright-core"]).await {
        return Some(why);
    }
    if let Some(file) = PACKAGE_FILES.iter().find(|f| !packages.join(f).is_file()) {
        return Some(format!(
            "GraphiQL's packages are not installed ({} is missing; run `npm ci --prefix web/graphiql`)",
            packages.join(file).display()
        ));
    }
    let chromium = chromium();
    if !chromium.is_file() {
        return Some(format!(
            "{} is not installed (apt-get install chromium)",
            chromium.display()
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_and_a_subscription_in_headless_chromium() {
    let packages = repo().join("web/graphiql/node_modules");
    let test = "graphiql::graphiql_runs_a_query_and_a_subscription_in_headless_chromium";
    if !may_run(
        test,
        "REQUIRE_BROWSER",
        missing_prerequisite(&packages).await,
    ) {
        return;
    }

    let app = spawn_with_assets(&packages).await;
    let token = app.user(STUDENT, Role::Student, "Europe/Berlin").await;

    let started = Instant::now();
    let chromium = chromium();
    let out = run_node(
        "graphiql.mjs",
        &[
            ("GRAPHIQL_URL", &app.url("/graphql")),
            ("TOKEN", &token),
            ("USER_ID", STUDENT),
            ("CHROMIUM", chromium.to_str().unwrap_or("/usr/bin/chromium")),
            ("GRAPHIQL_TIMEOUT_MS", "45000"),
        ],
    )
    .await;
    let elapsed = started.elapsed();
    let (stdout, _, summary) = verdict("graphiql.mjs", &out);
    assert!(summary.is_object(), "no JSON summary line: {stdout}");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["me"]["data"]["me"]["id"], STUDENT, "{summary}");
    assert_eq!(
        summary["subscription"]["data"]["unreadNotificationCount"], 0,
        "{summary}"
    );
    assert_eq!(
        summary["socket"],
        format!("ws://{}/graphql/ws", app.addr),
        "{summary}"
    );
    assert_eq!(summary["hosts"], serde_json::json!([app.addr]), "{summary}");
    // Shown with --nocapture.
    println!(
        "graphiql.mjs ({} ms with Chromium's start): {summary}",
        elapsed.as_millis()
    );
}
