//! A connection's status as the sync settings page shows it.

use chrono::{DateTime, Utc};

use super::channels::live;
use super::CalendarService;
use crate::auth::{Principal, Role};
use crate::domain::calendar::{CalendarProvider, SyncState, DEFAULT_FREQUENCY_MINUTES};
use crate::entity::calendar_connection as conn;
use crate::error::AppResult;
use crate::service::store::calendar as store;

/// One calendar of the connected account, and what the mentor chose for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarChoice {
    pub id: String,
    pub name: String,
    pub primary: bool,
    pub counts_as_busy: bool,
    pub receives_sessions: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarStatus {
    pub provider: CalendarProvider,
    pub connected: bool,
    pub state: SyncState,
    pub sync_enabled: bool,
    pub frequency_minutes: i32,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub account_email: Option<String>,
    pub calendars: Vec<CalendarChoice>,
    /// Every calendar that is read (it counts as busy, or receives sessions) has a live push channel.
    pub push_active: bool,
    /// When the first of those channels expires (they are replaced well before).
    pub push_expires_at: Option<DateTime<Utc>>,
}

impl CalendarStatus {
    fn disconnected(provider: CalendarProvider) -> Self {
        CalendarStatus {
            provider,
            connected: false,
            state: SyncState::Disconnected,
            sync_enabled: false,
            frequency_minutes: DEFAULT_FREQUENCY_MINUTES,
            last_synced_at: None,
            next_sync_at: None,
            last_error: None,
            account_email: None,
            calendars: Vec::new(),
            push_active: false,
            push_expires_at: None,
        }
    }
}

impl CalendarService {
    /// The mentor's connection to `provider` (disconnected when there is none).
    pub async fn status(
        &self,
        p: &Principal,
        provider: CalendarProvider,
    ) -> AppResult<CalendarStatus> {
        p.require_role(Role::Mentor)?;
        self.status_of(&p.user_id, provider).await
    }

    /// Every provider the mentor has connected.
    pub async fn connections(&self, p: &Principal) -> AppResult<Vec<CalendarStatus>> {
        p.require_role(Role::Mentor)?;
        let mut all = Vec::new();
        // At most one row per provider (three): each row's calendars are one more query.
        for row in store::connections(self.db.conn(), &p.user_id).await? {
            all.push(self.status_from(row).await?);
        }
        Ok(all)
    }

    pub(super) async fn status_of(
        &self,
        mentor_id: &str,
        provider: CalendarProvider,
    ) -> AppResult<CalendarStatus> {
        match store::connection(self.db.conn(), mentor_id, provider).await? {
            Some(row) => self.status_from(row).await,
            None => Ok(CalendarStatus::disconnected(provider)),
        }
    }

    async fn status_from(&self, row: conn::Model) -> AppResult<CalendarStatus> {
        let listed = store::calendars_of(self.db.conn(), &row.id).await?;
        let channels = store::channels_of(self.db.conn(), &row.id).await?;
        let now = self.clock.now();
        // Each busy calendar's latest live channel: push is on when every one has such a channel.
        let reach: Vec<Option<DateTime<Utc>>> = listed
            .iter()
            .filter(|c| super::watched(c))
            .map(|c| {
                channels
                    .iter()
                    .filter(|ch| ch.calendar_id == c.calendar_id && live(ch, now))
                    .map(|ch| ch.expires_at)
                    .max()
            })
            .collect();
        let push_active =
            row.sync_enabled && !reach.is_empty() && reach.iter().all(Option::is_some);
        let push_expires_at = push_active
            .then(|| reach.iter().flatten().min().copied())
            .flatten();
        let calendars = listed
            .into_iter()
            .map(|c| CalendarChoice {
                id: c.calendar_id,
                name: c.name,
                primary: c.is_primary,
                counts_as_busy: c.counts_as_busy,
                receives_sessions: c.receives_sessions,
            })
            .collect();
        Ok(CalendarStatus {
            provider: row.provider,
            connected: true,
            state: if row.sync_enabled {
                row.state
            } else {
                SyncState::Disabled
            },
            sync_enabled: row.sync_enabled,
            frequency_minutes: row.frequency_minutes,
            last_synced_at: row.last_synced_at,
            next_sync_at: row.next_sync_at,
            last_error: row.last_error,
            account_email: row.account_email,
            calendars,
            push_active,
            push_expires_at,
        })
    }
}
