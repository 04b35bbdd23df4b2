//! Calendar connections, their calendars, and OAuth states waiting for a provider's redirect.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use crate::domain::calendar::CalendarProvider;
use crate::entity::{
    busy_block, calendar_channel as channel, calendar_connection as conn,
    calendar_oauth_state as state, external_calendar as cal,
};

pub async fn connection(
    db: &impl ConnectionTrait,
    mentor_id: &str,
    provider: CalendarProvider,
) -> Result<Option<conn::Model>, DbErr> {
    conn::Entity::find()
        .filter(conn::Column::MentorId.eq(mentor_id))
        .filter(conn::Column::Provider.eq(provider))
        .one(db)
        .await
}

pub async fn connections(
    db: &impl ConnectionTrait,
    mentor_id: &str,
) -> Result<Vec<conn::Model>, DbErr> {
    conn::Entity::find()
        .filter(conn::Column::MentorId.eq(mentor_id))
        .order_by_asc(conn::Column::Provider)
        .all(db)
        .await
}

pub async fn calendars_of(
    db: &impl ConnectionTrait,
    connection_id: &str,
) -> Result<Vec<cal::Model>, DbErr> {
    cal::Entity::find()
        .filter(cal::Column::ConnectionId.eq(connection_id))
        .order_by_desc(cal::Column::IsPrimary)
        .order_by_asc(cal::Column::Name)
        .all(db)
        .await
}

/// Inserts the connection, or replaces everything but its id, creation time and the mentor's
/// choices (frequency, policies, enabled) when the mentor connects again.
pub async fn save_connection(
    db: &impl ConnectionTrait,
    row: conn::ActiveModel,
) -> Result<(), DbErr> {
    conn::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([conn::Column::MentorId, conn::Column::Provider])
                .update_columns([
                    conn::Column::State,
                    conn::Column::AccountEmail,
                    conn::Column::AccessToken,
                    conn::Column::RefreshToken,
                    conn::Column::AccessExpiresAt,
                    conn::Column::GrantedScopes,
                    conn::Column::LastError,
                    conn::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Replaces the calendar list of a connection, keeping the mentor's choices for calendars still there;
/// busy time read from calendars no longer listed goes with them.
pub async fn replace_calendars(
    db: &impl ConnectionTrait,
    mentor_id: &str,
    connection_id: &str,
    calendars: Vec<cal::Model>,
) -> Result<(), DbErr> {
    let before = calendars_of(db, connection_id).await?;
    let gone: Vec<String> = before
        .iter()
        .filter(|old| !calendars.iter().any(|c| c.calendar_id == old.calendar_id))
        .map(|old| old.calendar_id.clone())
        .collect();
    if !gone.is_empty() {
        busy_block::Entity::delete_many()
            .filter(busy_block::Column::MentorId.eq(mentor_id))
            .filter(busy_block::Column::CalendarId.is_in(gone))
            .exec(db)
            .await?;
    }
    cal::Entity::delete_many()
        .filter(cal::Column::ConnectionId.eq(connection_id))
        .exec(db)
        .await?;
    if calendars.is_empty() {
        return Ok(());
    }
    let rows = calendars.into_iter().map(|mut c| {
        if let Some(old) = before.iter().find(|o| o.calendar_id == c.calendar_id) {
            c.counts_as_busy = old.counts_as_busy;
            c.receives_sessions = old.receives_sessions;
            c.sync_token = old.sync_token.clone();
            c.full_read_at = old.full_read_at;
            c.pushes = old.pushes;
            c.watch_retry_at = old.watch_retry_at;
        }
        cal::ActiveModel {
            connection_id: Set(connection_id.to_string()),
            calendar_id: Set(c.calendar_id),
            name: Set(c.name),
            is_primary: Set(c.is_primary),
            counts_as_busy: Set(c.counts_as_busy),
            receives_sessions: Set(c.receives_sessions),
            sync_token: Set(c.sync_token),
            full_read_at: Set(c.full_read_at),
            pushes: Set(c.pushes),
            watch_retry_at: Set(c.watch_retry_at),
        }
    });
    cal::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

pub async fn put_state(db: &impl ConnectionTrait, row: state::ActiveModel) -> Result<(), DbErr> {
    state::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Takes the state with this hash: returns it and deletes it, or `None` when there is none or
/// another caller took it first (a state works once, even when two redirects race).
pub async fn take_state(
    db: &impl ConnectionTrait,
    state_hash: &str,
) -> Result<Option<state::Model>, DbErr> {
    let Some(found) = state::Entity::find_by_id(state_hash).one(db).await? else {
        return Ok(None);
    };
    let deleted = state::Entity::delete_by_id(state_hash).exec(db).await?;
    Ok((deleted.rows_affected == 1).then_some(found))
}

/// Drops states that expired before `now` (a mentor who never came back).
pub async fn drop_expired_states(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    state::Entity::delete_many()
        .filter(state::Column::ExpiresAt.lt(now))
        .exec(db)
        .await
        .map(|_| ())
}

/// Keeps the newest `keep` states of a mentor and drops the rest (a mentor who clicks "connect"
/// again and again holds a bounded number of rows).
pub async fn trim_states(
    db: &impl ConnectionTrait,
    mentor_id: &str,
    keep: u64,
) -> Result<(), DbErr> {
    use sea_orm::QuerySelect;
    let older: Vec<String> = state::Entity::find()
        .select_only()
        .column(state::Column::StateHash)
        .filter(state::Column::MentorId.eq(mentor_id))
        .order_by_desc(state::Column::CreatedAt)
        .order_by_desc(state::Column::StateHash)
        // SQLite takes an OFFSET only after a LIMIT.
        .limit(10_000)
        .offset(keep)
        .into_tuple()
        .all(db)
        .await?;
    if older.is_empty() {
        return Ok(());
    }
    state::Entity::delete_many()
        .filter(state::Column::StateHash.is_in(older))
        .exec(db)
        .await
        .map(|_| ())
}

/// The push channels of a connection, newest first.
pub async fn channels_of(
    db: &impl ConnectionTrait,
    connection_id: &str,
) -> Result<Vec<channel::Model>, DbErr> {
    channel::Entity::find()
        .filter(channel::Column::ConnectionId.eq(connection_id))
        .order_by_desc(channel::Column::CreatedAt)
        .order_by_desc(channel::Column::Id)
        .all(db)
        .await
}
