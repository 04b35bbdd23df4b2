//! Building the application from settings and running it until a shutdown signal.

pub mod job_handlers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::auth::dev_secret;
use crate::auth::email_links::EmailLinks;
use crate::auth::join::JoinLinks;
use crate::auth::jwt::JwtKeys;
use crate::auth::vault::TokenVault;
use crate::clock::Clock;
use crate::config::{Secret, Settings, WebSocketSettings};
use crate::db::Db;
use crate::domain::calendar::CalendarProvider;
use crate::domain::money::{Currency, Money};
use crate::graphql::{build_schema, Limits};
use crate::http::{router, serve, AppState, CallerLimits, Shared, SocketsPerUser};
use crate::integrations::calendar::api::CalendarApis;
use crate::integrations::calendar::caldav::CalDav;
use crate::integrations::calendar::google::Google;
use crate::integrations::calendar::microsoft::Microsoft;
use crate::integrations::email::mailer::{FileMailer, Mailer, SmtpMailer};
use crate::integrations::email::sendgrid_signature::SendgridKey;
use crate::integrations::email::sns_verifier::{SnsTrust, SnsVerifier};
use crate::integrations::meeting::BuiltInRooms;
use crate::integrations::payments::stripe::Stripe;
use crate::integrations::sms::file::FileTexter;
use crate::integrations::sms::twilio::{Sender, Twilio};
use crate::integrations::sms::Texter;
use crate::jobs::{JobRunner, RunnerConfig};
use crate::pubsub::{EventBus, InProcessBus, RedisBus};
use crate::service::email::{Outbox, WebhookTrust};
use crate::service::sms::{SmsOutbox, SmsParts};
use crate::service::{Adapters, Services};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    shutdown_tx: watch::Sender<bool>,
    grace: Duration,
    jobs: JobRunner,
}

/// The signing key: `JWT_SECRET`, or in development mode the generated one under the data directory.
pub fn jwt_secret(settings: &Settings) -> anyhow::Result<Secret> {
    match &settings.auth.jwt_secret {
        Some(secret) => Ok(secret.clone()),
        None => {
            let data_dir = &settings.server.data_dir;
            let secret = dev_secret::load_or_create(data_dir, dev_secret::JWT_FILE)?;
            tracing::warn!(
                path = %data_dir.join(dev_secret::JWT_FILE).display(),
                "JWT_SECRET is not set: development mode, tokens are signed with a generated local key"
            );
            Ok(secret)
        }
    }
}

