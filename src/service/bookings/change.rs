//! Cancelling a booking or one session, and moving one session.

use chrono::{DateTime, Timelike, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::check::clashes_for;
use super::{
    clean_reason, constraint_to_conflict, ensure_party, no_such, Booking, BookingService, Session,
};
use crate::auth::Principal;
use crate::db::for_update;
use crate::domain::booking::{BookingStatus, ClashReason, SessionStatus};
use crate::domain::event::DomainEvent;
use crate::domain::interval::Interval;
use crate::domain::recurrence::Occurrence;
use crate::entity::{booking, session};
use crate::error::{AppError, AppResult};
use crate::jobs::session_timeline;
use crate::service::store::settings::{lock_mentor, rules_of};
use crate::service::store::users::find_user;

impl BookingService {
    /// Cancels every future session and the booking; sessions already started or past stay as they are.
    #[tracing::instrument(skip_all, fields(booking = %id, by = %p.user_id), err(level = "debug"))]
    pub async fn cancel_booking(
        &self,
        p: &Principal,
        id: &str,
        reason: Option<String>,
    ) -> AppResult<Booking> {
        let reason = clean_reason(reason)?;
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let row = booking_for_update(txn, id).await?;
        ensure_party(p, &row.mentor_id, &row.student_id, "booking")?;
        match row.status {
            BookingStatus::Cancelled => {
                return Err(AppError::Conflict(
                    "the booking is already cancelled".into(),
                ))
            }
            BookingStatus::Completed => {
                return Err(AppError::Conflict(
                    "the booking is already completed".into(),
                ))
            }
            _ => {}
        }
        let mut changes = self.changes_for(&row.mentor_id);
        if row.status == BookingStatus::Pending {
            // Waiting for the student's payment: theirs (or an admin's) to drop, not the mentor's.
            if p.user_id == row.mentor_id {
                return Err(AppError::Conflict(
                    "the booking is waiting for the student's payment".into(),
                ));
            }
            // Never confirmed: the hold is released and nobody is told.
            let reason = reason.unwrap_or_else(|| "cancelled before payment".into());
            self.release_held(txn, id, &reason, Some(&p.user_id), now, &mut changes)
                .await?;
            let updated = booking::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(|| no_such("booking"))?;
            write.commit().await?;
            changes.apply().await;
            return updated.try_into();
        }
        let updated =
            cancel_future(self, txn, row, Some(&p.user_id), reason, now, &mut changes).await?;
        write.commit().await?;
        changes.apply().await;
        updated.try_into()
    }

    /// Ends a confirmed booking whose payments stopped (in the caller's transaction): every future
    /// session is cancelled and both participants are told. `false` when it was not live.
    pub async fn cancel_unpaid(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        booking_id: &str,
        reason: &str,
        now: DateTime<Utc>,
        changes: &mut crate::service::after_commit::Changes,
    ) -> AppResult<bool> {
        let Some(row) = for_update(txn, booking::Entity::find_by_id(booking_id))
            .one(txn)
            .await?
        else {
            return Ok(false);
        };
        if row.status != BookingStatus::Confirmed {
            return Ok(false);
        }
        changes.slots_of(&row.mentor_id);
        cancel_future(self, txn, row, None, Some(reason.into()), now, changes).await?;
        Ok(true)
    }

    /// Cancels one session that has not started.
    #[tracing::instrument(skip_all, fields(session = %id, by = %p.user_id), err(level = "debug"))]
    pub async fn cancel_session(
        &self,
        p: &Principal,
        id: &str,
        reason: Option<String>,
    ) -> AppResult<Session> {
        let reason = clean_reason(reason)?;
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let row = session_for_update(txn, id).await?;
        ensure_party(p, &row.mentor_id, &row.student_id, "session")?;
        ensure_changeable(&row, now, "cancelled")?;
        ensure_not_held(txn, &row.booking_id).await?;
        let booking_id = row.booking_id.clone();
        let mut active: session::ActiveModel = row.into();
        active.status = Set(SessionStatus::Cancelled);
        active.cancel_reason = Set(reason.clone());
        active.cancelled_by = Set(Some(p.user_id.clone()));
        active.cancelled_at = Set(Some(now));
        active.updated_at = Set(now);
        let updated = session::Entity::update(active).exec(txn).await?;
        let mut changes = self.changes_for(&updated.mentor_id);
        self.events
            .record(
                txn,
                &DomainEvent::SessionCancelled {
                    booking_id,
                    session_id: id.into(),
                    reason,
                },
                Some(&p.user_id),
                now,
                &mut changes,
            )
            .await?;
        write.commit().await?;
        changes.apply().await;
        updated.try_into()
    }

    /// Moves one session that has not started to `start` (same length), checked like a new booking
    /// against the mentor's current availability, rules, busy time and other sessions.
    pub async fn reschedule_session(
        &self,
        p: &Principal,
        id: &str,
        start: DateTime<Utc>,
    ) -> AppResult<Session> {
        self.reschedule(p, id, start, false).await
    }

    /// Moves a session where its mentor moved its event on their own calendar: checked like
    /// [`reschedule_session`](Self::reschedule_session) except against the mentor's weekly hours
    /// (the mentor chose the time).
    pub async fn follow_calendar_move(
        &self,
        p: &Principal,
        id: &str,
        start: DateTime<Utc>,
    ) -> AppResult<Session> {
        self.reschedule(p, id, start, true).await
    }

    #[tracing::instrument(skip_all, fields(session = %id, by = %p.user_id), err(level = "debug"))]
    async fn reschedule(
        &self,
        p: &Principal,
        id: &str,
        start: DateTime<Utc>,
        outside_hours: bool,
    ) -> AppResult<Session> {
        if start.second() != 0 || start.nanosecond() != 0 {
            return Err(AppError::bad_input("start", "must be on a whole minute"));
        }
        let now = self.clock.now();
        // Read once outside the transaction to find the mentor, then lock the mentor and re-read.
        let mentor_id = session::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?
            .ok_or_else(|| no_such("session"))?
            .mentor_id;
        let mentor = find_user(self.db.conn(), &mentor_id).await?;
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let settings = lock_mentor(txn, &mentor, now).await?;
        let row = session_for_update(txn, id).await?;
        ensure_party(p, &row.mentor_id, &row.student_id, "session")?;
        ensure_changeable(&row, now, "moved")?;
        ensure_not_held(txn, &row.booking_id).await?;
        if start == row.start_at {
            return Err(AppError::bad_input(
                "start",
                "the session already starts then",
            ));
        }
        let moved = Occurrence {
            slot: row.slot_index as usize,
            // Week 0: a moved session is a new pick, so the horizon applies to it.
            week: 0,
            interval: Interval::new(start, start + (row.end_at - row.start_at)),
        };
        let rules = rules_of(Some(&settings), &mentor)?;
        let clashes: Vec<_> = clashes_for(txn, &mentor.id, rules, &[moved], Some(id), now)
            .await?
            .into_iter()
            .filter(|c| !(outside_hours && c.reason == ClashReason::OutsideAvailability))
            .collect();
        if !clashes.is_empty() {
            return Err(AppError::Clashes(clashes));
        }
        let from = row.start_at;
        let booking_id = row.booking_id.clone();
        let sequence = row.sequence + 1;
        let mut active: session::ActiveModel = row.into();
        active.start_at = Set(moved.interval.start);
        active.end_at = Set(moved.interval.end);
        active.sequence = Set(sequence);
        active.reminder24h_sent = Set(false);
        active.reminder1h_sent = Set(false);
        active.updated_at = Set(now);
        let updated = session::Entity::update(active)
            .exec(txn)
            .await
            .map_err(constraint_to_conflict)?;
        session_timeline::start(txn, now, [(id, sequence, updated.start_at, updated.end_at)])
            .await?;
        let mut changes = self.changes_for(&updated.mentor_id);
        self.events
            .record(
                txn,
                &DomainEvent::SessionRescheduled {
                    booking_id,
                    session_id: id.into(),
                    from,
                    to: start,
                    sequence,
                },
                Some(&p.user_id),
                now,
                &mut changes,
            )
            .await?;
        write.commit().await?;
        changes.apply().await;
        updated.try_into()
    }
}

/// Cancels the booking `row` and its future sessions, and records it.
async fn cancel_future(
    bookings: &BookingService,
    txn: &sea_orm::DatabaseTransaction,
    row: booking::Model,
    actor: Option<&str>,
    reason: Option<String>,
    now: DateTime<Utc>,
    changes: &mut crate::service::after_commit::Changes,
) -> AppResult<booking::Model> {
    let id = row.id.clone();
    let future = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::BookingId.eq(&id))
        .filter(session::Column::Status.eq(SessionStatus::Scheduled))
        .filter(session::Column::StartAt.gt(now))
        .into_tuple::<String>()
        .all(txn)
        .await?;
    if !future.is_empty() {
        session::Entity::update_many()
            .col_expr(
                session::Column::Status,
                Expr::value(SessionStatus::Cancelled),
            )
            .col_expr(session::Column::CancelReason, Expr::value(reason.clone()))
            .col_expr(session::Column::CancelledBy, Expr::value(actor))
            .col_expr(session::Column::CancelledAt, Expr::value(now))
            .col_expr(session::Column::UpdatedAt, Expr::value(now))
            .filter(session::Column::Id.is_in(future.clone()))
            .exec(txn)
            .await?;
    }
    let mut active: booking::ActiveModel = row.into();
    active.status = Set(BookingStatus::Cancelled);
    active.cancel_reason = Set(reason.clone());
    active.cancelled_by = Set(actor.map(Into::into));
    active.cancelled_at = Set(Some(now));
    active.updated_at = Set(now);
    let updated = booking::Entity::update(active).exec(txn).await?;
    bookings
        .events
        .record(
            txn,
            &DomainEvent::BookingCancelled {
                booking_id: id,
                cancelled_session_ids: future,
                reason,
            },
            actor,
            now,
            changes,
        )
        .await?;
    // Consumers may have changed it too (a cancelled subscription's payment status).
    Ok(booking::Entity::find_by_id(&updated.id)
        .one(txn)
        .await?
        .unwrap_or(updated))
}

