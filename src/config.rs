//! Typed configuration from the environment (and `.env` in development). `.env.example` lists it all.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context as _;

/// A value that never shows in `Debug` or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `BIND_ADDR`: where the API listens (port 0 picks a free one).
    pub bind_addr: SocketAddr,
    /// `DATA_DIR`: the embedded database, the development JWT secret, later the email outbox.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `sqlite://...` or `postgres://...`; default: SQLite at `$DATA_DIR/mentor.db`.
    pub database_url: Secret,
    /// `DB_MAX_CONNECTIONS`.
    pub db_max_connections: u32,
    /// `DB_LIVE_CONNECTIONS`: at most this many of them serve subscriptions at once (default a
    /// quarter, at least one), so live traffic cannot starve queries and mutations.
    pub db_live_connections: u32,
    /// `JWT_SECRET`: HS256 key; absent = development mode with a generated key under `$DATA_DIR`.
    pub jwt_secret: Option<Secret>,
    /// `JWT_ISSUER` / `JWT_AUDIENCE`: checked when set.
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// `MAX_BODY_BYTES`: request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// `GRAPHQL_MAX_DEPTH`: nesting limit of one operation.
    pub graphql_max_depth: usize,
    /// `GRAPHQL_MAX_COMPLEXITY`: the cost budget of one HTTP request or one subscription, shared by
    /// every operation of a batch (lists count their bound times their items' cost).
    pub graphql_max_complexity: usize,
    /// `GRAPHQL_MAX_BATCH`: operations in one batched request.
    pub graphql_max_batch: usize,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins whose pages may call the API (default: the
    /// origin of `DASHBOARD_URL`); `none` allows no other origin.
    pub cors_allowed_origins: Vec<String>,
    /// `HTTP_HEADER_TIMEOUT_SECONDS`: a connection must deliver a request's headers within this
    /// (also how long an idle keep-alive connection stays open).
    pub http_header_timeout_seconds: u64,
    /// `HTTP_BODY_TIMEOUT_SECONDS`: a request body must arrive within this.
    pub http_body_timeout_seconds: u64,
    /// `HTTP_REQUEST_TIMEOUT_SECONDS`: a whole request (body, work, answer) gets this long.
    pub http_request_timeout_seconds: u64,
    /// `WS_KEEPALIVE_SECONDS`: server ping interval on WebSockets.
    pub ws_keepalive_seconds: u64,
    /// `WS_INIT_TIMEOUT_SECONDS`: how long a socket may wait before `connection_init`.
    pub ws_init_timeout_seconds: u64,
    /// `WS_MAX_SUBSCRIPTIONS`: open subscriptions per socket.
    pub ws_max_subscriptions: usize,
    /// `WS_MAX_SOCKETS_PER_USER`: open sockets per user on one node.
    pub ws_max_sockets_per_user: usize,
    /// `WS_SEND_TIMEOUT_SECONDS`: a socket whose client does not take a message within this is
    /// dropped.
    pub ws_send_timeout_seconds: u64,
    /// `GRAPHIQL_ASSETS_DIR`: the npm packages GraphiQL's page loads (`npm ci --prefix web/graphiql`
    /// installs them under `web/graphiql/node_modules`, the default); served by this service, so
    /// GraphiQL needs no CDN.
    pub graphiql_assets_dir: PathBuf,
    /// `SHUTDOWN_GRACE_SECONDS`: how long shutdown waits for requests in flight.
    pub shutdown_grace_seconds: u64,
    /// `LOG_FORMAT`: `pretty` or `json`. Levels come from `RUST_LOG`.
    pub log_format: LogFormat,
    /// `PUBLIC_BASE_URL`: where browsers reach this service (for `/join` links); default
    /// `http://BIND_ADDR`.
    pub public_base_url: String,
    /// `MEETING_BASE_URL`: the built-in meeting provider's rooms live under it.
    pub meeting_base_url: String,
    /// `JOB_WORKERS`: background jobs run at once in this process; 0 = none (jobs then run only
    /// through `JobRunner::drain`, as in tests, or in another process on the same database).
    pub job_workers: usize,
    /// `JOB_POLL_INTERVAL_MS`: how often an idle job runner looks for due jobs.
    pub job_poll_interval_ms: u64,
    /// `SLOT_CACHE_SECONDS`: a mentor's slot inputs (schedule, busy time, sessions) are kept in memory
    /// at most this long; every change through the service drops them at once, on every node. 0 = read
    /// the database on every `availableSlots`.
    pub slot_cache_seconds: u64,
    /// `REDIS_URL`: the event bus across nodes (Redis pub/sub); absent = the in-process bus, for a
    /// single node. A secret: it may hold a password.
    pub redis_url: Option<Secret>,
    /// `REDIS_CHANNEL_PREFIX`: this deployment's Redis channels are `{prefix}{topic}`, so several
    /// deployments can share one Redis.
    pub redis_channel_prefix: String,
    /// `SMTP_URL`: send email through this server (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`, `smtp://host:25` for a local relay); absent = write `.eml` files under
    /// `$DATA_DIR/outbox/`. A secret: it may hold a password.
    pub smtp_url: Option<Secret>,
    /// `SMTP_TLS_CA_FILE`: PEM certificates to trust for the SMTP server's TLS besides the system's
    /// roots (a relay with a private CA); needs an `SMTP_URL` that asks for TLS.
    pub smtp_tls_ca_file: Option<PathBuf>,
    /// `EMAIL_FROM`: the sender (and invite organizer), `Name <address>`; its domain also names
    /// `Message-ID`s and invite `UID`s.
    pub email_from: String,
    /// `EMAIL_MAX_ATTEMPTS`: tries before an email that keeps failing temporarily is `FAILED`.
    pub email_max_attempts: i32,
    /// `EMAIL_DIGEST_WINDOW_SECONDS`: non-urgent emails (new matches, system updates) for one user
    /// within this window go out as one digest.
    pub email_digest_window_seconds: u64,
    /// `EMAIL_WEBHOOK_TOKEN`: the `token` query parameter the provider webhooks must carry; absent =
    /// the webhooks answer 503.
    pub email_webhook_token: Option<Secret>,
    /// `DASHBOARD_URL`: where the dashboard lives; links in emails point under it.
    pub dashboard_url: String,
    /// Branding of every email: `BRAND_NAME`, `BRAND_PRIMARY_COLOR`, `BRAND_ACCENT_COLOR`
    /// (`#rrggbb`), `BRAND_LOGO_URL`, `BRAND_FOOTER`, `BRAND_SUPPORT_EMAIL`.
    pub brand_name: String,
    pub brand_primary_color: String,
    pub brand_accent_color: String,
    pub brand_logo_url: Option<String>,
    pub brand_footer: String,
    pub brand_support_email: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = get("DATABASE_URL").unwrap_or_else(|| {
            format!("sqlite://{}?mode=rwc", data_dir.join("mentor.db").display())
        });
        let db_max_connections: u32 = parse(&get, "DB_MAX_CONNECTIONS", "16")?;
        let dashboard_url = get("DASHBOARD_URL")
            .unwrap_or_else(|| "http://localhost:3000".into())
            .trim_end_matches('/')
            .to_string();
        let cors_allowed_origins = match get("CORS_ALLOWED_ORIGINS") {
            Some(list) if list.trim().eq_ignore_ascii_case("none") => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|o| origin(o.trim(), "CORS_ALLOWED_ORIGINS"))
                .collect::<anyhow::Result<_>>()?,
            None => vec![origin(&dashboard_url, "DASHBOARD_URL")?],
        };
        let settings = Settings {
            bind_addr: parse(&get, "BIND_ADDR", "127.0.0.1:8080")?,
            database_url: Secret::new(database_url),
            db_max_connections,
            db_live_connections: match get("DB_LIVE_CONNECTIONS") {
                Some(_) => parse(&get, "DB_LIVE_CONNECTIONS", "")?,
                None => (db_max_connections / 4).max(1),
            },
            jwt_secret: get("JWT_SECRET").map(Secret::new),
            jwt_issuer: get("JWT_ISSUER"),
            jwt_audience: get("JWT_AUDIENCE"),
            max_body_bytes: parse(&get, "MAX_BODY_BYTES", "262144")?,
            graphql_max_depth: parse(&get, "GRAPHQL_MAX_DEPTH", "16")?,
            graphql_max_complexity: parse(&get, "GRAPHQL_MAX_COMPLEXITY", "100000")?,
            graphql_max_batch: parse(&get, "GRAPHQL_MAX_BATCH", "10")?,
            cors_allowed_origins,
            http_header_timeout_seconds: parse(&get, "HTTP_HEADER_TIMEOUT_SECONDS", "20")?,
            http_body_timeout_seconds: parse(&get, "HTTP_BODY_TIMEOUT_SECONDS", "30")?,
            http_request_timeout_seconds: parse(&get, "HTTP_REQUEST_TIMEOUT_SECONDS", "60")?,
            ws_keepalive_seconds: parse(&get, "WS_KEEPALIVE_SECONDS", "25")?,
            ws_init_timeout_seconds: parse(&get, "WS_INIT_TIMEOUT_SECONDS", "10")?,
            ws_max_subscriptions: parse(&get, "WS_MAX_SUBSCRIPTIONS", "20")?,
            ws_max_sockets_per_user: parse(&get, "WS_MAX_SOCKETS_PER_USER", "16")?,
            ws_send_timeout_seconds: parse(&get, "WS_SEND_TIMEOUT_SECONDS", "30")?,
            shutdown_grace_seconds: parse(&get, "SHUTDOWN_GRACE_SECONDS", "10")?,
            graphiql_assets_dir: PathBuf::from(
                get("GRAPHIQL_ASSETS_DIR").unwrap_or_else(|| "web/graphiql/node_modules".into()),
            ),
            job_workers: parse(&get, "JOB_WORKERS", "2")?,
            job_poll_interval_ms: parse(&get, "JOB_POLL_INTERVAL_MS", "500")?,
            slot_cache_seconds: parse(&get, "SLOT_CACHE_SECONDS", "30")?,
            log_format: match get("LOG_FORMAT").as_deref().unwrap_or("pretty") {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => anyhow::bail!("LOG_FORMAT must be pretty or json, got {other:?}"),
            },
            public_base_url: get("PUBLIC_BASE_URL").unwrap_or_else(|| {
                format!(
                    "http://{}",
                    get("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into())
                )
            }),
            meeting_base_url: get("MEETING_BASE_URL")
                .unwrap_or_else(|| "https://meet.jit.si".into()),
            redis_url: get("REDIS_URL").map(Secret::new),
            redis_channel_prefix: get("REDIS_CHANNEL_PREFIX")
                .map(|p| p.trim().to_string())
                .unwrap_or_else(|| "mentor:".into()),
            smtp_url: get("SMTP_URL").map(Secret::new),
            smtp_tls_ca_file: get("SMTP_TLS_CA_FILE").map(PathBuf::from),
            email_from: get("EMAIL_FROM").unwrap_or_else(|| {
                "EmpowerEd Learnings <no-reply@empoweredlearnings.example>".into()
            }),
            email_max_attempts: parse(&get, "EMAIL_MAX_ATTEMPTS", "6")?,
            email_digest_window_seconds: parse(&get, "EMAIL_DIGEST_WINDOW_SECONDS", "900")?,
            email_webhook_token: get("EMAIL_WEBHOOK_TOKEN").map(Secret::new),
            dashboard_url,
            brand_name: get("BRAND_NAME").unwrap_or_else(|| "EmpowerEd Learnings".into()),
            brand_primary_color: color(&get, "BRAND_PRIMARY_COLOR", "#4f46e5")?,
            brand_accent_color: color(&get, "BRAND_ACCENT_COLOR", "#f59e0b")?,
            brand_logo_url: get("BRAND_LOGO_URL"),
            brand_footer: get("BRAND_FOOTER").unwrap_or_else(|| {
                "You get this email because you have an account on EmpowerEd Learnings.".into()
            }),
            brand_support_email: get("BRAND_SUPPORT_EMAIL")
                .unwrap_or_else(|| "support@empoweredlearnings.example".into()),
            data_dir,
        };
        settings.check()?;
        Ok(settings)
    }

    /// Values that parse but make no sense together.
    fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("GRAPHQL_MAX_BATCH", self.graphql_max_batch as u64),
            ("WS_MAX_SUBSCRIPTIONS", self.ws_max_subscriptions as u64),
            ("WS_MAX_SOCKETS_PER_USER", self.ws_max_sockets_per_user as u64),
            ("WS_SEND_TIMEOUT_SECONDS", self.ws_send_timeout_seconds),
            ("DB_LIVE_CONNECTIONS", self.db_live_connections.into()),
            ("HTTP_HEADER_TIMEOUT_SECONDS", self.http_header_timeout_seconds),
            ("HTTP_BODY_TIMEOUT_SECONDS", self.http_body_timeout_seconds),
            ("HTTP_REQUEST_TIMEOUT_SECONDS", self.http_request_timeout_seconds),
        ];
        for (key, value) in positive {
            anyhow::ensure!(value > 0, "{key} must be at least 1");
        }
        anyhow::ensure!(
            self.db_live_connections < self.db_max_connections || self.db_max_connections == 1,
            "DB_LIVE_CONNECTIONS ({}) must leave connections for queries: set it below DB_MAX_CONNECTIONS ({})",
            self.db_live_connections,
            self.db_max_connections
        );
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }
}

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it in `Origin`.
fn origin(url: &str, key: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("{key}: {url:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some(),
        "{key}: {url:?} is not an http(s) origin"
    );
    Ok(parsed.origin().ascii_serialization())
}

