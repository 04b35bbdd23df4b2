//! `calendar_events`: a session's event on its mentor's calendar.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    pub connection_id: String,
    pub calendar_id: String,
    /// The event's id at the provider, derived from the session's.
    pub event_id: String,
    /// The session's `sequence` the event shows; `None` until it is created.
    pub written_sequence: Option<i32>,
    /// How many times the Meet link was looked for while Google was still making it.
    pub conference_checks: i32,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
