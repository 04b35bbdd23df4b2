//! `users`: the local copy of a platform user, taken from token claims.

use sea_orm::entity::prelude::*;

use crate::auth::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub role: Role,
    pub name: String,
    pub email: String,
    pub time_zone: String,
    /// E.164: the number texts go to, once verified (`phone_verified_at`).
    pub phone_number: Option<String>,
    pub phone_verified_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
