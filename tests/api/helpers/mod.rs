//! `TestApp`: the real application on a random port, on a fresh database, with a fixed clock.

pub mod booking;
pub mod busy;
pub mod fake_google;
pub mod fake_graph;
pub mod fake_stripe;
pub mod fake_twilio;
pub mod google;
pub mod graph;
pub mod mail;
pub mod notify;
pub mod radicale;
pub mod schedule;
pub mod signed_webhooks;
pub mod smtp;
pub mod socket;
pub mod stripe;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::{Principal, Role};
use mentor_scheduler::clock::FixedClock;
use mentor_scheduler::config::{Secret, Settings};
use mentor_scheduler::entity::busy_block;
use mentor_scheduler::jobs::JobRunner;
use mentor_scheduler::service::Services;
use mentor_scheduler::startup::Application;
use sea_orm::{ConnectionTrait, Database, EntityTrait, Set};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "integration-test-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub clock: FixedClock,
    pub services: Services,
    /// The app's job runner; no background workers in tests (`JOB_WORKERS=0`), so jobs run on `drain`.
    pub jobs: JobRunner,
    jwt: JwtKeys,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Runs `$body` once per backend: `name::sqlite` and `name::postgres` (skipped, and said so on
/// stderr, when `TEST_DATABASE_URL` is unset).
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: $crate::helpers::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await.expect("sqlite always runs")).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let name = concat!(module_path!(), "::postgres");
                    match $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                        Some(app) => run(app).await,
                        None => $crate::helpers::say_skipped(name),
                    }
                }
            }
        )*
    };
}

/// Written straight to the process's stderr, past the test harness's capture, so a run without
/// PostgreSQL says plainly what it did not test.
pub fn say_skipped(test: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: TEST_DATABASE_URL is not set"
    );
}

