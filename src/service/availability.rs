//! A mentor's availability: weekly blocks, date overrides, templates and booking rules.
//!
//! Every edit runs in one write transaction that first locks the mentor's settings row (PostgreSQL) or
//! holds the SQLite write gate, so two concurrent drags on the same day cannot leave overlapping
//! blocks. Subscribers of the mentor's availability topic are told after each commit.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::slots::SlotCache;
use super::users::{find_mentor, User};
use crate::auth::{Principal, Role};
use crate::clock::Clock;
use crate::db::new_id;
use crate::db::{for_update, Db};
use crate::domain::settings::BookingRules;
use crate::domain::time::{weekday_from_index, weekday_index, LocalTime, TimeZone, WEEKDAYS};
use crate::domain::weekly::{merge_block, merge_ranges, TimeRange, WeeklyPattern};
use crate::entity::{
    availability_block as block, availability_override as override_,
    availability_settings as settings, availability_template as template,
};
use crate::error::{AppError, AppResult};
use crate::pubsub::{topic, EventBus};

/// Most blocks one bulk replace may send.
pub const MAX_INPUT_BLOCKS: usize = 200;
/// Blocks a weekly pattern may hold after merging, however it was built (so lists stay bounded).
pub const MAX_WEEK_BLOCKS: usize = MAX_INPUT_BLOCKS;
/// How far ahead an override may be set: the longest horizon, and today.
pub const MAX_OVERRIDE_DAYS_AHEAD: i64 = 366;
/// Most ranges on one date override.
pub const MAX_OVERRIDE_RANGES: usize = 48;
/// Most templates one mentor keeps.
pub const MAX_TEMPLATES: usize = 50;
const MAX_TEMPLATE_NAME: usize = 100;

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

/// A bulk replace. Settings left `None` keep their current value (the defaults if never set).
#[derive(Debug, Clone)]
pub struct WeeklyScheduleInput {
    pub zone: TimeZone,
    pub blocks: Vec<(Weekday, TimeRange)>,
    pub buffer_minutes: Option<i32>,
    pub minimum_notice_minutes: Option<i32>,
    pub horizon_days: Option<i32>,
}

pub struct AvailabilityService {
    db: Db,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    slot_cache: Arc<SlotCache>,
}

impl AvailabilityService {
    pub fn new(
        db: Db,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        slot_cache: Arc<SlotCache>,
    ) -> Self {
        AvailabilityService {
            db,
            bus,
            clock,
            slot_cache,
        }
    }

