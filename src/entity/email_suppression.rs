//! `email_suppressions`: addresses that bounced for good or complained; nothing more goes to them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_suppressions")]
pub struct Model {
    /// Lower-cased.
    #[sea_orm(primary_key, auto_increment = false)]
    pub address: String,
    /// `BOUNCE` | `COMPLAINT`.
    pub reason: String,
    pub detail: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
