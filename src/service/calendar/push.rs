//! Pushes: a provider saying a watched calendar changed (`POST /calendar/webhook`).
//!
//! A push names its channel; it counts only with that channel's secret token and the resource the
//! channel watches, both compared in constant time (the token by its SHA-256, which is all that is
//! kept of it). The `sync` handshake reads nothing. A change is counted on the calendar and queues a
//! read under that count (see `jobs::calendar_sync`): a burst is one read, and a push that lands
//! while a read runs gets a read of its own after it.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use subtle::ConstantTimeEq;

use super::{digest, CalendarService};
use crate::entity::external_calendar as cal;
use crate::entity::{calendar_channel as channel, calendar_connection as conn};
use crate::error::{AppError, AppResult};
use crate::jobs::calendar_sync;

/// The headers of a push (Google's `X-Goog-*`), as they came.
#[derive(Debug, Default)]
pub struct Push {
    pub channel_id: Option<String>,
    pub token: Option<String>,
    pub resource_id: Option<String>,
    /// `sync` (the channel is open), `exists` (something changed), `not_exists`.
    pub state: Option<String>,
}

/// One item of a Microsoft Graph notification's `value` (a change, or a lifecycle event).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphNotification {
    pub subscription_id: Option<String>,
    pub client_state: Option<String>,
    /// Set on lifecycle notifications only.
    pub lifecycle_event: Option<String>,
}

/// Header values longer than this are not Google's.
const MAX_HEADER: usize = 512;

fn required<'a>(value: &'a Option<String>, header: &str) -> AppResult<&'a str> {
    match value.as_deref() {
        Some(v) if !v.is_empty() && v.len() <= MAX_HEADER => Ok(v),
        Some(v) if !v.is_empty() => Err(AppError::bad_input(header, "is too long")),
        _ => Err(AppError::bad_input(header, "is required")),
    }
}

impl CalendarService {
    /// Checks a push and queues the read it asks for. Errors: a missing header (`BAD_INPUT`), an
    /// unknown channel (`NOT_FOUND`), a wrong token or resource (`FORBIDDEN`).
    pub async fn receive_push(&self, push: &Push) -> AppResult<()> {
        let channel_id = required(&push.channel_id, "X-Goog-Channel-ID")?;
        let resource = required(&push.resource_id, "X-Goog-Resource-ID")?;
        let state = required(&push.state, "X-Goog-Resource-State")?;
        let token = push.token.as_deref().unwrap_or_default();
        // The handshake may come before Google's answer to the watch told us the resource.
        let found = self
            .checked_channel(channel_id, token, resource, state == "sync")
            .await?;
        if state == "sync" {
            return Ok(());
        }
        self.count_change(&found).await
    }

    /// Whether `channel_id` is a channel being opened (Graph's validation handshake on its
    /// address comes before Graph answers the subscription).
    pub async fn channel_exists(&self, channel_id: &str) -> AppResult<bool> {
        if channel_id.is_empty() || channel_id.len() > MAX_HEADER {
            return Ok(false);
        }
        Ok(channel::Entity::find_by_id(channel_id)
            .one(self.db.conn())
            .await?
            .is_some())
    }

    /// A Microsoft Graph notification posted to a channel's address: a change (a read is queued,
    /// as for a push) or a lifecycle event. `reauthorizationRequired` and `subscriptionRemoved`
    /// end the channel here and queue a sync, which opens a new one; `missed` queues a read (the
    /// delta token catches up on whatever was missed).
    pub async fn receive_graph(&self, channel_id: &str, note: &GraphNotification) -> AppResult<()> {
        let token = required(&note.client_state, "clientState")?;
        let subscription = required(&note.subscription_id, "subscriptionId")?;
        let found = self
            .checked_channel(channel_id, token, subscription, false)
            .await?;
        match note.lifecycle_event.as_deref() {
            None | Some("missed") => self.count_change(&found).await,
            Some("reauthorizationRequired" | "subscriptionRemoved") => {
                self.replace_channel(&found).await
            }
            Some(other) => {
                tracing::info!(channel = %found.id, event = other, "a Graph lifecycle event we do not act on");
                Ok(())
            }
        }
    }

    /// The channel `channel_id`, when `token` and `resource` are its own (both compared in
    /// constant time); `opening`: a handshake that may come before the resource is known.
    async fn checked_channel(
        &self,
        channel_id: &str,
        token: &str,
        resource: &str,
        opening: bool,
    ) -> AppResult<channel::Model> {
        let found = channel::Entity::find_by_id(channel_id)
            .one(self.db.conn())
            .await?
            .ok_or_else(|| AppError::NotFound("no such push channel".into()))?;
        let token_matches = digest(token).as_bytes().ct_eq(found.token_hash.as_bytes());
        let resource_matches = match &found.resource_id {
            Some(known) => known.as_bytes().ct_eq(resource.as_bytes()),
            None => u8::from(opening).ct_eq(&1),
        };
        if !bool::from(token_matches & resource_matches) {
            tracing::warn!(channel = %found.id, "a push with a wrong token or resource was refused");
            return Err(AppError::Forbidden(
                "the push does not match its channel".into(),
            ));
        }
        Ok(found)
    }

    /// The provider ended (or wants renewed) a channel: it stops counting as live now, and the
    /// connection's next sync, queued now, opens a new one and stops this one.
    async fn replace_channel(&self, found: &channel::Model) -> AppResult<()> {
        let Some(connection) = conn::Entity::find_by_id(found.connection_id.clone())
            .one(self.db.conn())
            .await?
        else {
            return Ok(());
        };
        let now = self.clock.now();
        let txn = self.db.begin_write().await?;
        channel::Entity::update_many()
            .col_expr(channel::Column::ExpiresAt, Expr::value(now))
            .filter(channel::Column::Id.eq(&found.id))
            .exec(&txn.txn)
            .await?;
        if connection.sync_enabled {
            calendar_sync::queue(&txn.txn, now, &connection.mentor_id, connection.provider).await?;
        }
        txn.commit().await?;
        self.bell.ring();
        Ok(())
    }

    /// A change on a checked channel's calendar: counted, and a read queued under that count.
    async fn count_change(&self, found: &channel::Model) -> AppResult<()> {
        let Some(connection) = conn::Entity::find_by_id(found.connection_id.clone())
            .one(self.db.conn())
            .await?
        else {
            return Ok(()); // disconnected since; the channel is being stopped
        };
        if !connection.sync_enabled {
            return Ok(());
        }
        let now = self.clock.now();
        let txn = self.db.begin_write().await?;
        let counted = cal::Entity::update_many()
            .col_expr(cal::Column::Pushes, Expr::col(cal::Column::Pushes).add(1))
            .filter(cal::Column::ConnectionId.eq(&found.connection_id))
            .filter(cal::Column::CalendarId.eq(&found.calendar_id))
            .filter(
                sea_orm::Condition::any()
                    .add(cal::Column::CountsAsBusy.eq(true))
                    .add(cal::Column::ReceivesSessions.eq(true)),
            )
            .exec(&txn.txn)
            .await?
            .rows_affected;
        if counted == 1 {
            // The count this push made (the row is this transaction's until it commits).
            let pushes =
                cal::Entity::find_by_id((found.connection_id.clone(), found.calendar_id.clone()))
                    .one(&txn.txn)
                    .await?
                    .map_or(0, |c| c.pushes);
            calendar_sync::queue_push(
                &txn.txn,
                now,
                &connection.mentor_id,
                connection.provider,
                &found.calendar_id,
                pushes,
            )
            .await?;
        }
        txn.commit().await?;
        self.bell.ring();
        Ok(())
    }
}
