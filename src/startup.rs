//! Building the application from settings and running it until a shutdown signal.

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
use crate::clock::Clock;
use crate::config::{Secret, Settings};
use crate::db::Db;
use crate::graphql::{build_schema, Limits};
use crate::http::{router, serve, AppState, EdgeSettings, HttpLimits, SocketsPerUser, WsSettings};
use crate::integrations::mailer::{FileMailer, Mailer, SmtpMailer};
use crate::integrations::meeting::BuiltInRooms;
use crate::jobs::{self, JobRunner, RunnerConfig};
use crate::pubsub::{EventBus, InProcessBus, RedisBus};
use crate::service::email::Outbox;
use crate::service::{Adapters, Services};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    shutdown_tx: watch::Sender<bool>,
    edge: EdgeSettings,
    grace: Duration,
    jobs: JobRunner,
}

/// The signing key: `JWT_SECRET`, or in development mode the generated one under the data directory.
pub fn jwt_secret(settings: &Settings) -> anyhow::Result<Secret> {
    match &settings.jwt_secret {
        Some(secret) => Ok(secret.clone()),
        None => {
            let secret = dev_secret::load_or_create(&settings.data_dir)?;
            tracing::warn!(
                path = %settings.data_dir.join("dev-jwt-secret").display(),
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
    let join_links = Arc::new(JoinLinks::new(&secret, &settings.public_base_url));
    let outbox = Outbox::new(
        settings,
        EmailLinks::new(&secret, &settings.public_base_url),
        join_links.clone(),
    )?;
    let adapters = Adapters {
        bus: event_bus(settings).await?,
        meetings: Arc::new(BuiltInRooms::new(&settings.meeting_base_url)),
        join_links,
        mailer: mailer(settings)?,
        outbox: Arc::new(outbox),
        email_max_attempts: settings.email_max_attempts,
        slot_cache_ttl: std::time::Duration::from_secs(settings.slot_cache_seconds),
    };
    Ok(Services::new(db, adapters, clock))
}

/// SMTP when `SMTP_URL` is set, else `.eml` files under `$DATA_DIR/outbox/`.
pub fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    match &settings.smtp_url {
        Some(url) => {
            tracing::info!("email: SMTP");
            let extra_roots = match &settings.smtp_tls_ca_file {
                Some(path) => Some(
                    std::fs::read(path)
                        .with_context(|| format!("SMTP_TLS_CA_FILE: reading {}", path.display()))?,
                ),
                None => None,
            };
            Ok(Arc::new(SmtpMailer::from_url(
                url.expose(),
                extra_roots.as_deref(),
            )?))
        }
        None => {
            let dir = settings.data_dir.join("outbox");
            tracing::info!(dir = %dir.display(), "email: .eml files (SMTP_URL is not set)");
            Ok(Arc::new(FileMailer::new(dir)))
        }
    }
}

/// Redis pub/sub when `REDIS_URL` is set (several nodes), else the in-process bus (one node).
async fn event_bus(settings: &Settings) -> anyhow::Result<Arc<dyn EventBus>> {
    match &settings.redis_url {
        Some(url) => {
            let bus = RedisBus::connect(url.expose(), &settings.redis_channel_prefix)
                .await
                .context("REDIS_URL: starting the Redis event bus")?;
            tracing::info!(prefix = %settings.redis_channel_prefix, "event bus: Redis pub/sub");
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
            Arc::new(jobs::registry(&services)),
            RunnerConfig::from_settings(&settings),
        );
        let jwt = Arc::new(JwtKeys::new(
            &jwt_secret(&settings)?,
            settings.jwt_issuer.clone(),
            settings.jwt_audience.clone(),
        ));
        let schema = build_schema(
            Some(services.clone()),
            Limits {
                max_depth: settings.graphql_max_depth,
                max_complexity: settings.graphql_max_complexity,
            },
        );
        let listener = listen(settings.bind_addr)
            .with_context(|| format!("binding {}", settings.bind_addr))?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let state = AppState {
            schema,
            services,
            jwt,
            ws: WsSettings {
                keepalive: Duration::from_secs(settings.ws_keepalive_seconds.max(1)),
                init_timeout: Duration::from_secs(settings.ws_init_timeout_seconds.max(1)),
                max_subscriptions: settings.ws_max_subscriptions,
                send_timeout: Duration::from_secs(settings.ws_send_timeout_seconds),
            },
            sockets: SocketsPerUser::new(settings.ws_max_sockets_per_user),
            shutdown,
            email_webhook_token: settings.email_webhook_token.clone(),
            parsed: Default::default(),
            persisted: Default::default(),
            graphql: HttpLimits {
                max_body_bytes: settings.max_body_bytes,
                max_batch: settings.graphql_max_batch,
                max_complexity: settings.graphql_max_complexity,
            },
            graphiql_dir: settings.graphiql_assets_dir.clone(),
        };
        let edge = EdgeSettings {
            max_body_bytes: settings.max_body_bytes,
            cors_origins: settings.cors_allowed_origins.clone(),
            header_timeout: Duration::from_secs(settings.http_header_timeout_seconds),
            body_timeout: Duration::from_secs(settings.http_body_timeout_seconds),
            request_timeout: Duration::from_secs(settings.http_request_timeout_seconds),
        };
        Ok(Application {
            listener,
            state,
            shutdown_tx,
            edge,
            grace: Duration::from_secs(settings.shutdown_grace_seconds),
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
        let app = router(self.state, &self.edge);
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
        let edge = self.edge;
        let listener = self.listener;
        let server_and_jobs = async move {
            let ((), jobs, ()) = tokio::join!(serve(listener, app, &edge, stop_serving), jobs, graceful);
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
