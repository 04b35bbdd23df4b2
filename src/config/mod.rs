//! Typed configuration from the environment (and `.env` in development), in sections
//! ([`sections`]). `.env.example` lists every variable with its default.

mod read;
mod secret;
pub mod sections;

use std::path::PathBuf;

use read::{origin, Vars};
pub use secret::Secret;
pub use sections::*;

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub http: HttpSettings,
    pub graphql: GraphqlSettings,
    pub websocket: WebSocketSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub jobs: JobSettings,
    pub slots: SlotSettings,
    pub redis: Option<RedisSettings>,
    pub email: EmailSettings,
    pub meeting: MeetingSettings,
    pub calendar: CalendarSettings,
    pub payments: PaymentSettings,
    pub sms: SmsSettings,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let vars = Vars::new(&lookup);
        let server = server(&vars)?;
        let settings = Settings {
            http: http(&vars, &server)?,
            graphql: GraphqlSettings {
                max_depth: vars.parse("GRAPHQL_MAX_DEPTH", "16")?,
                max_complexity: vars.parse("GRAPHQL_MAX_COMPLEXITY", "100000")?,
                max_batch: vars.parse("GRAPHQL_MAX_BATCH", "10")?,
                max_query_bytes: vars.parse("GRAPHQL_MAX_QUERY_BYTES", "16384")?,
            },
            websocket: WebSocketSettings {
                keepalive: vars.seconds("WS_KEEPALIVE_SECONDS", "25")?,
                init_timeout: vars.seconds("WS_INIT_TIMEOUT_SECONDS", "10")?,
                max_subscriptions: vars.parse("WS_MAX_SUBSCRIPTIONS", "20")?,
                max_sockets_per_user: vars.parse("WS_MAX_SOCKETS_PER_USER", "16")?,
                send_timeout: vars.seconds("WS_SEND_TIMEOUT_SECONDS", "30")?,
                max_messages_per_second: vars.parse("WS_MAX_MESSAGES_PER_SECOND", "50")?,
            },
            database: database(&vars, &server)?,
            auth: AuthSettings {
                jwt_secret: vars.get("JWT_SECRET").map(Secret::new),
                jwt_issuer: vars.get("JWT_ISSUER"),
                jwt_audience: vars.get("JWT_AUDIENCE"),
            },
            jobs: JobSettings {
                workers: vars.parse("JOB_WORKERS", "2")?,
                poll_interval: std::time::Duration::from_millis(
                    vars.parse("JOB_POLL_INTERVAL_MS", "500")?,
                ),
                lease: lease(&vars)?,
                retention: match vars.parse::<u64>("JOB_RETENTION_HOURS", "168")? {
                    0 => None,
                    hours => Some(std::time::Duration::from_secs(hours.saturating_mul(3600))),
                },
            },
            slots: SlotSettings {
                cache_ttl: vars.seconds("SLOT_CACHE_SECONDS", "30")?,
            },
            redis: vars.get("REDIS_URL").map(|url| RedisSettings {
                url: Secret::new(url),
                channel_prefix: vars.or("REDIS_CHANNEL_PREFIX", "mentor:"),
            }),
            email: email(&vars)?,
            meeting: MeetingSettings {
                base_url: vars.or("MEETING_BASE_URL", "https://meet.jit.si"),
            },
            calendar: calendar(&vars, &server)?,
            payments: payments(&vars)?,
            sms: sms(&vars)?,
            server,
        };
        settings.check()?;
        Ok(settings)
    }

    /// Values that parse but make no sense together.
    fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("GRAPHQL_MAX_BATCH", self.graphql.max_batch as u64),
            (
                "GRAPHQL_MAX_QUERY_BYTES",
                self.graphql.max_query_bytes as u64,
            ),
            (
                "WS_MAX_SUBSCRIPTIONS",
                self.websocket.max_subscriptions as u64,
            ),
            (
                "WS_MAX_SOCKETS_PER_USER",
                self.websocket.max_sockets_per_user as u64,
            ),
            (
                "WS_SEND_TIMEOUT_SECONDS",
                self.websocket.send_timeout.as_secs(),
            ),
            (
                "WS_MAX_MESSAGES_PER_SECOND",
                self.websocket.max_messages_per_second.into(),
            ),
            ("DB_LIVE_CONNECTIONS", self.database.live_connections.into()),
            (
                "HTTP_HEADER_TIMEOUT_SECONDS",
                self.http.header_timeout.as_secs(),
            ),
            (
                "HTTP_BODY_TIMEOUT_SECONDS",
                self.http.body_timeout.as_secs(),
            ),
            (
                "HTTP_REQUEST_TIMEOUT_SECONDS",
                self.http.request_timeout.as_secs(),
            ),
        ];
        for (key, value) in positive {
            anyhow::ensure!(value > 0, "{key} must be at least 1");
        }
        if let Some(key) = &self.calendar.token_key {
            crate::auth::vault::TokenVault::from_setting(key)?;
        }
        let db = &self.database;
        anyhow::ensure!(
            db.live_connections < db.max_connections || db.max_connections == 1,
            "DB_LIVE_CONNECTIONS ({}) must leave connections for queries: set it below DB_MAX_CONNECTIONS ({})",
            db.live_connections,
            db.max_connections
        );
        Ok(())
    }
}

