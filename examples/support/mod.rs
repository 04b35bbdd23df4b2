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
