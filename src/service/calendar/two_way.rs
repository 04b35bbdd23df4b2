//! What the mentor does on their calendar to a session's event, found by the reads of sync.
//!
//! A session's event the read reports cancelled, while the session is live and its event was last
//! written at the session's current sequence (our own deletes and pending moves are not the
//! mentor's), was deleted by the mentor. The connection's policy decides: `FOLLOW_CALENDAR` cancels
//! the session as the mentor ("removed from Google Calendar"; the student is told as for any
//! cancellation), `RESTORE_EVENT` puts the event back, `ASK` raises a `SESSION_EVENT_DELETED`
//! conflict and tells the mentor. Only an event the provider reports cancelled counts: a read that
//! failed (404, 5xx, 429) never cancels anything.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};

use super::CalendarService;
use crate::auth::{Principal, Role};
use crate::db::new_id;
use crate::domain::booking::SessionStatus;
use crate::domain::calendar::{ConflictKind, ConflictPolicy, ExternalEvent};
use crate::domain::notification::messages;
use crate::entity::{
    calendar_conflict as conflict, calendar_connection as conn, calendar_event, session,
};
use crate::error::AppResult;
use crate::jobs::calendar_write;
use crate::service::store::cast::Cast;
use crate::service::store::users::find_user;

/// Why a session cancelled from the calendar was cancelled.
const REMOVED: &str = "removed from Google Calendar";

impl CalendarService {
    /// Acts on the session events among `events` (one calendar's read, already applied).
    pub(super) async fn follow_session_events(
        &self,
        row: &conn::Model,
        events: &[ExternalEvent],
    ) -> AppResult<()> {
        let deleted: Vec<String> = events
            .iter()
            .filter(|e| e.cancelled)
            .map(|e| e.id.clone())
            .collect();
        if deleted.is_empty() {
            return Ok(());
        }
        let db = self.db.conn();
        let mut ours = Vec::new();
        for chunk in deleted.chunks(500) {
            ours.extend(
                calendar_event::Entity::find()
                    .filter(calendar_event::Column::ConnectionId.eq(&row.id))
                    .filter(calendar_event::Column::EventId.is_in(chunk.to_vec()))
                    .all(db)
                    .await?,
            );
        }
        for event in ours {
            let Some(s) = session::Entity::find_by_id(event.session_id.clone())
                .one(db)
                .await?
            else {
                continue;
            };
            let now = self.clock.now();
            let live = s.status == SessionStatus::Scheduled && s.start_at > now;
            if !live || event.written_sequence != Some(s.sequence) {
                continue; // ours (a cancel, a move still being written), or over
            }
            match row.on_event_deleted {
                ConflictPolicy::FollowCalendar => self.cancel_as_mentor(&s, REMOVED).await?,
                ConflictPolicy::RestoreEvent => self.restore_event(&event, now).await?,
                ConflictPolicy::Ask => {
                    self.raise(row, ConflictKind::SessionEventDeleted, &s, &event, now)
                        .await?
                }
            }
        }
        Ok(())
    }

    /// Cancels `s` as its mentor; one that can no longer be cancelled (it started) is left.
    pub(super) async fn cancel_as_mentor(&self, s: &session::Model, reason: &str) -> AppResult<()> {
        let mentor = find_user(self.db.conn(), &s.mentor_id).await?;
        let p = Principal {
            user_id: mentor.id,
            role: Role::Mentor,
            email: mentor.email,
            name: mentor.name,
            time_zone: mentor.time_zone,
        };
        match self
            .bookings
            .cancel_session(&p, &s.id, Some(reason.to_string()))
            .await
        {
            Ok(_) => Ok(()),
            Err(e @ crate::error::AppError::BadInput { .. }) => {
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

    /// Opens a conflict about `s` (unless one of this kind is open) and tells the mentor.
    async fn raise(
        &self,
        row: &conn::Model,
        kind: ConflictKind,
        s: &session::Model,
        event: &calendar_event::Model,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let cast = Cast::load(self.db.conn(), &s.booking_id).await?;
        let txn = self.db.begin_write().await?;
        let open = conflict::Entity::find()
            .filter(conflict::Column::SessionId.eq(&s.id))
            .filter(conflict::Column::Kind.eq(kind))
            .filter(conflict::Column::ResolvedAt.is_null())
            .one(&txn.txn)
            .await?;
        if open.is_some() {
            return Ok(());
        }
        let id = new_id();
        conflict::ActiveModel {
            id: Set(id.clone()),
            mentor_id: Set(row.mentor_id.clone()),
            provider: Set(row.provider),
            kind: Set(kind),
            session_id: Set(Some(s.id.clone())),
            external_event_id: Set(Some(event.event_id.clone())),
            external_start: Set(None),
            external_end: Set(None),
            external_title: Set(None),
            detected_at: Set(now),
            resolved_at: Set(None),
            resolution: Set(None),
        }
        .insert(&txn.txn)
        .await?;
        let subject = format!("{} with {}", cast.booking.subject, cast.student.name);
        let message = messages::session_event_deleted(
            row.provider.display_name(),
            &subject,
            s.start_at,
            cast.mentor.time_zone,
        );
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
