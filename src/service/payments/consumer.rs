//! What booking events owe Stripe, queued in the event's transaction: a cancelled paid booking's
//! subscription is cancelled at once (never charged again); a paid session the mentor cancels (on
//! its own or with the booking) is refunded its share of the week that pays for it (when that week
//! is paid later, the refund waits for its invoice); a released hold's payment is cancelled and its
//! checkout expired so it cannot be paid.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

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
                return released(txn, booking_id, happened.now).await;
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

/// A hold ended unpaid: its payment is cancelled (a checkout link no longer shows) and the
/// checkout is expired at Stripe.
async fn released(
    txn: &DatabaseTransaction,
    booking_id: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(row) = payment::Entity::find_by_id(booking_id).one(txn).await? else {
        return Ok(());
    };
    set_status(txn, booking_id, PaymentStatus::Cancelled, now).await?;
    payment::Entity::update_many()
        .col_expr(
            payment::Column::CheckoutUrl,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            payment::Column::HoldExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(payment::Column::BookingId.eq(booking_id))
        .exec(txn)
        .await?;
    if let Some(checkout_id) = row.checkout_session_id {
        let task = PaymentTask::ExpireCheckout {
            booking_id: booking_id.into(),
            checkout_id,
        };
        queue(txn, now, &task, None).await?;
    }
    Ok(())
}

/// A refund of its share for each of `session_ids`: queued now when a paid invoice's billed period
/// holds the session's start, else kept until the invoice of its week is paid
/// ([`attach_waiting`]).
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
        let paid = invoices.iter().find(|i| covers(i, s.start_at));
        // The share of the week that paid for it, or of the weekly charge when it is not paid yet.
        let (week, currency) = match paid {
            Some(i) => (i.amount_minor, i.currency.clone()),
            None => (payment.amount_minor, payment.currency.clone()),
        };
        let share = super::read::money(week, &currency)?.share(per_week);
        insert_refund(
            txn,
            &payment.booking_id,
            &s.id,
            paid.map(|i| i.id.clone()),
            &share,
            now,
        )
        .await?;
    }
    Ok(())
}

fn covers(invoice: &invoice::Model, at: DateTime<Utc>) -> bool {
    invoice.period_start.is_some_and(|from| from <= at)
        && invoice.period_end.is_some_and(|to| at < to)
}

async fn insert_refund(
    txn: &DatabaseTransaction,
    booking_id: &str,
    session_id: &str,
    invoice_id: Option<String>,
    share: &Money,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let waiting = invoice_id.is_none();
    owe_refund(
        txn,
        payment_refund::Model {
            id: format!("session:{session_id}"),
            session_id: Some(session_id.into()),
            booking_id: booking_id.into(),
            invoice_id,
            amount_minor: share.amount_minor,
            currency: share.currency.as_str().into(),
            stripe_refund_id: None,
            status: if waiting {
                "awaiting_invoice"
            } else {
                "pending"
            }
            .into(),
            created_at: now,
            updated_at: now,
        },
        now,
    )
    .await
}

/// Records a refund we owe, once (its id names what it gives back), and queues it unless it waits
/// for the invoice that paid for it.
async fn owe_refund(
    txn: &DatabaseTransaction,
    row: payment_refund::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let queue_now = row.status == "pending";
    let refund_id = row.id.clone();
    payment_refund::Entity::insert(payment_refund::ActiveModel::from(row))
        .on_conflict(
            OnConflict::column(payment_refund::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    if queue_now {
        queue(txn, now, &PaymentTask::Refund { refund_id }, None).await?;
    }
    Ok(())
}

/// A week was paid (`paid`): refunds of its sessions that waited for it are queued now.
pub(super) async fn attach_waiting(
    txn: &DatabaseTransaction,
    paid: &invoice::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let waiting = payment_refund::Entity::find()
        .filter(payment_refund::Column::BookingId.eq(&paid.booking_id))
        .filter(payment_refund::Column::Status.eq("awaiting_invoice"))
        .all(txn)
        .await?;
    if waiting.is_empty() {
        return Ok(());
    }
    // Their sessions' starts, in one query.
    let starts: Vec<(String, DateTime<Utc>)> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .column(session::Column::StartAt)
        .filter(session::Column::Id.is_in(waiting.iter().filter_map(|r| r.session_id.clone())))
        .into_tuple()
        .all(txn)
        .await?;
    for refund in waiting {
        let start = starts
            .iter()
            .find(|(id, _)| refund.session_id.as_deref() == Some(id.as_str()))
            .map(|(_, at)| *at);
        if !start.is_some_and(|at| covers(paid, at)) {
            continue;
        }
        payment_refund::Entity::update_many()
            .col_expr(
                payment_refund::Column::InvoiceId,
                Expr::value(paid.id.clone()),
            )
            .col_expr(payment_refund::Column::Status, Expr::value("pending"))
            .col_expr(payment_refund::Column::UpdatedAt, Expr::value(now))
            .filter(payment_refund::Column::Id.eq(&refund.id))
            .exec(txn)
            .await?;
        queue(
            txn,
            now,
            &PaymentTask::Refund {
                refund_id: refund.id,
            },
            None,
        )
        .await?;
    }
    Ok(())
}

/// A whole invoice paid for a booking already cancelled (a payment that landed after its hold was
/// released, or a weekly charge racing the cancellation) is given back.
pub(super) async fn refund_invoice(
    txn: &DatabaseTransaction,
    paid: &invoice::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    owe_refund(
        txn,
        payment_refund::Model {
            id: format!("invoice:{}", paid.id),
            session_id: None,
            booking_id: paid.booking_id.clone(),
            invoice_id: Some(paid.id.clone()),
            amount_minor: paid.amount_minor,
            currency: paid.currency.clone(),
            stripe_refund_id: None,
            status: "pending".into(),
            created_at: now,
            updated_at: now,
        },
        now,
    )
    .await
}
