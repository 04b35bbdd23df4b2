//! `createBooking`: plan the weekly slots, check every occurrence under the mentor lock, write it all.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::check::clashes_for;
use super::{constraint_to_conflict, BookingService, Session};
use crate::auth::{Principal, Role};
use crate::db::new_id;
use crate::domain::booking::{
    comes_into_view, BookingKind, BookingPlan, BookingStatus, Frequency, PaymentStatus,
    SessionStatus, Span,
};
use crate::domain::event::DomainEvent;
use crate::domain::meeting::{MeetingProvider as Host, MeetingStatus};
use crate::domain::recurrence::{rrule, Occurrence};
use crate::entity::{booking, session};
use crate::error::{AppError, AppResult};
use crate::integrations::meeting::{MeetingProvider, RoomRequest};
use crate::jobs::extend_booking;
use crate::service::store::settings::{lock_mentor, rules_of};
use crate::service::store::users::find_mentor;

const MAX_SUBJECT_CHARS: usize = 200;
const MAX_GOALS: usize = 20;
const MAX_GOAL_CHARS: usize = 500;

/// What a student asks for.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub mentor_id: String,
    pub kind: BookingKind,
    pub frequency: Frequency,
    /// The first occurrence of each weekly slot.
    pub slots: Vec<DateTime<Utc>>,
    pub duration_minutes: i32,
    pub subject: String,
    pub goals: Vec<String>,
    /// `None` = ongoing.
    pub weeks: Option<i32>,
}

impl BookingService {
    /// Books every occurrence or nothing: `CONFLICT` lists each occurrence that cannot be booked.
    #[tracing::instrument(skip_all, fields(mentor = %input.mentor_id, student = %p.user_id), err(level = "debug"))]
    pub async fn create(
        &self,
        p: &Principal,
        input: NewBooking,
    ) -> AppResult<(super::Booking, Vec<Session>)> {
        p.require_role(Role::Student)?;
        let subject = clean_subject(&input.subject)?;
        let goals = clean_goals(&input.goals)?;
        let mentor = find_mentor(self.db.conn(), &input.mentor_id).await?;
        let now = self.clock.now();

        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let settings = lock_mentor(txn, &mentor, now).await?;
        let rules = rules_of(Some(&settings), &mentor)?;
        let plan = BookingPlan::new(
            input.kind,
            input.frequency,
            rules.0,
            &input.slots,
            input.duration_minutes,
            input.weeks,
        )?;
        if plan.kind == BookingKind::Trial && has_live_trial(txn, &p.user_id, &mentor.id).await? {
            return Err(AppError::Conflict(
                "you already have a trial with this mentor".into(),
            ));
        }
        let weeks = plan.span.initial_weeks();
        let occurrences = plan.occurrences(0..weeks);
        let clashes = clashes_for(txn, &mentor.id, rules, &occurrences, None, now).await?;
        if !clashes.is_empty() {
            return Err(AppError::Clashes(clashes));
        }

        // With payments on, a regular booking's sessions are held until its first week is paid.
        let held = plan.kind == BookingKind::Regular && self.holds.is_some();
        let fixed_weeks = match plan.span {
            Span::Weeks(n) => Some(n),
            Span::Ongoing => None,
        };
        let row = booking::Model {
            id: new_id(),
            mentor_id: mentor.id.clone(),
            student_id: p.user_id.clone(),
            kind: plan.kind,
            frequency: plan.frequency,
            subject,
            goals: serde_json::to_string(&goals).expect("strings serialize"),
            duration_minutes: input.duration_minutes,
            time_zone: plan.zone.name().into(),
            weekly_slots: serde_json::to_string(&plan.slots).expect("slots serialize"),
            weeks: fixed_weeks.map(|n| n as i32),
            weeks_created: weeks as i32,
            recurrence_rule: Some(rrule(plan.zone, &plan.slots, fixed_weeks)),
            start_at: occurrences[0].interval.start,
            end_at: fixed_weeks.and_then(|_| occurrences.last().map(|o| o.interval.end)),
            status: if held {
                BookingStatus::Pending
            } else {
                BookingStatus::Confirmed
            },
            payment_status: match (plan.kind, held) {
                (BookingKind::Trial, _) => PaymentStatus::Free,
                (BookingKind::Regular, true) => PaymentStatus::Pending,
                // Payments are off (no provider is configured): nothing to pay, nothing held.
                (BookingKind::Regular, false) => PaymentStatus::NotRequired,
            },
            calendar_link: None,
            cancel_reason: None,
            cancelled_by: None,
            cancelled_at: None,
            created_at: now,
            updated_at: now,
        };
        booking::Entity::insert(booking::ActiveModel::from(row.clone()))
            .exec_without_returning(txn)
            .await
            .map_err(constraint_to_conflict)?;
        let sessions =
            insert_sessions(txn, self.meetings.as_ref(), &row, &occurrences, now).await?;
        let session_ids = sessions.iter().map(|s| s.id.clone()).collect();
        let event = match &self.holds {
            Some(terms) if held => {
                super::hold::hold(txn, terms, &row, plan.frequency, now).await?;
                DomainEvent::BookingHeld {
                    booking_id: row.id.clone(),
                    session_ids,
                }
            }
            _ => {
                super::hold::start_timelines(txn, &sessions, now).await?;
                DomainEvent::BookingCreated {
                    booking_id: row.id.clone(),
                    session_ids,
                }
            }
        };
        if plan.span == Span::Ongoing {
            if let Some(at) = comes_into_view(plan.zone, &plan.slots, weeks) {
                extend_booking::schedule(txn, now, &row.id, weeks, at).await?;
            }
        }
        let mut changes = self.changes_for(&row.mentor_id);
        self.events
            .record(txn, &event, Some(&p.user_id), now, &mut changes)
            .await?;
        write.commit().await?;
        changes.apply().await;
        tracing::info!(booking = %row.id, sessions = sessions.len(), "booking created");
        Ok((row.try_into()?, sessions))
    }
}