/// Sessions of a booking still waiting for payment cannot be changed one by one.
async fn ensure_not_held(txn: &impl ConnectionTrait, booking_id: &str) -> AppResult<()> {
    let status = booking::Entity::find_by_id(booking_id)
        .select_only()
        .column(booking::Column::Status)
        .into_tuple::<BookingStatus>()
        .one(txn)
        .await?;
    if status == Some(BookingStatus::Pending) {
        return Err(AppError::Conflict(
            "the booking is waiting for payment; pay for it or cancel it".into(),
        ));
    }
    Ok(())
}

fn ensure_changeable(row: &session::Model, now: DateTime<Utc>, verb: &str) -> AppResult<()> {
    match row.status {
        SessionStatus::Scheduled => {}
        SessionStatus::Cancelled => {
            return Err(AppError::Conflict(
                "the session is already cancelled".into(),
            ))
        }
        _ => {
            return Err(AppError::Conflict(format!(
                "the session is over and cannot be {verb}"
            )))
        }
    }
    if row.start_at <= now {
        return Err(AppError::bad_input(
            "id",
            format!("the session has already started; past sessions cannot be {verb}"),
        ));
    }
    Ok(())
}

async fn booking_for_update(txn: &impl ConnectionTrait, id: &str) -> AppResult<booking::Model> {
    for_update(txn, booking::Entity::find_by_id(id))
        .one(txn)
        .await?
        .ok_or_else(|| no_such("booking"))
}

async fn session_for_update(txn: &impl ConnectionTrait, id: &str) -> AppResult<session::Model> {
    for_update(txn, session::Entity::find_by_id(id))
        .one(txn)
        .await?
        .ok_or_else(|| no_such("session"))
}
