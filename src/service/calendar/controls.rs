//! The sync settings page's controls: sync now, change what is synced and how often, disconnect.

use std::collections::HashSet;

use chrono::SubsecRound;
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};

use super::{CalendarService, CalendarStatus};
use crate::auth::{Principal, Role};
use crate::domain::calendar::{self as rules, CalendarProvider, ConflictPolicy, SyncState};
use crate::entity::{
    busy_block, calendar_channel as channel, calendar_conflict, calendar_connection as conn,
    calendar_event, external_calendar as cal,
};
use crate::error::{AppError, AppResult};
use crate::jobs::calendar_sync;
use crate::service::store::calendar as store;

/// What `updateCalendarSync` may change; `None` leaves a setting as it is.
#[derive(Debug, Default, Clone)]
pub struct SyncSettings {
    pub enabled: Option<bool>,
    pub frequency_minutes: Option<i32>,
    pub busy_calendar_ids: Option<Vec<String>>,
    pub session_calendar_id: Option<String>,
    pub on_session_event_deleted: Option<ConflictPolicy>,
    pub on_session_event_moved: Option<ConflictPolicy>,
}

fn not_connected(provider: CalendarProvider) -> AppError {
    AppError::BadInput {
        field: "provider".into(),
        message: format!("{} is not connected", provider.display_name()),
    }
}

impl CalendarService {
    async fn connection_of(
        &self,
        p: &Principal,
        provider: CalendarProvider,
    ) -> AppResult<conn::Model> {
        p.require_role(Role::Mentor)?;
        store::connection(self.db.conn(), &p.user_id, provider)
            .await?
            .ok_or_else(|| not_connected(provider))
    }

    /// Queues a sync now (one at a time: asking again while one waits adds nothing).
    pub async fn sync_now(
        &self,
        p: &Principal,
        provider: CalendarProvider,
    ) -> AppResult<CalendarStatus> {
        let row = self.connection_of(p, provider).await?;
        if row.state == SyncState::ReconnectRequired {
            return Err(AppError::BadInput {
                field: "provider".into(),
                message: format!(
                    "{} needs to be connected again first",
                    provider.display_name()
                ),
            });
        }
        if !row.sync_enabled {
            return Err(AppError::BadInput {
                field: "provider".into(),
                message: "sync is turned off: turn it on with updateCalendarSync".into(),
            });
        }
        let now = self.clock.now();
        let txn = self.db.begin_write().await?;
        let mut syncing: conn::ActiveModel = row.into();
        syncing.state = Set(SyncState::Syncing);
        syncing.updated_at = Set(now);
        syncing.update(&txn.txn).await?;
        calendar_sync::queue(&txn.txn, now, &p.user_id, provider).await?;
        txn.commit().await?;
        self.bell.ring();
        self.status_changed(&p.user_id, provider).await;
        self.status_of(&p.user_id, provider).await
    }

    /// Changes what is synced and how. Calendars that stop counting as busy take their busy time
    /// with them at once; calendars that start counting (and turning sync back on) are read now.
    pub async fn update_sync(
        &self,
        p: &Principal,
        provider: CalendarProvider,
        change: SyncSettings,
    ) -> AppResult<CalendarStatus> {
        let row = self.connection_of(p, provider).await?;
        let frequency = change.frequency_minutes.map(rules::frequency).transpose()?;
        let calendars = store::calendars_of(self.db.conn(), &row.id).await?;
        let known: HashSet<&str> = calendars.iter().map(|c| c.calendar_id.as_str()).collect();
        let unknown = |field: &str, id: &str| AppError::BadInput {
            field: field.into(),
            message: format!(
                "{:?} is not a calendar of this account",
                crate::error::clip(id).unwrap_or_else(|| id.to_string())
            ),
        };
        if let Some(ids) = &change.busy_calendar_ids {
            if let Some(bad) = ids.iter().find(|id| !known.contains(id.as_str())) {
                return Err(unknown("busyCalendarIds", bad));
            }
        }
        if let Some(id) = &change.session_calendar_id {
            if !known.contains(id.as_str()) {
                return Err(unknown("sessionCalendarId", id));
            }
        }
        let now = self.clock.now();
        let txn = self.db.begin_write().await?;
        let mut read_now = change.enabled == Some(true) && !row.sync_enabled;
        let mut dropped = false;
        for c in &calendars {
            let busy = match &change.busy_calendar_ids {
                Some(ids) => ids.contains(&c.calendar_id),
                None => c.counts_as_busy,
            };
            let sessions = match &change.session_calendar_id {
                Some(id) => *id == c.calendar_id,
                None => c.receives_sessions,
            };
            if busy == c.counts_as_busy && sessions == c.receives_sessions {
                continue;
            }
            let mut edit: cal::ActiveModel = c.clone().into();
            edit.counts_as_busy = Set(busy);
            edit.receives_sessions = Set(sessions);
            // A calendar that starts or stops receiving sessions starts or stops being read back.
            read_now |= sessions != c.receives_sessions;
            if busy != c.counts_as_busy {
                // Read whole the next time it counts; its busy time goes now when it stops. Either
                // way a sync comes now: it reads the new calendar, and opens and stops channels.
                edit.sync_token = Set(None);
                read_now = true;
                if !busy {
                    busy_block::Entity::delete_many()
                        .filter(busy_block::Column::MentorId.eq(&p.user_id))
                        .filter(busy_block::Column::CalendarId.eq(&c.calendar_id))
                        .exec(&txn.txn)
                        .await?;
                    dropped = true;
                }
            }
            edit.update(&txn.txn).await?;
        }
        if change.session_calendar_id.is_some() {
            // Sessions go to one calendar: the mentor's other accounts stop receiving them (and
            // are synced, to stop reading back what they no longer receive).
            for other in store::connections(&txn.txn, &p.user_id).await? {
                if other.id == row.id {
                    continue;
                }
                let stopped = cal::Entity::update_many()
                    .col_expr(cal::Column::ReceivesSessions, Expr::value(false))
                    .filter(cal::Column::ConnectionId.eq(&other.id))
                    .filter(cal::Column::ReceivesSessions.eq(true))
                    .exec(&txn.txn)
                    .await?
                    .rows_affected;
                if stopped > 0 && other.sync_enabled {
                    calendar_sync::queue(&txn.txn, now, &p.user_id, other.provider).await?;
                }
            }
        }
        let mut edit: conn::ActiveModel = row.clone().into();
        if let Some(enabled) = change.enabled {
            edit.sync_enabled = Set(enabled);
        }
        if let Some(minutes) = frequency {
            edit.frequency_minutes = Set(minutes);
            // The next poll comes no later than the new frequency says.
            let sooner = (now + chrono::Duration::minutes(i64::from(minutes))).trunc_subsecs(0);
            if row.next_sync_at.is_none_or(|at| at > sooner) && row.sync_enabled {
                edit.next_sync_at = Set(Some(sooner));
                calendar_sync::schedule_poll(&txn.txn, now, &p.user_id, provider, sooner).await?;
            }
        }
        if let Some(policy) = change.on_session_event_deleted {
            edit.on_event_deleted = Set(policy);
        }
        if let Some(policy) = change.on_session_event_moved {
            edit.on_event_moved = Set(policy);
        }
        edit.updated_at = Set(now);
        edit.update(&txn.txn).await?;
        let enabled = change.enabled.unwrap_or(row.sync_enabled);
        if read_now && enabled {
            calendar_sync::queue(&txn.txn, now, &p.user_id, provider).await?;
        }
        txn.commit().await?;
        if change.enabled == Some(false) && row.sync_enabled {
            self.drop_channels(&row).await?;
        }
        if dropped {
            let mut changes = self.after_commit.changes();
            changes.slots_of(&p.user_id);
            changes.apply().await;
        }
        self.status_changed(&p.user_id, provider).await;
        self.status_of(&p.user_id, provider).await
    }

