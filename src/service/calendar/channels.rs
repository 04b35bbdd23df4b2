//! Push channels: one live channel on each calendar that counts as busy, so a change there is read
//! within moments instead of at the next poll.
//!
//! A channel is opened before the calendar is read (a change between the two is in the read), its
//! row written before the provider is asked (Google's `sync` handshake, Graph's validation, may
//! arrive before its answer). It is replaced before half its life has passed (at two fifths): the
//! new one opens first, then the old one stops. Channels of calendars that no longer count, and
//! replaced ones, are stopped at the provider and forgotten. A watch the provider refuses (an http
//! address, a domain it does not trust) is asked for again only hours later; meanwhile the calendar
//! is polled at the mentor's frequency.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};

use super::{digest, random_secret, CalendarService};
use crate::config::Secret;
use crate::entity::external_calendar as cal;
use crate::entity::{calendar_channel as channel, calendar_connection as conn};
use crate::error::AppResult;
use crate::integrations::calendar::api::CalendarApi;
use crate::integrations::calendar::api::WatchRequest;
use crate::integrations::calendar::ProviderError;
use crate::service::store::calendar as store;

/// How long a channel is asked to live (Google grants about a week at most; Graph's subscriptions
/// are asked for less, see `integrations::calendar::microsoft::write`).
const LIFETIME_DAYS: i64 = 7;
/// A watch the provider refused is asked for again after this long.
const REFUSED_RETRY_HOURS: i64 = 6;
/// A channel row whose watch never got an answer (a crash in between) is forgotten after this long.
const UNANSWERED_MINUTES: i64 = 10;

/// When a channel is due for replacement: two fifths through its life (before half of it, with a
/// day's polls to spare for a replacement that fails).
pub(super) fn renew_at(c: &channel::Model) -> DateTime<Utc> {
    c.created_at + (c.expires_at - c.created_at) * 2 / 5
}

/// Whether a channel carries pushes now.
pub(super) fn live(c: &channel::Model, now: DateTime<Utc>) -> bool {
    c.resource_id.is_some() && c.expires_at > now
}

impl CalendarService {
    /// Opens, replaces and stops channels so each busy calendar has one live channel (where the provider
    /// accepts one). Returns when the channels need looking at again, or `None` when some busy
    /// calendar has no live channel (it is polled at the mentor's frequency).
    pub(super) async fn keep_channels(
        &self,
        api: &dyn CalendarApi,
        access: &Secret,
        row: &conn::Model,
        calendars: &[cal::Model],
    ) -> AppResult<Option<DateTime<Utc>>> {
        let now = self.clock.now();
        let busy: Vec<&cal::Model> = calendars.iter().filter(|c| super::watched(c)).collect();
        let before = store::channels_of(self.db.conn(), &row.id).await?;
        for calendar in &busy {
            let fresh = before.iter().any(|c| {
                c.calendar_id == calendar.calendar_id && live(c, now) && now < renew_at(c)
            });
            let may_ask = calendar.watch_retry_at.is_none_or(|at| at <= now);
            if !fresh && may_ask {
                self.open_channel(api, access, row, calendar).await?;
            }
        }
        // Keep the newest live channel of each busy calendar (and watches still being answered);
        // stop the rest.
        let after = store::channels_of(self.db.conn(), &row.id).await?;
        let mut kept: Vec<&channel::Model> = Vec::new();
        let mut dropped: Vec<&channel::Model> = Vec::new();
        for c in &after {
            let counts = busy.iter().any(|b| b.calendar_id == c.calendar_id);
            let answering = c.resource_id.is_none()
                && now - c.created_at < Duration::minutes(UNANSWERED_MINUTES);
            let newer = kept
                .iter()
                .any(|k| k.calendar_id == c.calendar_id && k.resource_id.is_some());
            if counts && (answering || (live(c, now) && !newer)) {
                kept.push(c);
            } else {
                dropped.push(c);
            }
        }
        self.stop_channels(api, access, &dropped).await?;
        let covered = busy.iter().all(|b| {
            kept.iter()
                .any(|c| c.calendar_id == b.calendar_id && live(c, now))
        });
        Ok(covered.then(|| {
            kept.iter()
                .filter(|c| live(c, now))
                .map(|c| renew_at(c))
                .min()
                .unwrap_or(now + Duration::days(1))
        }))
    }

