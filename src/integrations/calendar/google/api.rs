//! The Google Calendar API v3 calls the service makes, and how Google's failures read: 401 is an
//! expired access token, 429 and 403 `rateLimitExceeded` / `userRateLimitExceeded` / `quotaExceeded`
//! are rate limits (with `Retry-After` when Google sent one), 404 and 410 `deleted` are gone, 410
//! `fullSyncRequired` / `updatedMinTooLongAgo` ask for a full sync, anything else is an upstream
//! failure.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde::Deserialize;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

use crate::config::Secret;
use crate::domain::calendar::{EventTime, ExternalEvent};
use crate::domain::time::{LocalTime, TimeZone};
use crate::domain::wallclock::resolve_edge;
use crate::integrations::calendar::api::{EventsPage, EventsRead, Window};
use crate::integrations::calendar::{
    failed_with, json_or, url_under, ExternalCalendar, ProviderError,
};

/// The private extended property that marks events this service wrote (sessions).
pub const OURS: &str = "mentorSchedulerSession";
/// Events a page of `events.list` holds at most.
const EVENTS_PER_PAGE: &str = "250";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsBody {
    #[serde(default)]
    items: Vec<EventBody>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    transparency: String,
    start: Option<EventWhen>,
    end: Option<EventWhen>,
    #[serde(default)]
    attendees: Vec<Attendee>,
    extended_properties: Option<ExtendedProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventWhen {
    date_time: Option<String>,
    date: Option<String>,
    time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attendee {
    #[serde(rename = "self", default)]
    is_self: bool,
    #[serde(default)]
    response_status: String,
}

#[derive(Deserialize)]
struct ExtendedProperties {
    #[serde(default)]
    private: std::collections::HashMap<String, String>,
}

/// Pages of the calendar list read at most (250 calendars a page).
const MAX_LIST_PAGES: usize = 20;

pub struct GoogleCalendarApi {
    base: String,
    pub(super) http: reqwest::Client,
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

    /// The API's address with `segments` appended, each escaped (calendar ids hold `@` and `#`).
    pub(super) fn url_of(&self, segments: &[&str]) -> Result<url::Url, ProviderError> {
        url_under(&self.base, "GOOGLE_CALENDAR_API_URL", segments)
    }

    /// Every calendar of the account (`calendarList.list`), every page.
    pub async fn calendars(&self, access: &Secret) -> Result<Vec<ExternalCalendar>, ProviderError> {
        let mut calendars = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut request = self
                .http
                .get(format!("{}/users/me/calendarList", self.base))
                .query(&[("maxResults", "250")]);
            if let Some(token) = &page {
                request = request.query(&[("pageToken", token.as_str())]);
            }
            let response = send(request, access).await?;
            let body: CalendarListPage = read_json(response).await?;
            calendars.extend(body.items.into_iter().map(|c| ExternalCalendar {
                name: c.summary_override.unwrap_or(c.summary),
                // The primary calendar's id is the account's address.
                email: c.primary.then(|| c.id.clone()),
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

impl GoogleCalendarApi {
    /// One page of a calendar's events (`events.list`, recurring events expanded to instances).
    pub async fn events(
        &self,
        access: &Secret,
        calendar: &str,
        read: EventsRead<'_>,
        window: &Window,
        page: Option<&str>,
    ) -> Result<EventsPage, ProviderError> {
        let mut url = self.url_of(&["calendars", calendar, "events"])?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("singleEvents", "true")
                .append_pair("maxResults", EVENTS_PER_PAGE);
            match read {
                EventsRead::Full => {
                    let Window { from, to, .. } = *window;
                    // Deleted events too: a session's event the mentor deleted shows as cancelled
                    // in a whole read as in an incremental one.
                    query
                        .append_pair("timeMin", &from.to_rfc3339_opts(SecondsFormat::Secs, true))
                        .append_pair("timeMax", &to.to_rfc3339_opts(SecondsFormat::Secs, true))
                        .append_pair("showDeleted", "true");
                }
                EventsRead::Since { sync_token } => {
                    query.append_pair("syncToken", sync_token);
                }
            }
            if let Some(page) = page {
                query.append_pair("pageToken", page);
            }
        }
        let response = send(self.http.get(url), access).await?;
        let body: EventsBody = read_json(response).await?;
        Ok(EventsPage {
            events: body.items.into_iter().map(event_of).collect(),
            next_page: body.next_page_token,
            sync_token: body.next_sync_token,
            ..EventsPage::default()
        })
    }
}

fn event_of(e: EventBody) -> ExternalEvent {
    let when = match (e.start.as_ref(), e.end.as_ref()) {
        (Some(start), Some(end)) => when_of(start, end),
        _ => None,
    };
    ExternalEvent {
        cancelled: e.status == "cancelled",
        transparent: e.transparency == "transparent",
        declined: e
            .attendees
            .iter()
            .any(|a| a.is_self && a.response_status == "declined"),
        ours: e
            .extended_properties
            .is_some_and(|p| p.private.contains_key(OURS)),
        id: e.id,
        when,
    }
}

fn when_of(start: &EventWhen, end: &EventWhen) -> Option<EventTime> {
    if let (Some(s), Some(e)) = (&start.date, &end.date) {
        return Some(EventTime::AllDay {
            start: s.parse::<NaiveDate>().ok()?,
            end: e.parse::<NaiveDate>().ok()?,
        });
    }
    Some(EventTime::At {
        start: instant(start)?,
        end: instant(end)?,
    })
}

/// An event's `dateTime`: with its offset, or (without one) read in its `timeZone`.
fn instant(when: &EventWhen) -> Option<DateTime<Utc>> {
    let text = when.date_time.as_deref()?;
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok()?;
    let zone: TimeZone = when.time_zone.as_deref()?.parse().ok()?;
    let minutes = local
        .time()
        .signed_duration_since(chrono::NaiveTime::MIN)
        .num_minutes();
    let time = LocalTime::from_minutes(u16::try_from(minutes).ok()?)?;
    Some(resolve_edge(zone, local.date(), time))
}

/// Sends `request` with the access token.
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    access: &Secret,
) -> Result<Response, ProviderError> {
    request
        .bearer_auth(access.expose())
        .send()
        .await
        .map_err(unreachable)
}

/// Done, or already gone (stopping or deleting it again is done too).
pub(super) async fn done_or_gone(response: Response) -> Result<(), ProviderError> {
    if response.status().is_success() {
        return Ok(());
    }
    match failed(response).await {
        ProviderError::NotFound => Ok(()),
        other => Err(other),
    }
}

fn unreachable(e: reqwest::Error) -> ProviderError {
    ProviderError::Upstream {
        status: None,
        message: format!("Google could not be reached: {e}"),
    }
}

/// The body of a successful answer, or the typed failure.
pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
) -> Result<T, ProviderError> {
    json_or(response, failure).await
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
