//! `bookings`: a student's recurring (or trial) booking with a mentor.

use sea_orm::entity::prelude::*;

use crate::domain::booking::{BookingKind, BookingStatus, Frequency, PaymentStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bookings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub mentor_id: String,
    pub student_id: String,
    /// `REGULAR` | `TRIAL`.
    pub kind: BookingKind,
    /// `ONCE_WEEKLY` | `TWICE_WEEKLY` | `THRICE_WEEKLY`.
    pub frequency: Frequency,
    pub subject: String,
    /// JSON array of strings.
    pub goals: String,
    pub duration_minutes: i32,
    /// The mentor's zone when booked: the weekly slots repeat at wall-clock time in it.
    pub time_zone: String,
    /// JSON array of `domain::recurrence::WeeklySlot`.
    pub weekly_slots: String,
    /// Weeks booked; `None` = ongoing.
    pub weeks: Option<i32>,
    /// Weeks whose occurrences have been created (or skipped); the extension job moves it on.
    pub weeks_created: i32,
    pub recurrence_rule: Option<String>,
    pub start_at: DateTimeUtc,
    pub end_at: Option<DateTimeUtc>,
    /// `CONFIRMED` | `CANCELLED` | `COMPLETED` (`PENDING` is reserved for payment flows).
    pub status: BookingStatus,
    /// `FREE` | `PENDING` | `PAID` | `FAILED` | `REFUNDED`.
    pub payment_status: PaymentStatus,
    pub calendar_link: Option<String>,
    pub cancel_reason: Option<String>,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
