//! The `payment.stripe` jobs: what the service owes Stripe after a commit. Each is idempotent (the
//! Stripe calls carry keys named by what they do; the rows say what is done), so a retry after a
//! crash or a Stripe failure does it once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::record::{lock, set_status};
use super::PaymentService;
use crate::domain::booking::PaymentStatus;
use crate::domain::event::DomainEvent;
use crate::entity::{invoice, payment, payment_refund};
use crate::error::AppResult;
use crate::integrations::payments::stripe::Paid;
use crate::jobs::payment::PaymentTask;

impl PaymentService {
    pub async fn run_task(&self, task: &PaymentTask) -> AppResult<()> {
        match task {
            PaymentTask::EndHold { booking_id } => self.end_hold(booking_id).await,
            PaymentTask::ExpireCheckout {
                booking_id,
                checkout_id,
            } => self.expire(booking_id, checkout_id).await.map(|_| ()),
            PaymentTask::CancelSubscription {
                subscription_id, ..
            } => Ok(self.stripe()?.cancel_subscription(subscription_id).await?),
            PaymentTask::Refund { session_id } => self.refund(session_id).await,
        }
    }

    /// The hold ran out: its checkout is expired at Stripe first (so it cannot be paid after), then
    /// the sessions are released, unless the checkout was paid first (then the booking is
    /// confirmed). A checkout opened meanwhile is expired in turn.
    async fn end_hold(&self, booking_id: &str) -> AppResult<()> {
        loop {
            let Some(row) = payment::Entity::find_by_id(booking_id)
                .one(self.db.conn())
                .await?
            else {
                return Ok(());
            };
            if row.status != PaymentStatus::Pending {
                return Ok(());
            }
            if let Some(checkout) = &row.checkout_session_id {
                if self.expire(booking_id, checkout).await?.status == "complete" {
                    return Ok(());
                }
            }
            let now = self.clock.now();
            let write = self.db.begin_write().await?;
            let Some(locked) = lock(&write.txn, booking_id).await? else {
                return Ok(());
            };
            if locked.status != PaymentStatus::Pending {
                return Ok(());
            }
            if locked.checkout_session_id != row.checkout_session_id {
                continue; // a new checkout was opened meanwhile: expire it too
            }
            let mut changes = self.after_commit.changes();
            self.bookings
                .release_held(
                    &write.txn,
                    booking_id,
                    "payment not completed",
                    None,
                    now,
                    &mut changes,
                )
                .await?;
            write.commit().await?;
            changes.apply().await;
            tracing::info!(booking = booking_id, "hold ended unpaid; sessions released");
            return Ok(());
        }
    }

    /// Refunds a cancelled session its share of the invoice that paid for it.
    async fn refund(&self, session_id: &str) -> AppResult<()> {
        let stripe = self.stripe()?;
        let Some(refund) = payment_refund::Entity::find_by_id(session_id)
            .one(self.db.conn())
            .await?
        else {
            return Ok(());
        };
        if refund.stripe_refund_id.is_some() {
            return Ok(());
        }
        let Some(paid_invoice) = invoice::Entity::find_by_id(&refund.invoice_id)
            .one(self.db.conn())
            .await?
        else {
            return Ok(());
        };
        let paid = match &paid_invoice.paid_by {
            Some(id) if id.starts_with("ch_") => Paid::Charge(id.clone()),
            Some(id) => Paid::Intent(id.clone()),
            None => {
                let Some(paid) = stripe
                    .invoice_payment(&paid_invoice.stripe_invoice_id)
                    .await?
                else {
                    tracing::warn!(invoice = %paid_invoice.id, "Stripe names no payment for a paid invoice; nothing to refund");
                    return Ok(());
                };
                let id = match &paid {
                    Paid::Intent(id) | Paid::Charge(id) => id.clone(),
                };
                invoice::Entity::update_many()
                    .col_expr(invoice::Column::PaidBy, Expr::value(id))
                    .filter(invoice::Column::Id.eq(&paid_invoice.id))
                    .exec(self.db.conn())
                    .await?;
                paid
            }
        };
        let made = stripe
            .refund(
                &paid,
                refund.amount_minor,
                session_id,
                &format!("session:{session_id}:refund"),
            )
            .await?;
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let status = if made.status == "succeeded" {
            "succeeded"
        } else {
            "pending"
        };
        payment_refund::Entity::update_many()
            .col_expr(
                payment_refund::Column::StripeRefundId,
                Expr::value(made.id.clone()),
            )
            .col_expr(payment_refund::Column::Status, Expr::value(status))
            .col_expr(payment_refund::Column::UpdatedAt, Expr::value(now))
            .filter(payment_refund::Column::SessionId.eq(session_id))
            .exec(txn)
            .await?;
        let refunded: i64 = payment_refund::Entity::find()
            .filter(payment_refund::Column::InvoiceId.eq(&paid_invoice.id))
            .filter(payment_refund::Column::StripeRefundId.is_not_null())
            .all(txn)
            .await?
            .iter()
            .map(|r| r.amount_minor)
            .sum();
        note_refunded(txn, &paid_invoice, refunded, now).await?;
        let mut changes = self.after_commit.changes();
        let event = DomainEvent::SessionRefunded {
            booking_id: refund.booking_id.clone(),
            session_id: session_id.into(),
            amount_minor: refund.amount_minor,
            currency: refund.currency.clone(),
        };
        self.tell(txn, &event, now, &mut changes).await?;
        write.commit().await?;
        changes.apply().await;
        Ok(())
    }
}

/// Records that `refunded` (cumulative, in minor units) of `row` was refunded: never less than
/// already known (refunds and `charge.refunded` may arrive in any order). A booking that is over
/// and whose every invoice is fully refunded reads `REFUNDED`.
pub(super) async fn note_refunded(
    conn: &impl ConnectionTrait,
    row: &invoice::Model,
    refunded: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let total = refunded
        .max(row.amount_refunded_minor)
        .min(row.amount_minor);
    let status = if total >= row.amount_minor {
        "refunded"
    } else if total > 0 {
        "partially_refunded"
    } else {
        "paid"
    };
    invoice::Entity::update_many()
        .col_expr(invoice::Column::AmountRefundedMinor, Expr::value(total))
        .col_expr(invoice::Column::Status, Expr::value(status))
        .col_expr(invoice::Column::UpdatedAt, Expr::value(now))
        .filter(invoice::Column::Id.eq(&row.id))
        .exec(conn)
        .await?;
    payment_refund::Entity::update_many()
        .col_expr(payment_refund::Column::Status, Expr::value("succeeded"))
        .filter(payment_refund::Column::InvoiceId.eq(&row.id))
        .filter(payment_refund::Column::StripeRefundId.is_not_null())
        .exec(conn)
        .await?;
    let Some(payment) = lock(conn, &row.booking_id).await? else {
        return Ok(());
    };
    if payment.status == PaymentStatus::Cancelled {
        let open = invoice::Entity::find()
            .filter(invoice::Column::BookingId.eq(&row.booking_id))
            .filter(invoice::Column::Status.ne("refunded"))
            .filter(invoice::Column::Id.ne(&row.id))
            .one(conn)
            .await?;
        if open.is_none() && status == "refunded" {
            set_status(conn, &row.booking_id, PaymentStatus::Refunded, now).await?;
        }
    }
    Ok(())
}
