//! `POST /webhooks/stripe`: a delivery is checked (`Stripe-Signature`), then its event is applied
//! once, in one transaction with the record of its id, so a redelivery, or two deliveries racing,
//! change nothing more (ids are kept [`EVENTS_KEPT`], past any redelivery). Events may come in any
//! order; each reads the state it finds and moves it only forward (an `invoice.paid` before
//! `checkout.session.completed` confirms the booking, and the completion then finds nothing left
//! to do). Unknown types, and events about bookings we do not know, are answered 200 and ignored.

use chrono::{DateTime, TimeZone as _, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::Value;

use super::consumer::{attach_waiting, refund_invoice};
use super::record::{booking_of_subscription, lock_with_booking, set_booking_status, set_status};
use super::PaymentService;
use crate::db::{forget_before, new_id};
use crate::domain::booking::{BookingStatus, PaymentStatus};
use crate::domain::event::DomainEvent;
use crate::entity::{booking, invoice, payment, stripe_event};
use crate::error::{AppError, AppResult};
use crate::integrations::payments::signature::{verify, SignatureError};
use crate::integrations::payments::stripe::{paid_by, CheckoutSession};
use crate::jobs::payment::{queue, PaymentTask};
use crate::service::after_commit::Changes;

/// How long an event's id is kept: Stripe redelivers an event for up to three days, each time
/// freshly signed, and keeps events 30 days, during which one can be resent by hand. Kept longer,
/// any redelivery is recognised; older ids are forgotten a few at a time as new events arrive.
const EVENTS_KEPT: chrono::Duration = chrono::Duration::days(35);
/// Old event ids deleted with each new event, at most.
const FORGET_BATCH: u64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("payments are not configured")]
    NotConfigured,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the event is not a Stripe event: {0}")]
    Malformed(String),
    #[error(transparent)]
    App(#[from] AppError),
}

