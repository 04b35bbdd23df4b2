//! `availability_settings`: a mentor's zone and booking rules (absent = defaults).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "availability_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mentor_id: String,
    pub time_zone: String,
    pub buffer_minutes: i32,
    pub minimum_notice_minutes: i32,
    pub horizon_days: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
