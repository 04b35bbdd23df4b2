//! Handing a message to the world: an SMTP server (`SMTP_URL`, with STARTTLS or TLS and
//! authentication as the URL says), or, on the embedded default, `.eml` files in a directory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use super::smtp_pool::{Endpoint, Security, SmtpPool};
use crate::domain::email::SendFailure;

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `message` (its envelope says to whom); `email_id` names it where a name is needed.
    async fn send(&self, email_id: &str, message: &Message) -> Result<(), SendFailure>;
}

/// Through an SMTP server.
pub struct SmtpMailer {
    through: Through,
}

enum Through {
    /// `smtp://`: sockets made here, with `TCP_NODELAY` (see [`smtp_pool`](super::smtp_pool)).
    Pool(SmtpPool),
    /// `smtps://`: lettre's own pooled transport.
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

impl SmtpMailer {
    /// `smtp://[user:pass@]host[:port][/hello-name][?tls=required|opportunistic]` or `smtps://...`
    /// (TLS from the first byte), read as lettre reads it. Server certificates are checked
    /// against the system's roots, plus `extra_roots` (PEM, for a relay with a private CA) when
    /// given. Connects lazily, on the first send.
    pub fn from_url(url: &str, extra_roots: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not valid: {e}"))?
            .timeout(Some(Duration::from_secs(30)));
        let tls = extra_roots.map(|pem| tls_trusting(url, pem)).transpose()?;
        let parsed = url::Url::parse(url).context("SMTP_URL is not valid")?;
        if parsed.scheme() == "smtps" {
            if let Some(tls) = tls {
                builder = builder.tls(tls);
            }
            return Ok(SmtpMailer {
                through: Through::Lettre(builder.build()),
            });
        }
        Ok(SmtpMailer {
            through: Through::Pool(SmtpPool::new(endpoint(&parsed, tls)?)),
        })
    }
}

/// Where an `smtp://` URL (already checked by lettre's reading) sends, and how.
fn endpoint(url: &url::Url, trusting: Option<Tls>) -> anyhow::Result<Endpoint> {
    let host = url.host_str().context("SMTP_URL has no host")?.to_string();
    let asked = url
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    let parameters = |required: bool| -> anyhow::Result<Security> {
        let parameters = match &trusting {
            Some(Tls::Required(p) | Tls::Opportunistic(p)) => p.clone(),
            _ => TlsParameters::new(host.clone()).context("SMTP_URL's TLS")?,
        };
        Ok(Security::StartTls {
            parameters,
            required,
        })
    };
    let (security, default_port) = match asked.as_deref() {
        None => (Security::None, 25),
        Some("required") => (parameters(true)?, 587),
        Some("opportunistic") => (parameters(false)?, 587),
        Some(other) => anyhow::bail!("SMTP_URL: unknown tls={other:?}"),
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = url
        .password()
        .map(|password| Credentials::new(decode(url.username()), decode(password)));
    let hello = match url.path().trim_matches('/') {
        "" => ClientId::default(),
        name => ClientId::Domain(name.to_string()),
    };
    Ok(Endpoint {
        port: url.port().unwrap_or(default_port),
        host,
        security,
        credentials,
        hello,
    })
}

/// The TLS mode `url` asks for, trusting the certificates in `pem` as well as the system's roots.
fn tls_trusting(url: &str, pem: &[u8]) -> anyhow::Result<Tls> {
    let url = url::Url::parse(url).context("SMTP_URL is not valid")?;
    let host = url.host_str().context("SMTP_URL has no host")?;
    let roots = Certificate::from_pem(pem)
        .ok()
        .filter(|_| String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----"))
        .context("SMTP_TLS_CA_FILE holds no PEM certificate")?;
    let parameters = TlsParameters::builder(host.to_string())
        .add_root_certificate(roots)
        .build_rustls()
        .context("SMTP_TLS_CA_FILE")?;
    let asked = url
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    match (url.scheme(), asked.as_deref()) {
        ("smtps", _) => Ok(Tls::Wrapper(parameters)),
        ("smtp", Some("required")) => Ok(Tls::Required(parameters)),
        ("smtp", Some("opportunistic")) => Ok(Tls::Opportunistic(parameters)),
        _ => anyhow::bail!(
            "SMTP_TLS_CA_FILE is set but SMTP_URL asks for no TLS (use smtps:// or ?tls=required)"
        ),
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, _email_id: &str, message: &Message) -> Result<(), SendFailure> {
        let transport = match &self.through {
            Through::Pool(pool) => return pool.send(message).await,
            Through::Lettre(transport) => transport,
        };
        match transport.send(message.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendFailure::Permanent {
                code: e.status().and_then(|c| c.to_string().parse().ok()),
                message: e.to_string(),
            }),
            // 4xx replies, refused or dropped connections, TLS hiccups, timeouts: try again later.
            Err(e) => Err(SendFailure::Temporary(e.to_string())),
        }
    }
}

/// Into `{dir}/{email id}.eml`, for development: open them in any mail client.
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> Self {
        FileMailer { dir }
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email_id: &str, message: &Message) -> Result<(), SendFailure> {
        let safe = email_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !safe || email_id.is_empty() {
            return Err(SendFailure::Permanent {
                code: None,
                message: format!("{email_id:?} cannot name a file"),
            });
        }
        let temporary =
            |e: std::io::Error| SendFailure::Temporary(format!("writing the outbox: {e}"));
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(temporary)?;
        // Written under a temporary name and renamed, so a reader never sees half a message.
        let path = self.dir.join(format!("{email_id}.eml"));
        let partial = self.dir.join(format!(".{email_id}.eml.partial"));
        tokio::fs::write(&partial, message.formatted())
            .await
            .map_err(temporary)?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(temporary)?;
        tracing::info!(email_id, path = %path.display(), "email written to the outbox directory");
        Ok(())
    }
}
