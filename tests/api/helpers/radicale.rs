//! A real CalDAV server for the tests: Radicale (from PyPI; `.ci/run` installs it), started on a
//! free port with password auth (an htpasswd file), its collections in a temporary folder. Without
//! Radicale a test is skipped and says so; with `REQUIRE_CALDAV=1` (as `.ci/run` sets) it fails.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The account the tests connect with, and its app-specific password.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "app-specific-password-1";

pub struct Radicale {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Radicale {
    /// Starts Radicale and waits until it answers; `None` (skipped) when it is not installed.
    pub async fn start() -> Option<Radicale> {
        let required = std::env::var("REQUIRE_CALDAV").is_ok_and(|v| v == "1");
        let installed = Command::new("python3")
            .args(["-c", "import radicale"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                !required,
                "REQUIRE_CALDAV=1 but Radicale is not installed (pip install radicale)"
            );
            eprintln!("SKIPPED: Radicale is not installed (pip install radicale)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let users = dir.path().join("users");
        std::fs::write(&users, format!("{USER}:{PASSWORD}\nbob:bobs-password\n")).unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n\
                 [auth]\ntype = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain\ndelay = 0\n\
                 [rights]\ntype = owner_only\n\
                 [storage]\nfilesystem_folder = {}\n\
                 [web]\ntype = none\n\
                 [logging]\nlevel = warning\n",
                users.display(),
                dir.path().join("collections").display()
            ),
        )
        .unwrap();
        let child = Command::new("python3")
            .args(["-m", "radicale", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let server = Radicale {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        // Ready when it takes connections (it binds within a second or two of starting).
        for _ in 0..250 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("Radicale did not start listening on port {port}");
    }

    /// Makes a calendar `/{user}/{slug}/` named `name` (MKCALENDAR), taking `components`.
    pub async fn make_calendar(
        &self,
        user: &str,
        password: &str,
        slug: &str,
        name: &str,
        components: &[&str],
    ) {
        let comps: String = components
            .iter()
            .map(|c| format!(r#"<C:comp name="{c}"/>"#))
            .collect();
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>{}</D:displayname><C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"#,
            name.replace('&', "&amp;").replace('<', "&lt;")
        );
        let answer = reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(b"MKCALENDAR").unwrap(),
                format!("{}/{user}/{slug}/", self.url),
            )
            .basic_auth(user, Some(password))
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status().as_u16(),
            201,
            "MKCALENDAR {slug}: {}",
            answer.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A calendar object as Radicale holds it.
#[derive(Debug, Clone)]
pub struct Object {
    pub etag: String,
    pub ics: String,
}

impl Radicale {
    /// The URL of `/{USER}/{slug}/`.
    pub fn calendar_url(&self, slug: &str) -> String {
        format!("{}/{USER}/{slug}/", self.url)
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// Writes `ics` at `/{USER}/{slug}/{name}` as another client would (no conditions); returns
    /// the status.
    pub async fn put(&self, slug: &str, name: &str, ics: &str) -> u16 {
        self.client()
            .put(format!("{}{name}", self.calendar_url(slug)))
            .basic_auth(USER, Some(PASSWORD))
            .header("Content-Type", "text/calendar; charset=utf-8")
            .body(ics.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn get(&self, slug: &str, name: &str) -> Option<Object> {
        let answer = self
            .client()
            .get(format!("{}{name}", self.calendar_url(slug)))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        if answer.status().as_u16() == 404 {
            return None;
        }
        assert!(
            answer.status().is_success(),
            "GET {name}: {}",
            answer.status()
        );
        let etag = answer.headers()["etag"].to_str().unwrap().to_string();
        Some(Object {
            etag,
            ics: answer.text().await.unwrap(),
        })
    }

    pub async fn delete(&self, slug: &str, name: &str) -> u16 {
        self.client()
            .delete(format!("{}{name}", self.calendar_url(slug)))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The names of the objects in `/{USER}/{slug}/` (a depth-1 `PROPFIND`).
    pub async fn names(&self, slug: &str) -> Vec<String> {
        let answer = self
            .client()
            .request(
                reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
                self.calendar_url(slug),
            )
            .basic_auth(USER, Some(PASSWORD))
            .header("Depth", "1")
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#)
            .send()
            .await
            .unwrap();
        let text = answer.text().await.unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let mut names: Vec<String> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "href")
            .filter_map(|n| n.text())
            .filter(|h| h.ends_with(".ics"))
            .map(|h| h.rsplit('/').next().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// Changes `USER`'s password (the app-specific password revoked): Radicale reads its htpasswd
    /// file again when it changes.
    pub fn change_password(&self, new: &str) {
        let users = self._dir.path().join("users");
        std::fs::write(&users, format!("{USER}:{new}\nbob:bobs-password\n")).unwrap();
    }
}

/// An event object with `uid`, from `start` to `end` (`…Z` or with a `TZID=` prefix), and any
/// further `extra` lines.
pub fn vevent(uid: &str, start: &str, end: &str, extra: &str) -> String {
    let prop = |name: &str, value: &str| {
        if value.contains(':') {
            format!("{name};{value}")
        } else {
            format!("{name}:{value}")
        }
    };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{}\r\n{}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n",
        prop("DTSTART", start),
        prop("DTEND", end)
    )
}

/// The app on `backend` with local CalDAV servers allowed, and a Radicale with `alice`'s `work`
/// and `family` calendars; `None` when either cannot run (said).
pub async fn app_with_radicale(backend: super::Backend) -> Option<(super::TestApp, Radicale)> {
    let server = Radicale::start().await?;
    server
        .make_calendar(USER, PASSWORD, "work", "Work", &["VEVENT"])
        .await;
    server
        .make_calendar(USER, PASSWORD, "family", "Family", &["VEVENT", "VTODO"])
        .await;
    let app = super::TestApp::spawn_with(backend, &[("CALDAV_ALLOW_LOCAL", "true")]).await?;
    Some((app, server))
}

/// Runs `$body` with the app and a Radicale, once per backend (as `on_both_backends!`).
#[macro_export]
macro_rules! with_radicale {
    ($(async fn $name:ident($app:ident, $dav:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(
                $app: $crate::helpers::TestApp,
                $dav: $crate::helpers::radicale::Radicale,
            ) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some((app, dav)) =
                    $crate::helpers::radicale::app_with_radicale($crate::helpers::Backend::Sqlite).await
                {
                    run(app, dav).await
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::helpers::radicale::app_with_radicale($crate::helpers::Backend::Postgres).await {
                    Some((app, dav)) => run(app, dav).await,
                    None => $crate::helpers::say_skipped(concat!(module_path!(), "::postgres")),
                }
            }
        }
    )*};
}

/// Connects the signed-in mentor's CalDAV account at `server` through the dashboard's mutation;
/// the whole answer (data or errors).
pub async fn connect_caldav(
    app: &super::TestApp,
    mentor: &str,
    server: &str,
    username: &str,
    password: &str,
) -> serde_json::Value {
    app.gql(
        Some(mentor),
        "mutation($i: CalDavConnectInput!) { connectCalDav(input: $i) { provider connected state accountEmail calendars { id name primary countsAsBusy receivesSessions } } }",
        serde_json::json!({ "i": { "serverUrl": server, "username": username, "password": password } }),
    )
    .await
}
