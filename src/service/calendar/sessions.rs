//! Which sessions go to a mentor's calendar: a consumer of booking events, in the transaction that
//! records them. New sessions of a mentor whose Google calendar is connected (and syncing) get an
//! event row on the calendar that receives sessions, their room marked as a Meet link on its way, and
//! a write job; a moved or cancelled session that has an event gets a write job.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};

use crate::domain::booking::{BookingStatus, SessionStatus};
use crate::domain::calendar::{CalendarProvider, SyncState};
use crate::domain::event::DomainEvent;
use crate::domain::meeting::{MeetingProvider, MeetingStatus};
use crate::entity::{booking, calendar_connection as conn, calendar_event, session};
use crate::error::AppResult;
use crate::integrations::calendar::google::events::event_id_for;
use crate::jobs::calendar_write;
use crate::service::after_commit::Changes;
use crate::service::events::{EventConsumer, Happened};
use crate::service::store::calendar as store;

/// The consumer; `providers`: the calendar providers configured (none: it does nothing).
pub struct CalendarWrites {
    pub providers: Vec<CalendarProvider>,
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
        if self.providers.is_empty() {
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
        let Some((connection, target)) = receiving(txn, mentor, &self.providers).await? else {
            return Ok(());
        };
        let sessions = session::Entity::find()
            .filter(session::Column::Id.is_in(session_ids.iter().cloned()))
            .filter(session::Column::Status.eq(SessionStatus::Scheduled))
            .all(txn)
            .await?;
        write_new(txn, &connection, &target, &sessions, happened.now).await
    }
}

/// The calendar the mentor's sessions are written to, and its connection: the one calendar marked
/// to receive them, on a usable connection of a configured provider (the earliest connected, if
/// more than one were ever marked).
async fn receiving(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    providers: &[CalendarProvider],
) -> AppResult<Option<(conn::Model, String)>> {
    let mut connections = store::connections(txn, mentor_id).await?;
    connections.sort_by_key(|c| c.created_at);
    for connection in connections {
        if !providers.contains(&connection.provider)
            || !connection.sync_enabled
            || connection.state == SyncState::ReconnectRequired
        {
            continue;
        }
        let calendars = store::calendars_of(txn, &connection.id).await?;
        if let Some(target) = calendars.into_iter().find(|c| c.receives_sessions) {
            return Ok(Some((connection, target.calendar_id)));
        }
    }
    Ok(None)
}

/// Gives `sessions` an event row on `calendar_id` each, marks their rooms as the provider's video
/// links on their way where it makes them (the built-in room serves meanwhile), and queues their
/// writes.
async fn write_new(
    txn: &impl ConnectionTrait,
    connection: &conn::Model,
    calendar_id: &str,
    sessions: &[session::Model],
    now: DateTime<Utc>,
) -> AppResult<()> {
    let connection_id = connection.id.as_str();
    if sessions.is_empty() {
        return Ok(());
    }
    let rows = sessions.iter().map(|s| calendar_event::ActiveModel {
        session_id: Set(s.id.clone()),
        connection_id: Set(connection_id.to_string()),
        calendar_id: Set(calendar_id.to_string()),
        event_id: Set(event_id_for(&s.id)),
        written_sequence: Set(None),
        conference_checks: Set(0),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    });
    calendar_event::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    let room = super::write::meeting_provider(connection.provider);
    if room != MeetingProvider::BuiltIn {
        session::Entity::update_many()
            .col_expr(session::Column::MeetingProvider, Expr::value(room))
            .col_expr(
                session::Column::MeetingStatus,
                Expr::value(MeetingStatus::Pending),
            )
            .filter(session::Column::Id.is_in(sessions.iter().map(|s| s.id.clone())))
            .exec(txn)
            .await?;
    }
    for s in sessions {
        calendar_write::queue(txn, now, &s.id, &write_state(s.sequence, s.status), None).await?;
    }
    Ok(())
}

/// When a mentor connects (or reconnects): their future sessions without an event get one, and
/// every event of this connection whose session is not over is written again (what changed while
/// access was lost is caught up).
pub(super) async fn on_connect(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    connection: &conn::Model,
    calendar_id: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let connection_id = connection.id.as_str();
    let ahead: Vec<session::Model> = session::Entity::find()
        .filter(session::Column::MentorId.eq(mentor_id))
        .filter(session::Column::EndAt.gt(now))
        .all(txn)
        .await?;
    let written: Vec<(String, String)> = calendar_event::Entity::find()
        .select_only()
        .column(calendar_event::Column::SessionId)
        .column(calendar_event::Column::ConnectionId)
        .filter(calendar_event::Column::SessionId.is_in(ahead.iter().map(|s| s.id.clone())))
        .into_tuple()
        .all(txn)
        .await?;
    let state = format!("connect{}", now.timestamp());
    for (session_id, of) in &written {
        if of == connection_id {
            calendar_write::queue(txn, now, session_id, &state, None).await?;
        }
    }
    let Some(calendar_id) = calendar_id else {
        return Ok(());
    };
    // Sessions held for payment are nobody's news yet: they are written once confirmed.
    let held: Vec<String> = booking::Entity::find()
        .select_only()
        .column(booking::Column::Id)
        .filter(booking::Column::MentorId.eq(mentor_id))
        .filter(booking::Column::Status.eq(BookingStatus::Pending))
        .into_tuple()
        .all(txn)
        .await?;
    let fresh: Vec<session::Model> = ahead
        .into_iter()
        .filter(|s| s.status == SessionStatus::Scheduled && s.start_at > now)
        .filter(|s| !held.contains(&s.booking_id))
        .filter(|s| !written.iter().any(|(id, _)| *id == s.id))
        .collect();
    write_new(txn, connection, calendar_id, &fresh, now).await
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
