//! CalDAV behind [`CalendarApi`]: what the service asks of every calendar, done with a username
//! and an app-specific password.
//!
//! - The connection's "access token" is its [`Credentials`] (server, username, password), sealed at
//!   rest like OAuth tokens; they do not expire, and a `401` means the mentor must enter them again.
//! - Calendars are what discovery finds; the calendar id is the collection's URL.
//! - A whole read asks the collection's `sync-token` (or `getctag`) first, then its objects over
//!   the window (`calendar-query`), expanding recurrences here ([`ics`](super::ics)). The next read
//!   starts from that token: `sync-collection` names the objects changed and removed, which are
//!   read with `calendar-multiget`, each replacing all the occurrences it had. A server with only a
//!   ctag gets one `PROPFIND` per poll, and a whole read when the ctag moved.
//! - Session events are objects named `{event id}.ics`, created with `If-None-Match: *` and moved
//!   with `If-Match` on the ETag just read (a `412` reads again, a few times); see
//!   [`object`](super::object).
//! - There is no push: the calendar is polled.

use std::cell::Cell;
use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::discovery::DiscoveryError;
use super::ics::{events_of, Names};
use super::object::{collection, key_of, path_of, retimed, session_object, url_of};
use super::read::CalendarObject;
use super::write::Written as Put;
use super::{Account, CalDav};
use crate::config::Secret;
use crate::domain::calendar::ExternalEvent;
use crate::integrations::calendar::api::{
    CalendarApi, Conference, EventsPage, EventsRead, SessionEvent, WatchRequest, Watched, Window,
    Written,
};
use crate::integrations::calendar::oauth::OAuthClient;
use crate::integrations::calendar::{ExternalCalendar, ProviderError};

/// A token that is a collection's ctag (the server offers no `sync-collection`).
const CTAG: &str = "ctag:";
/// Tries of a conditional change that keeps meeting a concurrent edit.
const PUT_TRIES: usize = 3;
/// Events (occurrences) one read takes at most, as Google's and Graph's reads (200 pages): a
/// calendar with more over the window fails its sync rather than the server's memory.
const MAX_EVENTS: usize = 50_000;
/// Zone definitions (`VTIMEZONE`) one read works out at most; ones seen before are free.
const ZONE_MATCHES: u32 = 16;

/// What one read has taken so far.
struct Budget {
    events: usize,
    zones: Cell<u32>,
}

impl Budget {
    fn new() -> Self {
        Budget {
            events: 0,
            zones: Cell::new(ZONE_MATCHES),
        }
    }

    /// Counts `events` in; too many fail the read.
    fn take(&mut self, events: Vec<ExternalEvent>) -> Result<Vec<ExternalEvent>, ProviderError> {
        self.events += events.len();
        if self.events > MAX_EVENTS {
            return Err(ProviderError::Upstream {
                status: None,
                message: format!(
                    "the calendar holds more than {MAX_EVENTS} events over the window"
                ),
            });
        }
        Ok(events)
    }
}

/// What a CalDAV connection signs in with.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl Credentials {
    /// As one secret, to seal where an OAuth connection keeps its access token.
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).expect("three strings serialize"))
    }

    fn open(secret: &Secret) -> Result<(Self, Account), ProviderError> {
        let found: Credentials =
            serde_json::from_str(secret.expose()).map_err(|_| ProviderError::GrantRevoked {
                reason: "the kept credentials could not be read".into(),
            })?;
        let account = Account {
            username: found.username.clone(),
            password: Secret::new(found.password.clone()),
        };
        Ok((found, account))
    }
}

impl From<DiscoveryError> for ProviderError {
    fn from(e: DiscoveryError) -> Self {
        let message = e.to_string();
        match e {
            DiscoveryError::BadCredentials => ProviderError::Refused {
                field: "password",
                message: format!("{message}: check the username and the app-specific password"),
            },
            DiscoveryError::BadUrl(_)
            | DiscoveryError::NotCalDav(_)
            | DiscoveryError::Unreachable(_) => ProviderError::Refused {
                field: "serverUrl",
                message,
            },
        }
    }
}

fn calendar_url(calendar: &str) -> Result<url::Url, ProviderError> {
    url::Url::parse(calendar)
        .map(|u| collection(&u))
        .map_err(|_| ProviderError::NotFound)
}

