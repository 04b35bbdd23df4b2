//! What booking events owe Stripe, queued in the event's transaction: a cancelled paid booking's
//! subscription is cancelled at once (never charged again); a paid session the mentor cancels (on
//! its own or with the booking) is refunded its share of the week that paid for it; a released
//! hold's checkout is expired so it cannot be paid.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::record::set_status;
use crate::domain::booking::PaymentStatus;
use crate::domain::event::DomainEvent;
use crate::domain::money::Money;
use crate::entity::{invoice, payment, payment_refund, session};
use crate::error::AppResult;
use crate::jobs::payment::{queue, PaymentTask};
use crate::service::after_commit::Changes;
use crate::service::events::{EventConsumer, Happened};

/// The consumer; it does nothing while payments are off (no payment rows exist then).
pub struct PaymentEvents;

#[async_trait]
impl EventConsumer for PaymentEvents {
    async fn consume(
        &self,
        txn: &DatabaseTransaction,
        happened: &Happened<'_>,
        _changes: &mut Changes,
    ) -> AppResult<()> {
        let (booking_id, cancelled, whole) = match happened.event {
            DomainEvent::BookingCancelled {
                booking_id,
                cancelled_session_ids,
                ..
            } => (booking_id, cancelled_session_ids.as_slice(), true),
            DomainEvent::SessionCancelled {
                booking_id,
                session_id,
                ..
            } => (booking_id, std::slice::from_ref(session_id), false),
            DomainEvent::HoldReleased { booking_id, .. } => {
                return expire_checkout(txn, booking_id, happened.now).await;
            }
            _ => return Ok(()),
        };
        let Some(row) = payment::Entity::find_by_id(booking_id).one(txn).await? else {
            return Ok(());
        };
        if !matches!(row.status, PaymentStatus::Paid | PaymentStatus::PastDue) {
            return Ok(());
        }
        let by_mentor = happened.actor == Some(happened.cast.mentor.id.as_str());
        if by_mentor {
            let per_week = happened.cast.booking.frequency.per_week();
            refund_sessions(txn, &row, cancelled, per_week, happened.now).await?;
        }
        if whole {
            set_status(txn, booking_id, PaymentStatus::Cancelled, happened.now).await?;
            if let Some(subscription) = &row.subscription_id {
                let task = PaymentTask::CancelSubscription {
                    booking_id: booking_id.clone(),
                    subscription_id: subscription.clone(),
                };
                queue(txn, happened.now, &task, None).await?;
            }
        }
        Ok(())
    }
}

async fn expire_checkout(
    txn: &DatabaseTransaction,
    booking_id: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let checkout = payment::Entity::find_by_id(booking_id)
        .one(txn)
        .await?
        .and_then(|p| p.checkout_session_id);
    if let Some(checkout_id) = checkout {
        let task = PaymentTask::ExpireCheckout {
            booking_id: booking_id.into(),
            checkout_id,
        };
        queue(txn, now, &task, None).await?;
    }
    Ok(())
}

/// A refund row and job for each of `session_ids` that a paid invoice covers (the invoice whose
/// billed period holds the session's start): the week's amount shared by its sessions.
async fn refund_sessions(
    txn: &DatabaseTransaction,
    payment: &payment::Model,
    session_ids: &[String],
    per_week: usize,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if session_ids.is_empty() {
        return Ok(());
    }
    let sessions = session::Entity::find()
        .filter(session::Column::Id.is_in(session_ids.iter().cloned()))
        .all(txn)
        .await?;
    let invoices = invoice::Entity::find()
        .filter(invoice::Column::BookingId.eq(&payment.booking_id))
        .all(txn)
        .await?;
    for s in sessions {
        let Some(paid) = invoices.iter().find(|i| {
            i.period_start.is_some_and(|from| from <= s.start_at)
                && i.period_end.is_some_and(|to| s.start_at < to)
        }) else {
            continue; // a week not paid yet: nothing to give back
        };
        let share = Money {
            amount_minor: paid.amount_minor,
            currency: super::read::money(0, &paid.currency)?.currency,
        }
        .share(per_week);
        payment_refund::Entity::insert(payment_refund::ActiveModel::from(payment_refund::Model {
            session_id: s.id.clone(),
            booking_id: payment.booking_id.clone(),
            invoice_id: paid.id.clone(),
            amount_minor: share.amount_minor,
            currency: paid.currency.clone(),
            stripe_refund_id: None,
            status: "pending".into(),
            created_at: now,
            updated_at: now,
        }))
        .on_conflict(
            OnConflict::column(payment_refund::Column::SessionId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        let task = PaymentTask::Refund {
            session_id: s.id.clone(),
        };
        queue(txn, now, &task, None).await?;
    }
    Ok(())
}
