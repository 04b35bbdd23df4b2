//! The `payment.stripe` jobs: what the service owes Stripe after a commit. Each is idempotent (the
//! Stripe calls carry keys named by what they do; the rows say what is done), so a retry after a
//! crash or a Stripe failure does it once.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::record::{lock, set_status};
use super::PaymentService;
use crate::db::for_update;
use crate::domain::booking::PaymentStatus;
use crate::domain::event::DomainEvent;
use crate::entity::{invoice, payment, payment_refund};
use crate::error::AppResult;
use crate::integrations::payments::stripe::Paid;
use crate::jobs::payment::PaymentTask;

/// How long after its end a hold whose checkout Stripe cannot expire is released anyway (a payment
/// that still lands is then given back: `consumer::refund_invoice`).
const RELEASE_ANYWAY_AFTER: Duration = Duration::minutes(15);

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
            PaymentTask::EndSubscription {
                subscription_id, ..
            } => Ok(self
                .stripe()?
                .end_subscription(
                    subscription_id,
                    &format!("subscription:{subscription_id}:end"),
                )
                .await?),
            PaymentTask::Refund { refund_id } => self.refund(refund_id).await,
            PaymentTask::ReadInvoicePayment { invoice_id } => {
                self.paid_by(invoice_id).await.map(|_| ())
            }
        }
    }

    /// The hold ran out: its checkout is expired at Stripe first (so it cannot be paid after), then
    /// the sessions are released, unless the checkout was paid first (then the booking is
    /// confirmed). A checkout opened meanwhile is expired in turn. When Stripe cannot be reached
    /// for a while after the end, the sessions are released anyway.
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
                match self.expire(booking_id, checkout).await {
                    Ok(session) if session.status == "complete" => return Ok(()),
                    Ok(_) => {}
                    Err(e) => {
                        let end = row.hold_expires_at.unwrap_or(row.created_at);
                        if self.clock.now() < end + RELEASE_ANYWAY_AFTER {
                            return Err(e);
                        }
                        tracing::warn!(booking = booking_id, error = %e, "Stripe cannot expire the checkout; releasing the hold anyway");
                    }
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
            if locked.checkout_session_id.is_some()
                && locked.checkout_session_id != row.checkout_session_id
            {
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

    /// What paid an invoice, read from Stripe once and kept (refunds name it, and `charge.refunded`
    /// is matched by it).
    async fn paid_by(&self, invoice_id: &str) -> AppResult<Option<Paid>> {
        let Some(row) = invoice::Entity::find_by_id(invoice_id)
            .one(self.db.conn())
            .await?
        else {
            return Ok(None);
        };
        if let Some(id) = &row.paid_by {
            return Ok(Some(Paid::from_id(id)));
        }
        let Some(paid) = self
            .stripe()?
            .invoice_payment(&row.stripe_invoice_id)
            .await?
        else {
            tracing::warn!(invoice = %row.id, "Stripe names no payment for a paid invoice");
            return Ok(None);
        };
        invoice::Entity::update_many()
            .col_expr(invoice::Column::PaidBy, Expr::value(paid.id()))
            .filter(invoice::Column::Id.eq(&row.id))
            .exec(self.db.conn())
            .await?;
        Ok(Some(paid))
    }

    /// Gives back what a refund row says, from the payment of its invoice.
    async fn refund(&self, refund_id: &str) -> AppResult<()> {
        let stripe = self.stripe()?;
        let Some(refund) = payment_refund::Entity::find_by_id(refund_id)
            .one(self.db.conn())
            .await?
        else {
            return Ok(());
        };
        let Some(invoice_id) = refund.invoice_id.clone() else {
            return Ok(()); // its week is not paid yet
        };
        if refund.stripe_refund_id.is_some() {
            return Ok(());
        }
        let Some(paid) = self.paid_by(&invoice_id).await? else {
            return Ok(());
        };
        let made = stripe
            .refund(
                &paid,
                refund.amount_minor,
                refund_id,
                &format!("{refund_id}:refund"),
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
            .filter(payment_refund::Column::Id.eq(refund_id))
            .exec(txn)
            .await?;
        let refunded: i64 = payment_refund::Entity::find()
            .filter(payment_refund::Column::InvoiceId.eq(&invoice_id))
            .filter(payment_refund::Column::StripeRefundId.is_not_null())
            .all(txn)
            .await?
            .iter()
            .map(|r| r.amount_minor)
            .sum();
        note_refunded(txn, &invoice_id, refunded, now).await?;
        let mut changes = self.after_commit.changes();
        let event = DomainEvent::Refunded {
            booking_id: refund.booking_id.clone(),
            refund: refund_id.into(),
            session_id: refund.session_id.clone(),
            amount_minor: refund.amount_minor,
            currency: refund.currency.clone(),
        };
        self.tell(txn, &event, now, &mut changes).await?;
        write.commit().await?;
        changes.apply().await;
        Ok(())
    }
}

/// Records that `refunded` (cumulative, in minor units) of invoice `invoice_id` was refunded: never
/// less than already known (refunds and `charge.refunded` may arrive in any order; the invoice is
/// locked and read again, so two of them cannot lose one another). A booking that is over and
/// whose every invoice is fully refunded reads `REFUNDED`.
pub(super) async fn note_refunded(
    conn: &impl ConnectionTrait,
    invoice_id: &str,
    refunded: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(row) = invoice::Entity::find_by_id(invoice_id).one(conn).await? else {
        return Ok(());
    };
    // Booking, payment, then invoice: the order every writer takes.
    let Some(payment) = lock(conn, &row.booking_id).await? else {
        return Ok(());
    };
    let Some(row) = for_update(conn, invoice::Entity::find_by_id(invoice_id))
        .one(conn)
        .await?
    else {
        return Ok(());
    };
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
    if payment.status == PaymentStatus::Cancelled && status == "refunded" {
        let open = invoice::Entity::find()
            .filter(invoice::Column::BookingId.eq(&row.booking_id))
            .filter(invoice::Column::Status.ne("refunded"))
            .filter(invoice::Column::Id.ne(&row.id))
            .one(conn)
            .await?;
        if open.is_none() {
            set_status(conn, &row.booking_id, PaymentStatus::Refunded, now).await?;
        }
    }
    Ok(())
}
