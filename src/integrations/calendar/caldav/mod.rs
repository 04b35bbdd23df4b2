//! CalDAV (RFC 4791, with RFC 6578 `sync-collection` and RFC 6764 discovery): Apple iCloud,
//! Fastmail, Nextcloud, Radicale and the rest, with a username and an app-specific password (HTTP
//! Basic over the server's URL). This module holds the HTTP side and discovery: where the
//! account's calendars are, and what each offers (`getctag`, `sync-token`). Multistatus bodies are
//! read with `roxmltree`, by namespace and local name, as servers differ in prefixes.

pub mod discovery;
pub mod ics;
pub mod read;
pub mod write;
pub mod xml;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::config::Secret;
use crate::integrations::calendar::ProviderError;

/// The account a connection speaks as.
#[derive(Clone)]
pub struct Account {
    pub username: String,
    pub password: Secret,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// A multistatus answer is read whole up to this size; a larger one is not a calendar list.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The CalDAV client: one HTTP client with no redirects followed by itself (discovery follows
/// `/.well-known/caldav` by hand, on the same host only, so the password never goes elsewhere).
#[derive(Clone)]
pub struct CalDav {
    pub(super) http: reqwest::Client,
}

impl Default for CalDav {
    fn default() -> Self {
        CalDav {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client with rustls and no custom certificates always builds"),
        }
    }
}

/// `PROPFIND` and `REPORT`, which `reqwest` has no constants for.
pub(super) fn method(name: &'static str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a valid method token")
}

impl CalDav {
    /// A request to `url` as `account`, with an XML body and a `Depth`.
    pub(super) fn dav(
        &self,
        verb: &'static str,
        url: &url::Url,
        account: &Account,
        depth: &'static str,
        body: &str,
    ) -> RequestBuilder {
        self.http
            .request(method(verb), url.clone())
            .basic_auth(&account.username, Some(account.password.expose()))
            .header("Depth", depth)
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body.to_string())
    }
}

/// Sends a request; a connection failure is upstream.
pub(super) async fn send(request: RequestBuilder) -> Result<Response, ProviderError> {
    request.send().await.map_err(|e| ProviderError::Upstream {
        status: None,
        message: format!(
            "the CalDAV server could not be reached: {}",
            e.without_url()
        ),
    })
}

/// A `207 Multi-Status` body, read whole (bounded), or the typed failure.
pub(super) async fn multistatus(response: Response) -> Result<String, ProviderError> {
    let status = response.status();
    if status != StatusCode::MULTI_STATUS {
        return Err(failure(status));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(ProviderError::Upstream {
            status: Some(status.as_u16()),
            message: "the server's answer is too large".into(),
        });
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ProviderError::Upstream {
            status: Some(status.as_u16()),
            message: format!("the answer could not be read: {}", e.without_url()),
        })?;
    if bytes.len() > MAX_BODY {
        return Err(ProviderError::Upstream {
            status: Some(status.as_u16()),
            message: "the server's answer is too large".into(),
        });
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| ProviderError::Upstream {
        status: Some(status.as_u16()),
        message: "the answer is not UTF-8".into(),
    })
}

/// What a status other than the one hoped for means: 401/403 are credentials the server refuses
/// (the mentor must enter them again), 404 gone, 429 and 503 slow down, the rest upstream.
pub(super) fn failure(status: StatusCode) -> ProviderError {
    match status.as_u16() {
        401 | 403 => ProviderError::GrantRevoked {
            reason: format!("the server refused the username or password ({status})"),
        },
        404 | 410 => ProviderError::NotFound,
        429 | 503 => ProviderError::RateLimited { retry_after: None },
        code => ProviderError::Upstream {
            status: Some(code),
            message: format!("the CalDAV server answered {status}"),
        },
    }
}
