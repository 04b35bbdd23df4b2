//! `sessions`: one occurrence of a booking, with its own meeting room.

use sea_orm::entity::prelude::*;

use crate::domain::booking::SessionStatus;
use crate::domain::meeting::{MeetingProvider, MeetingStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub booking_id: String,
    pub mentor_id: String,
    pub student_id: String,
    /// Which weekly slot of the booking, and which week of it (0 = the first).
    pub slot_index: i32,
    pub week_index: i32,
    pub start_at: DateTimeUtc,
    pub end_at: DateTimeUtc,
    pub actual_start_at: Option<DateTimeUtc>,
    pub actual_end_at: Option<DateTimeUtc>,
    /// The raw room URL; clients get the time-limited `/join` link instead.
    pub meeting_url: String,
    /// Who hosts the room at `meeting_url` (a Meet link replaces the built-in room when ready).
    pub meeting_provider: MeetingProvider,
    pub meeting_status: MeetingStatus,
    pub recording_url: Option<String>,
    /// `SCHEDULED` | `CANCELLED` | `COMPLETED` | `NO_SHOW`.
    pub status: SessionStatus,
    pub attended: bool,
    /// Raised on every reschedule (iCalendar `SEQUENCE`).
    pub sequence: i32,
    pub reminder24h_sent: bool,
    pub reminder1h_sent: bool,
    pub cancel_reason: Option<String>,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
