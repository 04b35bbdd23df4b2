//! `calendar_connections`: a mentor's connection to one calendar provider. Tokens are sealed
//! (`auth::vault`), never stored in the clear.

use sea_orm::entity::prelude::*;

use crate::domain::calendar::{CalendarProvider, ConflictPolicy, SyncState};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub mentor_id: String,
    pub provider: CalendarProvider,
    pub state: SyncState,
    pub sync_enabled: bool,
    pub frequency_minutes: i32,
    pub account_email: Option<String>,
    /// Sealed for `calendar/{provider}/{mentor}/access`.
    pub access_token: Option<String>,
    /// Sealed for `calendar/{provider}/{mentor}/refresh`.
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<DateTimeUtc>,
    /// Space-separated, as the provider granted them.
    pub granted_scopes: String,
    pub last_synced_at: Option<DateTimeUtc>,
    pub next_sync_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub on_event_deleted: ConflictPolicy,
    pub on_event_moved: ConflictPolicy,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
