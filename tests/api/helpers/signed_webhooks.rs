//! Providers' webhook signatures made as the providers make them, with keys the tests generate:
//! SendGrid's ECDSA P-256 over `timestamp + body`, and Amazon SNS's RSA (SignatureVersion 1 and 2)
//! under a certificate served over https by a local host whose CA the service is told to trust.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::SignatureEncoding;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::smtp::TestCertificate;

/// SendGrid's Event Webhook signing, with a fresh P-256 key.
pub struct SendgridSigner {
    key: p256::ecdsa::SigningKey,
}

impl SendgridSigner {
    pub fn generate() -> SendgridSigner {
        SendgridSigner {
            key: p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// The public key as SendGrid shows it (`SENDGRID_WEBHOOK_PUBLIC_KEY`).
    pub fn public_key(&self) -> String {
        let der = self.key.verifying_key().to_public_key_der().unwrap();
        STANDARD.encode(der.as_bytes())
    }

    /// `X-Twilio-Email-Event-Webhook-Signature` for `body` sent at `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &str) -> String {
        let signature: p256::ecdsa::Signature =
            self.key.sign(format!("{timestamp}{body}").as_bytes());
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// The same signature in its other valid form (`s` replaced by `n - s`).
    pub fn other_form(signature: &str) -> String {
        let der = STANDARD.decode(signature).unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&der).unwrap();
        let (r, s) = parsed.split_scalars();
        let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        assert_ne!(flipped, parsed);
        STANDARD.encode(flipped.to_der().as_bytes())
    }
}

/// Amazon SNS's signing: an RSA key and its certificate served over https at `cert_url`.
pub struct SnsSigner {
    key: rsa::RsaPrivateKey,
    base: String,
    /// Requests per path the certificate host answered.
    fetches: Arc<Mutex<HashMap<String, usize>>>,
    tls: TestCertificate,
    _dir: tempfile::TempDir,
}

impl SnsSigner {
    /// Generates the signing key and certificate and starts the https host. Paths it answers:
    /// `/cert.pem` (the certificate), `/ec.pem` (a certificate that is not RSA), `/gone.pem` (404),
    /// `/down.pem` (503).
    pub async fn start() -> SnsSigner {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=sns.amazonaws.com"])
            .arg("-keyout")
            .arg(dir.path().join("sns.key"))
            .arg("-out")
            .arg(dir.path().join("sns.pem"))
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(dir.path().join("sns.key")).unwrap();
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&pem_body(&pem)).unwrap();
        let certificate = std::fs::read(dir.path().join("sns.pem")).unwrap();
        let tls = TestCertificate::issue();
        let ec_certificate = std::fs::read(&tls.cert).unwrap();
        let acceptor = acceptor(&tls);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fetches = Arc::new(Mutex::new(HashMap::new()));
        let counted = fetches.clone();
        let files = Arc::new(HashMap::from([
            ("/cert.pem".to_string(), certificate),
            ("/ec.pem".to_string(), ec_certificate),
        ]));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let counted = counted.clone();
                let files = files.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&request);
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    *counted.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                    let (status, body) = match (path.as_str(), files.get(&path)) {
                        (_, Some(body)) => ("200 OK", body.clone()),
                        ("/down.pem", _) => ("503 Service Unavailable", b"down".to_vec()),
                        _ => ("404 Not Found", b"no such file".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/x-pem-file\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        SnsSigner {
            key,
            base: format!("https://localhost:{port}"),
            fetches,
            tls,
            _dir: dir,
        }
    }

    /// The service's settings that trust this host (and only it) for certificates.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SNS_CERT_HOST_PATTERN", r"^localhost:\d+$".to_string()),
            ("SNS_CERT_CA_FILE", self.tls.ca.display().to_string()),
        ]
    }

    /// A URL on the certificate host.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How often `path` was fetched.
    pub fn fetches(&self, path: &str) -> usize {
        self.fetches.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// `envelope` signed with `SignatureVersion` `version` (1 or 2) under `/cert.pem`.
    pub fn sign(&self, envelope: Value, version: u8) -> Value {
        self.sign_at(envelope, version, &self.url("/cert.pem"))
    }

    /// `envelope` signed with this key, naming `cert_url` as its certificate.
    pub fn sign_at(&self, mut envelope: Value, version: u8, cert_url: &str) -> Value {
        envelope["SignatureVersion"] = Value::String(version.to_string());
        envelope["SigningCertURL"] = Value::String(cert_url.to_string());
        let signed =
            mentor_scheduler::integrations::email::sns_signature::string_to_sign(&envelope)
                .expect("a signable envelope");
        let signature = match version {
            1 => rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(self.key.clone())
                .sign(signed.as_bytes())
                .to_vec(),
            _ => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.key.clone())
                .sign(signed.as_bytes())
                .to_vec(),
        };
        envelope["Signature"] = Value::String(STANDARD.encode(signature));
        envelope
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

fn acceptor(tls: &TestCertificate) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = CertificateDer::from(pem_body(&std::fs::read_to_string(&tls.cert).unwrap()));
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pem_body(
        &std::fs::read_to_string(&tls.key).unwrap(),
    )));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
