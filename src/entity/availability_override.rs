//! `availability_overrides`: other hours on one local date; `ranges` is JSON `[[start, end], ...]`
//! in minutes, `[]` meaning unavailable all day.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "availability_overrides")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mentor_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub date: Date,
    pub ranges: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
