//! `busy_blocks`: time a mentor is not free (calendar sync and bookings fill it).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "busy_blocks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub mentor_id: String,
    pub start_at: DateTimeUtc,
    pub end_at: DateTimeUtc,
    pub source: String,
    pub external_id: Option<String>,
    /// The calendar it was read from (calendar sync), `None` otherwise.
    pub calendar_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
