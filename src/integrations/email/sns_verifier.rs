//! Checks that an SNS delivery was signed by Amazon: its certificate URL on a trusted host, the
//! certificate fetched once per URL and cached (a URL that gave none is not fetched again for a
//! while), the signature over the envelope's signed fields, the topic one we subscribed to, and
//! the message not older than [`MAX_AGE_SECONDS`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use regex::Regex;
use rsa::RsaPublicKey;
use serde_json::Value;

use super::signature_error::SignatureError;
use super::sns_signature::{
    certificate_key, string_to_sign, trusted_url, verify, SignatureVersion,
};

/// How old a message may be. SNS keeps a message's `Timestamp` (its publish time) on every retry,
/// and its HTTP retry policies end well within a day; receipts are kept longer than this, so a
/// message is refused once either as stale or as seen before.
pub const MAX_AGE_SECONDS: i64 = 24 * 3600;
/// Certificates are small (about 2 KB); a larger answer is not one.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;
/// Distinct certificate URLs kept (Amazon rotates one certificate per region now and then).
const MAX_CACHED: usize = 32;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A certificate URL on a trusted host that gave no usable certificate (a 4xx, too large, not
/// RSA) is refused this long without being fetched again: forged messages naming such URLs cost
/// one fetch per URL and window, not one per message. A host that did not answer is not held
/// against its URL (SNS retries, and the next try fetches again).
const REFUSED_FOR: Duration = Duration::from_secs(600);
/// Refused URLs remembered at most.
const MAX_REFUSED: usize = 1024;

/// The settings a verifier is built from.
#[derive(Debug, Clone)]
pub struct SnsTrust {
    /// `SNS_CERT_HOST_PATTERN`: the hosts (`host` or `host:port`) certificates may come from.
    pub host_pattern: String,
    /// `SNS_CERT_CA_FILE`: a PEM CA trusted besides the system's roots (tests; a private mirror).
    pub ca_file: Option<std::path::PathBuf>,
    /// `SNS_TOPIC_ARNS`: the topics accepted; empty accepts any.
    pub topics: Vec<String>,
}

pub struct SnsVerifier {
    client: reqwest::Client,
    hosts: Regex,
    topics: Vec<String>,
    certificates: Mutex<HashMap<String, Arc<RsaPublicKey>>>,
    /// Certificate URLs that gave no usable certificate, with when.
    refused: Mutex<HashMap<String, Instant>>,
}

impl SnsVerifier {
    pub fn new(trust: &SnsTrust) -> anyhow::Result<SnsVerifier> {
        let hosts = Regex::new(&trust.host_pattern).with_context(|| {
            format!(
                "SNS_CERT_HOST_PATTERN={:?} is not a regular expression",
                trust.host_pattern
            )
        })?;
        let mut client = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(FETCH_TIMEOUT);
        if let Some(path) = &trust.ca_file {
            client = client.add_root_certificate(ca(path)?);
        }
        Ok(SnsVerifier {
            client: client.build().context("the SNS certificate client")?,
            hosts,
            topics: trust.topics.clone(),
            certificates: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
        })
    }

    /// The trusted host pattern (subscription links are held to it too).
    pub fn hosts(&self) -> &Regex {
        &self.hosts
    }

    /// Checks `envelope` at `now`.
    pub async fn verify(&self, envelope: &Value, now: DateTime<Utc>) -> Result<(), SignatureError> {
        let version = SignatureVersion::of(envelope)?;
        let signed = string_to_sign(envelope)?;
        let topic = envelope
            .get("TopicArn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let url = envelope
            .get("SigningCertURL")
            .and_then(Value::as_str)
            .ok_or(SignatureError::Missing)?;
        let url =
            trusted_url(url, &self.hosts, true).ok_or(SignatureError::UntrustedCertificateUrl)?;
        // What costs nothing is checked before anything is fetched.
        if !self.topics.is_empty() && !self.topics.iter().any(|t| t == topic) {
            return Err(SignatureError::Topic(topic.chars().take(256).collect()));
        }
        let sent = envelope
            .get("Timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or(SignatureError::Malformed)?;
        if (now - sent.with_timezone(&Utc)).num_seconds().abs() > MAX_AGE_SECONDS {
            return Err(SignatureError::Stale);
        }
        let key = self.key(url).await?;
        verify(&key, version, envelope, &signed)
    }

    async fn key(&self, url: url::Url) -> Result<Arc<RsaPublicKey>, SignatureError> {
        let cached = self.cached().get(url.as_str()).cloned();
        if let Some(key) = cached {
            return Ok(key);
        }
        if self.refused_lately(url.as_str()) {
            return Err(SignatureError::BadCertificate);
        }
        let key = match self.fetch(&url).await.and_then(|pem| certificate_key(&pem)) {
            Ok(key) => Arc::new(key),
            Err(error) => {
                if !error.is_temporary() {
                    self.refuse(url.as_str());
                }
                return Err(error);
            }
        };
        let mut certificates = self.cached();
        if certificates.len() >= MAX_CACHED {
            certificates.clear();
        }
        certificates.insert(url.to_string(), key.clone());
        Ok(key)
    }

    fn refused_lately(&self, url: &str) -> bool {
        self.refused_urls()
            .get(url)
            .is_some_and(|at| at.elapsed() < REFUSED_FOR)
    }

    fn refuse(&self, url: &str) {
        let mut refused = self.refused_urls();
        if refused.len() >= MAX_REFUSED {
            refused.retain(|_, at| at.elapsed() < REFUSED_FOR);
            if refused.len() >= MAX_REFUSED {
                refused.clear();
            }
        }
        refused.insert(url.to_string(), Instant::now());
    }

    fn refused_urls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RsaPublicKey>>> {
        self.certificates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self, url: &url::Url) -> Result<Vec<u8>, SignatureError> {
        let unavailable =
            |e: &dyn std::fmt::Display| SignatureError::CertificateUnavailable(e.to_string());
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(unavailable(&format!("the host answered {status}")));
        }
        if !status.is_success() {
            return Err(SignatureError::BadCertificate);
        }
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| unavailable(&e))?;
            if body.len() + chunk.len() > MAX_CERTIFICATE_BYTES {
                return Err(SignatureError::BadCertificate);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn ca(path: &Path) -> anyhow::Result<reqwest::Certificate> {
    let pem =
        std::fs::read(path).with_context(|| format!("SNS_CERT_CA_FILE {}", path.display()))?;
    anyhow::ensure!(
        String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----"),
        "SNS_CERT_CA_FILE holds no PEM certificate"
    );
    reqwest::Certificate::from_pem(&pem).context("SNS_CERT_CA_FILE")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(pattern: &str, ca_file: Option<&Path>) -> SnsTrust {
        SnsTrust {
            host_pattern: pattern.into(),
            ca_file: ca_file.map(Path::to_path_buf),
            topics: vec![],
        }
    }

    #[test]
    fn bad_settings_stop_the_start() {
        let error = SnsVerifier::new(&trust("(unclosed", None)).err().unwrap();
        assert!(
            error.to_string().contains("SNS_CERT_HOST_PATTERN"),
            "{error}"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "not a certificate").unwrap();
        let error = SnsVerifier::new(&trust("^x$", Some(file.path())))
            .err()
            .unwrap();
        assert!(
            format!("{error:#}").contains("SNS_CERT_CA_FILE"),
            "{error:#}"
        );
        let defaults = crate::config::Settings::from_lookup(|_| None).unwrap();
        assert_eq!(
            defaults.email.sns_cert_host_pattern,
            crate::integrations::email::sns_signature::AWS_HOST_PATTERN,
            "Amazon's hosts by default"
        );
        assert!(SnsVerifier::new(&trust(&defaults.email.sns_cert_host_pattern, None)).is_ok());
    }
}