impl CalDav {
    /// One object's events over the window; an object we cannot read is logged and skipped (one
    /// malformed event must not stop the calendar's sync).
    fn events_in(
        &self,
        calendar: &url::Url,
        object: &CalendarObject,
        window: &Window,
        budget: &mut Budget,
    ) -> Result<Vec<ExternalEvent>, ProviderError> {
        let Some(path) = path_of(calendar, &object.href) else {
            return Ok(Vec::new());
        };
        let names = Names {
            path: &path,
            key: &key_of(&path),
            invite_domain: &self.uid_domain,
            zone_budget: &budget.zones,
        };
        let events = match events_of(
            &object.ics,
            &names,
            window.zone.tz(),
            window.from,
            window.to,
        ) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(object = %path, error = %e, "a calendar object could not be read: skipped");
                Vec::new()
            }
        };
        budget.take(events)
    }

    /// What changed since `token`: changed objects read again, removed ones as deletions; each
    /// replaces every occurrence it had.
    async fn changes(
        &self,
        calendar: &url::Url,
        account: &Account,
        token: &str,
        window: &Window,
    ) -> Result<EventsPage, ProviderError> {
        if let Some(ctag) = token.strip_prefix(CTAG) {
            let state = self.state_of(calendar, account).await?;
            return match state.ctag {
                Some(now) if now == ctag => Ok(EventsPage {
                    sync_token: Some(token.to_string()),
                    ..EventsPage::default()
                }),
                // Something changed, and only a whole read says what.
                _ => Err(ProviderError::SyncTokenExpired),
            };
        }
        let changes = self.changes_since(calendar, account, Some(token)).await?;
        let mut page = EventsPage {
            sync_token: changes.token.or_else(|| Some(token.to_string())),
            ..EventsPage::default()
        };
        let hrefs: Vec<String> = changes.changed.into_iter().map(|(href, _)| href).collect();
        let objects = if hrefs.is_empty() {
            Vec::new()
        } else {
            self.objects(calendar, account, &hrefs).await?
        };
        let read: HashSet<String> = objects
            .iter()
            .filter_map(|o| path_of(calendar, &o.href))
            .collect();
        let mut budget = Budget::new();
        for object in &objects {
            page.events
                .extend(self.events_in(calendar, object, window, &mut budget)?);
        }
        // Changed and read, changed but gone by the time it was read, or removed.
        for href in hrefs.iter().chain(&changes.removed) {
            let Some(path) = path_of(calendar, href) else {
                continue;
            };
            page.replaced.push(key_of(&path));
            if !read.contains(&path) {
                page.events.push(ExternalEvent {
                    id: path,
                    cancelled: true,
                    transparent: false,
                    declined: false,
                    ours: false,
                    when: None,
                });
            }
        }
        Ok(page)
    }

    /// Moves the object at `url` to `[start, end)`, changing the version just read (`If-Match`);
    /// a concurrent edit reads it again.
    async fn move_object(
        &self,
        url: &url::Url,
        account: &Account,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        for _ in 0..PUT_TRIES {
            let Some(current) = self.object(url, account).await? else {
                return Err(ProviderError::NotFound);
            };
            let moved = retimed(&current.ics, start, end, Utc::now()).map_err(|message| {
                ProviderError::Upstream {
                    status: None,
                    message: format!("the session's event could not be read: {message}"),
                }
            })?;
            // Without an ETag (a server may omit it) the change cannot be conditional.
            let etag = current.etag.as_deref().unwrap_or("*");
            match self.put(url, account, &moved, Some(etag)).await? {
                Put::Done { .. } => return Ok(()),
                Put::Conflict => continue,
            }
        }
        Err(ProviderError::Upstream {
            status: Some(412),
            message: "the event kept changing while it was moved".into(),
        })
    }
}

fn written(url: &url::Url) -> Written {
    Written {
        event_id: url.path().to_string(),
        conference: Conference::None,
    }
}

#[async_trait]
impl CalendarApi for CalDav {
    fn oauth(&self) -> Option<&OAuthClient> {
        None
    }

    fn pushes(&self) -> bool {
        false
    }

    fn reads_and_writes(&self, _scopes: &[String]) -> bool {
        true
    }

