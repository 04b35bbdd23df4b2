//! Reading an Outlook account: its calendars (`/me/calendars`) and their events through
//! `calendarView/delta`. Occurrences of recurring series come expanded; the first round reads the
//! window, each page's `@odata.nextLink` the next page, and the last page's `@odata.deltaLink` is
//! kept as the sync token: called as it is, it gives what changed since (deleted events, and events
//! that left the window, as `@removed`).
//!
//! What counts as busy, by `showAs`: `busy`, `oof` (away) and `tentative` (the mentor may well go:
//! a session booked over it would be a double booking) block time; `free` and `workingElsewhere`
//! (working, only from another place) do not; `unknown` blocks, as the safe reading. An event the
//! mentor declined, a cancelled one, and our own sessions (their `transactionId` is ours) never do.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;

use super::graph::{read_json, send, Graph};
use super::SESSION_KEY_PREFIX;
use crate::config::Secret;
use crate::domain::calendar::{EventTime, ExternalEvent};
use crate::domain::time::{LocalTime, TimeZone};
use crate::domain::wallclock::resolve_edge;
use crate::integrations::calendar::api::{EventsPage, EventsRead, Window};
use crate::integrations::calendar::{ExternalCalendar, ProviderError};

/// Events a delta page holds at most (`Prefer: odata.maxpagesize`).
const EVENTS_PER_PAGE: u32 = 100;
/// Pages of the calendar list read at most.
const MAX_LIST_PAGES: usize = 20;

#[derive(Deserialize)]
struct CalendarsPage {
    #[serde(default)]
    value: Vec<CalendarBody>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarBody {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    is_default_calendar: bool,
    owner: Option<Owner>,
}

#[derive(Deserialize)]
struct Owner {
    address: Option<String>,
}

#[derive(Deserialize)]
struct DeltaBody {
    #[serde(default)]
    value: Vec<EventBody>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<serde_json::Value>,
    #[serde(default)]
    is_cancelled: bool,
    #[serde(default)]
    is_all_day: bool,
    show_as: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    start: Option<When>,
    end: Option<When>,
    response_status: Option<ResponseStatus>,
    transaction_id: Option<String>,
    original_start_time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct When {
    date_time: String,
    time_zone: Option<String>,
}

#[derive(Deserialize)]
struct ResponseStatus {
    response: Option<String>,
}

impl Graph {
    /// Every calendar of the account, every page.
    pub async fn calendars(&self, access: &Secret) -> Result<Vec<ExternalCalendar>, ProviderError> {
        let mut url = self.url_of(&["me", "calendars"])?;
        let mut calendars = Vec::new();
        for _ in 0..MAX_LIST_PAGES {
            let body: CalendarsPage = read_json(send(self.http.get(url), access).await?).await?;
            calendars.extend(body.value.into_iter().map(|c| ExternalCalendar {
                email: c.owner.and_then(|o| o.address),
                id: c.id,
                name: c.name,
                primary: c.is_default_calendar,
            }));
            match body.next_link {
                Some(next) => url = self.link(&next)?,
                None => return Ok(calendars),
            }
        }
        Err(ProviderError::Upstream {
            status: None,
            message: format!("the calendar list ran past {MAX_LIST_PAGES} pages"),
        })
    }

