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
        let response = send(self.dav("REPORT", calendar, account, "1", &body)).await?;
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
}
