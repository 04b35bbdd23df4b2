//! Sending the student to pay: a Stripe Checkout Session in subscription mode (weekly, the mentor's
//! price per session times the sessions per week) for a booking whose sessions are held. Each
//! checkout is numbered; its idempotency key names the booking and the number, so a retried
//! request answers the same checkout and a fresh one (`startBookingPayment`) is a new one. The
//! old checkout first stops being the booking's, then is expired at Stripe, so only the newest can
//! be paid and the old one's expiry does not end the hold.
//!
//! Stripe takes expiries 30 minutes to 24 hours ahead: a checkout asks to expire at the end of the
//! hold, or in 31 minutes when the hold ends sooner; either way the hold's end expires it at
//! Stripe (`tasks`).

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::record::lock;
use super::PaymentService;
use crate::auth::Principal;
use crate::domain::booking::{BookingStatus, PaymentStatus};
use crate::entity::{booking, payment};
use crate::error::{AppError, AppResult};
use crate::integrations::payments::stripe::{CheckoutRequest, CheckoutSession, StripeError};
use crate::service::store::cast::Cast;

/// The soonest expiry Stripe accepts, with a minute to spare for clocks.
const SOONEST_EXPIRY: Duration = Duration::minutes(31);
/// A fresh checkout for one booking at most this often (each costs two calls to Stripe).
const MIN_BETWEEN_CHECKOUTS: Duration = Duration::seconds(10);

impl PaymentService {
    /// The booking's checkout: the current one, or with `fresh` a new one (the old one expired).
    /// `CONFLICT` when the booking is not waiting for payment or its hold has ended.
    pub async fn checkout(
        &self,
        p: &Principal,
        booking_id: &str,
        fresh: bool,
    ) -> AppResult<super::PaymentView> {
        let stripe = self.stripe()?;
        let booking = self.own_booking(p, booking_id).await?;
        let now = self.clock.now();
        let row = payment::Entity::find_by_id(booking_id)
            .one(self.db.conn())
            .await?
            .ok_or_else(|| AppError::Conflict("this booking has nothing to pay".into()))?;
        waiting(&booking, &row, now)?;
        if !fresh && row.checkout_url.is_some() {
            return super::read::view(row);
        }
        // Number the new checkout (and learn the one it replaces) before asking Stripe.
        let write = self.db.begin_write().await?;
        let Some(row) = lock(&write.txn, booking_id).await? else {
            return Err(AppError::Conflict("this booking has nothing to pay".into()));
        };
        waiting(&booking, &row, now)?;
        if row.checkout_session_id.is_some() && now < row.updated_at + MIN_BETWEEN_CHECKOUTS {
            return Err(AppError::RateLimited {
                message: "a checkout was just made for this booking; use it, or ask again shortly"
                    .into(),
                retry_after: MIN_BETWEEN_CHECKOUTS.to_std().ok(),
            });
        }
        // The old checkout stops being the booking's before it is expired at Stripe, so its
        // `checkout.session.expired` does not read as the hold's end.
        let attempt = row.checkout_attempt + 1;
        payment::Entity::update_many()
            .col_expr(payment::Column::CheckoutAttempt, Expr::value(attempt))
            .col_expr(
                payment::Column::CheckoutSessionId,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                payment::Column::CheckoutUrl,
                Expr::value(Option::<String>::None),
            )
            .col_expr(payment::Column::UpdatedAt, Expr::value(now))
            .filter(payment::Column::BookingId.eq(booking_id))
            .exec(&write.txn)
            .await?;
        write.commit().await?;
        if let Some(old) = &row.checkout_session_id {
            if self.expire(booking_id, old).await?.status == "complete" {
                // Paid meanwhile: nothing more to pay.
                return self.current(booking_id).await;
            }
        }
        let Cast {
            mentor, student, ..
        } = Cast::load(self.db.conn(), booking_id).await?;
        let per_week = booking.frequency.per_week();
        let hold_end = row.hold_expires_at.unwrap_or(now);
        let expires_at = hold_end.max(now + SOONEST_EXPIRY);
        let name = format!(
            "{}: {per_week} session{} a week with {}",
            booking.subject,
            if per_week == 1 { "" } else { "s" },
            mentor.name
        );
        let success = format!(
            "{}/bookings/{booking_id}?payment=success&session={{CHECKOUT_SESSION_ID}}",
            self.dashboard_url
        );
        let cancel = format!(
            "{}/bookings/{booking_id}?payment=cancelled",
            self.dashboard_url
        );
        let request = CheckoutRequest {
            booking_id,
            unit_amount_minor: row.amount_minor / per_week as i64,
            quantity: per_week,
            currency: &row.currency,
            product_name: &name,
            customer_email: &student.email,
            success_url: &success,
            cancel_url: &cancel,
            expires_at: expires_at.timestamp(),
        };
        let key = format!("booking:{booking_id}:checkout:{attempt}");
        let made = stripe.create_checkout(&request, &key).await?;
        // Keep it only if it is still the newest and the booking still waits.
        let stored = payment::Entity::update_many()
            .col_expr(
                payment::Column::CheckoutSessionId,
                Expr::value(made.id.clone()),
            )
            .col_expr(payment::Column::CheckoutUrl, Expr::value(made.url.clone()))
            .col_expr(payment::Column::UpdatedAt, Expr::value(now))
            .filter(payment::Column::BookingId.eq(booking_id))
            .filter(payment::Column::CheckoutAttempt.eq(attempt))
            .filter(payment::Column::Status.eq(PaymentStatus::Pending))
            .exec(self.db.conn())
            .await?;
        if stored.rows_affected == 0 {
            self.expire(booking_id, &made.id).await?;
            let now_row = self.current(booking_id).await?;
            if now_row.status == PaymentStatus::Pending && now_row.checkout_url.is_some() {
                return Ok(now_row);
            }
            return Err(AppError::Conflict(
                "the booking is no longer waiting for payment".into(),
            ));
        }
        self.current(booking_id).await
    }

