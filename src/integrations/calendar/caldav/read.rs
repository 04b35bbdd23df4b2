//! Reading a calendar collection's objects: `calendar-query` (RFC 4791 §7.8) for the events that
//! overlap a window, each with its `getetag` and `calendar-data`.

use chrono::{DateTime, Utc};

use super::xml::{self, CALDAV, DAV};
use super::{failure, multistatus, send, Account, CalDav};
use crate::integrations::calendar::ProviderError;

/// One calendar object as the server gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarObject {
    pub href: String,
    pub etag: Option<String>,
    pub ics: String,
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

impl CalDav {
    /// The events of `calendar` overlapping `[from, to)` (the server matches recurring events by
    /// any occurrence in the range and returns them whole).
    pub async fn objects_between(
        &self,
        calendar: &url::Url,
        account: &Account,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CalendarObject>, ProviderError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{}" end="{}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
            stamp(from),
            stamp(to)
        );
        objects_of(send(self.dav("REPORT", calendar, account, "1", &body)).await?).await
    }
}

/// The calendar objects of a `calendar-query` or `calendar-multiget` answer.
async fn objects_of(response: reqwest::Response) -> Result<Vec<CalendarObject>, ProviderError> {
    if response.status() != reqwest::StatusCode::MULTI_STATUS {
        return Err(failure(response.status()));
    }
    let text = multistatus(response).await?;
    let (entries, _) = xml::parse(&text).map_err(|message| ProviderError::Upstream {
        status: Some(207),
        message,
    })?;
    Ok(entries
        .into_iter()
        .filter_map(|e| {
            let ics = e.text(CALDAV, "calendar-data")?.to_string();
            Some(CalendarObject {
                etag: e.text(DAV, "getetag").map(str::to_string),
                href: e.href,
                ics,
            })
        })
        .collect())
}

/// What changed in a collection since a sync token (RFC 6578).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Members added or changed, with their ETags (read them with [`CalDav::objects`]).
    pub changed: Vec<(String, Option<String>)>,
    /// Members removed.
    pub removed: Vec<String>,
    /// Where the next round starts.
    pub token: Option<String>,
}

impl CalDav {
    /// What changed in `calendar` since `token` (`None`: everything, the first round).
    /// `SyncTokenExpired` when the server no longer knows the token (`403`/`409` with
    /// `valid-sync-token`, or a `507` truncation): read everything again.
    pub async fn changes_since(
        &self,
        calendar: &url::Url,
        account: &Account,
        token: Option<&str>,
    ) -> Result<Changes, ProviderError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#,
            xml::escape(token.unwrap_or_default())
        );
        let response = send(self.dav("REPORT", calendar, account, "0", &body)).await?;
        let status = response.status().as_u16();
        if matches!(status, 403 | 409 | 507) && token.is_some() {
            let text = response.text().await.unwrap_or_default();
            if status == 507 || text.contains("valid-sync-token") {
                return Err(ProviderError::SyncTokenExpired);
            }
            return Err(failure(
                reqwest::StatusCode::from_u16(status).unwrap_or_default(),
            ));
        }
        if status != 207 {
            return Err(failure(
                reqwest::StatusCode::from_u16(status).unwrap_or_default(),
            ));
        }
        let text = multistatus(response).await?;
        let (entries, token) = xml::parse(&text).map_err(|message| ProviderError::Upstream {
            status: Some(207),
            message,
        })?;
        let mut changes = Changes {
            changed: Vec::new(),
            removed: Vec::new(),
            token,
        };
        for e in entries {
            if e.status == Some(404) {
                changes.removed.push(e.href);
            } else if e.href.ends_with(".ics") || e.prop(DAV, "getetag").is_some() {
                let etag = e.text(DAV, "getetag").map(str::to_string);
                changes.changed.push((e.href, etag));
            }
        }
        Ok(changes)
    }

    /// The objects at `hrefs` (`calendar-multiget`, RFC 4791 §7.9), at most 100 at a time.
    pub async fn objects(
        &self,
        calendar: &url::Url,
        account: &Account,
        hrefs: &[String],
    ) -> Result<Vec<CalendarObject>, ProviderError> {
        let mut objects = Vec::new();
        for chunk in hrefs.chunks(100) {
            let wanted: String = chunk
                .iter()
                .map(|h| format!("<D:href>{}</D:href>", xml::escape(h)))
                .collect();
            let body = format!(
                r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>{wanted}</C:calendar-multiget>"#
            );
            let response = send(self.dav("REPORT", calendar, account, "1", &body)).await?;
            objects.extend(objects_of(response).await?);
        }
        Ok(objects)
    }
}

/// Where a collection stands: what changes when anything in it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionState {
    pub ctag: Option<String>,
    /// Present where the server offers RFC 6578 `sync-collection`.
    pub sync_token: Option<String>,
}

impl CalDav {
    /// The collection's `getctag` and `sync-token` (`PROPFIND`, depth 0).
    pub async fn state_of(
        &self,
        calendar: &url::Url,
        account: &Account,
    ) -> Result<CollectionState, ProviderError> {
        const STATE: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>"#;
        let response = send(self.dav("PROPFIND", calendar, account, "0", STATE)).await?;
        let text = multistatus(response).await?;
        let (entries, _) = xml::parse(&text).map_err(|message| ProviderError::Upstream {
            status: Some(207),
            message,
        })?;
        let entry = entries.first();
        Ok(CollectionState {
            ctag: entry
                .and_then(|e| e.text(super::xml::CS, "getctag"))
                .map(str::to_string),
            sync_token: entry
                .and_then(|e| e.text(DAV, "sync-token"))
                .map(str::to_string),
        })
    }
}

impl CalDav {
    /// One object with its ETag (`GET`); `None` when it is not there.
    pub async fn object(
        &self,
        object: &url::Url,
        account: &Account,
    ) -> Result<Option<CalendarObject>, ProviderError> {
        let request = self
            .http
            .get(object.clone())
            .basic_auth(&account.username, Some(account.password.expose()));
        let response = send(request).await?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(failure(status));
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ics = super::bounded_text(response).await?;
        Ok(Some(CalendarObject {
            href: object.path().to_string(),
            etag,
            ics,
        }))
    }
}
