//! Writing calendar objects (RFC 4791 §5.3.2, RFC 7232): created with `If-None-Match: *`, so a
//! retry or another client's object at the same name is never overwritten; changed and deleted
//! with `If-Match` on the ETag last seen, so a concurrent edit is never overwritten blindly (the
//! caller reads the object again on [`Written::Conflict`]).

use super::{failure, send, Account, CalDav};
use crate::integrations::calendar::ProviderError;

/// How a conditional write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Done; the new ETag when the server gave one (RFC 4791 lets it omit it).
    Done { etag: Option<String> },
    /// `412`: the object is not as the condition said (created meanwhile, or changed since the
    /// ETag was read).
    Conflict,
}

impl CalDav {
    /// Puts `ics` at `object`: a creation when `etag` is `None` (`If-None-Match: *`), else a
    /// change of the version `etag` names (`If-Match`).
    pub async fn put(
        &self,
        object: &url::Url,
        account: &Account,
        ics: &str,
        etag: Option<&str>,
    ) -> Result<Written, ProviderError> {
        let mut request = self
            .http
            .put(object.clone())
            .basic_auth(&account.username, Some(account.password.expose()))
            .header("Content-Type", "text/calendar; charset=utf-8")
            .body(ics.to_string());
        request = match etag {
            None => request.header("If-None-Match", "*"),
            Some(tag) => request.header("If-Match", tag),
        };
        let response = send(request).await?;
        written(response)
    }

    /// Deletes `object` if it is still the version `etag` names (any version without one); an
    /// object already gone is deleted.
    pub async fn delete(
        &self,
        object: &url::Url,
        account: &Account,
        etag: Option<&str>,
    ) -> Result<Written, ProviderError> {
        let mut request = self
            .http
            .delete(object.clone())
            .basic_auth(&account.username, Some(account.password.expose()));
        if let Some(tag) = etag {
            request = request.header("If-Match", tag);
        }
        let response = send(request).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Written::Done { etag: None });
        }
        written(response)
    }
}

fn written(response: reqwest::Response) -> Result<Written, ProviderError> {
    let status = response.status();
    if status == reqwest::StatusCode::PRECONDITION_FAILED {
        return Ok(Written::Conflict);
    }
    if !status.is_success() {
        return Err(failure(status));
    }
    Ok(Written::Done {
        etag: response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    })
}
