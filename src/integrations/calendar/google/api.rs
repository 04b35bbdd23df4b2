//! The Google Calendar API v3 calls the service makes, and how Google's failures read: 401 is an
//! expired access token, 429 and 403 `rateLimitExceeded` / `userRateLimitExceeded` / `quotaExceeded`
//! are rate limits (with `Retry-After` when Google sent one), 404 and 410 `deleted` are gone, 410
//! `fullSyncRequired` / `updatedMinTooLongAgo` ask for a full sync, anything else is an upstream
//! failure.

use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode};
use serde::Deserialize;

use crate::config::Secret;
use crate::integrations::calendar::{ExternalCalendar, ProviderError};

/// Pages of the calendar list read at most (250 calendars a page).
const MAX_LIST_PAGES: usize = 20;

pub struct GoogleCalendarApi {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarListPage {
    #[serde(default)]
    items: Vec<CalendarListEntry>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarListEntry {
    id: String,
    #[serde(default)]
    summary: String,
    summary_override: Option<String>,
    #[serde(default)]
    primary: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    errors: Vec<ErrorItem>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    reason: String,
}

impl GoogleCalendarApi {
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        GoogleCalendarApi {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// Every calendar of the account (`calendarList.list`), every page.
    pub async fn calendars(&self, access: &Secret) -> Result<Vec<ExternalCalendar>, ProviderError> {
        let mut calendars = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut request = self
                .http
                .get(format!("{}/users/me/calendarList", self.base))
                .bearer_auth(access.expose())
                .query(&[("maxResults", "250")]);
            if let Some(token) = &page {
                request = request.query(&[("pageToken", token.as_str())]);
            }
            let response = request.send().await.map_err(unreachable)?;
            let body: CalendarListPage = read(response).await?;
            calendars.extend(body.items.into_iter().map(|c| ExternalCalendar {
                name: c.summary_override.unwrap_or(c.summary),
                id: c.id,
                primary: c.primary,
            }));
            match body.next_page_token {
                Some(next) => page = Some(next),
                None => return Ok(calendars),
            }
        }
        Err(ProviderError::Upstream {
            status: None,
            message: format!("the calendar list ran past {MAX_LIST_PAGES} pages"),
        })
    }
}

fn unreachable(e: reqwest::Error) -> ProviderError {
    ProviderError::Upstream {
        status: None,
        message: format!("Google could not be reached: {e}"),
    }
}

/// The body of a successful answer, or the typed failure.
async fn read<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, ProviderError> {
    let status = response.status();
    if status.is_success() {
        return response.json().await.map_err(|e| ProviderError::Upstream {
            status: Some(status.as_u16()),
            message: format!("an answer we could not read: {e}"),
        });
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.unwrap_or_default();
    Err(failure(status, retry_after, &body))
}

/// What a failed answer means.
pub fn failure(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let reason = detail
        .as_ref()
        .and_then(|d| d.errors.first())
        .map(|e| e.reason.clone())
        .unwrap_or_default();
    let limited = matches!(
        reason.as_str(),
        "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded"
    );
    match status.as_u16() {
        401 => ProviderError::AccessExpired,
        429 => ProviderError::RateLimited { retry_after },
        403 if limited => ProviderError::RateLimited { retry_after },
        404 => ProviderError::NotFound,
        410 if reason == "deleted" => ProviderError::NotFound,
        410 => ProviderError::SyncTokenExpired,
        code => ProviderError::Upstream {
            status: Some(code),
            message: detail
                .as_ref()
                .map(|d| format!("{reason}: {}", d.message))
                .unwrap_or_else(|| "no readable error".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u16, reason: &str) -> Vec<u8> {
        serde_json::json!({"error": {"errors": [{"domain": "x", "reason": reason, "message": "m"}],
            "code": code, "message": "m"}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn googles_failures_read_as_what_the_caller_must_do() {
        let at = |code: u16| StatusCode::from_u16(code).unwrap();
        let wait = Some(Duration::from_secs(7));
        assert!(matches!(
            failure(at(401), None, &body(401, "authError")),
            ProviderError::AccessExpired
        ));
        for (code, reason) in [
            (429, "rateLimitExceeded"),
            (403, "rateLimitExceeded"),
            (403, "userRateLimitExceeded"),
            (403, "quotaExceeded"),
        ] {
            assert!(
                matches!(failure(at(code), wait, &body(code, reason)), ProviderError::RateLimited { retry_after } if retry_after == wait),
                "{code} {reason}"
            );
        }
        assert!(matches!(
            failure(at(403), None, &body(403, "forbiddenForNonOrganizer")),
            ProviderError::Upstream {
                status: Some(403),
                ..
            }
        ));
        assert!(matches!(
            failure(at(410), None, &body(410, "fullSyncRequired")),
            ProviderError::SyncTokenExpired
        ));
        assert!(matches!(
            failure(at(410), None, &body(410, "deleted")),
            ProviderError::NotFound
        ));
        assert!(matches!(
            failure(at(404), None, b"not json"),
            ProviderError::NotFound
        ));
        assert!(matches!(
            failure(at(503), None, b"<html>"),
            ProviderError::Upstream {
                status: Some(503),
                ..
            }
        ));
    }
}
