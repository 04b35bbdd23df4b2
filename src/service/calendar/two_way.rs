//! What the mentor does on their calendar to a session's event, found by the reads of sync.
//!
//! A session's event the read reports cancelled, while the session is live and its event was last
//! written at the session's current sequence (our own deletes and pending moves are not the
//! mentor's), was deleted by the mentor. The connection's policy decides: `FOLLOW_CALENDAR` cancels
//! the session as the mentor ("removed from Google Calendar"; the student is told as for any
//! cancellation), `RESTORE_EVENT` puts the event back, `ASK` raises a `SESSION_EVENT_DELETED`
//! conflict and tells the mentor. Only an event the provider reports cancelled counts: a read that
//! failed (404, 5xx, 429) never cancels anything.
//!
//! A session's event the read shows at another time was moved by the mentor: `FOLLOW_CALENDAR`
//! moves the session to the event's start (same length) when that passes the booking checks other
//! than the mentor's weekly hours (no other session, no busy time, notice), and the student is told;
//! otherwise, and with `ASK`, a `SESSION_EVENT_MOVED` conflict; `RESTORE_EVENT` moves the event back.
//!
//! Outside busy time over a live session opens a `BUSY_OVER_SESSION` conflict (the session stays)
//! and tells the mentor; the conflict closes itself when the overlap goes (the event moved or was
//! deleted, the session moved or was cancelled).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::CalendarService;
use crate::auth::{Principal, Role};
use crate::db::new_id;
use crate::domain::booking::{BookingStatus, SessionStatus};
use crate::domain::calendar::{
    CalendarProvider, ConflictKind, ConflictPolicy, ConflictResolution, EventTime, ExternalEvent,
};
use crate::domain::notification::messages;
use crate::entity::{
    booking, busy_block, calendar_conflict as conflict, calendar_connection as conn,
    calendar_event, session,
};
use crate::error::{AppError, AppResult};
use crate::jobs::calendar_write;
use crate::service::store::cast::Cast;
use crate::service::store::users::find_user;

/// What a conflict is about.
enum About {
    /// The session's event was deleted.
    Deleted,
    /// The session's event was moved (to this window; none when it became all-day).
    Moved(Option<(DateTime<Utc>, DateTime<Utc>)>),
    /// An outside event (its id) is busy over the session in this window.
    Busy(Option<String>, (DateTime<Utc>, DateTime<Utc>)),
}

impl About {
    fn kind(&self) -> ConflictKind {
        match self {
            About::Deleted => ConflictKind::SessionEventDeleted,
            About::Moved(_) => ConflictKind::SessionEventMoved,
            About::Busy(..) => ConflictKind::BusyOverSession,
        }
    }
}

/// Why a session cancelled from the calendar was cancelled.
fn removed_from(provider: CalendarProvider) -> String {
    format!("removed from {}", provider.display_name())
}

impl CalendarService {
    /// Acts on the session events among `events` (one calendar's read, before it is applied: an
    /// error fails the sync, which reads the same changes again; every action here can be taken
    /// twice).
    pub(super) async fn follow_session_events(
        &self,
        row: &conn::Model,
        events: &[ExternalEvent],
    ) -> AppResult<()> {
        // Ours by their id (a deleted event comes back as a bare id) or by their private property.
        let candidates: Vec<String> = events
            .iter()
            .filter(|e| e.cancelled || e.ours)
            .map(|e| e.id.clone())
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let db = self.db.conn();
        let mut ours = Vec::new();
        for chunk in candidates.chunks(500) {
            ours.extend(
                calendar_event::Entity::find()
                    .filter(calendar_event::Column::ConnectionId.eq(&row.id))
                    .filter(calendar_event::Column::EventId.is_in(chunk.to_vec()))
                    .all(db)
                    .await?,
            );
        }
        let sessions = session::Entity::find()
            .filter(session::Column::Id.is_in(ours.iter().map(|e| e.session_id.clone())))
            .all(db)
            .await?;
        for event in ours {
            let Some(read) = events.iter().find(|e| e.id == event.event_id) else {
                continue;
            };
            let Some(s) = sessions.iter().find(|s| s.id == event.session_id) else {
                continue;
            };
            let now = self.clock.now();
            let live = s.status == SessionStatus::Scheduled && s.start_at > now;
            if !live || event.written_sequence != Some(s.sequence) {
                continue; // ours (a cancel, a move still being written), or over
            }
            if read.cancelled {
                match row.on_event_deleted {
                    ConflictPolicy::FollowCalendar => {
                        self.cancel_as_mentor(s, &removed_from(row.provider))
                            .await?
                    }
                    ConflictPolicy::RestoreEvent => self.restore_event(&event, now).await?,
                    ConflictPolicy::Ask => {
                        let about = About::Deleted;
                        self.raise(row, s, &event.event_id, about, now).await?
                    }
                }
                continue;
            }
            let to = match read.when {
                // Where the session is; or only its end changed: the session keeps its length.
                Some(EventTime::At { start, .. }) if start == s.start_at => continue,
                Some(EventTime::At { start, end }) => Some((start, end)),
                // Made all-day: no time the session could follow.
                Some(EventTime::AllDay { .. }) => None,
                None => continue,
            };
            let followed = match (row.on_event_moved, to) {
                (ConflictPolicy::RestoreEvent, _) => {
                    self.restore_event(&event, now).await?;
                    true
                }
                (ConflictPolicy::FollowCalendar, Some((start, _))) => {
                    self.move_as_mentor(s, &event, start).await?
                }
                _ => false,
            };
            if !followed {
                self.raise(row, s, &event.event_id, About::Moved(to), now)
                    .await?;
            }
        }
        Ok(())
    }

