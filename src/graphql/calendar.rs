//! Calendar connections (mentors): connect a provider, come back from it, read the status.

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, SimpleObject, Subscription, ID};
use futures::stream::{Stream, StreamExt};

use super::booking_types::{connection, Session};
use super::context::{principal, services};
use super::errors::gql;
use super::scalars::DateTime;
use crate::domain::calendar as domain;
use crate::domain::slots::in_zone;
use crate::domain::time::TimeZone;
use crate::error::AppError;
use crate::pubsub::{topic, Ring};
use crate::service::calendar as svc;

domain::calendar_providers!(mirror_enum
    /// A calendar service a mentor can connect.
    CalendarProvider = domain::
);
domain::conflict_policies!(mirror_enum
    /// What happens when the mentor deletes or moves a session's event on their calendar.
    ConflictPolicy = domain::
);
domain::conflict_kinds!(mirror_enum
    /// How a mentor's calendar and a session disagree.
    CalendarConflictKind = domain::
);
domain::conflict_resolutions!(mirror_enum
    /// How a conflict is settled.
    ConflictResolution = domain::
);
domain::sync_states!(mirror_enum
    /// `DISCONNECTED` when the mentor has not connected this provider.
    CalendarSyncState = domain::
);

/// The sync settings page's choices; a field left out stays as it is.
#[derive(InputObject)]
pub struct CalendarSyncSettingsInput {
    pub provider: CalendarProvider,
    pub enabled: Option<bool>,
    /// How often a calendar without a live push channel is read, 5 to 1440 minutes.
    pub frequency_minutes: Option<i32>,
    /// The calendars whose events hide slots (ids from `calendars`).
    #[graphql(validator(max_items = 100))]
    pub busy_calendar_ids: Option<Vec<ID>>,
    /// The calendar sessions are written to.
    pub session_calendar_id: Option<ID>,
    pub on_session_event_deleted: Option<ConflictPolicy>,
    pub on_session_event_moved: Option<ConflictPolicy>,
}

/// A CalDAV account (iCloud, Fastmail, Nextcloud...). For iCloud: `https://caldav.icloud.com`, the
/// Apple ID, and an app-specific password made at appleid.apple.com.
#[derive(InputObject)]
pub struct CalDavConnectInput {
    /// The server's address (discovery finds the calendars from it).
    pub server_url: String,
    pub username: String,
    /// An app-specific password: kept sealed, never shown again.
    #[graphql(secret)]
    pub password: String,
}

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

/// A service's status answer, shown in the caller's zone.
fn shown_to(
    p: &crate::auth::Principal,
    status: crate::error::AppResult<svc::CalendarStatus>,
) -> async_graphql::Result<CalendarStatus> {
    status
        .map(|s| CalendarStatus::new(s, p.time_zone))
        .map_err(gql)
}

/// Where a mentor's calendar and one of their sessions disagree.
pub struct CalendarConflict(svc::Conflict);

#[Object]
impl CalendarConflict {
    async fn id(&self) -> ID {
        ID(self.0 .0.id.clone())
    }
    async fn provider(&self) -> CalendarProvider {
        self.0 .0.provider.into()
    }
    async fn kind(&self) -> CalendarConflictKind {
        self.0 .0.kind.into()
    }
    /// The session concerned (as it is now).
    async fn session(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Session>> {
        let Some(id) = &self.0 .0.session_id else {
            return Ok(None);
        };
        let found = services(ctx)
            .bookings
            .session_unchecked(id)
            .await
            .map_err(gql)?;
        Ok(found.map(Session))
    }
    async fn external_start(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        let p = principal(ctx)?;
        Ok(self
            .0
             .0
            .external_start
            .map(|t| DateTime(in_zone(t, p.time_zone))))
    }
    async fn external_end(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        let p = principal(ctx)?;
        Ok(self
            .0
             .0
            .external_end
            .map(|t| DateTime(in_zone(t, p.time_zone))))
    }
    async fn external_title(&self) -> Option<&str> {
        self.0 .0.external_title.as_deref()
    }
    async fn detected_at(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        let p = principal(ctx)?;
        Ok(DateTime(in_zone(self.0 .0.detected_at, p.time_zone)))
    }
    async fn resolved_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        let p = principal(ctx)?;
        Ok(self
            .0
             .0
            .resolved_at
            .map(|t| DateTime(in_zone(t, p.time_zone))))
    }
    /// How it was settled; none on an open conflict, or one whose cause went away by itself.
    async fn resolution(&self) -> Option<ConflictResolution> {
        self.0 .0.resolution.map(Into::into)
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
        shown_to(p, services(ctx).calendar.status(p, provider.into()).await)
    }