fn server(vars: &Vars) -> anyhow::Result<ServerSettings> {
    let bind = vars.or("BIND_ADDR", "127.0.0.1:8080");
    Ok(ServerSettings {
        bind_addr: vars.parse("BIND_ADDR", "127.0.0.1:8080")?,
        data_dir: PathBuf::from(vars.or("DATA_DIR", "./data")),
        public_base_url: vars
            .get("PUBLIC_BASE_URL")
            .unwrap_or_else(|| format!("http://{bind}")),
        dashboard_url: vars
            .or("DASHBOARD_URL", "http://localhost:3000")
            .trim_end_matches('/')
            .to_string(),
        shutdown_grace: vars.seconds("SHUTDOWN_GRACE_SECONDS", "10")?,
        log_format: match vars.or("LOG_FORMAT", "pretty").as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => anyhow::bail!("LOG_FORMAT must be pretty or json, got {other:?}"),
        },
    })
}

fn http(vars: &Vars, server: &ServerSettings) -> anyhow::Result<HttpSettings> {
    let cors_allowed_origins = match vars.get("CORS_ALLOWED_ORIGINS") {
        Some(list) if list.eq_ignore_ascii_case("none") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|o| origin(o.trim(), "CORS_ALLOWED_ORIGINS"))
            .collect::<anyhow::Result<_>>()?,
        None => vec![origin(&server.dashboard_url, "DASHBOARD_URL")?],
    };
    Ok(HttpSettings {
        max_body_bytes: vars.parse("MAX_BODY_BYTES", "262144")?,
        cors_allowed_origins,
        header_timeout: vars.seconds("HTTP_HEADER_TIMEOUT_SECONDS", "20")?,
        body_timeout: vars.seconds("HTTP_BODY_TIMEOUT_SECONDS", "30")?,
        request_timeout: vars.seconds("HTTP_REQUEST_TIMEOUT_SECONDS", "60")?,
        graphiql_assets_dir: PathBuf::from(
            vars.or("GRAPHIQL_ASSETS_DIR", "web/graphiql/node_modules"),
        ),
        rate_limit: rate_limit(vars)?,
    })
}

fn rate_limit(vars: &Vars) -> anyhow::Result<Option<RateLimitSettings>> {
    let per_second: u32 = vars.parse("RATE_LIMIT_PER_SECOND", "30")?;
    let burst: u32 = vars.parse("RATE_LIMIT_BURST", "60")?;
    let Some(per_second) = std::num::NonZeroU32::new(per_second) else {
        return Ok(None);
    };
    let burst = std::num::NonZeroU32::new(burst.max(per_second.get())).unwrap_or(per_second);
    Ok(Some(RateLimitSettings { per_second, burst }))
}