    /// The session events a whole read of `calendar` over `[from, to)` did not return, as
    /// deletions: a provider that forgets deleted events (Graph) reports a deletion only to a
    /// read that saw the event before, so an event made and deleted between two reads is seen
    /// missing here. Only events written before the read started count (one written meanwhile
    /// may not be in it), and only for live sessions inside the window.
    pub(super) async fn missing_session_events(
        &self,
        row: &conn::Model,
        calendar_id: &str,
        read: &[ExternalEvent],
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        started: DateTime<Utc>,
    ) -> AppResult<Vec<ExternalEvent>> {
        let db = self.db.conn();
        let written = calendar_event::Entity::find()
            .filter(calendar_event::Column::ConnectionId.eq(&row.id))
            .filter(calendar_event::Column::CalendarId.eq(calendar_id))
            .filter(calendar_event::Column::WrittenSequence.is_not_null())
            .filter(calendar_event::Column::UpdatedAt.lte(started))
            .all(db)
            .await?;
        let unseen: Vec<calendar_event::Model> = written
            .into_iter()
            .filter(|e| !read.iter().any(|r| r.id == e.event_id))
            .collect();
        if unseen.is_empty() {
            return Ok(Vec::new());
        }
        let live: Vec<String> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::Id.is_in(unseen.iter().map(|e| e.session_id.clone())))
            .filter(session::Column::Status.eq(SessionStatus::Scheduled))
            .filter(session::Column::StartAt.gte(from))
            .filter(session::Column::EndAt.lte(to))
            .into_tuple()
            .all(db)
            .await?;
        Ok(unseen
            .into_iter()
            .filter(|e| live.contains(&e.session_id))
            .map(|e| ExternalEvent {
                id: e.event_id,
                cancelled: true,
                transparent: false,
                declined: false,
                ours: true,
                when: None,
            })
            .collect())
    }

    /// Moves `s` to `start` as its mentor did on their calendar; `false` when the move does not pass
    /// the checks (a conflict follows). The event already shows the move: it is recorded as
    /// written, so our write does not patch over a later change the mentor makes.
    async fn move_as_mentor(
        &self,
        s: &session::Model,
        event: &calendar_event::Model,
        start: DateTime<Utc>,
    ) -> AppResult<bool> {
        let p = self.mentor_principal(&s.mentor_id).await?;
        match self.bookings.follow_calendar_move(&p, &s.id, start).await {
            Ok(moved) => {
                let txn = self.db.begin_write().await?;
                let mut written: calendar_event::ActiveModel = event.clone().into();
                written.written_sequence = Set(Some(moved.sequence));
                written.updated_at = Set(self.clock.now());
                written.update(&txn.txn).await?;
                txn.commit().await?;
                Ok(true)
            }
            Err(e @ (AppError::Clashes(_) | AppError::BadInput { .. } | AppError::Conflict(_))) => {
                tracing::info!(session = %s.id, error = %e, "a session moved on the calendar cannot move there");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    async fn mentor_principal(&self, mentor_id: &str) -> AppResult<Principal> {
        let mentor = find_user(self.db.conn(), mentor_id).await?;
        Ok(Principal {
            user_id: mentor.id,
            role: Role::Mentor,
            email: mentor.email,
            name: mentor.name,
            time_zone: mentor.time_zone,
            phone: None,
        })
    }

    /// Opens a `BUSY_OVER_SESSION` conflict for each overlap of the mentor's busy time (read from
    /// `row`'s calendars) with a live session, and closes those whose overlap went.
    pub(super) async fn busy_over_sessions(&self, row: &conn::Model) -> AppResult<()> {
        let db = self.db.conn();
        let now = self.clock.now();
        // Sessions held for payment are not the mentor's news yet (they were checked against
        // busy time when booked).
        let held: Vec<String> = booking::Entity::find()
            .select_only()
            .column(booking::Column::Id)
            .filter(booking::Column::MentorId.eq(&row.mentor_id))
            .filter(booking::Column::Status.eq(BookingStatus::Pending))
            .into_tuple()
            .all(db)
            .await?;
        let sessions: Vec<session::Model> = session::Entity::find()
            .filter(session::Column::MentorId.eq(&row.mentor_id))
            .filter(session::Column::Status.eq(SessionStatus::Scheduled))
            .filter(session::Column::EndAt.gt(now))
            .all(db)
            .await?
            .into_iter()
            .filter(|s| !held.contains(&s.booking_id))
            .collect();
        let last_end = sessions.iter().map(|s| s.end_at).max().unwrap_or(now);
        let busy = busy_block::Entity::find()
            .filter(busy_block::Column::MentorId.eq(&row.mentor_id))
            .filter(busy_block::Column::Source.eq(row.provider.slug()))
            .filter(busy_block::Column::EndAt.gt(now))
            .filter(busy_block::Column::StartAt.lt(last_end))
            .all(db)
            .await?;
        let mut overlaps = Vec::new();
        for s in &sessions {
            for b in busy
                .iter()
                .filter(|b| b.start_at < s.end_at && s.start_at < b.end_at)
            {
                overlaps.push((s, b));
            }
        }
        let all_open = conflict::Entity::find()
            .filter(conflict::Column::MentorId.eq(&row.mentor_id))
            .filter(conflict::Column::Provider.eq(row.provider))
            .filter(conflict::Column::ResolvedAt.is_null())
            .all(db)
            .await?;
        let (open, about_events): (Vec<_>, Vec<_>) = all_open
            .into_iter()
            .partition(|c| c.kind == ConflictKind::BusyOverSession);
        let same = |c: &conflict::Model, s: &session::Model, b: &busy_block::Model| {
            c.session_id.as_deref() == Some(s.id.as_str())
                && c.external_event_id == b.external_id
                && c.external_start == Some(b.start_at)
                && c.external_end == Some(b.end_at)
        };
        // Gone: overlaps that went, and deleted or moved events of sessions no longer live.
        let live = |c: &conflict::Model| {
            sessions
                .iter()
                .any(|s| c.session_id.as_deref() == Some(s.id.as_str()))
        };
        let gone: Vec<String> = open
            .iter()
            .filter(|c| !overlaps.iter().any(|(s, b)| same(c, s, b)))
            .chain(about_events.iter().filter(|c| !live(c)))
            .map(|c| c.id.clone())
            .collect();
        if !gone.is_empty() {
            let txn = self.db.begin_write().await?;
            conflict::Entity::update_many()
                .col_expr(conflict::Column::ResolvedAt, Expr::value(now))
                .filter(conflict::Column::Id.is_in(gone))
                .exec(&txn.txn)
                .await?;
            txn.commit().await?;
        }
        for (s, b) in overlaps {
            if open.iter().any(|c| same(c, s, b)) {
                continue;
            }
            let about = About::Busy(b.external_id.clone(), (b.start_at, b.end_at));
            self.raise(row, s, "", about, now).await?;
        }
        Ok(())
    }

    /// Cancels `s` as its mentor; one that can no longer be cancelled (it started) is left.
    pub(super) async fn cancel_as_mentor(&self, s: &session::Model, reason: &str) -> AppResult<()> {
        let p = self.mentor_principal(&s.mentor_id).await?;
        match self
            .bookings
            .cancel_session(&p, &s.id, Some(reason.to_string()))
            .await
        {
            Ok(_) => Ok(()),
            // Started, or cancelled meanwhile (by the student, or by another node following it).
            Err(e @ (AppError::BadInput { .. } | AppError::Conflict(_))) => {
                tracing::info!(session = %s.id, error = %e, "a session removed from the calendar could not be cancelled");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Puts a session's event back: written again, with the session's times.
    pub(super) async fn restore_event(
        &self,
        event: &calendar_event::Model,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let txn = self.db.begin_write().await?;
        let mut again: calendar_event::ActiveModel = event.clone().into();
        // No sequence is negative: the write patches the event (which brings it back).
        again.written_sequence = Set(Some(-1));
        again.updated_at = Set(now);
        again.update(&txn.txn).await?;
        let state = format!("restore{}", now.timestamp());
        calendar_write::queue(&txn.txn, now, &event.session_id, &state, None).await?;
        txn.commit().await?;
        self.bell.ring();
        Ok(())
    }

    /// Opens a conflict about `s` (unless the same one is open) and tells the mentor.
    async fn raise(
        &self,
        row: &conn::Model,
        s: &session::Model,
        event_id: &str,
        about: About,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let kind = about.kind();
        let (external_id, window) = match &about {
            About::Deleted => (Some(event_id.to_string()), None),
            About::Moved(to) => (Some(event_id.to_string()), *to),
            About::Busy(id, over) => (id.clone(), Some(*over)),
        };
        let cast = Cast::load(self.db.conn(), &s.booking_id).await?;
        let txn = self.db.begin_write().await?;
        // The same move or overlap the mentor chose to live with (kept the session) is not raised
        // again. (Keeping a session whose event was deleted forgets the event instead.)
        let kept = conflict::Entity::find()
            .filter(conflict::Column::SessionId.eq(&s.id))
            .filter(conflict::Column::Kind.eq(kind))
            .filter(conflict::Column::Resolution.eq(ConflictResolution::KeepSession))
            .all(&txn.txn)
            .await?
            .into_iter()
            .any(|c| {
                c.external_event_id == external_id
                    && (c.external_start, c.external_end)
                        == (window.map(|w| w.0), window.map(|w| w.1))
            });
        if kept {
            return Ok(());
        }
        let id = new_id();
        let inserted = conflict::Entity::insert(conflict::ActiveModel {
            id: Set(id.clone()),
            mentor_id: Set(row.mentor_id.clone()),
            provider: Set(row.provider),
            kind: Set(kind),
            session_id: Set(Some(s.id.clone())),
            external_event_id: Set(external_id),
            external_start: Set(window.map(|w| w.0)),
            external_end: Set(window.map(|w| w.1)),
            external_title: Set(None),
            detected_at: Set(now),
            resolved_at: Set(None),
            resolution: Set(None),
        })
        // One open conflict per session, kind and event (the index), whichever node is first.
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(&txn.txn)
        .await?;
        if inserted == 0 {
            // Open already: a moved event's conflict shows where the event is now.
            if kind == ConflictKind::SessionEventMoved {
                conflict::Entity::update_many()
                    .col_expr(
                        conflict::Column::ExternalStart,
                        Expr::value(window.map(|w| w.0)),
                    )
                    .col_expr(
                        conflict::Column::ExternalEnd,
                        Expr::value(window.map(|w| w.1)),
                    )
                    .filter(conflict::Column::SessionId.eq(&s.id))
                    .filter(conflict::Column::Kind.eq(kind))
                    .filter(conflict::Column::ResolvedAt.is_null())
                    .exec(&txn.txn)
                    .await?;
                txn.commit().await?;
            }
            return Ok(());
        }
        let subject = format!("{} with {}", cast.booking.subject, cast.student.name);
        let (provider, zone) = (row.provider.display_name(), cast.mentor.time_zone);
        let message = match &about {
            About::Deleted => messages::session_event_deleted(provider, &subject, s.start_at, zone),
            About::Moved(to) => {
                let to = to.map(|w| w.0);
                messages::session_event_moved(provider, &subject, s.start_at, to, zone)
            }
            About::Busy(..) => messages::busy_over_session(provider, &subject, s.start_at, zone),
        };
        let bells = self
            .tell(
                &txn.txn,
                &row.mentor_id,
                message,
                format!("conflict:{id}"),
                now,
            )
            .await?;
        txn.commit().await?;
        let mut changes = self.after_commit.changes();
        bells.owe(&mut changes);
        changes.apply().await;
        Ok(())
    }
}
