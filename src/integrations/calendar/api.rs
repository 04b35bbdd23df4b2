//! What the calendar service asks of every calendar provider (Google and Microsoft Graph with
//! OAuth, CalDAV with a password): the consent and its tokens, the account's calendars, its events read
//! whole or since a sync token, session events written and read back, and push channels. Each
//! adapter reads its provider's formats and failures into these types and [`ProviderError`]; the
//! service never sees a provider's JSON.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::oauth::OAuthClient;
use super::{ExternalCalendar, ProviderError};
use crate::config::Secret;
use crate::domain::calendar::{CalendarProvider, ExternalEvent};
use crate::domain::time::TimeZone;

/// The calendar providers configured on this server, each with its client.
#[derive(Clone, Default)]
pub struct CalendarApis(Vec<(CalendarProvider, Arc<dyn CalendarApi>)>);

impl CalendarApis {
    pub fn with(mut self, provider: CalendarProvider, api: Arc<dyn CalendarApi>) -> Self {
        self.0.retain(|(p, _)| *p != provider);
        self.0.push((provider, api));
        self
    }

    /// The client of `provider`, when it is configured.
    pub fn get(&self, provider: CalendarProvider) -> Option<&dyn CalendarApi> {
        self.0
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, api)| api.as_ref())
    }

    /// The providers configured.
    pub fn providers(&self) -> Vec<CalendarProvider> {
        self.0.iter().map(|(p, _)| *p).collect()
    }
}

#[async_trait]
pub trait CalendarApi: Send + Sync {
    /// The provider's OAuth client (consent, code exchange, refresh and revoke go through it);
    /// `None` for a provider signed in to with a password (CalDAV), whose credentials do not expire.
    fn oauth(&self) -> Option<&OAuthClient>;

    /// Whether the provider pushes changes (then channels are opened on busy calendars); one that
    /// does not is polled at the mentor's frequency.
    fn pushes(&self) -> bool {
        true
    }

    /// Whether the granted `scopes` let the service read calendars and write sessions (no scopes
    /// listed: what was asked was granted).
    fn reads_and_writes(&self, scopes: &[String]) -> bool;

    async fn calendars(&self, access: &Secret) -> Result<Vec<ExternalCalendar>, ProviderError>;
    /// One page of `calendar`'s events; `page`: the last page's `next_page`.
    async fn events(
        &self,
        access: &Secret,
        calendar: &str,
        read: EventsRead<'_>,
        window: &Window,
        page: Option<&str>,
    ) -> Result<EventsPage, ProviderError>;

    /// Writes a session's event with a video link asked for; `AlreadyExists` when an earlier try
    /// made it (where the event id is ours), or the event that try made (where the provider
    /// names events and dedupes on the session's key).
    async fn insert_event(
        &self,
        access: &Secret,
        calendar: &str,
        event: &SessionEvent<'_>,
    ) -> Result<Written, ProviderError>;
    /// Reads a session's event back (for its video link).
    async fn event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
    ) -> Result<Conference, ProviderError>;
    async fn move_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Conference, ProviderError>;
    /// Deleting what is not there is a success.
    async fn delete_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
    ) -> Result<(), ProviderError>;

    /// Opens a push channel on `calendar`, posting to this service's webhook for the provider.
    async fn watch(
        &self,
        access: &Secret,
        calendar: &str,
        request: WatchRequest<'_>,
    ) -> Result<Watched, ProviderError>;
    async fn stop(
        &self,
        access: &Secret,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError>;
}

/// Which events to read.
#[derive(Debug, Clone, Copy)]
pub enum EventsRead<'a> {
    /// Everything that overlaps the window: the first read, and after the token expired.
    Full,
    /// What changed since the read that gave `sync_token` (deleted events included).
    Since { sync_token: &'a str },
}

/// The span of time a read keeps, and the mentor's zone: where a provider hands back whole
/// recurring objects (CalDAV), their occurrences are expanded over the span, and times with no
/// zone of their own (floating times) are the mentor's.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub zone: TimeZone,
}

/// One page of a calendar's events.
#[derive(Debug, Default)]
pub struct EventsPage {
    pub events: Vec<ExternalEvent>,
    /// Objects read again or removed (a CalDAV resource, whose occurrences are events of their
    /// own): every busy block whose id is one of these or starts with
    /// [`occurrences_of`](crate::domain::calendar::occurrences_of) one goes before this page's events are written.
    pub replaced: Vec<String>,
    /// Read on with this; the last page has none.
    pub next_page: Option<String>,
    /// Only on the last page: where the next incremental read starts.
    pub sync_token: Option<String>,
}

/// A session as its event shows it.
pub struct SessionEvent<'a> {
    pub event_id: &'a str,
    pub session_id: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    /// Where to join: the service's `/join` link.
    pub location: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub attendees: &'a [&'a str],
}

/// A session's event as written: the provider's id for it, and its video link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub event_id: String,
    pub conference: Conference,
}

/// Where the event's video link (Meet, Teams) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conference {
    /// None was asked for (or the provider dropped it).
    None,
    /// The provider is still making it: read the event again later.
    Pending,
    /// The video link.
    Ready(String),
    /// The provider could not make one.
    Failed,
}

/// A push channel to open on a calendar.
pub struct WatchRequest<'a> {
    /// Our id for the channel (a UUID; Google allows 64 characters of `[A-Za-z0-9-_+/=]`).
    pub channel_id: &'a str,
    /// The channel's secret, sent back with every push.
    pub token: &'a Secret,
    /// The expiry asked for; the provider may grant less.
    pub expires_at: DateTime<Utc>,
    /// When it is asked (the provider's longest lifetime counts from then).
    pub asked_at: DateTime<Utc>,
}

/// What a code exchange or a refresh gave.
#[derive(Debug)]
pub struct Grant {
    pub access_token: Secret,
    /// On the first exchange; on a refresh only where refresh tokens rotate (keep the newest).
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<Duration>,
    /// What the mentor really granted (granular consent may grant less than asked).
    pub scopes: Vec<String>,
}

/// A consent URL and the PKCE verifier to keep until the provider sends the mentor back.
pub struct Consent {
    pub url: String,
    pub verifier: Secret,
}

/// A channel the provider opened.
#[derive(Debug)]
pub struct Watched {
    /// The provider's id for what is watched, sent with every push.
    pub resource_id: String,
    pub expires_at: DateTime<Utc>,
}
