//! Which sessions go to a mentor's calendar: a consumer of booking events, in the transaction that
//! records them. New sessions of a mentor whose Google calendar is connected (and syncing) get an
//! event row on the calendar that receives sessions, their room marked as a Meet link on its way, and
//! a write job; a moved or cancelled session that has an event gets a write job.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

use crate::domain::booking::SessionStatus;
use crate::domain::calendar::{CalendarProvider, SyncState};
use crate::domain::event::DomainEvent;
use crate::domain::meeting::{MeetingProvider, MeetingStatus};
use crate::entity::{calendar_event, session};
use crate::error::AppResult;
use crate::integrations::calendar::google::events::event_id_for;
use crate::jobs::calendar_write;
use crate::service::after_commit::Changes;
use crate::service::events::{EventConsumer, Happened};
use crate::service::store::calendar as store;

/// The consumer; `google`: whether Google is configured at all.
pub struct CalendarWrites {
    pub google: bool,
}

/// The state a write job is queued for: a change to either is another write.
pub(super) fn write_state(sequence: i32, status: SessionStatus) -> String {
    format!("{sequence}:{}", status.as_str())
}

#[async_trait]
impl EventConsumer for CalendarWrites {
    async fn consume(
        &self,
        txn: &DatabaseTransaction,
        happened: &Happened<'_>,
        _changes: &mut Changes,
    ) -> AppResult<()> {
        if !self.google {
            return Ok(());
        }
        match happened.event {
            DomainEvent::BookingCreated { session_ids, .. }
            | DomainEvent::SessionsAdded { session_ids, .. } => {
                self.add(txn, happened, session_ids).await
            }
            DomainEvent::BookingCancelled {
                cancelled_session_ids,
                ..
            } => changed(txn, happened, cancelled_session_ids).await,
            DomainEvent::SessionCancelled { session_id, .. }
            | DomainEvent::SessionRescheduled { session_id, .. } => {
                changed(txn, happened, std::slice::from_ref(session_id)).await
            }
            _ => Ok(()),
        }
    }
}

impl CalendarWrites {
    async fn add(
        &self,
        txn: &DatabaseTransaction,
        happened: &Happened<'_>,
        session_ids: &[String],
    ) -> AppResult<()> {
        let mentor = &happened.cast.mentor.id;
        let Some(connection) = store::connection(txn, mentor, CalendarProvider::Google).await?
        else {
            return Ok(());
        };
        if !connection.sync_enabled || connection.state == SyncState::ReconnectRequired {
            return Ok(());
        }
        let calendars = store::calendars_of(txn, &connection.id).await?;
        let Some(target) = calendars.iter().find(|c| c.receives_sessions) else {
            return Ok(());
        };
        let sessions = session::Entity::find()
            .filter(session::Column::Id.is_in(session_ids.iter().cloned()))
            .filter(session::Column::Status.eq(SessionStatus::Scheduled))
            .all(txn)
            .await?;
        if sessions.is_empty() {
            return Ok(());
        }
        let now = happened.now;
        let rows = sessions.iter().map(|s| calendar_event::ActiveModel {
            session_id: sea_orm::Set(s.id.clone()),
            connection_id: sea_orm::Set(connection.id.clone()),
            calendar_id: sea_orm::Set(target.calendar_id.clone()),
            event_id: sea_orm::Set(event_id_for(&s.id)),
            written_sequence: sea_orm::Set(None),
            conference_checks: sea_orm::Set(0),
            last_error: sea_orm::Set(None),
            created_at: sea_orm::Set(now),
            updated_at: sea_orm::Set(now),
        });
        calendar_event::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
        // The built-in room serves until the Meet link is there.
        session::Entity::update_many()
            .col_expr(
                session::Column::MeetingProvider,
                Expr::value(MeetingProvider::GoogleMeet),
            )
            .col_expr(
                session::Column::MeetingStatus,
                Expr::value(MeetingStatus::Pending),
            )
            .filter(session::Column::Id.is_in(sessions.iter().map(|s| s.id.clone())))
            .exec(txn)
            .await?;
        for s in &sessions {
            calendar_write::queue(txn, now, &s.id, &write_state(s.sequence, s.status), None)
                .await?;
        }
        Ok(())
    }
}

/// Queues a write for each of `session_ids` that has an event.
async fn changed(
    txn: &DatabaseTransaction,
    happened: &Happened<'_>,
    session_ids: &[String],
) -> AppResult<()> {
    let written: Vec<String> = calendar_event::Entity::find()
        .select_only()
        .column(calendar_event::Column::SessionId)
        .filter(calendar_event::Column::SessionId.is_in(session_ids.iter().cloned()))
        .into_tuple()
        .all(txn)
        .await?;
    if written.is_empty() {
        return Ok(());
    }
    let sessions = session::Entity::find()
        .filter(session::Column::Id.is_in(written))
        .all(txn)
        .await?;
    for s in &sessions {
        let state = write_state(s.sequence, s.status);
        calendar_write::queue(txn, happened.now, &s.id, &state, None).await?;
    }
    Ok(())
}
