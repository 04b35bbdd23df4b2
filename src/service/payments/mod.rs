//! Payments: a weekly Stripe subscription per regular booking. A booking made while payments are on
//! holds its sessions (`bookings::hold`) and sends the student to a Stripe Checkout (`checkout`);
//! Stripe's signed webhooks (`webhook`) confirm it, record each paid week's invoice, and tell of
//! failed charges and ended subscriptions; what we owe Stripe after a commit (ending holds,
//! cancelling subscriptions, refunds) runs as `payment.stripe` jobs (`tasks`), queued by the
//! consumer of booking events (`consumer`). Receipts carry our own PDF (`receipt`).

mod checkout;
mod consumer;
mod read;
pub mod receipt;
mod record;
mod tasks;
mod webhook;

use std::sync::Arc;

pub use consumer::PaymentEvents;
pub use read::{InvoiceView, PaymentView};
pub use webhook::WebhookError;

use crate::auth::Principal;
use crate::clock::Clock;
use crate::config::Secret;
use crate::db::Db;
use crate::domain::booking::BookingStatus;
use crate::domain::money::Money;
use crate::email::Brand;
use crate::error::AppResult;
use crate::integrations::payments::stripe::Stripe;
use crate::service::after_commit::AfterCommit;
use crate::service::bookings::Booking;
use crate::service::bookings::BookingService;
use crate::service::store::prices::{price_of, set_price};

/// What the payment service is built with besides the database, the clock and the ring.
pub struct PaymentParts {
    pub bookings: Arc<BookingService>,
    /// Stripe and its webhook secrets; `None`: payments are off.
    pub stripe: Option<(Arc<Stripe>, Vec<Secret>)>,
    /// `DASHBOARD_URL`, `PUBLIC_BASE_URL`.
    pub dashboard_url: String,
    pub base_url: String,
    pub default_price: Money,
    pub brand: Brand,
}

pub struct PaymentService {
    db: Db,
    clock: Arc<dyn Clock>,
    after_commit: AfterCommit,
    bookings: Arc<BookingService>,
    /// `None`: payments are off.
    stripe: Option<Arc<Stripe>>,
    webhook_secrets: Vec<Secret>,
    /// `DASHBOARD_URL`: where Checkout sends the student back.
    dashboard_url: String,
    /// `PUBLIC_BASE_URL`: where invoice PDFs are served.
    base_url: String,
    /// The price per session of mentors without one of their own.
    default_price: Money,
    /// How receipt PDFs look.
    brand: Brand,
}

impl PaymentService {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        after_commit: AfterCommit,
        parts: PaymentParts,
    ) -> Self {
        let PaymentParts {
            bookings,
            stripe,
            dashboard_url,
            base_url,
            default_price,
            brand,
        } = parts;
        let (stripe, webhook_secrets) = match stripe {
            Some((stripe, secrets)) => (Some(stripe), secrets),
            None => (None, Vec::new()),
        };
        PaymentService {
            db,
            clock,
            after_commit,
            bookings,
            stripe,
            webhook_secrets,
            dashboard_url: dashboard_url.trim_end_matches('/').to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            default_price,
            brand,
        }
    }

    /// Right after `createBooking`: a booking held for payment gets its checkout. When Stripe
    /// cannot make one, the hold is released at once (the slots are free again) and the error
    /// answers the request: nothing is left half made.
    pub async fn after_booking(&self, p: &Principal, booking: Booking) -> AppResult<Booking> {
        if booking.status != BookingStatus::Pending {
            return Ok(booking);
        }
        match self.checkout(p, &booking.id, false).await {
            Ok(_) => Ok(booking),
            Err(e) => {
                tracing::warn!(booking = %booking.id, error = %e, "no checkout; releasing the hold");
                let now = self.clock.now();
                let write = self.db.begin_write().await?;
                let mut changes = self.after_commit.changes();
                self.bookings
                    .release_held(
                        &write.txn,
                        &booking.id,
                        "payment could not be started",
                        None,
                        now,
                        &mut changes,
                    )
                    .await?;
                write.commit().await?;
                changes.apply().await;
                Err(e)
            }
        }
    }

    /// What `mentor_id` charges per session.
    pub async fn price(&self, mentor_id: &str) -> AppResult<Money> {
        price_of(self.db.conn(), mentor_id, &self.default_price).await
    }

    pub async fn set_price(&self, mentor_id: &str, price: &Money) -> AppResult<()> {
        set_price(self.db.conn(), mentor_id, price, self.clock.now()).await
    }

    /// Where an invoice's PDF is served.
    pub fn pdf_url(&self, invoice_id: &str) -> String {
        format!("{}/invoices/{invoice_id}/invoice.pdf", self.base_url)
    }

    fn stripe(&self) -> crate::error::AppResult<&Stripe> {
        self.stripe
            .as_deref()
            .ok_or_else(|| crate::error::AppError::NotFound("payments are not configured".into()))
    }
}
