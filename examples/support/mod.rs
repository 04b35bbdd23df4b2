//! What the load generators share.

use std::str::FromStr;
use std::time::Duration;

use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::{Principal, Role};
use serde_json::json;

use serde_json::Value;

/// A setting from the environment (blank = unset), parsed, or `default`.
pub fn env_or<T: FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}: cannot parse {v:?}")),
        _ => Ok(default),
    }
}

/// A setting the generator cannot run without.
pub fn env_required(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{name} is not set"))
}

/// POSTs `body` as JSON with a bearer token; a non-2xx status or a body that is not JSON is an error
/// with the text the server sent.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> Result<Value, String> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("reading the response failed: {e}"))?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))
}

/// GraphQL over HTTP as a signed-in user of a server the generator started.
#[allow(dead_code)]
pub struct Gql {
    pub url: String,
    pub http: reqwest::Client,
    pub keys: JwtKeys,
}

#[allow(dead_code)]
impl Gql {
    /// A four-hour token for `sub` (in UTC).
    pub fn token(&self, sub: &str, role: Role) -> String {
        let p = Principal {
            user_id: sub.into(),
            role,
            email: format!("{sub}@bench.example"),
            name: sub.into(),
            time_zone: "UTC".parse().expect("UTC"),
            phone: None,
        };
        self.keys
            .mint(&p, chrono::Duration::hours(4))
            .expect("a token")
    }

    /// The `data` of an operation; GraphQL errors are an error.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Result<Value, String> {
        let body = post(
            &self.http,
            &self.url,
            token,
            &json!({ "query": query, "variables": variables }),
        )
        .await?;
        match body.get("errors") {
            Some(errors) => Err(format!("GraphQL errors: {errors}")),
            None => Ok(body["data"].clone()),
        }
    }
}

/// The `p`th percentile of sorted durations (nearest rank).
#[allow(dead_code)]
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[allow(dead_code)]
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Waits until the server on `port` answers `/readyz` (a minute at most).
#[allow(dead_code)]
pub async fn wait_ready(http: &reqwest::Client, port: u16) -> Result<(), String> {
    let started = std::time::Instant::now();
    let url = format!("http://127.0.0.1:{port}/readyz");
    while !http
        .get(&url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("the server on port {port} did not become ready"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The one number `sql` selects.
#[allow(dead_code)]
pub async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> Result<i64, String> {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no row")?;
    row.try_get_by_index::<i64>(0).map_err(|e| e.to_string())
}

/// Where and how a generator runs the server.
#[allow(dead_code)]
pub struct Server<'a> {
    /// The release binary.
    pub bin: &'a str,
    pub port: u16,
    pub database_url: &'a str,
    pub data_dir: &'a std::path::Path,
    /// The file its log goes to.
    pub log: &'a str,
    pub jwt_secret: &'a str,
    pub job_workers: usize,
}

#[allow(dead_code)]
impl Server<'_> {
    /// `bin serve` on 127.0.0.1, without rate limits, 32 database connections, warnings logged;
    /// the caller adds its own settings and spawns it.
    pub fn command(&self) -> Result<std::process::Command, String> {
        let log = std::fs::File::create(self.log).map_err(|e| format!("{}: {e}", self.log))?;
        let mut command = std::process::Command::new(self.bin);
        command
            .arg("serve")
            .env("DATABASE_URL", self.database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{}", self.port))
            .env("PUBLIC_BASE_URL", format!("http://127.0.0.1:{}", self.port))
            .env("DATA_DIR", self.data_dir)
            .env("JWT_SECRET", self.jwt_secret)
            .env("RATE_LIMIT_PER_SECOND", "0")
            .env("DB_MAX_CONNECTIONS", "32")
            .env("JOB_WORKERS", self.job_workers.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(log);
        Ok(command)
    }
}
