//! Outlook and Microsoft 365 calendars: OAuth on the Microsoft identity platform v2 (the shared
//! [`OAuthClient`], with PKCE, `offline_access` and `Calendars.ReadWrite`; refresh tokens rotate and
//! the newest is kept), and Microsoft Graph ([`graph`]: reading in [`read`], sessions and
//! subscriptions in [`write`]). Every endpoint comes from the settings (tests point them at a
//! fake). Graph's error bodies and statuses become [`ProviderError`] here, and nowhere else.

pub mod graph;
pub mod read;
pub mod write;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::api::{
    CalendarApi, Conference, EventsPage, EventsRead, SessionEvent, WatchRequest, Watched, Window,
    Written,
};
use super::oauth::{OAuthClient, OAuthEndpoints};
use super::{ExternalCalendar, ProviderError};
use crate::config::{MicrosoftSettings, Secret};

/// What our sessions' `transactionId`s start with: how their events are told from the mentor's.
pub const SESSION_KEY_PREFIX: &str = "mentor-session-";

/// The scope that lets the service read calendars and write sessions.
const CALENDARS: &str = "Calendars.ReadWrite";

/// Everything the service calls at Microsoft, built from its settings.
pub struct Microsoft {
    oauth: OAuthClient,
    graph: graph::Graph,
    /// `{PUBLIC_BASE_URL}/calendar/webhook/outlook`: a subscription posts under it, to its channel.
    webhook_url: String,
}

impl Microsoft {
    pub fn new(settings: &MicrosoftSettings) -> anyhow::Result<Self> {
        let http = super::http_client();
        let tenant_url = format!("{}/{}/oauth2/v2.0", settings.auth_url, settings.tenant);
        let scopes = [
            "offline_access".to_string(),
            format!("https://graph.microsoft.com/{CALENDARS}"),
        ];
        Ok(Microsoft {
            oauth: OAuthClient::new(
                &OAuthEndpoints {
                    client_id: &settings.client_id,
                    client_secret: &settings.client_secret,
                    auth_url: &format!("{tenant_url}/authorize"),
                    token_url: &format!("{tenant_url}/token"),
                    redirect_uri: &settings.redirect_uri,
                    scopes: &scopes,
                    // The code comes back in the query; the mentor picks the account.
                    consent_params: &[("response_mode", "query"), ("prompt", "select_account")],
                    // Microsoft has no endpoint that revokes one app's grant: disconnecting
                    // forgets the tokens, and the mentor can remove the app from their account.
                    revoke_url: None,
                },
                http.clone(),
            )?,
            graph: graph::Graph::new(&settings.graph_url, http),
            webhook_url: settings.webhook_url.clone(),
        })
    }
}

/// Whether granted `scopes` include `Calendars.ReadWrite` (Microsoft lists it with or without
/// Graph's resource prefix); no scopes listed: what was asked was granted.
fn reads_and_writes_calendars(scopes: &[String]) -> bool {
    scopes.is_empty()
        || scopes.iter().any(|s| {
            let name = s.rsplit('/').next().unwrap_or(s);
            name.eq_ignore_ascii_case(CALENDARS)
        })
}

#[async_trait]
impl CalendarApi for Microsoft {
    fn oauth(&self) -> Option<&OAuthClient> {
        Some(&self.oauth)
    }

    fn reads_and_writes(&self, scopes: &[String]) -> bool {
        reads_and_writes_calendars(scopes)
    }

    async fn calendars(&self, access: &Secret) -> Result<Vec<ExternalCalendar>, ProviderError> {
        self.graph.calendars(access).await
    }

    async fn events(
        &self,
        access: &Secret,
        calendar: &str,
        read: EventsRead<'_>,
        window: &Window,
        page: Option<&str>,
    ) -> Result<EventsPage, ProviderError> {
        self.graph
            .events(access, calendar, read, window, page)
            .await
    }

    async fn insert_event(
        &self,
        access: &Secret,
        calendar: &str,
        event: &SessionEvent<'_>,
    ) -> Result<Written, ProviderError> {
        self.graph.insert_event(access, calendar, event).await
    }

    async fn event(
        &self,
        access: &Secret,
        _calendar: &str,
        event_id: &str,
    ) -> Result<Conference, ProviderError> {
        self.graph.event(access, event_id).await
    }

    async fn move_event(
        &self,
        access: &Secret,
        _calendar: &str,
        event_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Conference, ProviderError> {
        self.graph.move_event(access, event_id, start, end).await
    }

    async fn delete_event(
        &self,
        access: &Secret,
        _calendar: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        self.graph.delete_event(access, event_id).await
    }

    async fn watch(
        &self,
        access: &Secret,
        calendar: &str,
        request: WatchRequest<'_>,
    ) -> Result<Watched, ProviderError> {
        let notify_to = format!("{}/{}", self.webhook_url, request.channel_id);
        self.graph
            .subscribe(access, calendar, &notify_to, request)
            .await
    }

    async fn stop(
        &self,
        access: &Secret,
        _channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        self.graph.unsubscribe(access, resource_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendars_read_write_is_what_counts_in_either_spelling() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(reads_and_writes_calendars(&[]));
        assert!(reads_and_writes_calendars(&s(&[
            "https://graph.microsoft.com/Calendars.ReadWrite"
        ])));
        assert!(reads_and_writes_calendars(&s(&[
            "openid",
            "calendars.readwrite"
        ])));
        assert!(!reads_and_writes_calendars(&s(&[
            "https://graph.microsoft.com/Calendars.Read",
            "User.Read"
        ])));
    }
}
