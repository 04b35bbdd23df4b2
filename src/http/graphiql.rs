//! GraphiQL on `GET /graphql`, with no CDN: the page loads React, ReactDOM, graphql-ws and GraphiQL
//! from this service (`/graphiql/assets/...`), taken from the npm packages pinned in
//! `web/graphiql/package.json` and installed with `npm ci --prefix web/graphiql` under
//! `GRAPHIQL_ASSETS_DIR`; and our own start-up script and style sheet (`web/graphiql/init.js`,
//! `page.css`), built into the binary.
//!
//! The page has no inline script or style, so its CSP allows only this origin's files. Assets are an
//! allow-list of public names mapped to files: a request path is only ever compared with those
//! names, never joined onto a directory. Files are read at first use (a few MB, once per process)
//! and kept in memory; their URLs carry a hash of their content (`?v=`), which is what lets browsers
//! keep them for a year. Without the packages, the page says how to install them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::state::AppState;

/// Where the page sends queries and opens sockets (the routes in `super::router`).
const ENDPOINT: &str = "/graphql";
const SUBSCRIPTION_ENDPOINT: &str = "/graphql/ws";
/// The route of [`asset`], without its `{*path}`.
const ASSETS_ROUTE: &str = "/graphiql/assets/";

/// The page's policy. Scripts and style sheets come only from this origin (no inline script, no
/// eval: GraphiQL 3's bundle needs neither). GraphiQL's style sheet carries its fonts and a few
/// images as `data:` URLs. `connect-src 'self'` covers `fetch` to `/graphql` and, in CSP 3 browsers
/// (Chromium among them), the `ws:`/`wss:` socket to the same host and port. No `'unsafe-inline'`
/// for styles: React, CodeMirror and the popovers set styles through the CSSOM, which CSP allows;
/// the one `<style>` element GraphiQL adds, the scroll lock of its Settings and Shortcuts dialogs, is
/// refused (the browser logs it) and changes nothing here, as the page never scrolls.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

enum Source {
    /// A file under `GRAPHIQL_ASSETS_DIR` (a `node_modules` directory).
    Package(&'static str),
    /// Ours, in the binary.
    Ours(&'static str),
}

/// One allow-listed file.
struct Spec {
    /// The public name, after `/graphiql/assets/`.
    name: &'static str,
    source: Source,
    content_type: &'static str,
}

/// Every file the page uses, style sheets first, then scripts in load order; nothing else is served.
const ASSETS: &[Spec] = &[
    Spec {
        name: "graphiql.css",
        source: Source::Package("graphiql/graphiql.min.css"),
        content_type: CSS,
    },
    Spec {
        name: "page.css",
        source: Source::Ours(include_str!("../../web/graphiql/page.css")),
        content_type: CSS,
    },
    Spec {
        name: "react.js",
        source: Source::Package("react/umd/react.production.min.js"),
        content_type: JS,
    },
    Spec {
        name: "react-dom.js",
        source: Source::Package("react-dom/umd/react-dom.production.min.js"),
        content_type: JS,
    },
    Spec {
        name: "graphql-ws.js",
        source: Source::Package("graphql-ws/umd/graphql-ws.min.js"),
        content_type: JS,
    },
    Spec {
        name: "graphiql.js",
        source: Source::Package("graphiql/graphiql.min.js"),
        content_type: JS,
    },
    Spec {
        name: "init.js",
        source: Source::Ours(include_str!("../../web/graphiql/init.js")),
        content_type: JS,
    },
];

#[derive(Clone)]
struct Loaded {
    body: Bytes,
    /// A hash of `body`, the `v` of its URL.
    version: String,
}

impl Loaded {
    fn new(body: Bytes) -> Loaded {
        let version = hex::encode(&Sha256::digest(&body)[..6]);
        Loaded { body, version }
    }
}

/// All of [`ASSETS`], read from one assets directory.
struct Bundle {
    files: HashMap<&'static str, Loaded>,
}

/// Bundles by assets directory (one per process in practice; tests run many apps in one).
/// Only complete bundles are kept, so installing the packages needs no restart.
fn bundles() -> &'static Mutex<HashMap<PathBuf, Arc<Bundle>>> {
    static BUNDLES: OnceLock<Mutex<HashMap<PathBuf, Arc<Bundle>>>> = OnceLock::new();
    BUNDLES.get_or_init(Default::default)
}

/// The bundle for `dir`, or the package files that are missing there. The first call for a `dir`
/// reads its files (about 4 MB) on the calling thread, once.
fn bundle(dir: &FsPath) -> Result<Arc<Bundle>, Vec<&'static str>> {
    let mut bundles = bundles().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bundle) = bundles.get(dir) {
        return Ok(bundle.clone());
    }
    let packaged = || {
        ASSETS.iter().filter_map(|spec| match spec.source {
            Source::Package(file) => Some(file),
            Source::Ours(_) => None,
        })
    };
    // Cheap checks first: a page served while the packages are missing reads nothing.
    let missing: Vec<_> = packaged().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut files = HashMap::new();
    let mut unreadable = Vec::new();
    for spec in ASSETS {
        let body = match spec.source {
            Source::Ours(text) => Bytes::from_static(text.as_bytes()),
            Source::Package(file) => match std::fs::read(dir.join(file)) {
                Ok(bytes) => Bytes::from(bytes),
                Err(e) => {
                    tracing::warn!(file = %dir.join(file).display(), error = %e, "cannot read a GraphiQL asset");
                    unreadable.push(file);
                    continue;
                }
            },
        };
        files.insert(spec.name, Loaded::new(body));
    }
    if !unreadable.is_empty() {
        return Err(unreadable);
    }
    let bundle = Arc::new(Bundle { files });
    bundles.insert(dir.to_path_buf(), bundle.clone());
    Ok(bundle)
}

