//! A mentor's availability rows: weekly blocks, date overrides and saved templates, and how each is
//! stored (minutes from midnight; overrides and templates as JSON lists).

use chrono::{NaiveDate, Weekday};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::db::new_id;
use crate::domain::settings::BookingRules;
use crate::domain::time::{weekday_from_index, weekday_index, LocalTime, TimeZone, WEEKDAYS};
use crate::domain::weekly::{merge_block, TimeRange, WeeklyPattern, MAX_WEEK_BLOCKS};
use crate::entity::{
    availability_block as block, availability_override as override_,
    availability_template as template,
};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub id: String,
    pub weekday: Weekday,
    pub range: TimeRange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub mentor_id: String,
    pub zone: TimeZone,
    pub rules: BookingRules,
    /// Sorted by weekday, then start.
    pub blocks: Vec<Block>,
    /// Today's and later overrides (in the mentor's zone), by date.
    pub overrides: Vec<(NaiveDate, Vec<TimeRange>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub blocks: Vec<(Weekday, TimeRange)>,
}

pub async fn place_block(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    id: String,
    weekday: Weekday,
    range: TimeRange,
    replacing: Option<&str>,
) -> AppResult<()> {
    let others: Vec<(String, TimeRange)> = blocks_of_day(txn, mentor_id, weekday)
        .await?
        .into_iter()
        .filter(|(other, _)| Some(other.as_str()) != replacing)
        .collect();
    let merged = merge_block(range, &others);
    if !merged.absorbed.is_empty() {
        block::Entity::delete_many()
            .filter(block::Column::Id.is_in(merged.absorbed))
            .exec(txn)
            .await?;
    }
    if replacing.is_some() {
        block::Entity::delete_by_id(id.clone()).exec(txn).await?;
    }
    insert_block(txn, mentor_id, id, weekday, merged.range).await
}

/// Refuses a change that leaves the week with more than [`MAX_WEEK_BLOCKS`] blocks (the caller's
/// transaction is then dropped, so nothing is written).
pub async fn ensure_week_fits(txn: &impl ConnectionTrait, mentor_id: &str) -> AppResult<()> {
    let count = block::Entity::find()
        .filter(block::Column::MentorId.eq(mentor_id))
        .count(txn)
        .await?;
    if count > MAX_WEEK_BLOCKS as u64 {
        return Err(AppError::bad_input(
            "input",
            format!("a week holds at most {MAX_WEEK_BLOCKS} separate blocks; merge or delete some first"),
        ));
    }
    Ok(())
}

pub async fn replace_blocks(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    blocks: Vec<(Weekday, TimeRange)>,
) -> AppResult<()> {
    block::Entity::delete_many()
        .filter(block::Column::MentorId.eq(mentor_id))
        .exec(txn)
        .await?;
    let pattern = WeeklyPattern::from_blocks(blocks);
    for day in WEEKDAYS {
        for range in pattern.day(day) {
            insert_block(txn, mentor_id, new_id(), day, *range).await?;
        }
    }
    Ok(())
}

