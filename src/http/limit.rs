//! Requests per caller: a signed-in user is counted by their token's subject, anyone else by their
//! address, each with a steady rate and a burst (`RATE_LIMIT_PER_SECOND`, `RATE_LIMIT_BURST`). Past
//! them the answer is 429 `RATE_LIMITED` with `Retry-After`, before any other work. Health checks and
//! provider webhooks are not counted (a provider's batch must not be refused).
//!
//! A refusal is not instant: it is answered a second later, and then spends an allowance that came
//! back meanwhile. A connection retrying in a loop costs the server one refusal a second, and its
//! caller is never served past their rate, instead of spinning the server on refusals.
//!
//! Counts live in memory on each node (governor's GCRA, one cell per caller); callers idle for a
//! while are forgotten. With several nodes behind a balancer, a caller's allowance is per node.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use crate::auth::bearer_token;
use crate::auth::jwt::JwtKeys;
use crate::config::RateLimitSettings;
use crate::error::AppError;

/// How long a refusal is held back.
const HOLD: Duration = Duration::from_secs(1);

pub struct CallerLimits {
    limiter: DefaultKeyedRateLimiter<String>,
    /// How often one request's allowance comes back.
    period: Duration,
    /// To tell who a bearer token is (only a token that verifies names a user).
    jwt: Arc<JwtKeys>,
}

impl CallerLimits {
    pub fn new(settings: RateLimitSettings, jwt: Arc<JwtKeys>) -> Arc<Self> {
        let quota = Quota::per_second(settings.per_second).allow_burst(settings.burst);
        Arc::new(CallerLimits {
            limiter: RateLimiter::keyed(quota),
            period: quota.replenish_interval(),
            jwt,
        })
    }

    /// Counts one request (or WebSocket `subscribe`) of a signed-in user.
    pub fn check_user(&self, user_id: &str) -> Result<(), Duration> {
        self.check(&format!("user:{user_id}"))
    }

    /// `Ok` when `caller` may go on now; otherwise how long until they may.
    pub fn check(&self, caller: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&caller.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets callers whose allowance is full again (they are as if never seen).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Whether requests to `path` are counted.
fn counted(path: &str) -> bool {
    !(path == "/healthz"
        || path == "/readyz"
        || path.starts_with("/webhooks/")
        || path == "/calendar/webhook"
        || path.starts_with("/calendar/webhook/"))
}

/// Who is calling: the verified subject of a bearer token, else the peer's address.
fn caller_key(jwt: &JwtKeys, request: &Request) -> String {
    let subject = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .and_then(|token| jwt.verify(token).ok())
        .map(|p| p.user_id);
    match subject {
        Some(user_id) => format!("user:{user_id}"),
        None => match request.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => format!("ip:{}", peer.ip()),
            None => "ip:unknown".to_string(),
        },
    }
}

pub async fn per_caller(
    State(limits): State<Option<Arc<CallerLimits>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limits) = limits else {
        return next.run(request).await;
    };
    if !counted(request.uri().path()) {
        return next.run(request).await;
    }
    let caller = caller_key(&limits.jwt, &request);
    if limits.check(&caller).is_ok() {
        return next.run(request).await;
    }
    tokio::time::sleep(HOLD).await;
    let retry_after = limits.check(&caller).err().unwrap_or(limits.period);
    ApiError::from(AppError::RateLimited {
        message: "too many requests; slow down".into(),
        retry_after: Some(retry_after),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn a_caller_gets_the_burst_then_the_rate_and_others_are_not_affected() {
        let jwt = JwtKeys::new(&crate::config::Secret::new("k"), None, None);
        let limits = CallerLimits::new(
            RateLimitSettings {
                per_second: NonZeroU32::new(1).unwrap(),
                burst: NonZeroU32::new(3).unwrap(),
            },
            Arc::new(jwt),
        );
        for _ in 0..3 {
            assert!(limits.check("user:a").is_ok());
        }
        let wait = limits.check("user:a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limits.check("user:b").is_ok());
        assert!(limits.check("ip:10.0.0.1").is_ok());
        assert!(
            limits.check_user("a").is_err(),
            "a user's requests and messages share one count"
        );
    }

    #[test]
    fn health_checks_and_webhooks_are_not_counted() {
        assert!(!counted("/healthz") && !counted("/readyz"));
        assert!(!counted("/webhooks/email/sendgrid"));
        assert!(counted("/graphql") && counted("/notifications") && counted("/graphql/ws"));
    }
}
