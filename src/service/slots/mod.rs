//! Bookable slots of a mentor: the schedule, busy time and sessions (from the cache, or read and then
//! cached), handed to the slot engine.

mod cache;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::EntityTrait;

use self::cache::MentorTimes;
pub use self::cache::SlotCache;
use crate::clock::Clock;
use crate::db::Db;
use crate::domain::interval::Interval;
use crate::domain::slots::{
    blocked_time, reach, slots_outside, DailyIntervals, Schedule, SlotQuery, GRID_LOOKBACK_DAYS,
};
use crate::domain::time::TimeZone;
use crate::entity::availability_settings as settings;
use crate::error::AppResult;
use crate::service::store::schedule::{
    busy_between, override_dates, overrides_of, sessions_between, weekly_of,
};
use crate::service::store::settings::rules_of;
use crate::service::store::users::find_mentor;

/// Busy time is read this far beyond the span slots can reach, which covers any buffer (at most
/// 12 hours).
const BUSY_MARGIN_HOURS: i64 = 12;
/// A load reads this much past the horizon, so that a cached entry still covers the longest slot (a
/// day) starting at the horizon as the clock moves on, for far longer than an entry lives.
const COVER_SLACK_DAYS: i64 = 3;

pub struct SlotService {
    db: Db,
    clock: Arc<dyn Clock>,
    cache: Arc<SlotCache>,
}

pub struct Slots {
    pub zone: TimeZone,
    pub slots: Vec<Interval>,
}

impl SlotService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, cache: Arc<SlotCache>) -> Self {
        SlotService { db, clock, cache }
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn available(
        &self,
        mentor_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        duration_minutes: i32,
    ) -> AppResult<Slots> {
        let query = SlotQuery::new(from, to, duration_minutes)?;
        let now = self.clock.now();
        let times = self
            .cache
            .get_or_load(
                mentor_id,
                |times| covered(times, &query, now),
                || self.load(mentor_id, now),
            )
            .await?;
        Ok(Slots {
            zone: times.schedule.zone,
            slots: slots_outside(
                &times.schedule,
                Some(&times.days),
                &times.blocked,
                &query,
                now,
            ),
        })
    }

    /// Reads everything that decides the mentor's slots from now to past the horizon.
    async fn load(&self, mentor_id: &str, now: DateTime<Utc>) -> AppResult<MentorTimes> {
        let conn = self.db.conn();
        let (mentor, settings_row) =
            tokio::try_join!(find_mentor(self.db.conn(), mentor_id), async {
                Ok(settings::Entity::find_by_id(mentor_id).one(conn).await?)
            })?;
        let (zone, rules) = rules_of(settings_row.as_ref(), &mentor)?;
        let margin = Duration::hours(BUSY_MARGIN_HOURS);
        let covers = Interval::new(
            now - margin,
            now + rules.horizon() + Duration::days(COVER_SLACK_DAYS) + margin,
        );
        let (first_date, last_date) = override_dates(covers.start, covers.end);
        // Slots' grids may start up to GRID_LOOKBACK_DAYS before where they can lie.
        let first_date = first_date - Duration::days(GRID_LOOKBACK_DAYS);
        let (weekly, overrides, mut busy, sessions) = tokio::try_join!(
            weekly_of(conn, mentor_id),
            overrides_of(conn, mentor_id, first_date, last_date),
            busy_between(conn, mentor_id, covers.start, covers.end),
            sessions_between(conn, mentor_id, covers.start, covers.end, None),
        )?;
        busy.extend(sessions);
        let schedule = Schedule {
            zone,
            weekly,
            overrides,
            rules,
        };
        Ok(MentorTimes {
            days: DailyIntervals::new(&schedule, first_date, last_date),
            blocked: blocked_time(&busy, rules.buffer()),
            schedule,
            covers,
        })
    }
}

/// Whether `times` were read over everything `query` can touch now: where its slots can lie, widened
/// by the buffer.
fn covered(times: &MentorTimes, query: &SlotQuery, now: DateTime<Utc>) -> bool {
    let rules = &times.schedule.rules;
    reach(rules, query, now).is_none_or(|r| times.covers.contains(&r.widen(rules.buffer())))
}
