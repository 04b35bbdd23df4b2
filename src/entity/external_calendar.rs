//! `external_calendars`: the calendars of a connected account, and what the mentor chose for each.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "external_calendars")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub calendar_id: String,
    pub name: String,
    pub is_primary: bool,
    pub counts_as_busy: bool,
    pub receives_sessions: bool,
    /// Where incremental reads go on from (`None`: the next read is a full one).
    pub sync_token: Option<String>,
    /// When the calendar was last read whole (a daily whole read heals missed pushes).
    pub full_read_at: Option<DateTimeUtc>,
    /// Pushes received for it: one that arrives while a sync runs asks for another sync.
    pub pushes: i64,
    /// A watch the provider refused is not asked for again before this instant.
    pub watch_retry_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
