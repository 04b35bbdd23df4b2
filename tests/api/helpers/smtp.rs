//! A real SMTP server process for the email tests: `tests/smtp/server.py` (aiosmtpd), which saves
//! what it accepts and fails on purpose for some recipients (see the script).

use std::ffi::OsString;
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
        let args: Vec<OsString> = match auth {
            Some(auth) => vec!["--auth".into(), auth.into()],
            None => Vec::new(),
        };
        SmtpServer::start_with(&args)
    }

    /// One that does not offer PIPELINING.
    pub fn start_without_pipelining() -> Option<SmtpServer> {
        SmtpServer::start_with(&["--no-pipelining".into()])
    }

    /// One speaking TLS with `certificate` (`--tls starttls` or `--tls implicit`).
    pub fn start_tls(mode: &str, certificate: &TestCertificate) -> Option<SmtpServer> {
        SmtpServer::start_with(&[
            "--tls".into(),
            mode.into(),
            "--tls-cert".into(),
            certificate.cert.clone().into(),
            "--tls-key".into(),
            certificate.key.clone().into(),
        ])
    }

    fn start_with(args: &[OsString]) -> Option<SmtpServer> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .arg("--dir")
            .arg(dir.path())
            .arg("--record-envelopes")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
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
        self.files("eml")
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    }

    /// For each message accepted so far, in order, how its envelope came: `pipelined` (MAIL, RCPT
    /// and DATA in one write) or `one-by-one`.
    pub fn envelopes(&self) -> Vec<String> {
        self.files("envelope")
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    fn files(&self, extension: &str) -> Vec<PathBuf> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == extension))
            .collect();
        names.sort();
        names
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

/// A private CA and a server certificate it signed for `localhost` and `127.0.0.1`, made with the
/// `openssl` command line.
pub struct TestCertificate {
    /// The CA's certificate (PEM): what a client must trust.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCertificate {
    pub fn issue() -> TestCertificate {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |name: &str| dir.path().join(name);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        std::fs::write(
            at("leaf.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509", "-days", "2", "-subj", "/CN=Mentor Test CA"][..],
                &ec[..],
            ]
            .concat(),
            [&["req", "-subj", "/CN=localhost"][..], &ec[..]].concat(),
            vec!["x509", "-req", "-days", "2", "-CAcreateserial"],
        ];
        let files: [&[(&str, &str)]; 3] = [
            &[("-keyout", "ca.key"), ("-out", "ca.pem")],
            &[("-keyout", "key.pem"), ("-out", "leaf.csr")],
            &[
                ("-in", "leaf.csr"),
                ("-CA", "ca.pem"),
                ("-CAkey", "ca.key"),
                ("-extfile", "leaf.ext"),
                ("-out", "cert.pem"),
            ],
        ];
        for (step, files) in steps.iter().zip(files) {
            let mut command = Command::new("openssl");
            command.args(step).current_dir(dir.path());
            for (flag, name) in files {
                command.arg(flag).arg(at(name));
            }
            let out = command.output().expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {step:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        TestCertificate {
            ca: at("ca.pem"),
            cert: at("cert.pem"),
            key: at("key.pem"),
            _dir: dir,
        }
    }
}