    /// Your calendar conflicts, newest first (mentors); `openOnly` (default) leaves out settled ones.
    #[graphql(complexity = "super::cost::page(first, child_complexity)")]
    async fn calendar_conflicts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
        #[graphql(default_with = "Some(true)")] open_only: Option<bool>,
    ) -> async_graphql::Result<Connection<String, CalendarConflict>> {
        let p = principal(ctx)?;
        let page = services(ctx)
            .calendar
            .conflicts(
                p,
                first.unwrap_or(20),
                after.as_deref(),
                open_only.unwrap_or(true),
            )
            .await
            .map_err(gql)?;
        Ok(connection(page, CalendarConflict))
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

    /// Connects a CalDAV account (mentors): its calendars are found from the server URL with the
    /// username and app-specific password, then read at once (and polled: CalDAV has no push).
    /// A wrong password, a server that is not CalDAV, or one that cannot be used is
    /// `BAD_USER_INPUT` on the field to fix, and nothing is kept. Connecting again replaces the
    /// password.
    async fn connect_cal_dav(
        &self,
        ctx: &Context<'_>,
        input: CalDavConnectInput,
    ) -> async_graphql::Result<CalendarStatus> {
        let p = principal(ctx)?;
        let login = svc::CalDavLogin {
            server_url: input.server_url,
            username: input.username,
            password: crate::config::Secret::new(input.password),
        };
        shown_to(p, services(ctx).calendar.connect_caldav(p, login).await)
    }

    /// Changes what is synced and how often (mentors). Calendars that stop counting as busy free
    /// their time at once; calendars that start counting are read now.
    async fn update_calendar_sync(
        &self,
        ctx: &Context<'_>,
        input: CalendarSyncSettingsInput,
    ) -> async_graphql::Result<CalendarStatus> {
        let p = principal(ctx)?;
        let change = svc::SyncSettings {
            enabled: input.enabled,
            frequency_minutes: input.frequency_minutes,
            busy_calendar_ids: input
                .busy_calendar_ids
                .map(|ids| ids.into_iter().map(|id| id.0).collect()),
            session_calendar_id: input.session_calendar_id.map(|id| id.0),
            on_session_event_deleted: input.on_session_event_deleted.map(Into::into),
            on_session_event_moved: input.on_session_event_moved.map(Into::into),
        };
        shown_to(
            p,
            services(ctx)
                .calendar
                .update_sync(p, input.provider.into(), change)
                .await,
        )
    }

    /// Reads the calendar now (mentors); the status says `SYNCING` until it is done.
    async fn sync_calendar_now(
        &self,
        ctx: &Context<'_>,
        provider: CalendarProvider,
    ) -> async_graphql::Result<CalendarStatus> {
        let p = principal(ctx)?;
        shown_to(p, services(ctx).calendar.sync_now(p, provider.into()).await)
    }

    /// Disconnects (mentors): revokes access at the provider, forgets the tokens and calendars, and
    /// frees the busy time read from them.
    async fn disconnect_calendar(
        &self,
        ctx: &Context<'_>,
        provider: CalendarProvider,
    ) -> async_graphql::Result<CalendarStatus> {
        let p = principal(ctx)?;
        shown_to(
            p,
            services(ctx).calendar.disconnect(p, provider.into()).await,
        )
    }

    /// Settles one of your open calendar conflicts (mentors): keep the session, cancel it, move it
    /// to `start` (checked like any move), or put its deleted or moved event back.
    async fn resolve_calendar_conflict(
        &self,
        ctx: &Context<'_>,
        id: ID,
        action: ConflictResolution,
        start: Option<DateTime>,
    ) -> async_graphql::Result<CalendarConflict> {
        let p = principal(ctx)?;
        let start = start.map(|t| t.0.with_timezone(&chrono::Utc));
        let settled = services(ctx)
            .calendar
            .resolve_conflict(p, &id, action.into(), start)
            .await
            .map_err(gql)?;
        Ok(CalendarConflict(settled))
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

#[derive(Default)]
pub struct CalendarSubscription;

#[Subscription]
impl CalendarSubscription {
    /// Your connection to `provider` (mentors) after every change to it: connected, a sync asked
    /// for or finished (busy time, push channels), settings changed, access revoked, disconnected.
    /// After a gap in the live feed (a bus outage), the status as it is now.
    async fn calendar_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(CalendarProvider::Google)")] provider: Option<
            CalendarProvider,
        >,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<CalendarStatus>>> {
        let p = principal(ctx)?.clone();
        let provider: domain::CalendarProvider =
            provider.unwrap_or(CalendarProvider::Google).into();
        let services = services(ctx).clone();
        {
            // Subscriptions read on the database's live connections only; mentors only.
            let _turn = services.db.live_turn().await;
            services.calendar.status(&p, provider).await.map_err(gql)?;
        }
        let changes = services.bus.subscribe(&topic::calendar(&p.user_id));
        Ok(changes
            .filter(move |ring| {
                let ours = match ring {
                    Ring::Message(m) => m["provider"] == provider.slug(),
                    Ring::Lagged => true,
                };
                std::future::ready(ours)
            })
            .then(move |_| {
                let services = services.clone();
                let p = p.clone();
                async move {
                    let _turn = services.db.live_turn().await;
                    shown_to(&p, services.calendar.status(&p, provider).await)
                }
            }))
    }
}
