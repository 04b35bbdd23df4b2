//! Reading what decides where a mentor can be booked: the schedule, calendar busy time and sessions.
//!
//! Each read takes any connection, so the slot query can run them at once on the pool and a booking
//! can run them inside its transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::availability::{block_from_row, override_from_row};
use crate::domain::booking::SessionStatus;
use crate::domain::interval::Interval;
use crate::domain::settings::BookingRules;
use crate::domain::slots::Schedule;
use crate::domain::time::TimeZone;
use crate::domain::weekly::{DateOverrides, WeeklyPattern};
use crate::entity::{
    availability_block as block, availability_override as override_, busy_block, session,
};
use crate::error::AppResult;

/// Overrides are stored by local date; two days either side of a UTC window covers every offset.
pub const OVERRIDE_MARGIN_DAYS: i64 = 2;

/// The local dates whose overrides can matter for `[from, to)`.
pub fn override_dates(from: DateTime<Utc>, to: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let margin = Duration::days(OVERRIDE_MARGIN_DAYS);
    ((from - margin).date_naive(), (to + margin).date_naive())
}

/// The weekly blocks and the overrides dated `first..=last`, as a schedule in `zone` with `rules`.
pub async fn schedule_of(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    zone: TimeZone,
    rules: BookingRules,
    (first, last): (NaiveDate, NaiveDate),
) -> AppResult<Schedule> {
    let (blocks, overrides) = tokio::try_join!(
        weekly_of(conn, mentor_id),
        overrides_of(conn, mentor_id, first, last)
    )?;
    Ok(Schedule {
        zone,
        weekly: blocks,
        overrides,
        rules,
    })
}

pub async fn weekly_of(conn: &impl ConnectionTrait, mentor_id: &str) -> AppResult<WeeklyPattern> {
    let rows = block::Entity::find()
        .filter(block::Column::MentorId.eq(mentor_id))
        .all(conn)
        .await?;
    let blocks = rows
        .into_iter()
        .map(block_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(WeeklyPattern::from_blocks(
        blocks.into_iter().map(|b| (b.weekday, b.range)),
    ))
}

pub async fn overrides_of(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> AppResult<DateOverrides> {
    override_::Entity::find()
        .filter(override_::Column::MentorId.eq(mentor_id))
        .filter(override_::Column::Date.between(first, last))
        .all(conn)
        .await?
        .into_iter()
        .map(override_from_row)
        .collect()
}

/// Calendar busy time overlapping `[from, to)`. Only the two instants are read: a busy mentor has
/// hundreds of rows, and decoding whole models dominated the cost of this query.
pub async fn busy_between(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Vec<Interval>> {
    let rows = busy_block::Entity::find()
        .select_only()
        .columns([busy_block::Column::StartAt, busy_block::Column::EndAt])
        .filter(busy_block::Column::MentorId.eq(mentor_id))
        .filter(busy_block::Column::StartAt.lt(to))
        .filter(busy_block::Column::EndAt.gt(from))
        .into_tuple::<(DateTime<Utc>, DateTime<Utc>)>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(s, e)| Interval::new(s, e)).collect())
}

/// The mentor's sessions that are not cancelled and overlap `[from, to)`, except `except`.
pub async fn sessions_between(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<&str>,
) -> AppResult<Vec<Interval>> {
    let mut query = session::Entity::find()
        .select_only()
        .columns([session::Column::StartAt, session::Column::EndAt])
        .filter(session::Column::MentorId.eq(mentor_id))
        .filter(session::Column::Status.ne(SessionStatus::Cancelled))
        .filter(session::Column::StartAt.lt(to))
        .filter(session::Column::EndAt.gt(from));
    if let Some(id) = except {
        query = query.filter(session::Column::Id.ne(id));
    }
    let rows = query
        .into_tuple::<(DateTime<Utc>, DateTime<Utc>)>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(s, e)| Interval::new(s, e)).collect())
}
