//! A real SMTP server process for the email tests: `tests/smtp/server.py` (aiosmtpd), which saves
//! what it accepts and fails on purpose for some recipients (see the script).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpServer {
    /// Starts one, or `None` (said on stderr) when Python's aiosmtpd is not installed; with
    /// `REQUIRE_SMTP=1` (as `.ci/run` sets) a missing server fails the test instead.
    pub fn start(auth: Option<&str>) -> Option<SmtpServer> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(auth) = auth {
            command.arg("--auth").arg(auth);
        }
        let required = std::env::var("REQUIRE_SMTP").is_ok_and(|v| v == "1");
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) if !required => {
                eprintln!("SKIPPED: python3 is not available ({e})");
                return None;
            }
            Err(e) => panic!("REQUIRE_SMTP=1 but python3 cannot start: {e}"),
        };
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the server's first line");
        let Some(port) = line.trim().strip_prefix("READY ") else {
            let _ = child.kill();
            assert!(
                !required,
                "REQUIRE_SMTP=1 but the SMTP server did not start (pip install aiosmtpd)"
            );
            eprintln!("SKIPPED: the SMTP server did not start (pip install aiosmtpd)");
            return None;
        };
        Some(SmtpServer {
            port: port.parse().expect("a port"),
            dir,
            child,
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The raw messages accepted so far, in order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// Waits (a little) until at least `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        for _ in 0..100 {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.messages()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