/// Connects and migrates the database and builds every service.
pub async fn connect_services(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Services> {
    let db = Db::connect(settings).await?;
    db.migrate().await?;
    let secret = jwt_secret(settings)?;
    let base_url = &settings.server.public_base_url;
    let join_links = Arc::new(JoinLinks::new(&secret, base_url));
    let outbox = Outbox::new(
        settings,
        EmailLinks::new(&secret, base_url),
        join_links.clone(),
    )?;
    let adapters = Adapters {
        bus: event_bus(settings).await?,
        meetings: Arc::new(BuiltInRooms::new(&settings.meeting.base_url)),
        join_links,
        mailer: mailer(settings)?,
        outbox: Arc::new(outbox),
        email_max_attempts: settings.email.max_attempts,
        slot_cache_ttl: settings.slots.cache_ttl,
        vault: Arc::new(token_vault(settings)?),
        calendars: calendars(settings)?,
        payments: payments(settings)?,
        email_webhooks: email_webhooks(settings)?,
        sms: sms(settings, &secret)?,
    };
    Ok(Services::new(db, adapters, clock))
}

/// Twilio when `TWILIO_ACCOUNT_SID` is set, else texts written under `$DATA_DIR/sms/`.
fn sms(settings: &Settings, secret: &Secret) -> anyhow::Result<SmsParts> {
    let s = &settings.sms;
    let (texter, callback_base, twilio_token): (Arc<dyn Texter>, _, _) = match &s.twilio {
        Some(t) => {
            let sender = match (&t.from, &t.messaging_service_sid) {
                (_, Some(service)) => Sender::MessagingService(service.clone()),
                (Some(from), None) => Sender::From(from.clone()),
                (None, None) => {
                    anyhow::bail!("set one of TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID")
                }
            };
            tracing::info!("sms: Twilio");
            let twilio = Twilio::new(&t.api_url, &t.account_sid, t.auth_token.clone(), sender)?;
            (
                Arc::new(twilio),
                Some(settings.server.public_base_url.clone()),
                Some(t.auth_token.clone()),
            )
        }
        None => {
            let dir = settings.server.data_dir.join("sms");
            tracing::info!(dir = %dir.display(), "sms: text files (TWILIO_ACCOUNT_SID is not set)");
            (Arc::new(FileTexter::new(dir)), None, None)
        }
    };
    let brand = &settings.email.brand;
    Ok(SmsParts {
        texter,
        outbox: Arc::new(SmsOutbox {
            brand: brand.name.clone(),
            support: brand.support_email.clone(),
            dashboard_url: settings.server.dashboard_url.clone(),
            quiet_hours: s.quiet_hours,
            callback_base,
        }),
        code_key: secret.clone(),
        twilio_token,
        max_attempts: s.max_attempts,
    })
}

/// What proves provider webhooks authentic: SendGrid's key when set, SNS's trusted certificate hosts.
fn email_webhooks(settings: &Settings) -> anyhow::Result<WebhookTrust> {
    let email = &settings.email;
    let sendgrid = match &email.sendgrid_public_key {
        Some(key) => Some(
            SendgridKey::parse(key)
                .map_err(|e| anyhow::anyhow!("SENDGRID_WEBHOOK_PUBLIC_KEY {e}"))?,
        ),
        None => None,
    };
    let sns = SnsVerifier::new(&SnsTrust {
        host_pattern: email.sns_cert_host_pattern.clone(),
        ca_file: email.sns_cert_ca_file.clone(),
        topics: email.sns_topic_arns.clone(),
    })?;
    Ok(WebhookTrust { sendgrid, sns })
}

/// The keys that seal calendar tokens: `CALENDAR_TOKEN_KEY`, or in development a key generated under
/// the data directory (which other nodes do not share: said in the log when a provider is on).
fn token_vault(settings: &Settings) -> anyhow::Result<TokenVault> {
    let key = settings.calendar.token_key.as_ref();
    if key.is_none()
        && (settings.calendar.google.is_some()
            || settings.calendar.microsoft.is_some()
            || settings.calendar.caldav.enabled)
    {
        tracing::warn!(
            path = %settings.server.data_dir.join(dev_secret::CALENDAR_TOKEN_FILE).display(),
            "CALENDAR_TOKEN_KEY is not set: development mode, calendar tokens are sealed with a local \
             key that other nodes do not have"
        );
    }
    TokenVault::load(key, &settings.server.data_dir)
}

/// The calendar providers configured: Google Calendar when `GOOGLE_CLIENT_ID` is set, Outlook when
/// `MICROSOFT_CLIENT_ID` is, CalDAV unless `CALDAV_ENABLED=false`. Google and Outlook push only to
/// https addresses; an http `PUBLIC_BASE_URL` is allowed (local set-ups, fakes) and said in the log.
fn calendars(settings: &Settings) -> anyhow::Result<CalendarApis> {
    let mut apis = CalendarApis::default();
    match &settings.calendar.google {
        None => tracing::info!("Google Calendar: not configured (GOOGLE_CLIENT_ID is not set)"),
        Some(google) => {
            if !settings.server.public_base_url.starts_with("https://") {
                tracing::warn!(
                    "PUBLIC_BASE_URL is not https: Google will refuse push channels, calendars will be polled"
                );
            }
            let google = Google::new(google).context("Google Calendar settings")?;
            apis = apis.with(CalendarProvider::Google, Arc::new(google));
        }
    }
    match &settings.calendar.microsoft {
        None => tracing::info!("Outlook: not configured (MICROSOFT_CLIENT_ID is not set)"),
        Some(microsoft) => {
            let microsoft = Microsoft::new(microsoft).context("Microsoft settings")?;
            apis = apis.with(CalendarProvider::Outlook, Arc::new(microsoft));
        }
    }
    let caldav = &settings.calendar.caldav;
    if caldav.enabled {
        let from: lettre::message::Mailbox = settings.email.from.parse().map_err(|e| {
            anyhow::anyhow!("EMAIL_FROM={:?} is not valid: {e}", settings.email.from)
        })?;
        if caldav.allow_local {
            tracing::warn!("CALDAV_ALLOW_LOCAL is on: CalDAV servers may be local and plain http");
        }
        let client = CalDav::new(caldav.allow_local, from.email.domain());
        apis = apis.with(CalendarProvider::Caldav, Arc::new(client));
    } else {
        tracing::info!("CalDAV: off (CALDAV_ENABLED=false)");
    }
    Ok(apis)
}

/// Stripe when `STRIPE_SECRET_KEY` is set: regular bookings are then held until paid.
fn payments(settings: &Settings) -> anyhow::Result<crate::service::PaymentAdapters> {
    let p = &settings.payments;
    let stripe = match &p.stripe {
        None => {
            tracing::info!(
                "payments: off (STRIPE_SECRET_KEY is not set); regular bookings need no payment"
            );
            None
        }
        Some(stripe) => Some((
            Arc::new(Stripe::new(stripe).context("Stripe settings")?),
            stripe.webhook_secrets.clone(),
        )),
    };
    Ok(crate::service::PaymentAdapters {
        stripe,
        hold: chrono::Duration::from_std(p.hold).context("PAYMENT_HOLD_MINUTES")?,
        default_price: Money {
            amount_minor: p.default_price_minor,
            currency: Currency::parse(&p.currency).map_err(anyhow::Error::msg)?,
        },
        dashboard_url: settings.server.dashboard_url.clone(),
        base_url: settings.server.public_base_url.clone(),
    })
}

/// SMTP when `SMTP_URL` is set, else `.eml` files under `$DATA_DIR/outbox/`.
pub fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    match &settings.email.smtp {
        Some(smtp) => {
            tracing::info!("email: SMTP");
            let extra_roots = match &smtp.tls_ca_file {
                Some(path) => Some(
                    std::fs::read(path)
                        .with_context(|| format!("SMTP_TLS_CA_FILE: reading {}", path.display()))?,
                ),
                None => None,
            };
            Ok(Arc::new(SmtpMailer::from_url(
                smtp.url.expose(),
                extra_roots.as_deref(),
            )?))
        }
        None => {
            let dir = settings.server.data_dir.join("outbox");
            tracing::info!(dir = %dir.display(), "email: .eml files (SMTP_URL is not set)");
            Ok(Arc::new(FileMailer::new(dir)))
        }
    }
}

