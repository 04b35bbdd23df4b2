//! `mentor_prices`: what a mentor charges per session (absent = the configured default).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mentor_prices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mentor_id: String,
    pub amount_minor: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
