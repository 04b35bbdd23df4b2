//! GraphQL output types and enums. They wrap service types; entities never reach the schema.

use async_graphql::{Enum, Object, SimpleObject, ID};
use chrono::Weekday as ChronoWeekday;

use super::cost;
use super::scalars::{Date, DateTime, LocalTime, TimeZone};
use crate::auth;
use crate::domain::interval::Interval;
use crate::domain::slots::in_zone;
use crate::domain::time::TimeZone as DomainTimeZone;
use crate::domain::weekly::TimeRange as DomainTimeRange;
use crate::service::availability as av;
use crate::service::users;

/// What a user is on the platform.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Student,
    Mentor,
    Admin,
}

impl From<auth::Role> for Role {
    fn from(r: auth::Role) -> Self {
        match r {
            auth::Role::Student => Role::Student,
            auth::Role::Mentor => Role::Mentor,
            auth::Role::Admin => Role::Admin,
        }
    }
}

/// A day of the week, Monday first.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<Weekday> for ChronoWeekday {
    fn from(d: Weekday) -> Self {
        match d {
            Weekday::Monday => ChronoWeekday::Mon,
            Weekday::Tuesday => ChronoWeekday::Tue,
            Weekday::Wednesday => ChronoWeekday::Wed,
            Weekday::Thursday => ChronoWeekday::Thu,
            Weekday::Friday => ChronoWeekday::Fri,
            Weekday::Saturday => ChronoWeekday::Sat,
            Weekday::Sunday => ChronoWeekday::Sun,
        }
    }
}

impl From<ChronoWeekday> for Weekday {
    fn from(d: ChronoWeekday) -> Self {
        match d {
            ChronoWeekday::Mon => Weekday::Monday,
            ChronoWeekday::Tue => Weekday::Tuesday,
            ChronoWeekday::Wed => Weekday::Wednesday,
            ChronoWeekday::Thu => Weekday::Thursday,
            ChronoWeekday::Fri => Weekday::Friday,
            ChronoWeekday::Sat => Weekday::Saturday,
            ChronoWeekday::Sun => Weekday::Sunday,
        }
    }
}

/// A platform user as this service knows them (from the platform's token claims).
pub struct User(pub users::User);

#[Object]
impl User {
    /// The platform's user id (the token's `sub`).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// The user's IANA zone; times are shown in it unless a query says otherwise.
    async fn time_zone(&self) -> TimeZone {
        TimeZone(self.0.time_zone)
    }
}

/// A wall-clock range within one day.
#[derive(SimpleObject)]
pub struct TimeRange {
    pub start: LocalTime,
    /// Exclusive; `24:00` is the end of the day.
    pub end: LocalTime,
}

impl From<DomainTimeRange> for TimeRange {
    fn from(r: DomainTimeRange) -> Self {
        TimeRange {
            start: LocalTime(r.start()),
            end: LocalTime(r.end()),
        }
    }
}

/// One weekly block of availability, in the mentor's zone.
#[derive(SimpleObject)]
pub struct AvailabilityBlock {
    pub id: ID,
    pub weekday: Weekday,
    pub start: LocalTime,
    /// Exclusive; `24:00` is the end of the day.
    pub end: LocalTime,
}

impl From<av::Block> for AvailabilityBlock {
    fn from(b: av::Block) -> Self {
        AvailabilityBlock {
            id: ID(b.id),
            weekday: b.weekday.into(),
            start: LocalTime(b.range.start()),
            end: LocalTime(b.range.end()),
        }
    }
}

/// Hours that replace the weekly pattern on one date; no blocks means unavailable that day.
#[derive(SimpleObject)]
pub struct DateOverride {
    pub date: Date,
    #[graphql(complexity = "cost::override_ranges(child_complexity)")]
    pub blocks: Vec<TimeRange>,
}

/// A mentor's availability: the weekly pattern (merged blocks), upcoming date overrides and rules.
#[derive(SimpleObject)]
pub struct Availability {
    /// The mentor's id: one availability per mentor (a cache key for Apollo).
    pub id: ID,
    pub mentor_id: ID,
    /// The zone the blocks' wall-clock times are in.
    pub time_zone: TimeZone,
    /// Minutes kept free before and after every busy interval.
    pub buffer_minutes: i32,
    /// How far ahead of now the earliest bookable start is.
    pub minimum_notice_minutes: i32,
    /// How many days ahead slots are offered.
    pub horizon_days: i32,
    /// Sorted by weekday, then start; overlapping or touching blocks are merged.
    #[graphql(complexity = "cost::week_blocks(child_complexity)")]
    pub blocks: Vec<AvailabilityBlock>,
    /// Overrides from today (in the mentor's zone) on, by date.
    #[graphql(complexity = "cost::overrides(child_complexity)")]
    pub overrides: Vec<DateOverride>,
}

impl From<av::Availability> for Availability {
    fn from(a: av::Availability) -> Self {
        Availability {
            id: ID(a.mentor_id.clone()),
            mentor_id: ID(a.mentor_id),
            time_zone: TimeZone(a.zone),
            buffer_minutes: a.rules.buffer_minutes(),
            minimum_notice_minutes: a.rules.minimum_notice_minutes(),
            horizon_days: a.rules.horizon_days(),
            blocks: a.blocks.into_iter().map(Into::into).collect(),
            overrides: a
                .overrides
                .into_iter()
                .map(|(date, ranges)| DateOverride {
                    date: Date(date),
                    blocks: ranges.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}

/// A saved weekly pattern. Its blocks' ids are positions within the template.
#[derive(SimpleObject)]
pub struct AvailabilityTemplate {
    pub id: ID,
    pub name: String,
    #[graphql(complexity = "cost::week_blocks(child_complexity)")]
    pub blocks: Vec<AvailabilityBlock>,
}

impl From<av::Template> for AvailabilityTemplate {
    fn from(t: av::Template) -> Self {
        let blocks = t
            .blocks
            .iter()
            .enumerate()
            .map(|(i, (day, range))| AvailabilityBlock {
                id: ID(format!("{}:{i}", t.id)),
                weekday: (*day).into(),
                start: LocalTime(range.start()),
                end: LocalTime(range.end()),
            })
            .collect();
        AvailabilityTemplate {
            id: ID(t.id),
            name: t.name,
            blocks,
        }
    }
}

/// A bookable time, with the offset of the zone it was asked in.
#[derive(SimpleObject)]
pub struct Slot {
    pub start: DateTime,
    pub end: DateTime,
}

impl Slot {
    pub fn new(slot: Interval, zone: DomainTimeZone) -> Self {
        Slot {
            start: DateTime(in_zone(slot.start, zone)),
            end: DateTime(in_zone(slot.end, zone)),
        }
    }
}