    /// Disconnects: revokes the grant at the provider (a failure there is logged; the mentor can
    /// also revoke it in their account), forgets the tokens and calendars, and drops the busy time
    /// read from them.
    pub async fn disconnect(
        &self,
        p: &Principal,
        provider: CalendarProvider,
    ) -> AppResult<CalendarStatus> {
        let row = self.connection_of(p, provider).await?;
        if row.state != SyncState::ReconnectRequired {
            self.drop_channels(&row).await?;
        }
        let oauth = self.api_for(provider).ok().and_then(|api| api.oauth());
        if let (Some(oauth), Some(sealed)) = (oauth, &row.refresh_token) {
            let context = super::token_context(provider, &row.mentor_id, "refresh");
            match self.vault.open(&context, sealed) {
                Ok(token) => {
                    if let Err(e) = oauth.revoke(&token).await {
                        tracing::warn!(mentor = %row.mentor_id, error = %e, "revoking at the provider failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the refresh token could not be opened to revoke it")
                }
            }
        }
        let txn = self.db.begin_write().await?;
        busy_block::Entity::delete_many()
            .filter(busy_block::Column::MentorId.eq(&row.mentor_id))
            .filter(busy_block::Column::CalendarId.is_not_null())
            .filter(busy_block::Column::Source.eq(provider.slug()))
            .exec(&txn.txn)
            .await?;
        cal::Entity::delete_many()
            .filter(cal::Column::ConnectionId.eq(&row.id))
            .exec(&txn.txn)
            .await?;
        channel::Entity::delete_many()
            .filter(channel::Column::ConnectionId.eq(&row.id))
            .exec(&txn.txn)
            .await?;
        // Its conflicts end with it.
        calendar_conflict::Entity::update_many()
            .col_expr(
                calendar_conflict::Column::ResolvedAt,
                sea_orm::sea_query::Expr::value(self.clock.now()),
            )
            .filter(calendar_conflict::Column::MentorId.eq(&row.mentor_id))
            .filter(calendar_conflict::Column::Provider.eq(provider))
            .filter(calendar_conflict::Column::ResolvedAt.is_null())
            .exec(&txn.txn)
            .await?;
        // Session events stay on the calendar (they are the mentor's now); connecting again takes
        // them back up (an insert finds its event by id).
        calendar_event::Entity::delete_many()
            .filter(calendar_event::Column::ConnectionId.eq(&row.id))
            .exec(&txn.txn)
            .await?;
        conn::Entity::delete_by_id(row.id.clone())
            .exec(&txn.txn)
            .await?;
        txn.commit().await?;
        let mut changes = self.after_commit.changes();
        changes.slots_of(&row.mentor_id);
        changes.apply().await;
        self.status_changed(&row.mentor_id, provider).await;
        tracing::info!(mentor = %row.mentor_id, provider = provider.slug(), "calendar disconnected");
        self.status_of(&p.user_id, provider).await
    }
}
