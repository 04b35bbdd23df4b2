//! `calendar_conflicts`: where a mentor's calendar and their sessions disagree.

use sea_orm::entity::prelude::*;

use crate::domain::calendar::{CalendarProvider, ConflictKind, ConflictResolution};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_conflicts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub mentor_id: String,
    pub provider: CalendarProvider,
    pub kind: ConflictKind,
    pub session_id: Option<String>,
    /// The calendar's event: the session's own (deleted, moved) or the one over it.
    pub external_event_id: Option<String>,
    pub external_start: Option<DateTimeUtc>,
    pub external_end: Option<DateTimeUtc>,
    pub external_title: Option<String>,
    pub detected_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// `None` on a resolved conflict: its cause went away by itself.
    pub resolution: Option<ConflictResolution>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