/// GraphiQL's page, or, without its packages, a page saying how to install them; 200 either way.
pub fn page(state: &AppState) -> Response {
    let html = match bundle(&state.http.graphiql_assets_dir) {
        Ok(bundle) => graphiql_html(&bundle),
        Err(missing) => {
            tracing::warn!(
                dir = %state.http.graphiql_assets_dir.display(),
                ?missing,
                "GraphiQL's npm packages are not installed (npm ci --prefix web/graphiql)"
            );
            missing_html(&state.http.graphiql_assets_dir, &missing)
        }
    };
    let mut response = Response::new(Body::from(html));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn graphiql_html(bundle: &Bundle) -> String {
    let url = |name: &str| format!("{ASSETS_ROUTE}{name}?v={}", bundle.files[name].version);
    let mut styles = String::new();
    let mut scripts = String::new();
    for spec in ASSETS {
        if spec.content_type == CSS {
            let _ = writeln!(
                styles,
                r#"<link rel="stylesheet" href="{}">"#,
                url(spec.name)
            );
        } else {
            let _ = writeln!(scripts, r#"<script src="{}"></script>"#, url(spec.name));
        }
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · mentor-scheduler</title>
<link rel="icon" href="data:,">
{styles}</head>
<body class="graphiql-app">
<div id="graphiql" data-endpoint="{ENDPOINT}" data-subscription-endpoint="{SUBSCRIPTION_ENDPOINT}">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript.</noscript>
{scripts}</body>
</html>
"#
    )
}

fn missing_html(dir: &FsPath, missing: &[&str]) -> String {
    let missing = missing
        .iter()
        .map(|f| format!("<code>{}</code>", escape(f)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL is not installed · mentor-scheduler</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS_ROUTE}page.css">
</head>
<body class="graphiql-missing">
<h1>GraphiQL's files are not installed</h1>
<p>This service serves GraphiQL from the npm packages pinned in <code>web/graphiql</code>, without
a CDN. They are not installed in <code>{dir}</code> (missing: {missing}).</p>
<p>Install them once, from the repository's root, then reload this page:</p>
<pre>npm ci --prefix web/graphiql</pre>
<p>or set <code>GRAPHIQL_ASSETS_DIR</code> to a <code>node_modules</code> directory that has them.</p>
<p>The API works without them: queries and mutations are <code>POST {ENDPOINT}</code>, subscriptions
are on <code>{SUBSCRIPTION_ENDPOINT}</code> (graphql-transport-ws).</p>
</body>
</html>
"#,
        dir = escape(&dir.display().to_string()),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /graphiql/assets/{*path}`: one of [`ASSETS`] by its public name, or 404. With the `v` of
/// the page's URL the file may be kept for a year; without it (or with another one, say from a
/// page of another version of the service) it must be revalidated.
pub async fn asset(
    State(state): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(spec) = ASSETS.iter().find(|spec| spec.name == path) else {
        return not_found();
    };
    let loaded = match (bundle(&state.http.graphiql_assets_dir), &spec.source) {
        (Ok(bundle), _) => bundle.files[spec.name].clone(),
        // Ours are served without the packages too (the install page uses page.css).
        (Err(_), Source::Ours(text)) => Loaded::new(Bytes::from_static(text.as_bytes())),
        (Err(_), Source::Package(_)) => return not_found(),
    };
    let requested = query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str::<HashMap<String, String>>(q).ok())
        .and_then(|mut q| q.remove("v"));
    let cache = if requested.as_deref() == Some(loaded.version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = Response::new(Body::from(loaded.body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(spec.content_type));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn not_found() -> Response {
    let mut response = Response::new(Body::from("not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_names_are_unique_and_plain() {
        let mut names: Vec<_> = ASSETS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        for name in names {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "{name}"
            );
        }
    }

    #[test]
    fn missing_packages_give_the_install_page() {
        let dir = tempfile_dir();
        let missing = bundle(&dir).err().expect("nothing is installed there");
        assert!(missing.contains(&"graphiql/graphiql.min.js"), "{missing:?}");
        let html = missing_html(&dir, &missing);
        assert!(html.contains("npm ci --prefix web/graphiql"), "{html}");
        assert!(html.contains("graphiql/graphiql.min.js"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn escape_escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().join(format!(
            "graphiql-missing-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }
}