impl PaymentService {
    /// Checks and applies one delivery. `Ok(true)`: applied; `Ok(false)`: seen before or ignored.
    pub async fn receive_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<bool, WebhookError> {
        if self.stripe.is_none() {
            return Err(WebhookError::NotConfigured);
        }
        let now = self.clock.now();
        verify(
            &self.webhook_secrets,
            signature.unwrap_or_default(),
            body,
            now.timestamp(),
        )?;
        let event: Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
            return Err(WebhookError::Malformed("no id or type".into()));
        };
        let object = &event["data"]["object"];
        let write = self.db.begin_write().await.map_err(AppError::from)?;
        let txn = &write.txn;
        let inserted = stripe_event::Entity::insert(stripe_event::ActiveModel {
            id: Set(id.chars().take(255).collect()),
            kind: Set(kind.chars().take(128).collect()),
            received_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(stripe_event::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(AppError::from)?;
        if inserted == 0 {
            tracing::debug!(event = id, kind, "a Stripe event seen before");
            return Ok(false);
        }
        let column = stripe_event::Column::ReceivedAt;
        let key = [stripe_event::Column::Id];
        forget_before::<stripe_event::Entity>(txn, &key, column, now - EVENTS_KEPT, FORGET_BATCH)
            .await
            .map_err(AppError::from)?;
        let mut changes = self.after_commit.changes();
        let applied = match kind {
            "checkout.session.completed" => self.completed(txn, object, now, &mut changes).await?,
            "checkout.session.expired" => self.expired(txn, object, now, &mut changes).await?,
            "invoice.paid" => self.invoice_paid(txn, object, now, &mut changes).await?,
            "invoice.payment_failed" => self.invoice_failed(txn, object, now, &mut changes).await?,
            "customer.subscription.updated" => {
                self.subscription_updated(txn, object, now, &mut changes)
                    .await?
            }
            "customer.subscription.deleted" => {
                self.subscription_ended(txn, object, now, &mut changes)
                    .await?
            }
            "charge.refunded" => self.charge_refunded(txn, object, now).await?,
            _ => false,
        };
        write.commit().await.map_err(AppError::from)?;
        changes.apply().await;
        tracing::info!(event = id, kind, applied, "Stripe event");
        Ok(applied)
    }

    /// Records a payment event (the system acted: Stripe told us).
    pub(super) async fn tell(
        &self,
        txn: &DatabaseTransaction,
        event: &DomainEvent,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<()> {
        self.bookings
            .events()
            .record(txn, event, None, now, changes)
            .await
    }

    /// A checkout found complete (by its webhook, or by us when expiring it failed).
    pub(super) async fn complete_checkout(&self, session: &CheckoutSession) -> AppResult<()> {
        let object = serde_json::json!({
            "id": session.id, "status": session.status, "payment_status": "paid",
            "subscription": session.subscription, "customer": session.customer,
            "client_reference_id": session.client_reference_id, "metadata": {},
        });
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        let mut changes = self.after_commit.changes();
        self.completed(&write.txn, &object, now, &mut changes)
            .await?;
        write.commit().await?;
        changes.apply().await;
        Ok(())
    }

    async fn completed(
        &self,
        txn: &DatabaseTransaction,
        session: &Value,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        if !matches!(
            session["payment_status"].as_str(),
            Some("paid" | "no_payment_required")
        ) {
            return Ok(false);
        }
        let Some((booking, row)) = payment_of_checkout(txn, session).await? else {
            return Ok(false);
        };
        let booking_id = row.booking_id.clone();
        let subscription = session["subscription"].as_str();
        let customer = session["customer"].as_str();
        payment::Entity::update_many()
            .col_expr(
                payment::Column::SubscriptionId,
                Expr::value(row.subscription_id.clone().or(subscription.map(Into::into))),
            )
            .col_expr(
                payment::Column::CustomerId,
                Expr::value(row.customer_id.clone().or(customer.map(Into::into))),
            )
            .col_expr(payment::Column::UpdatedAt, Expr::value(now))
            .filter(payment::Column::BookingId.eq(&booking_id))
            .exec(txn)
            .await?;
        self.paid(txn, &booking, &row, subscription, now, changes)
            .await
    }

    /// The first week is paid: the hold becomes a confirmed booking. A payment for a booking that
    /// is cancelled (its hold released meanwhile) cancels its subscription so it is never charged
    /// again.
    /// `booking` and `row` are as locked at the start of the transaction.
    async fn paid(
        &self,
        txn: &DatabaseTransaction,
        booking: &booking::Model,
        row: &payment::Model,
        subscription: Option<&str>,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        if row.status == PaymentStatus::Pending
            && booking.status == BookingStatus::Pending
            && self
                .bookings
                .confirm_held(txn, &row.booking_id, now, changes)
                .await?
        {
            payment::Entity::update_many()
                .col_expr(payment::Column::Status, Expr::value(PaymentStatus::Paid))
                .col_expr(
                    payment::Column::HoldExpiresAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    payment::Column::CheckoutUrl,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(payment::Column::UpdatedAt, Expr::value(now))
                .filter(payment::Column::BookingId.eq(&row.booking_id))
                .exec(txn)
                .await?;
            set_booking_status(txn, &row.booking_id, PaymentStatus::Paid, now).await?;
            return Ok(true);
        }
        // Paid for a booking no longer live (released, or cancelled meanwhile): never charge it
        // again; the invoice itself is given back when it is recorded (`invoice_paid`).
        if booking.status == BookingStatus::Cancelled {
            if let Some(subscription) = subscription.or(row.subscription_id.as_deref()) {
                tracing::warn!(booking = %row.booking_id, "a payment for a cancelled booking; cancelling its subscription");
                let task = PaymentTask::CancelSubscription {
                    booking_id: row.booking_id.clone(),
                    subscription_id: subscription.into(),
                };
                queue(txn, now, &task, None).await?;
            }
        }
        Ok(false)
    }

    async fn expired(
        &self,
        txn: &DatabaseTransaction,
        session: &Value,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        let Some((_, row)) = payment_of_checkout(txn, session).await? else {
            return Ok(false);
        };
        let booking_id = row.booking_id.clone();
        // An older checkout we replaced ends quietly; only the current one ends the hold.
        if row.checkout_session_id.as_deref() != session["id"].as_str()
            || row.status != PaymentStatus::Pending
        {
            return Ok(false);
        }
        self.bookings
            .release_held(
                txn,
                &booking_id,
                "payment not completed",
                None,
                now,
                changes,
            )
            .await
    }

    async fn invoice_paid(
        &self,
        txn: &DatabaseTransaction,
        object: &Value,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        let Some((booking, row, subscription)) = payment_of_invoice(txn, object).await? else {
            return Ok(false);
        };
        let booking_id = row.booking_id.clone();
        let Some(stripe_id) = object["id"].as_str() else {
            return Ok(false);
        };
        let line = &object["lines"]["data"][0];
        let period_start = instant(&line["period"]["start"]).or(instant(&object["period_start"]));
        let period_end = instant(&line["period"]["end"]).or(instant(&object["period_end"]));
        let amount = object["amount_paid"].as_i64().unwrap_or(0);
        let currency = object["currency"].as_str().unwrap_or(&row.currency);
        let id = new_id();
        let recorded = invoice::Model {
            id: id.clone(),
            booking_id: booking_id.clone(),
            stripe_invoice_id: stripe_id.into(),
            number: object["number"].as_str().map(Into::into),
            amount_minor: amount,
            amount_refunded_minor: 0,
            currency: currency.to_ascii_lowercase(),
            status: "paid".into(),
            period_start,
            period_end,
            paid_at: instant(&object["status_transitions"]["paid_at"]).or(Some(now)),
            hosted_url: object["hosted_invoice_url"].as_str().map(Into::into),
            paid_by: paid_by(object).map(|p| p.id().to_string()),
            created_at: now,
            updated_at: now,
        };
        let inserted = invoice::Entity::insert(invoice::ActiveModel::from(recorded.clone()))
            .on_conflict(
                OnConflict::column(invoice::Column::StripeInvoiceId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        if inserted == 0 {
            return Ok(false);
        }
        // A week paid after a failed one is paid up again (a booking still held is confirmed by
        // `paid`, below).
        let recovered = row.status == PaymentStatus::PastDue;
        let mut update = payment::Entity::update_many()
            .col_expr(
                payment::Column::SubscriptionId,
                Expr::value(row.subscription_id.clone().or(subscription.clone())),
            )
            .col_expr(
                payment::Column::NextBillingAt,
                Expr::value(period_end.max(row.next_billing_at)),
            );
        if recovered {
            update = update
                .col_expr(payment::Column::Status, Expr::value(PaymentStatus::Paid))
                .col_expr(payment::Column::UpdatedAt, Expr::value(now));
        }
        update
            .filter(payment::Column::BookingId.eq(&booking_id))
            .exec(txn)
            .await?;
        if recovered {
            set_booking_status(txn, &booking_id, PaymentStatus::Paid, now).await?;
        }
        self.paid(txn, &booking, &row, subscription.as_deref(), now, changes)
            .await?;
        if recorded.paid_by.is_none() {
            let read = PaymentTask::ReadInvoicePayment {
                invoice_id: id.clone(),
            };
            queue(txn, now, &read, None).await?;
        }
        // The booking as locked: `paid` may have confirmed it, but never cancels it.
        if booking.status == BookingStatus::Cancelled {
            // Money for a booking already cancelled goes back.
            refund_invoice(txn, &recorded, now).await?;
        } else {
            attach_waiting(txn, &recorded, now).await?;
            end_when_paid_up(
                txn,
                &row,
                &booking,
                subscription.as_deref(),
                period_end,
                now,
            )
            .await?;
        }
        // Money was taken: the student gets a receipt, whatever the booking's state.
        let event = DomainEvent::PaymentReceived {
            booking_id,
            invoice_id: id,
            amount_minor: recorded.amount_minor,
            currency: recorded.currency.clone(),
            paid_at: recorded.paid_at,
            period_start: recorded.period_start,
            period_end: recorded.period_end,
        };
        self.tell(txn, &event, now, changes).await?;
        Ok(true)
    }

    async fn invoice_failed(
        &self,
        txn: &DatabaseTransaction,
        object: &Value,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        let Some((_, row, _)) = payment_of_invoice(txn, object).await? else {
            return Ok(false);
        };
        let booking_id = row.booking_id.clone();
        if row.status != PaymentStatus::Paid && row.status != PaymentStatus::PastDue {
            return Ok(false);
        }
        let Some(stripe_id) = object["id"].as_str() else {
            return Ok(false);
        };
        // A failure told after the same invoice was paid (a late or retried delivery) is over.
        let paid_since = invoice::Entity::find()
            .filter(invoice::Column::StripeInvoiceId.eq(stripe_id))
            .one(txn)
            .await?
            .is_some();
        if paid_since {
            return Ok(false);
        }
        set_status(txn, &booking_id, PaymentStatus::PastDue, now).await?;
        let event = DomainEvent::PaymentFailed {
            booking_id,
            invoice: stripe_id.into(),
            attempt: object["attempt_count"].as_i64().unwrap_or(0),
            fix_url: object["hosted_invoice_url"].as_str().map(Into::into),
        };
        self.tell(txn, &event, now, changes).await?;
        Ok(true)
    }

    /// Only an update that ends the subscription matters here: a failed charge is told by its
    /// invoice (`invoice.payment_failed`, which knows the invoice and whether it was paid since),
    /// a recovery by the next paid invoice.
    async fn subscription_updated(
        &self,
        txn: &DatabaseTransaction,
        object: &Value,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        match object["status"].as_str() {
            Some("canceled" | "unpaid" | "incomplete_expired") => {
                self.subscription_ended(txn, object, now, changes).await
            }
            _ => Ok(false),
        }
    }

    /// Stripe gave up (or the subscription was cancelled): future sessions are cancelled and both
    /// participants told; a booking still held is released.
    async fn subscription_ended(
        &self,
        txn: &DatabaseTransaction,
        object: &Value,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        let Some((booking, row)) = payment_of_subscription(txn, object).await? else {
            return Ok(false);
        };
        let booking_id = row.booking_id.clone();
        if row.status == PaymentStatus::Cancelled || row.status == PaymentStatus::Refunded {
            return Ok(false);
        }
        // A fixed booking whose weeks are all paid and over ends its subscription by design.
        if booking.end_at.is_some_and(|end| end <= now) {
            return Ok(false);
        }
        if object["status"].as_str() != Some("canceled") {
            // `unpaid` (or an expired first payment) keeps making invoices: end it at Stripe.
            if let Some(id) = object["id"].as_str() {
                let task = PaymentTask::CancelSubscription {
                    booking_id: booking_id.clone(),
                    subscription_id: id.into(),
                };
                queue(txn, now, &task, None).await?;
            }
        }
        set_status(txn, &booking_id, PaymentStatus::Cancelled, now).await?;
        let reason = match object["cancellation_details"]["reason"].as_str() {
            Some("payment_failed") | Some("payment_disputed") => {
                "payments stopped: the weekly charge could not be collected"
            }
            _ if object["status"].as_str() == Some("unpaid") => {
                "payments stopped: the weekly charge could not be collected"
            }
            _ => "the weekly subscription ended",
        };
        match booking.status {
            BookingStatus::Pending => {
                self.bookings
                    .release_held(txn, &booking_id, reason, None, now, changes)
                    .await
            }
            BookingStatus::Confirmed => {
                self.bookings
                    .cancel_unpaid(txn, &booking_id, reason, now, changes)
                    .await
            }
            _ => Ok(true),
        }
    }

    async fn charge_refunded(
        &self,
        txn: &DatabaseTransaction,
        charge: &Value,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        let refs: Vec<String> = [charge["payment_intent"].as_str(), charge["id"].as_str()]
            .into_iter()
            .flatten()
            .map(Into::into)
            .collect();
        if refs.is_empty() {
            return Ok(false);
        }
        let Some(row) = invoice::Entity::find()
            .filter(invoice::Column::PaidBy.is_in(refs))
            .one(txn)
            .await?
        else {
            return Ok(false);
        };
        let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
        super::tasks::note_refunded(txn, &row.id, refunded, now).await?;
        Ok(true)
    }
}

/// When the invoice just paid covers a fixed booking's last session, the subscription ends with its
/// period: the booking is never charged for weeks it does not have.
async fn end_when_paid_up(
    txn: &DatabaseTransaction,
    row: &payment::Model,
    booking: &booking::Model,
    subscription: Option<&str>,
    period_end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (Some(last), Some(paid_until)) = (booking.end_at, period_end) else {
        return Ok(()); // ongoing, or no period given
    };
    let Some(subscription) = subscription.or(row.subscription_id.as_deref()) else {
        return Ok(());
    };
    if paid_until >= last {
        let task = PaymentTask::EndSubscription {
            booking_id: row.booking_id.clone(),
            subscription_id: subscription.into(),
        };
        queue(txn, now, &task, None).await?;
    }
    Ok(())
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64().and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// A booking and its payment, as locked for the rest of the transaction.
type Locked = (booking::Model, payment::Model);

/// The payment of `booking_id` (when named) and its booking, locked for the rest of the
/// transaction.
async fn locked(
    txn: &DatabaseTransaction,
    booking_id: Option<String>,
) -> AppResult<Option<Locked>> {
    match booking_id {
        Some(id) => lock_with_booking(txn, &id).await,
        None => Ok(None),
    }
}

/// The payment a checkout is for (its client reference, its metadata, or its id), locked.
async fn payment_of_checkout(
    txn: &DatabaseTransaction,
    session: &Value,
) -> AppResult<Option<Locked>> {
    let named = session["client_reference_id"]
        .as_str()
        .or(session["metadata"]["booking_id"].as_str())
        .map(str::to_string);
    let booking = match (named, session["id"].as_str()) {
        (Some(id), _) => Some(id),
        (None, Some(id)) => payment::Entity::find()
            .filter(payment::Column::CheckoutSessionId.eq(id))
            .one(txn)
            .await?
            .map(|p| p.booking_id),
        (None, None) => None,
    };
    locked(txn, booking).await
}

/// The payment an invoice bills, locked, and its subscription: found by the subscription's metadata
/// snapshot (newer API versions under `parent`, older at the top), else the subscription we know.
async fn payment_of_invoice(
    txn: &DatabaseTransaction,
    invoice: &Value,
) -> AppResult<Option<(booking::Model, payment::Model, Option<String>)>> {
    let details = &invoice["parent"]["subscription_details"];
    let subscription = details["subscription"]
        .as_str()
        .or(invoice["subscription"].as_str())
        .or(
            invoice["lines"]["data"][0]["parent"]["subscription_item_details"]["subscription"]
                .as_str(),
        )
        .map(str::to_string);
    let named = details["metadata"]["booking_id"]
        .as_str()
        .or(invoice["subscription_details"]["metadata"]["booking_id"].as_str())
        .map(str::to_string);
    let booking = match (named, &subscription) {
        (Some(id), _) => Some(id),
        (None, Some(sub)) => booking_of_subscription(txn, sub).await?,
        (None, None) => None,
    };
    Ok(locked(txn, booking)
        .await?
        .map(|(booking, row)| (booking, row, subscription)))
}

/// The payment of a subscription (its metadata, or its id), locked.
async fn payment_of_subscription(
    txn: &DatabaseTransaction,
    subscription: &Value,
) -> AppResult<Option<Locked>> {
    let booking = match (
        subscription["metadata"]["booking_id"].as_str(),
        subscription["id"].as_str(),
    ) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(id)) => booking_of_subscription(txn, id).await?,
        (None, None) => None,
    };
    locked(txn, booking).await
}
