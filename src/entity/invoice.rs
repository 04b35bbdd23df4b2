//! `invoices`: one paid Stripe invoice of a booking, the receipt trail (with what was refunded).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub booking_id: String,
    pub stripe_invoice_id: String,
    pub number: Option<String>,
    pub amount_minor: i64,
    pub amount_refunded_minor: i64,
    pub currency: String,
    /// `paid`, `partially_refunded` or `refunded`.
    pub status: String,
    /// The weeks of service it pays for.
    pub period_start: Option<DateTimeUtc>,
    pub period_end: Option<DateTimeUtc>,
    pub paid_at: Option<DateTimeUtc>,
    /// Stripe's page for the invoice (where a card can be fixed when a charge failed).
    pub hosted_url: Option<String>,
    /// What paid it at Stripe (`pi_…` or `ch_…`), once known (refunds name it).
    pub paid_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
