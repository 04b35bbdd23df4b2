//! `calendar_oauth_states`: an OAuth `state` handed to a mentor, waiting for the provider's redirect.
//! Kept by the SHA-256 of the state (the state itself is a bearer secret), with the PKCE verifier
//! sealed; deleted when used, so it works once.

use sea_orm::entity::prelude::*;

use crate::domain::calendar::CalendarProvider;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_oauth_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: String,
    pub mentor_id: String,
    pub provider: CalendarProvider,
    /// Sealed for `calendar/oauth/{state hash}/verifier`.
    pub verifier: String,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
