//! Bookings: recurring weekly sessions created without double booking, cancelled and rescheduled by
//! their participants, and read from each caller's side.
//!
//! Every command that can place a session locks the mentor (the settings row `FOR UPDATE` on
//! PostgreSQL, the write gate on SQLite) before it reads what is taken, so two bookings for one
//! mentor are checked one after the other. On PostgreSQL an exclusion constraint on `sessions` backs
//! this up inside the database.

mod change;
mod check;
mod create;
mod extend;
mod hold;
mod join;
mod read;

use crate::domain::meeting::{MeetingProvider as MeetingHost, MeetingStatus};
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use crate::service::page::Page;
pub use create::NewBooking;
pub use extend::Extended;
pub use join::JoinAnswer;
pub use read::SessionFilter;

use crate::auth::{Principal, Role};
use crate::clock::Clock;
use crate::db::Db;
use crate::domain::booking::{BookingKind, BookingStatus, Frequency, PaymentStatus, SessionStatus};
use crate::domain::time::TimeZone;
use crate::entity::{booking, session};
use crate::error::{AppError, AppResult};
use crate::integrations::meeting::MeetingProvider;
use crate::service::after_commit::{AfterCommit, Changes};
use crate::service::events::EventLog;

pub struct BookingService {
    db: Db,
    clock: Arc<dyn Clock>,
    meetings: Arc<dyn MeetingProvider>,
    events: EventLog,
    after_commit: AfterCommit,
    /// Set when payments are on: regular bookings are held until paid.
    holds: Option<HoldTerms>,
}

/// How regular bookings are held while payments are on.
#[derive(Debug, Clone)]
pub struct HoldTerms {
    /// How long the sessions are held unpaid (`PAYMENT_HOLD_MINUTES`).
    pub hold: chrono::Duration,
    /// The price per session of mentors without one of their own.
    pub default_price: crate::domain::money::Money,
}

impl BookingService {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        meetings: Arc<dyn MeetingProvider>,
        events: EventLog,
        after_commit: AfterCommit,
        holds: Option<HoldTerms>,
    ) -> Self {
        BookingService {
            db,
            clock,
            meetings,
            events,
            after_commit,
            holds,
        }
    }

    /// The event recorder (payments record their own events about bookings with it).
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// The changes of a transaction that places, moves or frees sessions of `mentor_id` (its slots
    /// change); events recorded in it add their rings.
    fn changes_for(&self, mentor_id: &str) -> Changes {
        let mut changes = self.after_commit.changes();
        changes.slots_of(mentor_id);
        changes
    }
}

/// A booking as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: String,
    pub mentor_id: String,
    pub student_id: String,
    pub kind: BookingKind,
    pub frequency: Frequency,
    pub subject: String,
    pub goals: Vec<String>,
    pub duration_minutes: i32,
    /// The zone whose wall-clock time the weekly slots keep (the mentor's, when booked).
    pub time_zone: TimeZone,
    pub weeks: Option<i32>,
    pub recurrence_rule: Option<String>,
    pub start_at: DateTime<Utc>,
    pub end_at: Option<DateTime<Utc>>,
    pub status: BookingStatus,
    pub payment_status: PaymentStatus,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One session as the API shows it. `meeting_url` is never sent to clients as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub booking_id: String,
    pub mentor_id: String,
    pub student_id: String,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub status: SessionStatus,
    pub meeting_url: String,
    pub meeting_provider: MeetingHost,
    pub meeting_status: MeetingStatus,
    pub sequence: i32,
    pub cancel_reason: Option<String>,
}

impl Session {
    pub fn is_participant(&self, user_id: &str) -> bool {
        self.mentor_id == user_id || self.student_id == user_id
    }
}

fn corrupt(what: &str, id: &str, why: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("{what} {id}: {why}"))
}

impl TryFrom<booking::Model> for Booking {
    type Error = AppError;
    fn try_from(m: booking::Model) -> AppResult<Self> {
        let bad = |why: String| corrupt("booking", &m.id, why);
        Ok(Booking {
            kind: m.kind,
            frequency: m.frequency,
            goals: serde_json::from_str(&m.goals).map_err(|e| bad(e.to_string()))?,
            time_zone: m.time_zone.parse().map_err(bad)?,
            status: m.status,
            payment_status: m.payment_status,
            id: m.id,
            mentor_id: m.mentor_id,
            student_id: m.student_id,
            subject: m.subject,
            duration_minutes: m.duration_minutes,
            weeks: m.weeks,
            recurrence_rule: m.recurrence_rule,
            start_at: m.start_at,
            end_at: m.end_at,
            cancel_reason: m.cancel_reason,
            created_at: m.created_at,
        })
    }
}

impl TryFrom<session::Model> for Session {
    type Error = AppError;
    fn try_from(m: session::Model) -> AppResult<Self> {
        Ok(Session {
            status: m.status,
            id: m.id,
            booking_id: m.booking_id,
            mentor_id: m.mentor_id,
            student_id: m.student_id,
            start_at: m.start_at,
            end_at: m.end_at,
            meeting_url: m.meeting_url,
            meeting_provider: m.meeting_provider,
            meeting_status: m.meeting_status,
            sequence: m.sequence,
            cancel_reason: m.cancel_reason,
        })
    }
}

/// Students act on their own bookings, mentors on bookings with them, admins on all. Someone else's
/// booking or session answers exactly as an unknown id does, so ids cannot be probed.
fn ensure_party(p: &Principal, mentor_id: &str, student_id: &str, what: &str) -> AppResult<()> {
    if is_party(p, mentor_id, student_id) {
        Ok(())
    } else {
        Err(no_such(what))
    }
}

fn is_party(p: &Principal, mentor_id: &str, student_id: &str) -> bool {
    p.role == Role::Admin || p.user_id == mentor_id || p.user_id == student_id
}

/// The answer for an id that is unknown, or not the caller's to see.
fn no_such(what: &str) -> AppError {
    AppError::NotFound(format!("there is no such {what}"))
}

/// The longest reason stored with a cancellation.
const MAX_REASON_CHARS: usize = 1000;

fn clean_reason(reason: Option<String>) -> AppResult<Option<String>> {
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(AppError::bad_input(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(reason)
}

/// PostgreSQL's last line of defence fired: the lock should have prevented it, but the answer to the
/// client is the same as for any slot taken.
fn constraint_to_conflict(e: sea_orm::DbErr) -> AppError {
    let text = e.to_string();
    if text.contains("sessions_no_overlap") {
        AppError::Conflict("the time was taken by another booking just now; pick another".into())
    } else if text.contains("uq_bookings_one_trial") {
        AppError::Conflict("you already have a trial with this mentor".into())
    } else {
        e.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_guards_answer_conflict() {
        let overlap = sea_orm::DbErr::Custom(
            "conflicting key value violates exclusion constraint \"sessions_no_overlap\"".into(),
        );
        assert_eq!(constraint_to_conflict(overlap).code(), "CONFLICT");
        let trial = sea_orm::DbErr::Custom(
            "duplicate key value violates unique constraint \"uq_bookings_one_trial\"".into(),
        );
        assert_eq!(constraint_to_conflict(trial).code(), "CONFLICT");
        let other = sea_orm::DbErr::Custom("disk full".into());
        assert_eq!(constraint_to_conflict(other).code(), "INTERNAL");
    }
}