    /// Asks the provider to watch one calendar. A refusal leaves the calendar polled.
    async fn open_channel(
        &self,
        api: &dyn CalendarApi,
        access: &Secret,
        row: &conn::Model,
        calendar: &cal::Model,
    ) -> AppResult<()> {
        let now = self.clock.now();
        let id = uuid::Uuid::new_v4().to_string();
        let token = Secret::new(random_secret());
        let asked_until = now + Duration::days(LIFETIME_DAYS);
        let txn = self.db.begin_write().await?;
        channel::ActiveModel {
            id: Set(id.clone()),
            connection_id: Set(row.id.clone()),
            calendar_id: Set(calendar.calendar_id.clone()),
            token_hash: Set(digest(token.expose())),
            resource_id: Set(None),
            created_at: Set(now),
            expires_at: Set(asked_until),
        }
        .insert(&txn.txn)
        .await?;
        txn.commit().await?;
        let request = WatchRequest {
            channel_id: &id,
            token: &token,
            expires_at: asked_until,
            asked_at: now,
        };
        let answer = api.watch(access, &calendar.calendar_id, request).await;
        let txn = self.db.begin_write().await?;
        let mut retry_at = None;
        match answer {
            Ok(watched) => {
                channel::Entity::update_many()
                    .col_expr(channel::Column::ResourceId, watched.resource_id.into())
                    .col_expr(channel::Column::ExpiresAt, watched.expires_at.into())
                    .filter(channel::Column::Id.eq(&id))
                    .exec(&txn.txn)
                    .await?;
            }
            Err(e) => {
                channel::Entity::delete_by_id(id).exec(&txn.txn).await?;
                // A refusal waits hours; a passing failure (rate, 5xx, a token) the next sync.
                let passing = matches!(
                    e,
                    ProviderError::RateLimited { .. } | ProviderError::AccessExpired
                ) || matches!(e, ProviderError::Upstream { status, .. } if status.is_none_or(|s| s >= 500));
                if !passing {
                    retry_at = Some(now + Duration::hours(REFUSED_RETRY_HOURS));
                }
                tracing::warn!(
                    mentor = %row.mentor_id,
                    calendar = %calendar.calendar_id,
                    error = %e,
                    "the provider refused a push channel: the calendar is polled"
                );
            }
        }
        cal::Entity::update_many()
            .col_expr(cal::Column::WatchRetryAt, retry_at.into())
            .filter(cal::Column::ConnectionId.eq(&calendar.connection_id))
            .filter(cal::Column::CalendarId.eq(&calendar.calendar_id))
            .exec(&txn.txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Stops every channel of a connection (sync turned off, or disconnecting: before the grant is
    /// revoked, while the channels can still be stopped).
    pub(super) async fn drop_channels(&self, row: &conn::Model) -> AppResult<()> {
        let channels = store::channels_of(self.db.conn(), &row.id).await?;
        let (Ok(api), false) = (self.api_for(row.provider), channels.is_empty()) else {
            return Ok(());
        };
        let all: Vec<&channel::Model> = channels.iter().collect();
        match self.access_as(api, row, false, false).await {
            Ok(Ok(access)) => self.stop_channels(api, &access, &all).await,
            // Without access they cannot be stopped: they push until they expire, and are refused.
            _ => {
                tracing::warn!(mentor = %row.mentor_id, "push channels left to expire: no access to stop them");
                self.forget_channels(&all).await
            }
        }
    }

    /// Stops channels at the provider (a failure is logged: an unstopped channel pushes until it expires,
    /// and its pushes are refused) and forgets them.
    pub(super) async fn stop_channels(
        &self,
        api: &dyn CalendarApi,
        access: &Secret,
        channels: &[&channel::Model],
    ) -> AppResult<()> {
        for c in channels {
            let Some(resource) = &c.resource_id else {
                continue; // never answered: there is nothing the provider could stop
            };
            if let Err(e) = api.stop(access, &c.id, resource).await {
                tracing::warn!(channel = %c.id, error = %e, "stopping a push channel failed");
            }
        }
        self.forget_channels(channels).await
    }

    async fn forget_channels(&self, channels: &[&channel::Model]) -> AppResult<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = channels.iter().map(|c| c.id.clone()).collect();
        let txn = self.db.begin_write().await?;
        channel::Entity::delete_many()
            .filter(channel::Column::Id.is_in(ids))
            .exec(&txn.txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