    /// One page of a calendar's events: the window's (whole), or what changed since a deltaLink;
    /// `page` is the last page's nextLink.
    pub async fn events(
        &self,
        access: &Secret,
        calendar: &str,
        read: EventsRead<'_>,
        window: &Window,
        page: Option<&str>,
    ) -> Result<EventsPage, ProviderError> {
        let url = match (page, read) {
            (Some(next), _) => self.link(next)?,
            (None, EventsRead::Since { sync_token }) => self.link(sync_token)?,
            (None, EventsRead::Full) => {
                let Window { from, to, .. } = *window;
                let mut url =
                    self.url_of(&["me", "calendars", calendar, "calendarView", "delta"])?;
                url.query_pairs_mut()
                    .append_pair("startDateTime", &stamp(from))
                    .append_pair("endDateTime", &stamp(to));
                url
            }
        };
        let request = self
            .http
            .get(url)
            .header("Prefer", format!("odata.maxpagesize={EVENTS_PER_PAGE}"));
        let body: DeltaBody = read_json(send(request, access).await?).await?;
        Ok(EventsPage {
            events: body.value.into_iter().filter_map(event_of).collect(),
            next_page: body.next_link,
            sync_token: body.delta_link,
            ..EventsPage::default()
        })
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An event as the busy rules need it; `None` for a series master (its occurrences come
/// expanded).
fn event_of(e: EventBody) -> Option<ExternalEvent> {
    if e.removed.is_some() {
        return Some(ExternalEvent {
            id: e.id,
            cancelled: true,
            transparent: false,
            declined: false,
            ours: false,
            when: None,
        });
    }
    if e.kind.as_deref() == Some("seriesMaster") {
        return None;
    }
    let when = match (&e.start, &e.end) {
        (Some(start), Some(end)) if e.is_all_day => {
            all_day(start, end, e.original_start_time_zone.as_deref())
        }
        (Some(start), Some(end)) => Some(EventTime::At {
            start: instant(start)?,
            end: instant(end)?,
        }),
        _ => None,
    };
    Some(ExternalEvent {
        cancelled: e.is_cancelled,
        transparent: matches!(e.show_as.as_deref(), Some("free" | "workingElsewhere")),
        declined: e
            .response_status
            .and_then(|r| r.response)
            .is_some_and(|r| r == "declined"),
        ours: e
            .transaction_id
            .is_some_and(|t| t.starts_with(SESSION_KEY_PREFIX)),
        id: e.id,
        when,
    })
}

/// Graph's `dateTime` (`2026-01-05T09:00:00.0000000`, no offset) read in its `timeZone`: UTC, as
/// every call asks, or an IANA zone.
fn instant(when: &When) -> Option<DateTime<Utc>> {
    let local = local_time(&when.date_time)?;
    match when.time_zone.as_deref() {
        None | Some("UTC") | Some("Etc/UTC") => Some(local.and_utc()),
        Some(zone) => {
            let zone: TimeZone = zone.parse().ok()?;
            let minutes = local
                .time()
                .signed_duration_since(chrono::NaiveTime::MIN)
                .num_minutes();
            let time = LocalTime::from_minutes(u16::try_from(minutes).ok()?)?;
            Some(resolve_edge(zone, local.date(), time))
        }
    }
}

/// A `{dateTime, timeZone}` of Graph's, as an instant.
pub(super) fn instant_of(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    let when: When = serde_json::from_value(v.clone()).ok()?;
    instant(&when)
}

fn local_time(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// An all-day event: its days, midnight to midnight in the event's own zone when Graph names one
/// (IANA, or Outlook's own Windows names such as `Pacific Standard Time`, through CLDR's table);
/// a name neither knows reads as whole days of the mentor's zone, as Google's all-day events are.
fn all_day(start: &When, end: &When, original: Option<&str>) -> Option<EventTime> {
    let first: NaiveDate = local_time(&start.date_time)?.date();
    let last: NaiveDate = local_time(&end.date_time)?.date();
    let zone = start
        .time_zone
        .as_deref()
        .filter(|z| *z != "UTC")
        .or(original)
        .and_then(TimeZone::named);
    Some(match zone {
        Some(zone) => EventTime::At {
            start: resolve_edge(zone, first, LocalTime::MIDNIGHT),
            end: resolve_edge(zone, last, LocalTime::MIDNIGHT),
        },
        None => EventTime::AllDay {
            start: first,
            end: last,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value) -> Option<ExternalEvent> {
        event_of(serde_json::from_value(v).unwrap())
    }

    fn timed(show_as: &str) -> serde_json::Value {
        json!({"id": "e1", "showAs": show_as, "isAllDay": false, "isCancelled": false,
            "type": "singleInstance",
            "start": {"dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-05T10:30:00.0000000", "timeZone": "UTC"},
            "responseStatus": {"response": "organizer"}})
    }

    #[test]
    fn show_as_decides_what_blocks_time() {
        for (show_as, free) in [
            ("busy", false),
            ("oof", false),
            ("tentative", false),
            ("unknown", false),
            ("free", true),
            ("workingElsewhere", true),
        ] {
            assert_eq!(read(timed(show_as)).unwrap().transparent, free, "{show_as}");
        }
        let e = read(timed("busy")).unwrap();
        assert_eq!(
            e.when,
            Some(EventTime::At {
                start: "2026-01-05T09:00:00Z".parse().unwrap(),
                end: "2026-01-05T10:30:00Z".parse().unwrap(),
            })
        );
        assert!(!e.cancelled && !e.declined && !e.ours);
    }

    #[test]
    fn removals_declines_ours_and_masters_read_as_such() {
        let removed = read(json!({"id": "gone", "@removed": {"reason": "deleted"}})).unwrap();
        assert!(removed.cancelled && removed.when.is_none());
        let mut declined = timed("busy");
        declined["responseStatus"] = json!({"response": "declined"});
        assert!(read(declined).unwrap().declined);
        let mut ours = timed("busy");
        ours["transactionId"] = json!(format!("{SESSION_KEY_PREFIX}abc"));
        assert!(read(ours).unwrap().ours);
        let mut master = timed("busy");
        master["type"] = json!("seriesMaster");
        assert!(read(master).is_none());
        let mut cancelled = timed("busy");
        cancelled["isCancelled"] = json!(true);
        assert!(read(cancelled).unwrap().cancelled);
    }

    #[test]
    fn all_day_events_keep_their_own_zone_where_it_is_named() {
        let day = |zone: &str| {
            json!({"id": "d", "isAllDay": true, "showAs": "busy", "originalStartTimeZone": zone,
                "start": {"dateTime": "2026-03-29T00:00:00.0000000", "timeZone": zone},
                "end": {"dateTime": "2026-03-30T00:00:00.0000000", "timeZone": zone}})
        };
        // London springs forward that day: the day is 23 hours long.
        assert_eq!(
            read(day("Europe/London")).unwrap().when,
            Some(EventTime::At {
                start: "2026-03-29T00:00:00Z".parse().unwrap(),
                end: "2026-03-29T23:00:00Z".parse().unwrap(),
            })
        );
        assert_eq!(
            read(day("Asia/Kolkata")).unwrap().when,
            Some(EventTime::At {
                start: "2026-03-28T18:30:00Z".parse().unwrap(),
                end: "2026-03-29T18:30:00Z".parse().unwrap(),
            })
        );
        // Outlook's own (Windows) names too: Los Angeles is on PDT (UTC-7) by then.
        assert_eq!(
            read(day("Pacific Standard Time")).unwrap().when,
            Some(EventTime::At {
                start: "2026-03-29T07:00:00Z".parse().unwrap(),
                end: "2026-03-30T07:00:00Z".parse().unwrap(),
            })
        );
        // A name nobody knows: the mentor's days.
        assert_eq!(
            read(day("Somewhere Standard Time")).unwrap().when,
            Some(EventTime::AllDay {
                start: "2026-03-29".parse().unwrap(),
                end: "2026-03-30".parse().unwrap(),
            })
        );
    }
}