fn database(vars: &Vars, server: &ServerSettings) -> anyhow::Result<DatabaseSettings> {
    let url = vars.get("DATABASE_URL").unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            server.data_dir.join("mentor.db").display()
        )
    });
    let max_connections: u32 = vars.parse("DB_MAX_CONNECTIONS", "16")?;
    let live_connections = match vars.get("DB_LIVE_CONNECTIONS") {
        Some(_) => vars.parse("DB_LIVE_CONNECTIONS", "")?,
        None => (max_connections / 4).max(1),
    };
    Ok(DatabaseSettings {
        url: Secret::new(url),
        max_connections,
        live_connections,
    })
}

fn sms(vars: &Vars) -> anyhow::Result<SmsSettings> {
    let quiet = vars.or("SMS_QUIET_HOURS", "21:00-08:00");
    let quiet_hours = match quiet.trim() {
        "" => None,
        window => Some(
            window
                .parse()
                .map_err(|e| anyhow::anyhow!("SMS_QUIET_HOURS: {e}"))?,
        ),
    };
    let twilio = match vars.get("TWILIO_ACCOUNT_SID") {
        None => None,
        Some(account_sid) => {
            let auth_token = vars.get("TWILIO_AUTH_TOKEN").ok_or_else(|| {
                anyhow::anyhow!("TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not")
            })?;
            let from = vars.get("TWILIO_FROM");
            let messaging_service_sid = vars.get("TWILIO_MESSAGING_SERVICE_SID");
            anyhow::ensure!(
                from.is_some() != messaging_service_sid.is_some(),
                "set one of TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID"
            );
            Some(TwilioSettings {
                account_sid,
                auth_token: Secret::new(auth_token),
                from,
                messaging_service_sid,
                api_url: http_url(vars, "TWILIO_API_URL", "https://api.twilio.com")?,
            })
        }
    };
    let max_attempts: i32 = vars.parse("SMS_MAX_ATTEMPTS", "5")?;
    anyhow::ensure!(max_attempts >= 1, "SMS_MAX_ATTEMPTS must be at least 1");
    Ok(SmsSettings {
        twilio,
        quiet_hours,
        max_attempts,
    })
}

fn email(vars: &Vars) -> anyhow::Result<EmailSettings> {
    Ok(EmailSettings {
        smtp: vars.get("SMTP_URL").map(|url| SmtpSettings {
            url: Secret::new(url),
            tls_ca_file: vars.get("SMTP_TLS_CA_FILE").map(PathBuf::from),
        }),
        from: vars.or(
            "EMAIL_FROM",
            "EmpowerEd Learnings <no-reply@empoweredlearnings.example>",
        ),
        max_attempts: vars.parse("EMAIL_MAX_ATTEMPTS", "6")?,
        digest_window: vars.seconds("EMAIL_DIGEST_WINDOW_SECONDS", "900")?,
        webhook_token: vars.get("EMAIL_WEBHOOK_TOKEN").map(Secret::new),
        sendgrid_public_key: vars.get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
        sns_cert_host_pattern: vars.or(
            "SNS_CERT_HOST_PATTERN",
            r"^sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?$",
        ),
        sns_cert_ca_file: vars.get("SNS_CERT_CA_FILE").map(PathBuf::from),
        sns_topic_arns: vars
            .or("SNS_TOPIC_ARNS", "")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        brand: BrandSettings {
            name: vars.or("BRAND_NAME", "EmpowerEd Learnings"),
            primary_color: vars.color("BRAND_PRIMARY_COLOR", "#4f46e5")?,
            accent_color: vars.color("BRAND_ACCENT_COLOR", "#f59e0b")?,
            logo_url: vars.get("BRAND_LOGO_URL"),
            footer: vars.or(
                "BRAND_FOOTER",
                "You get this email because you have an account on EmpowerEd Learnings.",
            ),
            support_email: vars.or("BRAND_SUPPORT_EMAIL", "support@empoweredlearnings.example"),
        },
    })
}

