//! Domain events: what happened to bookings, recorded in the same transaction as the change.
//!
//! Recording an event also writes the in-app notifications and the emails it calls for, in the same
//! transaction, and hands back the bells to ring once it commits. The payload is the whole event as JSON, tagged
//! with its kind.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use super::email::{self, Outbox};
use super::notifications::{self, Bells};
use super::store::cast::Cast;
use crate::db::new_id;
use crate::domain::booking::ClashReason;
use crate::entity::domain_event;
use crate::error::AppResult;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DomainEvent {
    BookingCreated {
        booking_id: String,
        session_ids: Vec<String>,
    },
    /// More sessions of an ongoing booking were created by the extension job.
    SessionsAdded {
        booking_id: String,
        session_ids: Vec<String>,
    },
    BookingCancelled {
        booking_id: String,
        cancelled_session_ids: Vec<String>,
        reason: Option<String>,
    },
    SessionCancelled {
        booking_id: String,
        session_id: String,
        reason: Option<String>,
    },
    SessionRescheduled {
        booking_id: String,
        session_id: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        sequence: i32,
    },
    /// A session reached its end while scheduled.
    SessionCompleted {
        booking_id: String,
        session_id: String,
    },
    /// An occurrence of an ongoing booking that could not be created when its week came into view.
    OccurrenceSkipped {
        booking_id: String,
        slot: usize,
        week: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        #[serde(rename = "reasonCode")]
        reason: ClashReason,
    },
}

impl DomainEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::BookingCreated { .. } => "BOOKING_CREATED",
            DomainEvent::SessionsAdded { .. } => "SESSIONS_ADDED",
            DomainEvent::BookingCancelled { .. } => "BOOKING_CANCELLED",
            DomainEvent::SessionCancelled { .. } => "SESSION_CANCELLED",
            DomainEvent::SessionRescheduled { .. } => "SESSION_RESCHEDULED",
            DomainEvent::SessionCompleted { .. } => "SESSION_COMPLETED",
            DomainEvent::OccurrenceSkipped { .. } => "OCCURRENCE_SKIPPED",
        }
    }

    pub fn booking_id(&self) -> &str {
        match self {
            DomainEvent::BookingCreated { booking_id, .. }
            | DomainEvent::SessionsAdded { booking_id, .. }
            | DomainEvent::BookingCancelled { booking_id, .. }
            | DomainEvent::SessionCancelled { booking_id, .. }
            | DomainEvent::SessionRescheduled { booking_id, .. }
            | DomainEvent::SessionCompleted { booking_id, .. }
            | DomainEvent::OccurrenceSkipped { booking_id, .. } => booking_id,
        }
    }

    fn session_id(&self) -> Option<&str> {
        match self {
            DomainEvent::SessionCancelled { session_id, .. }
            | DomainEvent::SessionRescheduled { session_id, .. }
            | DomainEvent::SessionCompleted { session_id, .. } => Some(session_id),
            _ => None,
        }
    }
}

/// Writes `event`, its notifications and its emails with the caller's connection (a transaction, so
/// they commit with the change). Ring the returned bells after the commit.
pub async fn record(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    event: &DomainEvent,
    actor: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<Bells> {
    let payload = serde_json::to_string(event)
        .map_err(|e| crate::error::AppError::Internal(anyhow::Error::new(e)))?;
    domain_event::Entity::insert(domain_event::ActiveModel {
        id: Set(new_id()),
        kind: Set(event.kind().into()),
        booking_id: Set(Some(event.booking_id().into())),
        session_id: Set(event.session_id().map(Into::into)),
        actor_id: Set(actor.map(Into::into)),
        payload: Set(payload),
        occurred_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    // Everything told about the event is about this booking and its people: read them once.
    let cast = Cast::load(conn, event.booking_id()).await?;
    let outgoing = notifications::for_event(conn, &cast, event, actor).await?;
    let bells = notifications::deliver(conn, outgoing, now).await?;
    let emails = email::produce::for_event(conn, outbox, &cast, event, now).await?;
    email::queue(conn, outbox, emails, now).await?;
    Ok(bells)
}
