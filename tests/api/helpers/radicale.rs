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
