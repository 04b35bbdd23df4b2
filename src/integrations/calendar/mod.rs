//! Calendar providers (Google Calendar, Microsoft Graph and CalDAV, behind [`api::CalendarApi`]),
//! and the one error every provider
//! answers with, typed by what the caller must do about it: wait (rate limited), read everything
//! again (sync token expired), ask the mentor to reconnect (grant revoked), forget the thing (not
//! found), read back what already exists (a retried create), or try later (upstream failure).

pub mod api;
pub mod caldav;
pub mod google;
pub mod microsoft;
pub mod oauth;

use std::time::Duration;

/// One HTTP client for every call to a calendar provider: no redirects followed (OAuth endpoints
/// must not be redirected elsewhere, nor bearer tokens carried to another host), bounded time per
/// call.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client with rustls and no custom certificates always builds")
}

use crate::error::AppError;

/// `base` (an API's address from the settings, named `setting`) with `segments` appended, each
/// percent-encoded (calendar and event ids hold `@`, `#`, `/`, `=`).
pub fn url_under(base: &str, setting: &str, segments: &[&str]) -> Result<url::Url, ProviderError> {
    let mut url = url::Url::parse(base).map_err(|e| ProviderError::Upstream {
        status: None,
        message: format!("{setting}: {e}"),
    })?;
    url.path_segments_mut()
        .map_err(|_| ProviderError::Upstream {
            status: None,
            message: format!("{setting} cannot take a path"),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The `Retry-After` of an answer, in seconds (the form Google and Graph send).
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// How a provider reads a failed answer: its status, `Retry-After` and body.
pub type ReadFailure = fn(reqwest::StatusCode, Option<Duration>, &[u8]) -> ProviderError;

/// The body of a successful answer, or the failure `failure` reads from it.
pub async fn json_or<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    failure: ReadFailure,
) -> Result<T, ProviderError> {
    let status = response.status();
    if status.is_success() {
        return response.json().await.map_err(|e| ProviderError::Upstream {
            status: Some(status.as_u16()),
            message: format!("an answer we could not read: {}", e.without_url()),
        });
    }
    Err(failed_with(response, failure).await)
}

/// What a failed answer means, as `failure` reads it, with its `Retry-After` and body read.
pub async fn failed_with(response: reqwest::Response, failure: ReadFailure) -> ProviderError {
    let status = response.status();
    let wait = retry_after(&response);
    let body = response.bytes().await.unwrap_or_default();
    failure(status, wait, &body)
}

/// How a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider asked us to slow down (HTTP 429, or 403 `rateLimitExceeded`, or 503 with
    /// `Retry-After`); `retry_after` when it said how long.
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// The access token was refused (HTTP 401): refresh it once and try again.
    #[error("the access token was refused")]
    AccessExpired,
    /// The incremental sync token is no longer valid (Google's 410 Gone): read everything again.
    #[error("the sync token has expired")]
    SyncTokenExpired,
    /// The refresh token was revoked or expired (OAuth `invalid_grant`): the mentor must reconnect.
    #[error("the grant was revoked: {reason}")]
    GrantRevoked { reason: String },
    /// The calendar or event no longer exists there.
    #[error("not found")]
    NotFound,
    /// What we asked to create is there already (HTTP 409 on an id we chose): read it back.
    #[error("already exists")]
    AlreadyExists,
    /// What the mentor entered was refused (a CalDAV server URL, username or password): `field`
    /// names the input, `message` says why in words they can act on.
    #[error("{message}")]
    Refused {
        field: &'static str,
        message: String,
    },
    /// Anything else: a 5xx, a timeout, a body we cannot read. `status` when there was an answer.
    #[error("upstream failure ({}): {message}", status.map_or("no answer".to_string(), |s| s.to_string()))]
    Upstream {
        status: Option<u16>,
        message: String,
    },
}

impl ProviderError {
    /// The service error for a call to `provider` that failed this way, when the caller has nothing
    /// better to do with it than tell the client.
    pub fn into_app(self, provider: &'static str) -> AppError {
        match self {
            ProviderError::RateLimited { retry_after } => AppError::RateLimited {
                message: format!("{provider} asked us to slow down; try again shortly"),
                retry_after,
            },
            ProviderError::NotFound => AppError::NotFound(format!("{provider} has no such item")),
            ProviderError::Refused { field, message } => AppError::BadInput {
                field: field.into(),
                message,
            },
            other => AppError::Upstream {
                provider,
                message: match &other {
                    ProviderError::GrantRevoked { .. } => {
                        "access was revoked; reconnect the calendar".to_string()
                    }
                    _ => "the provider could not be reached or refused the call".to_string(),
                },
                cause: Some(anyhow::Error::new(other)),
            },
        }
    }
}

/// A calendar of the connected account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCalendar {
    pub id: String,
    pub name: String,
    pub primary: bool,
    /// The account's address, where the provider tells it (Google: the primary calendar's id).
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_failure_reaches_the_client_with_its_code() {
        let limited = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(20)),
        }
        .into_app("Google Calendar");
        assert_eq!(limited.code(), "RATE_LIMITED");
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(20)));
        assert_eq!(
            ProviderError::NotFound.into_app("Outlook").code(),
            "NOT_FOUND"
        );
        for failure in [
            ProviderError::SyncTokenExpired,
            ProviderError::GrantRevoked {
                reason: "invalid_grant".into(),
            },
            ProviderError::Upstream {
                status: Some(503),
                message: "backend error".into(),
            },
        ] {
            let app = failure.into_app("Google Calendar");
            assert_eq!(app.code(), "UPSTREAM");
            assert!(
                app.to_string().starts_with("Google Calendar failed"),
                "{app}"
            );
            assert!(
                !app.to_string().contains("backend error"),
                "details stay in the logs: {app}"
            );
        }
    }
}