    /// Expires a checkout at Stripe and says where it ended (`expired`, or `complete` when it was
    /// paid first).
    pub(super) async fn expire(
        &self,
        booking_id: &str,
        checkout_id: &str,
    ) -> AppResult<CheckoutSession> {
        let stripe = self.stripe()?;
        match stripe
            .expire_checkout(
                checkout_id,
                &format!("booking:{booking_id}:expire:{checkout_id}"),
            )
            .await
        {
            Ok(session) => Ok(session),
            // Only an open checkout can be expired: read where it ended (one Stripe no longer
            // knows cannot be paid either).
            Err(StripeError::Refused { status: 404, .. }) => Ok(CheckoutSession {
                id: checkout_id.into(),
                status: "expired".into(),
                url: None,
                subscription: None,
                customer: None,
                expires_at: None,
                client_reference_id: None,
            }),
            Err(StripeError::Refused { status: 400, .. }) => {
                let session = stripe.checkout(checkout_id).await?;
                if session.status == "complete" {
                    self.complete_checkout(&session).await?;
                }
                Ok(session)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn current(&self, booking_id: &str) -> AppResult<super::PaymentView> {
        let row = payment::Entity::find_by_id(booking_id)
            .one(self.db.conn())
            .await?
            .ok_or_else(|| AppError::NotFound("there is no such booking".into()))?;
        super::read::view(row)
    }
}

fn waiting(
    booking: &booking::Model,
    row: &payment::Model,
    now: chrono::DateTime<Utc>,
) -> AppResult<()> {
    if booking.status != BookingStatus::Pending || row.status != PaymentStatus::Pending {
        return Err(AppError::Conflict(
            "the booking is not waiting for payment".into(),
        ));
    }
    if row.hold_expires_at.is_some_and(|end| end <= now) {
        return Err(AppError::Conflict(
            "the hold on these sessions has ended; book again".into(),
        ));
    }
    Ok(())
}