/// The http(s) URL in `key` (default `default`), without a trailing slash.
fn http_url(vars: &Vars, key: &str, default: &str) -> anyhow::Result<String> {
    let value = vars.or(key, default);
    let parsed =
        url::Url::parse(&value).map_err(|_| anyhow::anyhow!("{key}={value:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "{key}={value:?} is not an http(s) URL"
    );
    Ok(value.trim_end_matches('/').to_string())
}

fn calendar(vars: &Vars, server: &ServerSettings) -> anyhow::Result<CalendarSettings> {
    let base = server.public_base_url.trim_end_matches('/');
    let google = match vars.get("GOOGLE_CLIENT_ID") {
        None => None,
        Some(client_id) => {
            let client_secret = vars.get("GOOGLE_CLIENT_SECRET").ok_or_else(|| {
                anyhow::anyhow!("GOOGLE_CLIENT_SECRET must be set with GOOGLE_CLIENT_ID")
            })?;
            let url = |key: &str, default: &str| http_url(vars, key, default);
            Some(GoogleSettings {
                client_id,
                client_secret: Secret::new(client_secret),
                redirect_uri: url(
                    "GOOGLE_REDIRECT_URI",
                    &format!("{base}/calendar/oauth/google/callback"),
                )?,
                scopes: vars
                    .or(
                        "GOOGLE_SCOPES",
                        "https://www.googleapis.com/auth/calendar \
                         https://www.googleapis.com/auth/calendar.events \
                         https://www.googleapis.com/auth/meetings.space.created",
                    )
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                auth_url: url(
                    "GOOGLE_AUTH_URL",
                    "https://accounts.google.com/o/oauth2/v2/auth",
                )?,
                token_url: url("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")?,
                revoke_url: url("GOOGLE_REVOKE_URL", "https://oauth2.googleapis.com/revoke")?,
                calendar_api_url: url(
                    "GOOGLE_CALENDAR_API_URL",
                    "https://www.googleapis.com/calendar/v3",
                )?,
                webhook_url: format!("{base}/calendar/webhook"),
            })
        }
    };
    let microsoft = match vars.get("MICROSOFT_CLIENT_ID") {
        None => None,
        Some(client_id) => {
            let client_secret = vars.get("MICROSOFT_CLIENT_SECRET").ok_or_else(|| {
                anyhow::anyhow!("MICROSOFT_CLIENT_SECRET must be set with MICROSOFT_CLIENT_ID")
            })?;
            let tenant = vars.or("MICROSOFT_TENANT", "common");
            anyhow::ensure!(
                !tenant.is_empty()
                    && tenant.len() <= 64
                    && tenant
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                "MICROSOFT_TENANT={tenant:?} must be common, organizations, consumers, a tenant id or a domain"
            );
            Some(MicrosoftSettings {
                client_id,
                client_secret: Secret::new(client_secret),
                tenant,
                redirect_uri: http_url(
                    vars,
                    "MICROSOFT_REDIRECT_URI",
                    &format!("{base}/calendar/oauth/outlook/callback"),
                )?,
                auth_url: http_url(
                    vars,
                    "MICROSOFT_AUTH_URL",
                    "https://login.microsoftonline.com",
                )?,
                graph_url: http_url(
                    vars,
                    "MICROSOFT_GRAPH_URL",
                    "https://graph.microsoft.com/v1.0",
                )?,
                webhook_url: format!("{base}/calendar/webhook/outlook"),
            })
        }
    };
    Ok(CalendarSettings {
        token_key: vars.get("CALENDAR_TOKEN_KEY").map(Secret::new),
        google,
        microsoft,
        caldav: CalDavSettings {
            enabled: vars.parse("CALDAV_ENABLED", "true")?,
            allow_local: vars.parse("CALDAV_ALLOW_LOCAL", "false")?,
        },
    })
}

/// `JOB_LEASE_SECONDS`: long enough to be renewed (every third of it) with room to spare.
fn lease(vars: &Vars) -> anyhow::Result<std::time::Duration> {
    let lease = vars.seconds("JOB_LEASE_SECONDS", "30")?;
    anyhow::ensure!(
        lease >= std::time::Duration::from_secs(3),
        "JOB_LEASE_SECONDS must be at least 3 (it is renewed every third of it)"
    );
    Ok(lease)
}

fn payments(vars: &Vars) -> anyhow::Result<PaymentSettings> {
    let stripe = match vars.get("STRIPE_SECRET_KEY") {
        None => None,
        Some(key) => {
            let secrets: Vec<Secret> = vars
                .get("STRIPE_WEBHOOK_SECRET")
                .ok_or_else(|| {
                    anyhow::anyhow!("STRIPE_WEBHOOK_SECRET must be set with STRIPE_SECRET_KEY")
                })?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Secret::new(s.to_string()))
                .collect();
            anyhow::ensure!(
                !secrets.is_empty(),
                "STRIPE_WEBHOOK_SECRET must name at least one secret"
            );
            let api_url = vars.or("STRIPE_API_URL", "https://api.stripe.com");
            let parsed = url::Url::parse(&api_url)
                .map_err(|_| anyhow::anyhow!("STRIPE_API_URL={api_url:?} is not a URL"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "STRIPE_API_URL={api_url:?} is not an http(s) URL"
            );
            Some(StripeSettings {
                secret_key: Secret::new(key),
                webhook_secrets: secrets,
                api_url: api_url.trim_end_matches('/').to_string(),
            })
        }
    };
    let hold_minutes: u64 = vars.parse("PAYMENT_HOLD_MINUTES", "30")?;
    anyhow::ensure!(
        (1..=24 * 60).contains(&hold_minutes),
        "PAYMENT_HOLD_MINUTES must be 1 to 1440"
    );
    let currency = vars.or("PAYMENT_CURRENCY", "usd");
    let currency = crate::domain::money::Currency::parse(&currency)
        .map_err(|e| anyhow::anyhow!("PAYMENT_CURRENCY={currency:?}: {e}"))?;
    let default_price_minor: i64 = vars.parse("PAYMENT_DEFAULT_PRICE_MINOR", "4000")?;
    let default_price = crate::domain::money::Money {
        amount_minor: default_price_minor,
        currency: currency.clone(),
    };
    crate::domain::money::check_price(&default_price)
        .map_err(|e| anyhow::anyhow!("PAYMENT_DEFAULT_PRICE_MINOR: {e}"))?;
    Ok(PaymentSettings {
        stripe,
        hold: std::time::Duration::from_secs(hold_minutes * 60),
        currency: currency.as_str().to_string(),
        default_price_minor,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

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
        assert_eq!(s.server.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.database.url.expose(),
            "sqlite://./data/mentor.db?mode=rwc"
        );
        assert!(s.database.is_sqlite() && s.auth.jwt_secret.is_none());
        assert!(s.redis.is_none() && s.email.smtp.is_none());
        assert_eq!(s.http.cors_allowed_origins, ["http://localhost:3000"]);
        assert_eq!(s.database.live_connections, 4);
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
        assert_eq!(
            (s.jobs.workers, s.jobs.poll_interval),
            (2, Duration::from_millis(500))
        );
        assert_eq!(s.jobs.lease, Duration::from_secs(30));
        assert_eq!(s.jobs.retention, Some(Duration::from_secs(168 * 3600)));
        assert_eq!(
            settings(&[("JOB_RETENTION_HOURS", "0")])
                .unwrap()
                .jobs
                .retention,
            None
        );
        assert!(
            settings(&[("JOB_LEASE_SECONDS", "2")]).is_err(),
            "too short to renew"
        );
        let s = settings(&[("JOB_WORKERS", "0"), ("JOB_POLL_INTERVAL_MS", "25")]).unwrap();
        assert_eq!(
            (s.jobs.workers, s.jobs.poll_interval),
            (0, Duration::from_millis(25))
        );
        assert_eq!(s.slots.cache_ttl, Duration::from_secs(30));
        let err = settings(&[("SLOT_CACHE_SECONDS", "soon")]).unwrap_err();
        assert!(format!("{err:#}").contains("SLOT_CACHE_SECONDS"));
        let err = settings(&[("JOB_WORKERS", "-1")]).unwrap_err();
        assert!(format!("{err:#}").contains("JOB_WORKERS"));
    }

    #[test]
    fn redis_is_optional_and_its_url_is_a_secret() {
        assert!(settings(&[]).unwrap().redis.is_none());
        let s = settings(&[("REDIS_URL", "   "), ("REDIS_CHANNEL_PREFIX", "x:")]).unwrap();
        assert!(s.redis.is_none());
        let s = settings(&[
            ("REDIS_URL", "redis://cache:6379"),
            ("REDIS_CHANNEL_PREFIX", ""),
        ])
        .unwrap();
        assert_eq!(s.redis.unwrap().channel_prefix, "mentor:");
        let s = settings(&[
            ("REDIS_URL", "redis://:s3cret@cache:6379/0"),
            ("REDIS_CHANNEL_PREFIX", " staging: "),
        ])
        .unwrap();
        let redis = s.redis.as_ref().unwrap();
        assert_eq!(redis.url.expose(), "redis://:s3cret@cache:6379/0");
        assert_eq!(redis.channel_prefix, "staging:");
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn email_settings_default_to_files_and_check_colours() {
        let s = settings(&[]).unwrap();
        assert!(s.email.smtp.is_none() && s.email.webhook_token.is_none());
        assert_eq!(
            (s.email.max_attempts, s.email.digest_window),
            (6, Duration::from_secs(900))
        );
        assert_eq!(s.email.brand.primary_color, "#4f46e5");
        let s = settings(&[
            ("SMTP_URL", "smtp://u:p4ss@mail:587"),
            ("BRAND_ACCENT_COLOR", "#ABCDEF"),
        ])
        .unwrap();
        assert_eq!(s.email.brand.accent_color, "#abcdef");
        assert!(!format!("{s:?}").contains("p4ss"));
        for bad in ["red", "#12345", "#1234567", "#12345g", "#fff;x:y"] {
            let err = settings(&[("BRAND_PRIMARY_COLOR", bad)]).unwrap_err();
            assert!(format!("{err:#}").contains("BRAND_PRIMARY_COLOR"), "{bad}");
        }
    }

    #[test]
    fn limits_that_make_no_sense_are_refused() {
        for (key, value) in [
            ("GRAPHQL_MAX_BATCH", "0"),
            ("WS_MAX_SUBSCRIPTIONS", "0"),
            ("HTTP_HEADER_TIMEOUT_SECONDS", "0"),
            ("DB_LIVE_CONNECTIONS", "16"),
            ("CORS_ALLOWED_ORIGINS", "not a url"),
            ("PAYMENT_HOLD_MINUTES", "0"),
            // Under Stripe's 0.50 USD minimum.
            ("PAYMENT_DEFAULT_PRICE_MINOR", "49"),
        ] {
            let err = settings(&[(key, value)]).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}={value}: {err:#}");
        }
        let s = settings(&[("CORS_ALLOWED_ORIGINS", "none")]).unwrap();
        assert!(s.http.cors_allowed_origins.is_empty());
    }

    #[test]
    fn caldav_is_on_with_public_servers_only_until_told_otherwise() {
        let s = settings(&[]).unwrap();
        assert!(s.calendar.caldav.enabled);
        assert!(!s.calendar.caldav.allow_local);
        let s = settings(&[("CALDAV_ENABLED", "false"), ("CALDAV_ALLOW_LOCAL", "true")]).unwrap();
        assert!(!s.calendar.caldav.enabled);
        assert!(s.calendar.caldav.allow_local);
        let err = settings(&[("CALDAV_ALLOW_LOCAL", "yes please")]).unwrap_err();
        assert!(format!("{err:#}").contains("CALDAV_ALLOW_LOCAL"));
    }

    #[test]
    fn outlook_is_off_until_configured_and_its_settings_are_checked() {
        assert!(settings(&[]).unwrap().calendar.microsoft.is_none());
        let err = settings(&[("MICROSOFT_CLIENT_ID", "app-1")]).unwrap_err();
        assert!(format!("{err:#}").contains("MICROSOFT_CLIENT_SECRET"));
        let s = settings(&[
            ("MICROSOFT_CLIENT_ID", "app-1"),
            ("MICROSOFT_CLIENT_SECRET", "ms-secret-value"),
            ("PUBLIC_BASE_URL", "https://api.example.com/"),
        ])
        .unwrap();
        let ms = s.calendar.microsoft.as_ref().unwrap();
        assert_eq!(ms.tenant, "common");
        assert_eq!(
            ms.redirect_uri,
            "https://api.example.com/calendar/oauth/outlook/callback"
        );
        assert_eq!(ms.auth_url, "https://login.microsoftonline.com");
        assert_eq!(ms.graph_url, "https://graph.microsoft.com/v1.0");
        assert_eq!(
            ms.webhook_url,
            "https://api.example.com/calendar/webhook/outlook"
        );
        assert!(!format!("{s:?}").contains("ms-secret-value"));
        for (key, value) in [
            ("MICROSOFT_TENANT", "../evil"),
            ("MICROSOFT_TENANT", "a tenant"),
            ("MICROSOFT_GRAPH_URL", "ftp://nope"),
        ] {
            let err = settings(&[
                ("MICROSOFT_CLIENT_ID", "app-1"),
                ("MICROSOFT_CLIENT_SECRET", "x"),
                (key, value),
            ])
            .unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}={value}: {err:#}");
        }
    }

    #[test]
    fn google_is_off_until_configured_and_its_secret_never_shown() {
        let s = settings(&[]).unwrap();
        assert!(s.calendar.google.is_none() && s.calendar.token_key.is_none());
        let err = settings(&[("GOOGLE_CLIENT_ID", "id.apps")]).unwrap_err();
        assert!(format!("{err:#}").contains("GOOGLE_CLIENT_SECRET"));
        let s = settings(&[
            ("GOOGLE_CLIENT_ID", "id.apps"),
            ("GOOGLE_CLIENT_SECRET", "GOCSPX-sh"),
            ("PUBLIC_BASE_URL", "https://api.example.com/"),
            (
                "CALENDAR_TOKEN_KEY",
                "k1:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
            ),
        ])
        .unwrap();
        let google = s.calendar.google.as_ref().unwrap();
        assert_eq!(
            google.redirect_uri,
            "https://api.example.com/calendar/oauth/google/callback"
        );
        assert_eq!(google.scopes.len(), 3);
        assert_eq!(google.token_url, "https://oauth2.googleapis.com/token");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("GOCSPX") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
        let err = settings(&[
            ("GOOGLE_CLIENT_ID", "id.apps"),
            ("GOOGLE_CLIENT_SECRET", "x"),
            ("GOOGLE_TOKEN_URL", "ftp://nope"),
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("GOOGLE_TOKEN_URL"));
        // A key that cannot seal is refused at start, naming the variable (and not showing the key).
        let err = settings(&[("CALENDAR_TOKEN_KEY", "k1:c2VjcmV0")]).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("CALENDAR_TOKEN_KEY") && !text.contains("c2VjcmV0"),
            "{text}"
        );
    }

    /// Every variable the loader reads is documented in `.env.example`, and nothing more.
    #[test]
    fn env_example_lists_every_variable() {
        let source = include_str!("mod.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let mut read: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.len() > 3 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        read.sort_unstable();
        read.dedup();
        let example = include_str!("../../.env.example");
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
