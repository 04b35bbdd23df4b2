//! `phone_verifications`: the number a user set and the one-time code sent to it (only its hash is
//! kept), with the tries and sends counted against abuse.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phone_verifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub phone_number: String,
    /// HMAC-SHA256 of the code (hex), keyed with the service's secret.
    pub code_hash: String,
    pub expires_at: DateTimeUtc,
    /// Wrong codes given for this code.
    pub attempts: i32,
    /// Codes sent in the current window.
    pub sends: i32,
    pub window_started_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
