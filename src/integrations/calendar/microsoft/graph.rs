//! Calls to Microsoft Graph and how its failures read: 401 is an expired access token; 429, 503
//! and 504 are throttling (with `Retry-After` when Graph sent one); 404 is gone; 410
//! `syncStateNotFound` / `resyncRequired` asks for a whole read; anything else is an upstream
//! failure. Every call asks for times in UTC (`Prefer: outlook.timezone="UTC"`), so a time Graph
//! gives is never ambiguous.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use crate::config::Secret;
use crate::integrations::calendar::{failed_with, json_or, url_under, ProviderError};

/// The zone every answer gives its times in.
pub(super) const UTC: &str = "outlook.timezone=\"UTC\"";

/// Microsoft Graph at `base` (`https://graph.microsoft.com/v1.0`, or a fake's).
pub struct Graph {
    pub(super) base: String,
    pub(super) http: reqwest::Client,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl Graph {
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        Graph {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// `{base}/{path}`, each segment percent-encoded (calendar and event ids hold `=`, `/`, `+`).
    pub(super) fn url_of(&self, segments: &[&str]) -> Result<url::Url, ProviderError> {
        url_under(&self.base, "MICROSOFT_GRAPH_URL", segments)
    }

    /// A link Graph gave (`@odata.nextLink`, `@odata.deltaLink`), followed only when it is on
    /// Graph's own host: the access token goes with it, and nowhere else.
    pub(super) fn link(&self, link: &str) -> Result<url::Url, ProviderError> {
        let ours = url::Url::parse(&self.base).ok();
        let theirs = url::Url::parse(link).ok();
        match (ours, theirs) {
            (Some(a), Some(b))
                if a.scheme() == b.scheme()
                    && a.host_str() == b.host_str()
                    && a.port_or_known_default() == b.port_or_known_default() =>
            {
                Ok(b)
            }
            _ => Err(ProviderError::Upstream {
                status: None,
                message: "Graph gave a link to another host; it was not followed".into(),
            }),
        }
    }
}

/// Sends `request` with the access token and the UTC preference.
pub(super) async fn send(
    request: RequestBuilder,
    access: &Secret,
) -> Result<Response, ProviderError> {
    request
        .bearer_auth(access.expose())
        .header("Prefer", UTC)
        .send()
        .await
        .map_err(|e| ProviderError::Upstream {
            status: None,
            message: format!("Microsoft Graph could not be reached: {}", e.without_url()),
        })
}

/// The body of a successful answer, or the typed failure.
pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
) -> Result<T, ProviderError> {
    json_or(response, failure).await
}

/// A success without a body we need; 404 counts as done where `gone_is_done`.
pub(super) async fn done(response: Response, gone_is_done: bool) -> Result<(), ProviderError> {
    let status = response.status();
    if status.is_success() || (gone_is_done && status == StatusCode::NOT_FOUND) {
        return Ok(());
    }
    match failed(response).await {
        ProviderError::NotFound if gone_is_done => Ok(()),
        other => Err(other),
    }
}

/// What a failed answer means, with its `Retry-After` and body read.
pub(super) async fn failed(response: Response) -> ProviderError {
    failed_with(response, failure).await
}

/// What a failed answer means.
pub fn failure(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let code = detail.as_ref().map(|d| d.code.as_str()).unwrap_or_default();
    match status.as_u16() {
        401 => ProviderError::AccessExpired,
        // Graph's throttling: 429, and 503/504 (the service is busy); all say when to come back.
        429 | 503 | 504 => ProviderError::RateLimited { retry_after },
        404 => ProviderError::NotFound,
        410 if code == "ErrorItemNotFound" => ProviderError::NotFound,
        410 => ProviderError::SyncTokenExpired,
        other => ProviderError::Upstream {
            status: Some(other),
            message: detail
                .as_ref()
                .map(|d| format!("{}: {}", d.code, d.message))
                .unwrap_or_else(|| "no readable error".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": code, "message": "m",
            "innerError": {"request-id": "r", "date": "2026-01-05T00:00:00"}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn graphs_failures_read_as_what_the_caller_must_do() {
        let at = |code: u16| StatusCode::from_u16(code).unwrap();
        let wait = Some(Duration::from_secs(7));
        assert!(matches!(
            failure(at(401), None, &body("InvalidAuthenticationToken")),
            ProviderError::AccessExpired
        ));
        for (code, name) in [
            (429, "TooManyRequests"),
            (429, "ApplicationThrottled"),
            (503, "serviceNotAvailable"),
            (504, "gatewayTimeout"),
        ] {
            assert!(
                matches!(failure(at(code), wait, &body(name)), ProviderError::RateLimited { retry_after } if retry_after == wait),
                "{code} {name}"
            );
        }
        for name in ["syncStateNotFound", "resyncRequired"] {
            assert!(matches!(
                failure(at(410), None, &body(name)),
                ProviderError::SyncTokenExpired
            ));
        }
        assert!(matches!(
            failure(at(404), None, &body("ErrorItemNotFound")),
            ProviderError::NotFound
        ));
        assert!(matches!(
            failure(at(400), None, &body("ErrorInvalidUrlQuery")),
            ProviderError::Upstream {
                status: Some(400),
                ..
            }
        ));
    }

    #[test]
    fn links_are_followed_only_on_graphs_host() {
        let graph = Graph::new("https://graph.microsoft.com/v1.0", reqwest::Client::new());
        assert!(graph
            .link("https://graph.microsoft.com/v1.0/me/calendarView/delta?$deltatoken=x")
            .is_ok());
        for foreign in [
            "https://evil.example/v1.0/me/calendarView/delta",
            "http://graph.microsoft.com/v1.0/me",
            "https://graph.microsoft.com:8443/v1.0/me",
            "not a url",
        ] {
            assert!(graph.link(foreign).is_err(), "{foreign}");
        }
        let url = graph
            .url_of(&["me", "calendars", "AAMk+/=", "events"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://graph.microsoft.com/v1.0/me/calendars/AAMk+%2F=/events"
        );
    }
}
