//! GraphQL of payments: a booking's weekly charge and its invoices, a fresh checkout while the hold
//! lasts (`startBookingPayment`), and mentors' prices per session.

use async_graphql::{Context, Object, SimpleObject, ID};

use super::context::{principal, services};
use super::errors::gql;
use super::loaders::{loader_error, loaders};
use super::scalars::DateTime;
use crate::auth::Role;
use crate::domain::booking as domain;
use crate::domain::money::{self, Currency};
use crate::domain::slots::in_zone;
use crate::error::AppError;
use crate::service::payments as svc;

domain::payment_statuses!(mirror_enum
    /// `FREE` for trials, `NOT_REQUIRED` while payments are off; otherwise where the weekly
    /// subscription stands (`PENDING` while the sessions are held unpaid).
    PaymentStatus = domain::
);

/// An amount in minor units (cents) of an ISO 4217 currency (upper case).
#[derive(SimpleObject)]
pub struct Money {
    pub amount_minor: i32,
    pub currency: String,
}

impl TryFrom<&money::Money> for Money {
    type Error = async_graphql::Error;
    fn try_from(m: &money::Money) -> async_graphql::Result<Self> {
        Ok(Money {
            amount_minor: i32::try_from(m.amount_minor)
                .map_err(|_| gql(AppError::Internal(anyhow::anyhow!("an amount beyond Int"))))?,
            currency: m.currency.as_str().to_ascii_uppercase(),
        })
    }
}

fn shown(
    ctx: &Context<'_>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> async_graphql::Result<Option<DateTime>> {
    let zone = principal(ctx)?.time_zone;
    Ok(at.map(|at| DateTime(in_zone(at, zone))))
}

/// A regular booking's weekly charge.
pub struct Payment(pub svc::PaymentView);

#[Object]
impl Payment {
    async fn status(&self) -> PaymentStatus {
        self.0.status.into()
    }
    /// What each week costs: the price per session times the sessions per week.
    async fn amount(&self) -> async_graphql::Result<Money> {
        Money::try_from(&self.0.amount)
    }
    /// Stripe's interval: `week`.
    async fn interval(&self) -> &str {
        &self.0.interval
    }
    /// Where the student pays (Stripe Checkout), while the booking waits; the student's only.
    async fn checkout_url(&self) -> Option<&str> {
        self.0.checkout_url.as_deref()
    }
    /// Until when the sessions are held unpaid.
    async fn hold_expires_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        shown(ctx, self.0.hold_expires_at)
    }
    async fn next_billing_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        shown(ctx, self.0.next_billing_at)
    }
    /// Every paid week, oldest first.
    async fn invoices(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Invoice>> {
        Ok(loaders(ctx)
            .invoices_of_booking
            .load_one(self.0.booking_id.clone())
            .await
            .map_err(loader_error)?
            .unwrap_or_default()
            .into_iter()
            .map(Invoice)
            .collect())
    }
}

/// One paid week: the receipt trail.
pub struct Invoice(pub svc::InvoiceView);

#[Object]
impl Invoice {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Stripe's invoice number.
    async fn number(&self) -> Option<&str> {
        self.0.number.as_deref()
    }
    async fn amount(&self) -> async_graphql::Result<Money> {
        Money::try_from(&self.0.amount)
    }
    /// How much of it was refunded (sessions the mentor cancelled).
    async fn refunded_amount(&self) -> async_graphql::Result<Money> {
        Money::try_from(&self.0.refunded)
    }
    /// `paid`, `partially_refunded` or `refunded`.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn period_start(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        shown(ctx, self.0.period_start)
    }
    async fn period_end(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        shown(ctx, self.0.period_end)
    }
    async fn paid_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        shown(ctx, self.0.paid_at)
    }
    /// The service's own PDF of the receipt (`GET` with the student's or an admin's token).
    async fn pdf_url(&self, ctx: &Context<'_>) -> String {
        services(ctx).payments.pdf_url(&self.0.id)
    }
}

#[derive(Default)]
pub struct PaymentQuery;

#[Object]
impl PaymentQuery {
    /// What a mentor charges per session (their own price or the default).
    async fn session_price(
        &self,
        ctx: &Context<'_>,
        mentor_id: ID,
    ) -> async_graphql::Result<Money> {
        principal(ctx)?;
        let price = services(ctx)
            .payments
            .price(&mentor_id)
            .await
            .map_err(gql)?;
        Money::try_from(&price)
    }
}

#[derive(Default)]
pub struct PaymentMutation;

#[Object]
impl PaymentMutation {
    /// A fresh checkout for a booking waiting for payment (the old checkout stops working);
    /// `CONFLICT` once the hold has ended or the booking is paid.
    async fn start_booking_payment(
        &self,
        ctx: &Context<'_>,
        booking_id: ID,
    ) -> async_graphql::Result<Payment> {
        let p = principal(ctx)?;
        let view = services(ctx)
            .payments
            .checkout(p, &booking_id, true)
            .await
            .map_err(gql)?;
        Ok(Payment(view))
    }

    /// The signed-in mentor's price per session, in minor units of `currency` (ISO 4217); it
    /// applies to bookings made after. It must be at least what Stripe charges in that currency
    /// (0.50 USD, 0.30 GBP, 50 JPY…), at most 10,000,000 minor units, and a multiple of ten in a
    /// three-decimal currency (`BAD_USER_INPUT` otherwise).
    async fn set_session_price(
        &self,
        ctx: &Context<'_>,
        amount_minor: i32,
        currency: String,
    ) -> async_graphql::Result<Money> {
        let p = principal(ctx)?;
        p.require_role(Role::Mentor).map_err(gql)?;
        let currency =
            Currency::parse(&currency).map_err(|m| gql(AppError::bad_input("currency", m)))?;
        let price = money::Money {
            amount_minor: i64::from(amount_minor),
            currency,
        };
        money::check_price(&price).map_err(|m| gql(AppError::bad_input("amountMinor", m)))?;
        services(ctx)
            .payments
            .set_price(&p.user_id, &price)
            .await
            .map_err(gql)?;
        Money::try_from(&price)
    }
}
