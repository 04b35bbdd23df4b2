//! Turning a booking's domain event into in-app notifications for the people involved: the
//! consumer [`InApp`] writes them with the event and rings their owners after the commit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};

use std::sync::Arc;

use super::{deliver, Bells, Notification, Outgoing};
use crate::domain::event::DomainEvent;
use crate::domain::notification::messages::{self, Addressed, Party};
use crate::domain::sms::is_textable;
use crate::entity::session;
use crate::error::AppResult;
use crate::service::after_commit::Changes;
use crate::service::events::{EventConsumer, Happened};
use crate::service::sms::{Draft, SmsOutbox};
use crate::service::store::cast::{party, Cast};
use crate::service::store::prices::stored_money as money;
use crate::service::store::users::admins;

/// In-app notifications for every booking event, and the texts that go with them for users who
/// switched SMS on for their kind.
pub struct InApp {
    pub texts: Arc<SmsOutbox>,
}

#[async_trait]
impl EventConsumer for InApp {
    async fn consume(
        &self,
        txn: &DatabaseTransaction,
        happened: &Happened<'_>,
        changes: &mut Changes,
    ) -> AppResult<()> {
        let outgoing = for_event(txn, happened.cast, happened.event, happened.actor).await?;
        deliver_with_texts(txn, &self.texts, outgoing, happened.now)
            .await?
            .owe(changes);
        Ok(())
    }
}

/// [`deliver`]s `outgoing`, and queues the text of each (linked to its notification where one was
/// written; a user who muted the kind in the app may still want it by text).
pub async fn deliver_with_texts(
    conn: &impl ConnectionTrait,
    texts: &SmsOutbox,
    outgoing: Vec<Outgoing>,
    now: DateTime<Utc>,
) -> AppResult<Bells> {
    // Only the kinds worth a text are copied for it.
    let drafts: Vec<Draft> = outgoing
        .iter()
        .filter(|o| is_textable(o.message.kind))
        .map(|o| Draft {
            to: o.to.clone(),
            message: o.message.clone(),
            dedupe_key: o.dedupe_key.clone(),
            notification_id: None,
        })
        .collect();
    let bells = deliver(conn, outgoing, now).await?;
    if drafts.is_empty() {
        return Ok(bells);
    }
    let written: Vec<&Notification> = bells.new_notifications().collect();
    let drafts = drafts
        .into_iter()
        .map(|mut d| {
            d.notification_id = written
                .iter()
                .find(|n| {
                    n.user_id == d.to && n.kind == d.message.kind && n.title == d.message.title
                })
                .map(|n| n.id.clone());
            d
        })
        .collect();
    texts.queue(conn, drafts, now).await?;
    Ok(bells)
}

async fn session_starts(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> AppResult<Vec<DateTime<Utc>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(session::Entity::find()
        .select_only()
        .column(session::Column::StartAt)
        .filter(session::Column::Id.is_in(ids.iter().cloned()))
        .into_tuple::<DateTime<Utc>>()
        .all(conn)
        .await?)
}

/// The notifications `event` (about `cast`'s booking) calls for; `actor` (who caused it) is not told
/// of their own change.
async fn for_event(
    conn: &impl ConnectionTrait,
    cast: &Cast,
    event: &DomainEvent,
    actor: Option<&str>,
) -> AppResult<Vec<Outgoing>> {
    let addressed: Vec<Addressed> = match event {
        // A hold is nobody's news; payments are told by their own messages (below).
        DomainEvent::SessionsAdded { .. }
        | DomainEvent::BookingHeld { .. }
        | DomainEvent::HoldReleased { .. } => Vec::new(),
        DomainEvent::PaymentReceived {
            invoice_id,
            amount_minor,
            currency,
            period_start,
            period_end,
            ..
        } => vec![messages::payment_received(
            &cast.facts(),
            invoice_id,
            &money(*amount_minor, currency)?,
            period_start.zip(*period_end),
        )],
        DomainEvent::PaymentFailed { fix_url, .. } => {
            vec![messages::payment_failed(&cast.facts(), fix_url.as_deref())]
        }
        DomainEvent::Refunded {
            session_id,
            amount_minor,
            currency,
            ..
        } => {
            let start = match session_id {
                Some(id) => session_starts(conn, std::slice::from_ref(id))
                    .await?
                    .first()
                    .copied(),
                None => None,
            };
            vec![messages::refunded(
                &cast.facts(),
                session_id.as_deref(),
                start,
                &money(*amount_minor, currency)?,
            )]
        }
        DomainEvent::BookingCreated { session_ids, .. } => {
            let admins = admins(conn).await?;
            let admin_parties: Vec<Party> = admins.iter().map(party).collect();
            messages::booking_created(
                &cast.facts(),
                cast.booking.start_at,
                session_ids.len(),
                &admin_parties,
            )
        }
        DomainEvent::BookingCancelled {
            cancelled_session_ids,
            reason,
            ..
        } => {
            let starts = session_starts(conn, cancelled_session_ids).await?;
            messages::cancelled(&cast.facts(), &starts, true, actor, reason.as_deref())
        }
        DomainEvent::SessionCancelled {
            session_id, reason, ..
        } => {
            let starts = session_starts(conn, std::slice::from_ref(session_id)).await?;
            messages::cancelled(&cast.facts(), &starts, false, actor, reason.as_deref())
        }
        DomainEvent::SessionRescheduled {
            session_id,
            from,
            to,
            ..
        } => messages::rescheduled(&cast.facts(), session_id, *from, *to, actor),
        DomainEvent::SessionCompleted { session_id, .. } => {
            let start = session_starts(conn, std::slice::from_ref(session_id)).await?;
            start
                .first()
                .map(|at| messages::feedback_request(&cast.facts(), session_id, *at))
                .into_iter()
                .collect()
        }
        DomainEvent::OccurrenceSkipped { start, reason, .. } => {
            messages::occurrence_skipped(&cast.facts(), *start, *reason)
        }
    };
    Ok(addressed
        .into_iter()
        .map(|(to, message)| Outgoing {
            to,
            message,
            dedupe_key: None,
        })
        .collect())
}
