//! `payments`: what a paid booking costs each week, the hold on its sessions, its checkout, and the
//! Stripe customer and subscription made for it.

use sea_orm::entity::prelude::*;

use crate::domain::booking::PaymentStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub booking_id: String,
    pub status: PaymentStatus,
    /// The weekly charge, in minor units of `currency` (lowercase ISO 4217, as Stripe writes it).
    pub amount_minor: i64,
    pub currency: String,
    /// Stripe's recurring interval: `week`.
    pub interval: String,
    /// Until when the sessions are held unpaid; `None` once paid or released.
    pub hold_expires_at: Option<DateTimeUtc>,
    /// How many checkouts were opened (names each one's idempotency key).
    pub checkout_attempt: i32,
    pub checkout_session_id: Option<String>,
    pub checkout_url: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub next_billing_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