    /// Anyone signed in may read a mentor's availability (students need it to book).
    pub async fn get(&self, mentor_id: &str) -> AppResult<Availability> {
        let mentor = find_mentor(&self.db, mentor_id).await?;
        let conn = self.db.conn();
        let settings_row = settings::Entity::find_by_id(mentor_id).one(conn).await?;
        let (zone, rules) = rules_of(settings_row.as_ref(), &mentor)?;
        let today = self.clock.now().with_timezone(&zone.tz()).date_naive();
        let blocks = block::Entity::find()
            .filter(block::Column::MentorId.eq(mentor_id))
            .order_by_asc(block::Column::Weekday)
            .order_by_asc(block::Column::StartMinute)
            .all(conn)
            .await?
            .into_iter()
            .map(block_from_row)
            .collect::<AppResult<Vec<_>>>()?;
        let overrides = override_::Entity::find()
            .filter(override_::Column::MentorId.eq(mentor_id))
            .filter(override_::Column::Date.gte(today))
            .order_by_asc(override_::Column::Date)
            .all(conn)
            .await?
            .into_iter()
            .map(override_from_row)
            .collect::<AppResult<Vec<_>>>()?;
        Ok(Availability {
            mentor_id: mentor.id,
            zone,
            rules,
            blocks,
            overrides,
        })
    }

    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id), err(level = "debug"))]
    pub async fn set_weekly_schedule(
        &self,
        p: &Principal,
        input: WeeklyScheduleInput,
    ) -> AppResult<Availability> {
        if input.blocks.len() > MAX_INPUT_BLOCKS {
            return Err(AppError::bad_input(
                "input.blocks",
                format!("at most {MAX_INPUT_BLOCKS} blocks"),
            ));
        }
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        let current = lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let rules = BookingRules::new(
            input.buffer_minutes.unwrap_or(current.buffer_minutes),
            input
                .minimum_notice_minutes
                .unwrap_or(current.minimum_notice_minutes),
            input.horizon_days.unwrap_or(current.horizon_days),
            "input.",
        )?;
        settings::Entity::update(settings::ActiveModel {
            mentor_id: Set(mentor.id.clone()),
            time_zone: Set(input.zone.name().into()),
            buffer_minutes: Set(rules.buffer_minutes()),
            minimum_notice_minutes: Set(rules.minimum_notice_minutes()),
            horizon_days: Set(rules.horizon_days()),
            updated_at: Set(self.clock.now()),
        })
        .exec(&tx.txn)
        .await?;
        replace_blocks(&tx.txn, &mentor.id, input.blocks).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id), err(level = "debug"))]
    pub async fn add_block(
        &self,
        p: &Principal,
        weekday: Weekday,
        range: TimeRange,
    ) -> AppResult<Availability> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        place_block(&tx.txn, &mentor.id, new_id(), weekday, range, None).await?;
        ensure_week_fits(&tx.txn, &mentor.id).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    /// Moves or resizes a block; it keeps its id, absorbing any block it now meets.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, block_id = %id), err(level = "debug"))]
    pub async fn update_block(
        &self,
        p: &Principal,
        id: &str,
        weekday: Weekday,
        range: TimeRange,
    ) -> AppResult<Availability> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let row = owned_block(&tx.txn, &mentor.id, id).await?;
        place_block(&tx.txn, &mentor.id, row.id, weekday, range, Some(id)).await?;
        ensure_week_fits(&tx.txn, &mentor.id).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, block_id = %id), err(level = "debug"))]
    pub async fn delete_block(&self, p: &Principal, id: &str) -> AppResult<Availability> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        owned_block(&tx.txn, &mentor.id, id).await?;
        block::Entity::delete_by_id(id).exec(&tx.txn).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    /// Replaces each target day's blocks with copies of `from`'s (the source day itself is skipped).
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id), err(level = "debug"))]
    pub async fn copy_day(
        &self,
        p: &Principal,
        from: Weekday,
        to: &[Weekday],
    ) -> AppResult<Availability> {
        if to.is_empty() {
            return Err(AppError::bad_input(
                "to",
                "name at least one weekday to copy to",
            ));
        }
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let source = blocks_of_day(&tx.txn, &mentor.id, from).await?;
        for day in to.iter().copied().filter(|d| *d != from) {
            block::Entity::delete_many()
                .filter(block::Column::MentorId.eq(&mentor.id))
                .filter(block::Column::Weekday.eq(i16::from(weekday_index(day))))
                .exec(&tx.txn)
                .await?;
            for (_, range) in &source {
                insert_block(&tx.txn, &mentor.id, new_id(), day, *range).await?;
            }
        }
        ensure_week_fits(&tx.txn, &mentor.id).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    /// Other hours on one date in the mentor's zone; no ranges = unavailable all day.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, %date), err(level = "debug"))]
    pub async fn set_override(
        &self,
        p: &Principal,
        date: NaiveDate,
        ranges: Vec<TimeRange>,
    ) -> AppResult<Availability> {
        if ranges.len() > MAX_OVERRIDE_RANGES {
            return Err(AppError::bad_input(
                "blocks",
                format!("at most {MAX_OVERRIDE_RANGES} ranges"),
            ));
        }
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        let current = lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let zone: TimeZone = current
            .time_zone
            .parse()
            .map_err(|e: String| AppError::Internal(anyhow::anyhow!(e)))?;
        let today = self.clock.now().with_timezone(&zone.tz()).date_naive();
        if date < today {
            return Err(AppError::bad_input(
                "date",
                format!("{date} is in the past in {zone}"),
            ));
        }
        if date > today + chrono::Duration::days(MAX_OVERRIDE_DAYS_AHEAD) {
            return Err(AppError::bad_input(
                "date",
                format!("overrides reach at most {MAX_OVERRIDE_DAYS_AHEAD} days ahead"),
            ));
        }
        let row = override_::ActiveModel {
            mentor_id: Set(mentor.id.clone()),
            date: Set(date),
            ranges: Set(ranges_to_json(&merge_ranges(ranges))),
        };
        override_::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([override_::Column::MentorId, override_::Column::Date])
                    .update_column(override_::Column::Ranges)
                    .to_owned(),
            )
            .exec_without_returning(&tx.txn)
            .await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    /// Back to the weekly pattern on `date`. Clearing a date without an override is not an error.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, %date), err(level = "debug"))]
    pub async fn clear_override(&self, p: &Principal, date: NaiveDate) -> AppResult<Availability> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        override_::Entity::delete_by_id((mentor.id.clone(), date))
            .exec(&tx.txn)
            .await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    /// Saves the current weekly blocks under `name`, replacing a template of the same name.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id), err(level = "debug"))]
    pub async fn save_template(&self, p: &Principal, name: &str) -> AppResult<Template> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TEMPLATE_NAME {
            return Err(AppError::bad_input(
                "name",
                format!("must be 1 to {MAX_TEMPLATE_NAME} characters"),
            ));
        }
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let blocks: Vec<(Weekday, TimeRange)> = all_blocks(&tx.txn, &mentor.id)
            .await?
            .into_iter()
            .map(|b| (b.weekday, b.range))
            .collect();
        let existing = template::Entity::find()
            .filter(template::Column::MentorId.eq(&mentor.id))
            .filter(template::Column::Name.eq(name))
            .one(&tx.txn)
            .await?;
        let now = self.clock.now();
        let id = match existing {
            Some(row) => {
                template::Entity::update(template::ActiveModel {
                    id: Set(row.id.clone()),
                    blocks: Set(template_blocks_to_json(&blocks)),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .exec(&tx.txn)
                .await?;
                row.id
            }
            None => {
                let count = template::Entity::find()
                    .filter(template::Column::MentorId.eq(&mentor.id))
                    .count(&tx.txn)
                    .await?;
                if count >= MAX_TEMPLATES as u64 {
                    return Err(AppError::bad_input(
                        "name",
                        format!("you already have {MAX_TEMPLATES} templates; delete one first"),
                    ));
                }
                let id = new_id();
                template::Entity::insert(template::ActiveModel {
                    id: Set(id.clone()),
                    mentor_id: Set(mentor.id.clone()),
                    name: Set(name.to_string()),
                    blocks: Set(template_blocks_to_json(&blocks)),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .exec_without_returning(&tx.txn)
                .await?;
                id
            }
        };
        tx.commit().await?;
        Ok(Template {
            id,
            name: name.to_string(),
            blocks,
        })
    }

    /// Replaces the weekly blocks with the template's.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, template_id = %id), err(level = "debug"))]
    pub async fn apply_template(&self, p: &Principal, id: &str) -> AppResult<Availability> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let saved = template_from_row(owned_template(&tx.txn, &mentor.id, id).await?)?;
        replace_blocks(&tx.txn, &mentor.id, saved.blocks).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    pub async fn templates(&self, p: &Principal) -> AppResult<Vec<Template>> {
        let mentor = self.acting_mentor(p).await?;
        template::Entity::find()
            .filter(template::Column::MentorId.eq(&mentor.id))
            .order_by_asc(template::Column::Name)
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(template_from_row)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, template_id = %id), err(level = "debug"))]
    pub async fn delete_template(&self, p: &Principal, id: &str) -> AppResult<()> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        owned_template(&tx.txn, &mentor.id, id).await?;
        template::Entity::delete_by_id(id).exec(&tx.txn).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller, who must be a mentor editing their own schedule.
    async fn acting_mentor(&self, p: &Principal) -> AppResult<User> {
        p.require_role(Role::Mentor)?;
        find_mentor(&self.db, &p.user_id).await
    }

    /// Tells slot caches and live subscribers, then returns the new state.
    async fn changed(&self, mentor_id: &str) -> AppResult<Availability> {
        self.slot_cache.changed(mentor_id).await;
        self.bus
            .publish(&topic::availability(mentor_id), serde_json::Value::Null)
            .await;
        self.get(mentor_id).await
    }
}

/// Makes sure the mentor has a settings row and locks it for the rest of the transaction.
pub(crate) async fn lock_mentor(
    txn: &impl ConnectionTrait,
    mentor: &User,
    now: DateTime<Utc>,
) -> AppResult<settings::Model> {
    let defaults = BookingRules::default();
    settings::Entity::insert(settings::ActiveModel {
        mentor_id: Set(mentor.id.clone()),
        time_zone: Set(mentor.time_zone.name().into()),
        buffer_minutes: Set(defaults.buffer_minutes()),
        minimum_notice_minutes: Set(defaults.minimum_notice_minutes()),
        horizon_days: Set(defaults.horizon_days()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::MentorId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let query = for_update(txn, settings::Entity::find_by_id(mentor.id.clone()));
    query.one(txn).await?.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("settings row vanished for {}", mentor.id))
    })
}

/// The zone and rules of a mentor: the settings row, or the mentor's own zone and the defaults.
pub(crate) fn rules_of(
    row: Option<&settings::Model>,
    mentor: &User,
) -> AppResult<(TimeZone, BookingRules)> {
    match row {
        None => Ok((mentor.time_zone, BookingRules::default())),
        Some(s) => {
            let zone = s
                .time_zone
                .parse::<TimeZone>()
                .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            let rules = BookingRules::new(
                s.buffer_minutes,
                s.minimum_notice_minutes,
                s.horizon_days,
                "",
            )?;
            Ok((zone, rules))
        }
    }
}

async fn place_block(
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
async fn ensure_week_fits(txn: &impl ConnectionTrait, mentor_id: &str) -> AppResult<()> {
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

async fn replace_blocks(
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

async fn insert_block(
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

async fn blocks_of_day(
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

async fn all_blocks(txn: &impl ConnectionTrait, mentor_id: &str) -> AppResult<Vec<Block>> {
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
async fn owned_block(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    id: &str,
) -> AppResult<block::Model> {
    let row = block::Entity::find_by_id(id).one(txn).await?;
    owned_by(row, |r| &r.mentor_id, mentor_id, "availability block")
}

async fn owned_template(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    id: &str,
) -> AppResult<template::Model> {
    let row = template::Entity::find_by_id(id).one(txn).await?;
    owned_by(row, |r| &r.mentor_id, mentor_id, "availability template")
}

fn owned_by<M>(
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

fn corrupt(what: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("stored availability is invalid: {what}"))
}

fn range_from_minutes(start: i64, end: i64) -> AppResult<TimeRange> {
    let time = |m: i64| {
        u16::try_from(m)
            .ok()
            .and_then(LocalTime::from_minutes)
            .ok_or_else(|| corrupt(format!("minute {m}")))
    };
    TimeRange::new(time(start)?, time(end)?, "stored").map_err(corrupt)
}

pub(crate) fn block_from_row(row: block::Model) -> AppResult<Block> {
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

pub(crate) fn override_from_row(row: override_::Model) -> AppResult<(NaiveDate, Vec<TimeRange>)> {
    let pairs: Vec<(i64, i64)> = serde_json::from_str(&row.ranges).map_err(corrupt)?;
    let ranges = pairs
        .into_iter()
        .map(|(s, e)| range_from_minutes(s, e))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((row.date, ranges))
}

fn ranges_to_json(ranges: &[TimeRange]) -> String {
    let pairs: Vec<(u16, u16)> = ranges
        .iter()
        .map(|r| (r.start().minutes(), r.end().minutes()))
        .collect();
    serde_json::to_string(&pairs).expect("plain numbers serialize")
}

fn template_blocks_to_json(blocks: &[(Weekday, TimeRange)]) -> String {
    let triples: Vec<(u8, u16, u16)> = blocks
        .iter()
        .map(|(d, r)| (weekday_index(*d), r.start().minutes(), r.end().minutes()))
        .collect();
    serde_json::to_string(&triples).expect("plain numbers serialize")
}

fn template_from_row(row: template::Model) -> AppResult<Template> {
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
