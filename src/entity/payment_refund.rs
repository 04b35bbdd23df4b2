//! `payment_refunds`: money given back: a paid session the mentor cancelled (its share of the week
//! that paid for it, waiting for that week's invoice when it is not paid yet), or a whole invoice
//! paid for a booking that was already cancelled.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_refunds")]
pub struct Model {
    /// `session:{session id}` or `invoice:{invoice id}`: what is refunded, once.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub session_id: Option<String>,
    pub booking_id: String,
    /// Our invoice row (`invoices.id`); `None` until the week is paid.
    pub invoice_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub stripe_refund_id: Option<String>,
    /// `awaiting_invoice`, `pending` (asked of Stripe), `succeeded`.
    pub status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