/// Writes one session per occurrence, each with its own meeting room (their timelines start when
/// the booking is confirmed).
pub(super) async fn insert_sessions(
    txn: &impl ConnectionTrait,
    meetings: &dyn MeetingProvider,
    booking: &booking::Model,
    occurrences: &[Occurrence],
    now: DateTime<Utc>,
) -> AppResult<Vec<Session>> {
    if occurrences.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::with_capacity(occurrences.len());
    for o in occurrences {
        let id = new_id();
        let meeting_url = meetings
            .create_room(&RoomRequest {
                session_id: &id,
                start: o.interval.start,
                end: o.interval.end,
                title: &booking.subject,
            })
            .await
            .map_err(|e| AppError::Internal(e.context("creating a meeting room")))?;
        rows.push(session::Model {
            id,
            booking_id: booking.id.clone(),
            mentor_id: booking.mentor_id.clone(),
            student_id: booking.student_id.clone(),
            slot_index: o.slot as i32,
            week_index: o.week as i32,
            start_at: o.interval.start,
            end_at: o.interval.end,
            actual_start_at: None,
            actual_end_at: None,
            meeting_url,
            // A calendar that writes the session may bring its own room later (Meet).
            meeting_provider: Host::BuiltIn,
            meeting_status: MeetingStatus::Ready,
            recording_url: None,
            status: SessionStatus::Scheduled,
            attended: false,
            sequence: 0,
            reminder24h_sent: false,
            reminder1h_sent: false,
            cancel_reason: None,
            cancelled_by: None,
            cancelled_at: None,
            created_at: now,
            updated_at: now,
        });
    }
    session::Entity::insert_many(rows.iter().cloned().map(session::ActiveModel::from))
        .exec_without_returning(txn)
        .await
        .map_err(constraint_to_conflict)?;
    rows.into_iter().map(Session::try_from).collect()
}

async fn has_live_trial(
    txn: &impl ConnectionTrait,
    student_id: &str,
    mentor_id: &str,
) -> AppResult<bool> {
    let count = booking::Entity::find()
        .filter(booking::Column::StudentId.eq(student_id))
        .filter(booking::Column::MentorId.eq(mentor_id))
        .filter(booking::Column::Kind.eq(BookingKind::Trial))
        .filter(booking::Column::Status.ne(BookingStatus::Cancelled))
        .count(txn)
        .await?;
    Ok(count > 0)
}

fn clean_subject(subject: &str) -> AppResult<String> {
    let subject = subject.trim();
    if subject.is_empty() {
        return Err(AppError::bad_input("input.subject", "must not be empty"));
    }
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(AppError::bad_input(
            "input.subject",
            format!("must be at most {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    Ok(subject.to_string())
}

fn clean_goals(goals: &[String]) -> AppResult<Vec<String>> {
    if goals.len() > MAX_GOALS {
        return Err(AppError::bad_input(
            "input.goals",
            format!("at most {MAX_GOALS} goals"),
        ));
    }
    goals
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let g = g.trim();
            if g.is_empty() || g.chars().count() > MAX_GOAL_CHARS {
                Err(AppError::bad_input(
                    format!("input.goals[{i}]"),
                    format!("must be 1 to {MAX_GOAL_CHARS} characters"),
                ))
            } else {
                Ok(g.to_string())
            }
        })
        .collect()
}