    /// Discovery from the server URL; the first calendar found is the account's main one.
    async fn calendars(&self, access: &Secret) -> Result<Vec<ExternalCalendar>, ProviderError> {
        let (credentials, account) = Credentials::open(access)?;
        let found = self.discover(&credentials.server, &account).await?;
        if found.calendars.is_empty() {
            return Err(ProviderError::Refused {
                field: "serverUrl",
                message: "the account has no calendar that takes events".into(),
            });
        }
        Ok(found
            .calendars
            .into_iter()
            .enumerate()
            .map(|(i, c)| ExternalCalendar {
                id: c.url.to_string(),
                name: c.name,
                primary: i == 0,
                email: None,
            })
            .collect())
    }

    async fn events(
        &self,
        access: &Secret,
        calendar: &str,
        read: EventsRead<'_>,
        window: &Window,
        _page: Option<&str>,
    ) -> Result<EventsPage, ProviderError> {
        let (_, account) = Credentials::open(access)?;
        let url = calendar_url(calendar)?;
        match read {
            EventsRead::Since { sync_token } => {
                self.changes(&url, &account, sync_token, window).await
            }
            EventsRead::Full => {
                // The token first: a change made while the objects are read is in the next round.
                let state = self.state_of(&url, &account).await?;
                let token = state
                    .sync_token
                    .or_else(|| state.ctag.map(|c| format!("{CTAG}{c}")));
                let objects = self
                    .objects_between(&url, &account, window.from, window.to)
                    .await?;
                let mut budget = Budget::new();
                let mut events = Vec::new();
                for object in &objects {
                    events.extend(self.events_in(&url, object, window, &mut budget)?);
                }
                Ok(EventsPage {
                    events,
                    sync_token: token,
                    ..EventsPage::default()
                })
            }
        }
    }

    async fn insert_event(
        &self,
        access: &Secret,
        calendar: &str,
        event: &SessionEvent<'_>,
    ) -> Result<Written, ProviderError> {
        let (_, account) = Credentials::open(access)?;
        let url =
            url_of(&calendar_url(calendar)?, event.event_id).ok_or(ProviderError::NotFound)?;
        let uid = format!("{}@{}", event.session_id, self.uid_domain);
        let object = session_object(event, &uid, Utc::now());
        match self.put(&url, &account, &object, None).await? {
            Put::Done { .. } => Ok(written(&url)),
            // An earlier try made it (its answer lost), maybe at the session's old time.
            Put::Conflict => {
                self.move_object(&url, &account, event.start, event.end)
                    .await?;
                Ok(written(&url))
            }
        }
    }

    /// CalDAV events carry no video link: nothing to read back.
    async fn event(
        &self,
        _access: &Secret,
        _calendar: &str,
        _event_id: &str,
    ) -> Result<Conference, ProviderError> {
        Ok(Conference::None)
    }

    async fn move_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Conference, ProviderError> {
        let (_, account) = Credentials::open(access)?;
        let url = url_of(&calendar_url(calendar)?, event_id).ok_or(ProviderError::NotFound)?;
        self.move_object(&url, &account, start, end).await?;
        Ok(Conference::None)
    }

    /// The session is cancelled: its object goes whatever the mentor did to it meanwhile.
    async fn delete_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let (_, account) = Credentials::open(access)?;
        let Some(url) = url_of(&calendar_url(calendar)?, event_id) else {
            return Ok(());
        };
        self.delete(&url, &account, None).await.map(|_| ())
    }

    async fn watch(
        &self,
        _access: &Secret,
        _calendar: &str,
        _request: WatchRequest<'_>,
    ) -> Result<Watched, ProviderError> {
        Err(ProviderError::Upstream {
            status: None,
            message: "CalDAV has no push: calendars are polled".into(),
        })
    }

    async fn stop(
        &self,
        _access: &Secret,
        _channel_id: &str,
        _resource_id: &str,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> ExternalEvent {
        ExternalEvent {
            id: format!("k#{i}"),
            cancelled: false,
            transparent: false,
            declined: false,
            ours: false,
            when: None,
        }
    }

    #[test]
    fn a_read_takes_a_bounded_number_of_events() {
        let mut budget = Budget::new();
        let half: Vec<ExternalEvent> = (0..MAX_EVENTS / 2).map(event).collect();
        assert!(budget.take(half.clone()).is_ok());
        assert!(budget.take(half).is_ok());
        let failed = budget.take(vec![event(0)]).unwrap_err();
        assert!(failed.to_string().contains("50000"), "{failed}");
    }
}
