//! CalDAV (RFC 4791, with RFC 6578 `sync-collection` and RFC 6764 discovery): Apple iCloud,
//! Fastmail, Nextcloud, Radicale and the rest, with a username and an app-specific password (HTTP
//! Basic over the server's URL). This module holds the HTTP side and discovery: where the
//! account's calendars are, and what each offers (`getctag`, `sync-token`). Multistatus bodies are
//! read with `roxmltree`, by namespace and local name, as servers differ in prefixes.

mod api;
pub mod discovery;
pub mod guard;
pub mod ics;
mod object;
mod vtimezone;

pub use api::Credentials;
pub mod read;
pub mod write;
pub mod xml;

use std::sync::Arc;
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

/// An answer is read whole up to this size (a window's events with their data fit many times
/// over); a larger one fails the read rather than the server's memory.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The CalDAV client: one HTTP client with no redirects followed by itself (discovery follows
/// `/.well-known/caldav` by hand, on the same host only, so the password never goes elsewhere),
/// and no proxy; names resolve to public addresses only unless local servers are allowed
/// ([`guard`]).
#[derive(Clone)]
pub struct CalDav {
    pub(super) http: reqwest::Client,
    /// Whether servers on this machine or a private network, and plain http, are allowed.
    pub(super) allow_local: bool,
    /// The domain of session `UID`s (`{session id}@{domain}`, as in the email invites).
    pub(super) uid_domain: String,
}

impl CalDav {
    /// A client for mentors' servers; `allow_local`: `CALDAV_ALLOW_LOCAL`; `uid_domain`: the
    /// domain of `EMAIL_FROM`, so a session's event and its invite share their `UID`.
    pub fn new(allow_local: bool, uid_domain: &str) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        if !allow_local {
            builder = builder.dns_resolver(Arc::new(guard::PublicOnly));
        }
        CalDav {
            http: builder
                .build()
                .expect("a client with rustls and no custom certificates always builds"),
            allow_local,
            uid_domain: uid_domain.to_string(),
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
    request.send().await.map_err(|e| {
        // The innermost cause says why (a refused connection, a name that leads to a private
        // address); the URL stays out of it.
        let mut cause: &dyn std::error::Error = &e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        ProviderError::Upstream {
            status: None,
            message: format!("the CalDAV server could not be reached: {cause}"),
        }
    })
}

/// A `207 Multi-Status` body, read whole (bounded), or the typed failure.
pub(super) async fn multistatus(response: Response) -> Result<String, ProviderError> {
    let status = response.status();
    if status != StatusCode::MULTI_STATUS {
        return Err(failure(status));
    }
    bounded_text(response).await
}

/// A body as text, read whole up to [`MAX_BODY`] (chunk by chunk: a server that sends more, with
/// or without saying so, is cut off there).
pub(super) async fn bounded_text(mut response: Response) -> Result<String, ProviderError> {
    let status = response.status();
    let too_large = || ProviderError::Upstream {
        status: Some(status.as_u16()),
        message: "the server's answer is too large".into(),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProviderError::Upstream {
            status: Some(status.as_u16()),
            message: format!("the answer could not be read: {}", e.without_url()),
        })?
    {
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ProviderError::Upstream {
        status: Some(status.as_u16()),
        message: "the answer is not UTF-8".into(),
    })
}

/// What a status other than the one hoped for means: 401 is credentials the server refuses (the
/// mentor must enter them again), 404 gone, 429 and 503 slow down, the rest upstream (403, a
/// calendar the account may not write, among them).
pub(super) fn failure(status: StatusCode) -> ProviderError {
    match status.as_u16() {
        401 => ProviderError::AccessExpired,
        404 | 410 => ProviderError::NotFound,
        429 | 503 => ProviderError::RateLimited { retry_after: None },
        code => ProviderError::Upstream {
            status: Some(code),
            message: format!("the CalDAV server answered {status}"),
        },
    }
}