/// A fresh PostgreSQL database for one test, or `None` without `TEST_DATABASE_URL`.
pub async fn fresh_postgres_database() -> Option<String> {
    let base = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("mentor_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&base)
        .await
        .expect("connect to TEST_DATABASE_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let without_query = base.split('?').next().unwrap_or(&base);
    let server = &without_query[..without_query.rfind('/').expect("database url has a path")];
    Some(format!("{server}/{name}"))
}

/// The application on `backend` with `settings`, listening on a free port that is also its
/// `PUBLIC_BASE_URL` (so a fake provider's pushes and handshakes reach it), or `None` without
/// PostgreSQL.
pub async fn spawn_reachable(backend: Backend, settings: Vec<(String, String)>) -> Option<TestApp> {
    // Another test may take the port between `free_port` and the bind: then another port.
    let mut tries = 0;
    loop {
        let port = free_port();
        let mut all = settings.clone();
        all.push(("BIND_ADDR".into(), format!("127.0.0.1:{port}")));
        all.push(("PUBLIC_BASE_URL".into(), format!("http://127.0.0.1:{port}")));
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match TestApp::try_spawn_with(backend, &all).await? {
            Ok(app) => return Some(app),
            Err(e) if tries < 5 && format!("{e:#}").contains("in use") => tries += 1,
            Err(e) => panic!("build app: {e:#}"),
        }
    }
}

/// A port free now (for a server that must know its address before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn default_now() -> DateTime<Utc> {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[]).await
    }

    /// Spawns with extra environment settings (`("JWT_ISSUER", "...")`).
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
        Self::try_spawn_with(backend, extra)
            .await
            .map(|app| app.expect("build app"))
    }

    /// As [`TestApp::spawn_with`], with the start-up error (a port taken meanwhile) given back.
    pub async fn try_spawn_with(
        backend: Backend,
        extra: &[(&str, &str)],
    ) -> Option<anyhow::Result<TestApp>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match backend {
            Backend::Sqlite => {
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display())
            }
            Backend::Postgres => fresh_postgres_database().await?,
        };
        let mut env: HashMap<String, String> = HashMap::from([
            ("BIND_ADDR".into(), "127.0.0.1:0".into()),
            ("DATA_DIR".into(), dir.path().display().to_string()),
            ("DATABASE_URL".into(), database_url),
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("DB_MAX_CONNECTIONS".into(), "8".into()),
            ("JOB_WORKERS".into(), "0".into()),
        ]);
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("settings");
        let clock = FixedClock::new(default_now());
        let app = match Application::build(settings.clone(), Arc::new(clock.clone())).await {
            Ok(app) => app,
            Err(e) => return Some(Err(e)),
        };
        let addr = format!("127.0.0.1:{}", app.port());
        let services = app.services().clone();
        let jobs = app.jobs().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let jwt = JwtKeys::new(
            &Secret::new(JWT_SECRET),
            settings.auth.jwt_issuer.clone(),
            settings.auth.jwt_audience.clone(),
        );
        Some(Ok(TestApp {
            addr,
            client: reqwest::Client::new(),
            clock,
            services,
            jobs,
            jwt,
            stop: Some(stop),
            _dir: dir,
        }))
    }

    /// The app's clock now, in Unix seconds.
    pub fn clock_now_ts(&self) -> i64 {
        use mentor_scheduler::clock::Clock;
        self.clock.now().timestamp()
    }

    /// `DATA_DIR` of this app (the SQLite file, the `.eml` outbox).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn token(&self, sub: &str, role: Role, tz: &str) -> String {
        self.token_for(&Principal {
            user_id: sub.into(),
            role,
            email: format!("{sub}@example.com"),
            name: format!("User {sub}"),
            time_zone: tz.parse().unwrap(),
            phone: None,
        })
    }

    pub fn token_for(&self, p: &Principal) -> String {
        self.jwt.mint(p, Duration::hours(1)).unwrap()
    }

    /// A token for `sub` that expires `ttl` from now.
    pub fn token_expiring(&self, sub: &str, role: Role, ttl: Duration) -> String {
        let p = Principal {
            user_id: sub.into(),
            role,
            email: format!("{sub}@example.com"),
            name: format!("User {sub}"),
            time_zone: "UTC".parse().unwrap(),
            phone: None,
        };
        self.jwt.mint(&p, ttl).unwrap()
    }

    /// A signed-in user (their record created by a first request); returns their token.
    pub async fn user(&self, sub: &str, role: Role, tz: &str) -> String {
        let token = self.token(sub, role, tz);
        let body = self.gql(Some(&token), "{ me { id } }", json!({})).await;
        assert_eq!(body["data"]["me"]["id"], sub, "{body}");
        token
    }

    /// Calendar busy time for `mentor`, written straight to the table (as calendar sync will).
    pub async fn busy(&self, mentor: &str, start: &str, end: &str) {
        let parse = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        busy_block::Entity::insert(busy_block::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            mentor_id: Set(mentor.into()),
            start_at: Set(parse(start)),
            end_at: Set(parse(end)),
            source: Set("test".into()),
            external_id: Set(None),
            calendar_id: Set(None),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(self.services.db.conn())
        .await
        .unwrap();
        // As calendar sync does after writing busy time.
        self.services.slot_cache.changed(mentor).await;
    }

    /// The raw GraphQL response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        response.json().await.expect("json body")
    }

    /// `data`, asserting there were no errors.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// [`ok`](Self::ok), three times, with the fewest statements the server ran during one of
    /// them. The count is of every statement the server runs, so the job runner's own (sending
    /// emails, polling) can land in it; they only ever add, so the least of three is the query's.
    pub async fn ok_counting(&self, token: &str, query: &str, variables: Value) -> (Value, u64) {
        let mut fewest = u64::MAX;
        let mut data = Value::Null;
        for _ in 0..3 {
            let before = self.services.db.statements_run();
            data = self.ok(token, query, variables.clone()).await;
            fewest = fewest.min(self.services.db.statements_run() - before);
        }
        (data, fewest)
    }

    /// The first error, asserting there was one with this code.
    pub async fn fails(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        code: &str,
    ) -> Value {
        let body = self.gql(token, query, variables).await;
        let error = body["errors"][0].clone();
        assert_eq!(error["extensions"]["code"], code, "expected {code}: {body}");
        error
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