/// Redis pub/sub when `REDIS_URL` is set (several nodes), else the in-process bus (one node).
async fn event_bus(settings: &Settings) -> anyhow::Result<Arc<dyn EventBus>> {
    match &settings.redis {
        Some(redis) => {
            let bus = RedisBus::connect(redis.url.expose(), &redis.channel_prefix)
                .await
                .context("REDIS_URL: starting the Redis event bus")?;
            tracing::info!(prefix = %redis.channel_prefix, "event bus: Redis pub/sub");
            Ok(Arc::new(bus))
        }
        None => {
            tracing::info!("event bus: in-process (REDIS_URL is not set; one node only)");
            Ok(Arc::new(InProcessBus::new()))
        }
    }
}

/// Connections a reconnect storm may queue before the accept loop takes them (the default is 128,
/// and a dropped SYN costs the client a one-second retry).
const ACCEPT_BACKLOG: u32 = 4096;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

impl Application {
    /// Migrates, binds (port 0 picks a free port) and wires everything; does not serve yet.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let services = connect_services(&settings, clock.clone()).await?;
        let jobs = JobRunner::new(
            services.db.clone(),
            clock,
            Arc::new(job_handlers::registry(&services)),
            RunnerConfig::from_settings(&settings),
        )
        .with_bell(services.job_bell.clone());
        let jwt = Arc::new(JwtKeys::new(
            &jwt_secret(&settings)?,
            settings.auth.jwt_issuer.clone(),
            settings.auth.jwt_audience.clone(),
        ));
        let limits = settings
            .http
            .rate_limit
            .map(|rate| CallerLimits::new(rate, jwt.clone()));
        let schema = build_schema(
            Some(services.clone()),
            Limits {
                max_depth: settings.graphql.max_depth,
                max_complexity: settings.graphql.max_complexity,
            },
        );
        let bind = settings.server.bind_addr;
        let listener = listen(bind).with_context(|| format!("binding {bind}"))?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let state = AppState::new(Shared {
            schema,
            services,
            jwt,
            ws: WebSocketSettings {
                keepalive: settings.websocket.keepalive.max(Duration::from_secs(1)),
                init_timeout: settings.websocket.init_timeout.max(Duration::from_secs(1)),
                ..settings.websocket
            },
            sockets: SocketsPerUser::new(settings.websocket.max_sockets_per_user),
            shutdown,
            email_webhook_token: settings.email.webhook_token.clone(),
            parsed: Default::default(),
            persisted: Default::default(),
            http: settings.http.clone(),
            graphql: settings.graphql,
            dashboard_url: settings.server.dashboard_url.clone(),
            public_base_url: settings.server.public_base_url.clone(),
            limits,
        });
        Ok(Application {
            listener,
            state,
            shutdown_tx,
            grace: settings.server.shutdown_grace,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn services(&self) -> &Services {
        &self.state.services
    }

    /// The background job runner (its `drain` runs due jobs in the caller's task).
    pub fn jobs(&self) -> &JobRunner {
        &self.jobs
    }

    /// Serves (and runs background jobs) until `signal` resolves, then stops accepting, closes
    /// sockets, stops claiming jobs and waits for requests and jobs in flight (at most the grace
    /// period).
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "listening");
        let edge = self.state.http.clone();
        if let Some(limits) = self.state.limits.clone() {
            forget_idle_callers(limits, self.shutdown_tx.subscribe());
        }
        let app = router(self.state);
        let jobs = self.jobs.start(self.shutdown_tx.subscribe());
        let stop_serving = self.shutdown_tx.subscribe();
        let shutdown_tx = self.shutdown_tx;
        let (stopping_tx, mut stopping) = watch::channel(false);
        let graceful = async move {
            signal.await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
            let _ = stopping_tx.send(true);
        };
        let listener = self.listener;
        let server_and_jobs = async move {
            let ((), jobs, ()) =
                tokio::join!(serve(listener, app, &edge, stop_serving), jobs, graceful);
            if let Err(error) = jobs {
                tracing::error!(%error, "the job runner failed");
            }
        };
        let grace = self.grace;
        tokio::select! {
            () = server_and_jobs => {},
            _ = async move {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!("grace period over; dropping connections still open and abandoning jobs in flight"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Every minute, forgets callers whose allowance is full again, so the counts stay as many as the
/// callers of the last minute.
fn forget_idle_callers(limits: Arc<CallerLimits>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = every.tick() => limits.forget_idle(),
                _ = shutdown.changed() => break,
            }
        }
    });
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