pub async fn insert_block(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    id: String,
    weekday: Weekday,
    range: TimeRange,
) -> AppResult<()> {
    block::Entity::insert(block::ActiveModel {
        id: Set(id),
        mentor_id: Set(mentor_id.to_string()),
        weekday: Set(i16::from(weekday_index(weekday))),
        start_minute: Set(i32::from(range.start().minutes())),
        end_minute: Set(i32::from(range.end().minutes())),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

pub async fn blocks_of_day(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    weekday: Weekday,
) -> AppResult<Vec<(String, TimeRange)>> {
    block::Entity::find()
        .filter(block::Column::MentorId.eq(mentor_id))
        .filter(block::Column::Weekday.eq(i16::from(weekday_index(weekday))))
        .order_by_asc(block::Column::StartMinute)
        .all(txn)
        .await?
        .into_iter()
        .map(|row| block_from_row(row).map(|b| (b.id, b.range)))
        .collect()
}

pub async fn all_blocks(txn: &impl ConnectionTrait, mentor_id: &str) -> AppResult<Vec<Block>> {
    block::Entity::find()
        .filter(block::Column::MentorId.eq(mentor_id))
        .order_by_asc(block::Column::Weekday)
        .order_by_asc(block::Column::StartMinute)
        .all(txn)
        .await?
        .into_iter()
        .map(block_from_row)
        .collect()
}

/// The block, which must be the mentor's: `NOT_FOUND` if it does not exist or is another's.
pub async fn owned_block(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    id: &str,
) -> AppResult<block::Model> {
    let row = block::Entity::find_by_id(id).one(txn).await?;
    owned_by(row, |r| &r.mentor_id, mentor_id, "availability block")
}

pub async fn owned_template(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    id: &str,
) -> AppResult<template::Model> {
    let row = template::Entity::find_by_id(id).one(txn).await?;
    owned_by(row, |r| &r.mentor_id, mentor_id, "availability template")
}

pub fn owned_by<M>(
    row: Option<M>,
    owner: impl Fn(&M) -> &str,
    mentor_id: &str,
    what: &str,
) -> AppResult<M> {
    // Another mentor's answers as an unknown id does, so ids cannot be probed.
    match row {
        Some(row) if owner(&row) == mentor_id => Ok(row),
        _ => Err(AppError::NotFound(format!("there is no such {what}"))),
    }
}

pub fn corrupt(what: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("stored availability is invalid: {what}"))
}

pub fn range_from_minutes(start: i64, end: i64) -> AppResult<TimeRange> {
    let time = |m: i64| {
        u16::try_from(m)
            .ok()
            .and_then(LocalTime::from_minutes)
            .ok_or_else(|| corrupt(format!("minute {m}")))
    };
    TimeRange::new(time(start)?, time(end)?, "stored").map_err(corrupt)
}

pub fn block_from_row(row: block::Model) -> AppResult<Block> {
    let weekday = u8::try_from(row.weekday)
        .ok()
        .and_then(weekday_from_index)
        .ok_or_else(|| corrupt(format!("weekday {}", row.weekday)))?;
    Ok(Block {
        weekday,
        range: range_from_minutes(row.start_minute.into(), row.end_minute.into())?,
        id: row.id,
    })
}

pub fn override_from_row(row: override_::Model) -> AppResult<(NaiveDate, Vec<TimeRange>)> {
    let pairs: Vec<(i64, i64)> = serde_json::from_str(&row.ranges).map_err(corrupt)?;
    let ranges = pairs
        .into_iter()
        .map(|(s, e)| range_from_minutes(s, e))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((row.date, ranges))
}

pub fn ranges_to_json(ranges: &[TimeRange]) -> String {
    let pairs: Vec<(u16, u16)> = ranges
        .iter()
        .map(|r| (r.start().minutes(), r.end().minutes()))
        .collect();
    serde_json::to_string(&pairs).expect("plain numbers serialize")
}

pub fn template_blocks_to_json(blocks: &[(Weekday, TimeRange)]) -> String {
    let triples: Vec<(u8, u16, u16)> = blocks
        .iter()
        .map(|(d, r)| (weekday_index(*d), r.start().minutes(), r.end().minutes()))
        .collect();
    serde_json::to_string(&triples).expect("plain numbers serialize")
}

pub fn template_from_row(row: template::Model) -> AppResult<Template> {
    let triples: Vec<(u8, i64, i64)> = serde_json::from_str(&row.blocks).map_err(corrupt)?;
    let blocks = triples
        .into_iter()
        .map(|(d, s, e)| {
            Ok((
                weekday_from_index(d).ok_or_else(|| corrupt(format!("weekday {d}")))?,
                range_from_minutes(s, e)?,
            ))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Template {
        id: row.id,
        name: row.name,
        blocks,
    })
}

/// Deletes one block (the caller checked it is the mentor's).
pub async fn delete_block(txn: &impl ConnectionTrait, id: &str) -> AppResult<()> {
    block::Entity::delete_by_id(id).exec(txn).await?;
    Ok(())
}

/// Deletes every block of `day`.
pub async fn clear_day(txn: &impl ConnectionTrait, mentor_id: &str, day: Weekday) -> AppResult<()> {
    block::Entity::delete_many()
        .filter(block::Column::MentorId.eq(mentor_id))
        .filter(block::Column::Weekday.eq(i16::from(weekday_index(day))))
        .exec(txn)
        .await?;
    Ok(())
}

/// The overrides dated `today` or later, by date.
pub async fn upcoming_overrides(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    today: NaiveDate,
) -> AppResult<Vec<(NaiveDate, Vec<TimeRange>)>> {
    override_::Entity::find()
        .filter(override_::Column::MentorId.eq(mentor_id))
        .filter(override_::Column::Date.gte(today))
        .order_by_asc(override_::Column::Date)
        .all(conn)
        .await?
        .into_iter()
        .map(override_from_row)
        .collect()
}

/// Sets the ranges of one date (merged already).
pub async fn put_override(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    date: NaiveDate,
    ranges: &[TimeRange],
) -> AppResult<()> {
    let row = override_::ActiveModel {
        mentor_id: Set(mentor_id.to_string()),
        date: Set(date),
        ranges: Set(ranges_to_json(ranges)),
    };
    override_::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([override_::Column::MentorId, override_::Column::Date])
                .update_column(override_::Column::Ranges)
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

pub async fn delete_override(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    date: NaiveDate,
) -> AppResult<()> {
    override_::Entity::delete_by_id((mentor_id.to_string(), date))
        .exec(txn)
        .await?;
    Ok(())
}

/// The mentor's templates, by name.
pub async fn templates_of(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
) -> AppResult<Vec<Template>> {
    template::Entity::find()
        .filter(template::Column::MentorId.eq(mentor_id))
        .order_by_asc(template::Column::Name)
        .all(conn)
        .await?
        .into_iter()
        .map(template_from_row)
        .collect()
}

pub async fn template_named(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    name: &str,
) -> AppResult<Option<template::Model>> {
    Ok(template::Entity::find()
        .filter(template::Column::MentorId.eq(mentor_id))
        .filter(template::Column::Name.eq(name))
        .one(txn)
        .await?)
}

pub async fn count_templates(txn: &impl ConnectionTrait, mentor_id: &str) -> AppResult<u64> {
    Ok(template::Entity::find()
        .filter(template::Column::MentorId.eq(mentor_id))
        .count(txn)
        .await?)
}

pub async fn insert_template(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    name: &str,
    blocks: &[(Weekday, TimeRange)],
    now: DateTime<Utc>,
) -> AppResult<String> {
    let id = new_id();
    template::Entity::insert(template::ActiveModel {
        id: Set(id.clone()),
        mentor_id: Set(mentor_id.to_string()),
        name: Set(name.to_string()),
        blocks: Set(template_blocks_to_json(blocks)),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(id)
}

pub async fn update_template(
    txn: &impl ConnectionTrait,
    id: &str,
    blocks: &[(Weekday, TimeRange)],
    now: DateTime<Utc>,
) -> AppResult<()> {
    template::Entity::update(template::ActiveModel {
        id: Set(id.to_string()),
        blocks: Set(template_blocks_to_json(blocks)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    Ok(())
}

pub async fn delete_template(txn: &impl ConnectionTrait, id: &str) -> AppResult<()> {
    template::Entity::delete_by_id(id).exec(txn).await?;
    Ok(())
}
