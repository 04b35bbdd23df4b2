//! Calendar connections (mentors): connect a provider, come back from it, read the status.

use async_graphql::{Context, Object, SimpleObject, ID};

use super::context::{principal, services};
use super::errors::gql;
use super::scalars::DateTime;
use crate::domain::calendar as domain;
use crate::domain::slots::in_zone;
use crate::domain::time::TimeZone;
use crate::error::AppError;
use crate::service::calendar as svc;

domain::calendar_providers!(mirror_enum
    /// A calendar service a mentor can connect.
    CalendarProvider = domain::
);
domain::sync_states!(mirror_enum
    /// `DISCONNECTED` when the mentor has not connected this provider.
    CalendarSyncState = domain::
);

/// Where to send the mentor to grant access, and the state that brings them back (single use,
/// valid 10 minutes).
#[derive(SimpleObject)]
pub struct CalendarConnectStart {
    pub authorization_url: String,
    pub state: String,
}

/// A calendar of the connected account.
#[derive(SimpleObject)]
pub struct ExternalCalendar {
    pub id: ID,
    pub name: String,
    pub primary: bool,
    /// Its events hide slots.
    pub counts_as_busy: bool,
    /// Sessions are written to it.
    pub receives_sessions: bool,
}

/// A mentor's connection to one provider (the sync settings page).
#[derive(SimpleObject)]
pub struct CalendarStatus {
    pub provider: CalendarProvider,
    pub connected: bool,
    pub state: CalendarSyncState,
    pub sync_enabled: bool,
    pub frequency_minutes: i32,
    pub last_synced_at: Option<DateTime>,
    pub next_sync_at: Option<DateTime>,
    pub last_error: Option<String>,
    pub account_email: Option<String>,
    #[graphql(complexity = "100 * child_complexity")]
    pub calendars: Vec<ExternalCalendar>,
    pub push_active: bool,
    pub push_expires_at: Option<DateTime>,
}

impl CalendarStatus {
    fn new(s: svc::CalendarStatus, zone: TimeZone) -> Self {
        let shown =
            |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|t| DateTime(in_zone(t, zone)));
        CalendarStatus {
            provider: s.provider.into(),
            connected: s.connected,
            state: s.state.into(),
            sync_enabled: s.sync_enabled,
            frequency_minutes: s.frequency_minutes,
            last_synced_at: shown(s.last_synced_at),
            next_sync_at: shown(s.next_sync_at),
            last_error: s.last_error,
            account_email: s.account_email,
            calendars: s
                .calendars
                .into_iter()
                .map(|c| ExternalCalendar {
                    id: ID(c.id),
                    name: c.name,
                    primary: c.primary,
                    counts_as_busy: c.counts_as_busy,
                    receives_sessions: c.receives_sessions,
                })
                .collect(),
            push_active: s.push_active,
            push_expires_at: shown(s.push_expires_at),
        }
    }
}

#[derive(Default)]
pub struct CalendarQuery;

#[Object]
impl CalendarQuery {
    /// Your connection to `provider` (mentors).
    async fn calendar_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(CalendarProvider::Google)")] provider: Option<
            CalendarProvider,
        >,
    ) -> async_graphql::Result<CalendarStatus> {
        let p = principal(ctx)?;
        let provider = provider.unwrap_or(CalendarProvider::Google);
        let status = services(ctx)
            .calendar
            .status(p, provider.into())
            .await
            .map_err(gql)?;
        Ok(CalendarStatus::new(status, p.time_zone))
    }

    /// Every provider you have connected (mentors).
    #[graphql(complexity = "3 * (100 + child_complexity)")]
    async fn calendar_connections(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<CalendarStatus>> {
        let p = principal(ctx)?;
        let all = services(ctx).calendar.connections(p).await.map_err(gql)?;
        Ok(all
            .into_iter()
            .map(|s| CalendarStatus::new(s, p.time_zone))
            .collect())
    }
}

#[derive(Default)]
pub struct CalendarMutation;

#[Object]
impl CalendarMutation {
    /// Starts connecting a calendar (mentors): open `authorizationUrl` in the browser. The provider
    /// sends the mentor back to this service, which finishes and redirects to the dashboard's
    /// `/settings/calendar?provider=...&result=connected` (or `result=error&reason=...`).
    async fn connect_calendar(
        &self,
        ctx: &Context<'_>,
        provider: CalendarProvider,
    ) -> async_graphql::Result<CalendarConnectStart> {
        let p = principal(ctx)?;
        let start = services(ctx)
            .calendar
            .connect(p, provider.into())
            .await
            .map_err(gql)?;
        Ok(CalendarConnectStart {
            authorization_url: start.authorization_url,
            state: start.state,
        })
    }

    /// Finishes connecting, for a dashboard that receives the provider's redirect itself: the `code`
    /// and `state` from it. A state works once, for the mentor who asked for it, for 10 minutes.
    async fn complete_calendar_connection(
        &self,
        ctx: &Context<'_>,
        provider: CalendarProvider,
        code: String,
        state: String,
    ) -> async_graphql::Result<CalendarStatus> {
        let p = principal(ctx)?;
        let status = services(ctx)
            .calendar
            .complete(provider.into(), &code, &state, Some(p))
            .await
            .map_err(|e| gql(AppError::from(e)))?;
        Ok(CalendarStatus::new(status, p.time_zone))
    }
}