/// A `#rrggbb` colour (it goes into inline CSS, so nothing else is let through).
fn color(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: &str,
) -> anyhow::Result<String> {
    let raw = get(key).unwrap_or_else(|| default.to_string());
    let value = raw.trim();
    let ok = value.len() == 7
        && value.starts_with('#')
        && value[1..].chars().all(|c| c.is_ascii_hexdigit());
    anyhow::ensure!(ok, "{key}={raw:?} is not valid: use #rrggbb");
    Ok(value.to_ascii_lowercase())
}

fn parse<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: &str,
) -> anyhow::Result<T>
where
    T::Err: fmt::Display,
{
    let raw = get(key).unwrap_or_else(|| default.to_string());
    raw.trim()
        .parse::<T>()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("{key}={raw:?} is not valid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.database_url.expose(),
            "sqlite://./data/mentor.db?mode=rwc"
        );
        assert!(s.is_sqlite() && s.jwt_secret.is_none());
    }

    #[test]
    fn secrets_are_redacted_and_bad_values_name_the_variable() {
        let s = settings(&[
            ("JWT_SECRET", "hunter2"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw@h"),
            "{shown}"
        );
        let err = settings(&[("BIND_ADDR", "nowhere")]).unwrap_err();
        assert!(format!("{err:#}").contains("BIND_ADDR"));
        assert!(settings(&[("LOG_FORMAT", "xml")]).is_err());
    }

    #[test]
    fn job_runner_settings_default_and_parse() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.job_workers, s.job_poll_interval_ms), (2, 500));
        let s = settings(&[("JOB_WORKERS", "0"), ("JOB_POLL_INTERVAL_MS", "25")]).unwrap();
        assert_eq!((s.job_workers, s.job_poll_interval_ms), (0, 25));
        assert_eq!(s.slot_cache_seconds, 30);
        let err = settings(&[("SLOT_CACHE_SECONDS", "soon")]).unwrap_err();
        assert!(format!("{err:#}").contains("SLOT_CACHE_SECONDS"));
        let err = settings(&[("JOB_WORKERS", "-1")]).unwrap_err();
        assert!(format!("{err:#}").contains("JOB_WORKERS"));
    }

    #[test]
    fn redis_is_optional_and_its_url_is_a_secret() {
        let s = settings(&[]).unwrap();
        assert!(s.redis_url.is_none());
        assert_eq!(s.redis_channel_prefix, "mentor:");
        let s = settings(&[("REDIS_URL", "   "), ("REDIS_CHANNEL_PREFIX", "")]).unwrap();
        assert!(s.redis_url.is_none());
        assert_eq!(s.redis_channel_prefix, "mentor:");
        let s = settings(&[
            ("REDIS_URL", "redis://:s3cret@cache:6379/0"),
            ("REDIS_CHANNEL_PREFIX", " staging: "),
        ])
        .unwrap();
        assert_eq!(
            s.redis_url.as_ref().map(Secret::expose),
            Some("redis://:s3cret@cache:6379/0")
        );
        assert_eq!(s.redis_channel_prefix, "staging:");
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn email_settings_default_to_files_and_check_colours() {
        let s = settings(&[]).unwrap();
        assert!(s.smtp_url.is_none() && s.email_webhook_token.is_none());
        assert_eq!(
            (s.email_max_attempts, s.email_digest_window_seconds),
            (6, 900)
        );
        assert_eq!(s.brand_primary_color, "#4f46e5");
        let s = settings(&[
            ("SMTP_URL", "smtp://u:p4ss@mail:587"),
            ("BRAND_ACCENT_COLOR", "#ABCDEF"),
        ])
        .unwrap();
        assert_eq!(s.brand_accent_color, "#abcdef");
        assert!(!format!("{s:?}").contains("p4ss"));
        for bad in ["red", "#12345", "#1234567", "#12345g", "#fff;x:y"] {
            let err = settings(&[("BRAND_PRIMARY_COLOR", bad)]).unwrap_err();
            assert!(format!("{err:#}").contains("BRAND_PRIMARY_COLOR"), "{bad}");
        }
    }

    /// Every variable this file reads is documented in `.env.example`, and nothing more.
    #[test]
    fn env_example_lists_every_variable() {
        let source = include_str!("config.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let mut read: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.len() > 3 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        read.sort_unstable();
        read.dedup();
        let example = include_str!("../.env.example");
        let mut documented: Vec<&str> = example
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
            .filter(|k| *k != "RUST_LOG")
            .collect();
        documented.sort_unstable();
        assert_eq!(read, documented);
    }
}
