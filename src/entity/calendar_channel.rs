//! `calendar_channels`: push channels a provider holds open to this service (Google's
//! `events.watch`), one per calendar (two while one is being replaced).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_channels")]
pub struct Model {
    /// The channel id, chosen here (a UUID) and sent back with every push.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub connection_id: String,
    pub calendar_id: String,
    /// SHA-256 (hex) of the channel's secret token; the token itself is kept nowhere.
    pub token_hash: String,
    /// The watched resource as the provider names it; `None` until the watch was answered.
    pub resource_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
