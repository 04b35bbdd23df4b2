//! `payment_refunds`: a paid session the mentor cancelled, refunded its share of its invoice.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_refunds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    pub booking_id: String,
    /// Our invoice row (`invoices.id`).
    pub invoice_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub stripe_refund_id: Option<String>,
    /// `pending` (asked of Stripe), `succeeded`, `failed`.
    pub status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
