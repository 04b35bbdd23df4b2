//! Google: OAuth 2.0 with PKCE (the shared [`OAuthClient`]) and the Calendar API ([`api`]), every
//! endpoint from the
//! settings (tests point them at a fake). Google's error bodies and statuses become the typed
//! [`ProviderError`](super::ProviderError) here, and nowhere else.

pub mod api;
pub mod channels;
pub mod events;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::api::{
    CalendarApi, Conference, EventsPage, EventsRead, SessionEvent, WatchRequest, Watched, Window,
    Written,
};
use super::oauth::{OAuthClient, OAuthEndpoints};
use super::{ExternalCalendar, ProviderError};
use crate::config::Secret;

/// Everything the service calls at Google, built from its settings.
pub struct Google {
    pub oauth: OAuthClient,
    pub api: api::GoogleCalendarApi,
    /// Where push channels post (`{PUBLIC_BASE_URL}/calendar/webhook`).
    pub webhook_url: String,
}

impl Google {
    pub fn new(settings: &crate::config::GoogleSettings) -> anyhow::Result<Self> {
        let http = super::http_client();
        Ok(Google {
            oauth: OAuthClient::new(
                &OAuthEndpoints {
                    client_id: &settings.client_id,
                    client_secret: &settings.client_secret,
                    auth_url: &settings.auth_url,
                    token_url: &settings.token_url,
                    redirect_uri: &settings.redirect_uri,
                    scopes: &settings.scopes,
                    // A refresh token every time (`prompt=consent`), for offline use.
                    consent_params: &[("access_type", "offline"), ("prompt", "consent")],
                    revoke_url: Some(&settings.revoke_url),
                },
                http.clone(),
            )?,
            api: api::GoogleCalendarApi::new(&settings.calendar_api_url, http),
            webhook_url: settings.webhook_url.clone(),
        })
    }
}

/// Whether granted `scopes` let the service list calendars, read busy time and write sessions
/// (Google's consent page lets the mentor untick them): `calendar`, or `calendar.readonly` with
/// `calendar.events`. No scopes listed: the provider granted what was asked.
fn reads_and_writes_calendars(scopes: &[String]) -> bool {
    const BASE: &str = "https://www.googleapis.com/auth/calendar";
    let has = |suffix: &str| scopes.iter().any(|s| *s == format!("{BASE}{suffix}"));
    scopes.is_empty() || has("") || (has(".readonly") && has(".events"))
}

#[async_trait]
impl CalendarApi for Google {
    fn oauth(&self) -> Option<&OAuthClient> {
        Some(&self.oauth)
    }

    fn reads_and_writes(&self, scopes: &[String]) -> bool {
        reads_and_writes_calendars(scopes)
    }

    async fn calendars(&self, access: &Secret) -> Result<Vec<ExternalCalendar>, ProviderError> {
        self.api.calendars(access).await
    }

    async fn events(
        &self,
        access: &Secret,
        calendar: &str,
        read: EventsRead<'_>,
        window: &Window,
        page: Option<&str>,
    ) -> Result<EventsPage, ProviderError> {
        self.api.events(access, calendar, read, window, page).await
    }

    async fn insert_event(
        &self,
        access: &Secret,
        calendar: &str,
        event: &SessionEvent<'_>,
    ) -> Result<Written, ProviderError> {
        let conference = self.api.insert_event(access, calendar, event).await?;
        Ok(Written {
            event_id: event.event_id.to_string(),
            conference,
        })
    }

    async fn event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
    ) -> Result<Conference, ProviderError> {
        self.api.event(access, calendar, event_id).await
    }

    async fn move_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Conference, ProviderError> {
        self.api
            .move_event(access, calendar, event_id, start, end)
            .await
    }

    async fn delete_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        self.api.delete_event(access, calendar, event_id).await
    }

    async fn watch(
        &self,
        access: &Secret,
        calendar: &str,
        request: WatchRequest<'_>,
    ) -> Result<Watched, ProviderError> {
        self.api
            .watch(access, calendar, &self.webhook_url, request)
            .await
    }

    async fn stop(
        &self,
        access: &Secret,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        self.api.stop(access, channel_id, resource_id).await
    }
}
