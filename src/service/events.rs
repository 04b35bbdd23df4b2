//! Recording domain events: each is written in the transaction of the change it tells of, then every
//! consumer (payments, in-app notifications, email, calendar writes) writes what
//! the event calls for in the same transaction, and leaves what it owes after the commit (rings on
//! the bus) in the transaction's [`Changes`].
//!
//! Consumers implement [`EventConsumer`] where they live and are listed once, at start-up
//! (`Services::new`): the recorder knows none of them, so none imports the recorder back into a circle.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseTransaction, EntityTrait, Set};

use super::after_commit::Changes;
use super::store::cast::Cast;
use crate::db::new_id;
use crate::domain::event::DomainEvent;
use crate::entity::domain_event;
use crate::error::{AppError, AppResult};

/// What a consumer is told: the event, the booking's people (read once for every consumer), who
/// caused it (`None`: the system), and when.
pub struct Happened<'a> {
    pub event: &'a DomainEvent,
    pub cast: &'a Cast,
    pub actor: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Something that acts on every recorded event, inside the recording transaction.
#[async_trait]
pub trait EventConsumer: Send + Sync {
    /// Writes what `happened` calls for with `txn`; whatever must wait for the commit goes in
    /// `changes`. An error rolls the whole change back.
    async fn consume(
        &self,
        txn: &DatabaseTransaction,
        happened: &Happened<'_>,
        changes: &mut Changes,
    ) -> AppResult<()>;
}

/// The recorder, with its consumers in the order they run.
#[derive(Clone)]
pub struct EventLog {
    consumers: Arc<[Arc<dyn EventConsumer>]>,
}

impl EventLog {
    pub fn new(consumers: Vec<Arc<dyn EventConsumer>>) -> Self {
        EventLog {
            consumers: consumers.into(),
        }
    }

    /// Writes `event` with `txn` and runs every consumer on it; apply `changes` after the commit.
    pub async fn record(
        &self,
        txn: &DatabaseTransaction,
        event: &DomainEvent,
        actor: Option<&str>,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<()> {
        let payload =
            serde_json::to_string(event).map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
        domain_event::Entity::insert(domain_event::ActiveModel {
            id: Set(new_id()),
            kind: Set(event.kind().into()),
            booking_id: Set(Some(event.booking_id().into())),
            session_id: Set(event.session_id().map(Into::into)),
            actor_id: Set(actor.map(Into::into)),
            payload: Set(payload),
            occurred_at: Set(now),
        })
        .exec_without_returning(txn)
        .await?;
        let cast = Cast::load(txn, event.booking_id()).await?;
        let happened = Happened {
            event,
            cast: &cast,
            actor,
            now,
        };
        for consumer in self.consumers.iter() {
            consumer.consume(txn, &happened, changes).await?;
        }
        Ok(())
    }
}
