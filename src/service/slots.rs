//! Bookable slots of a mentor: loads the schedule and busy time, then asks the slot engine.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::availability::{block_from_row, override_from_row, rules_of};
use super::users::find_mentor;
use crate::clock::Clock;
use crate::db::Db;
use crate::domain::interval::Interval;
use crate::domain::slots::{available_slots, Schedule, SlotQuery};
use crate::domain::time::TimeZone;
use crate::domain::weekly::{DateOverrides, WeeklyPattern};
use crate::entity::{
    availability_block as block, availability_override as override_,
    availability_settings as settings, busy_block,
};
use crate::error::AppResult;

/// Busy time is loaded this far around the window so any buffer (at most 12 hours) is covered
/// without first reading the settings: all the reads then run at once.
const BUSY_MARGIN_HOURS: i64 = 12;
/// Overrides are loaded by local date; two days either side covers every UTC offset.
const OVERRIDE_MARGIN_DAYS: i64 = 2;

pub struct SlotService {
    db: Db,
    clock: Arc<dyn Clock>,
}

pub struct Slots {
    pub zone: TimeZone,
    pub slots: Vec<Interval>,
}

impl SlotService {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        SlotService { db, clock }
    }

    #[tracing::instrument(skip(self), err)]
    pub async fn available(
        &self,
        mentor_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        duration_minutes: i32,
    ) -> AppResult<Slots> {
        let query = SlotQuery::new(from, to, duration_minutes)?;
        let conn = self.db.conn();
        let margin = Duration::hours(BUSY_MARGIN_HOURS);
        let first_date = (from - Duration::days(OVERRIDE_MARGIN_DAYS)).date_naive();
        let last_date = (to + Duration::days(OVERRIDE_MARGIN_DAYS)).date_naive();
        let (mentor, settings_row, block_rows, override_rows, busy_rows) = tokio::try_join!(
            find_mentor(&self.db, mentor_id),
            async { Ok(settings::Entity::find_by_id(mentor_id).one(conn).await?) },
            async {
                Ok(block::Entity::find()
                    .filter(block::Column::MentorId.eq(mentor_id))
                    .all(conn)
                    .await?)
            },
            async {
                Ok(override_::Entity::find()
                    .filter(override_::Column::MentorId.eq(mentor_id))
                    .filter(override_::Column::Date.between(first_date, last_date))
                    .all(conn)
                    .await?)
            },
            async {
                // Only the two instants: a busy mentor has hundreds of rows, and decoding whole models
                // dominated the cost of this query.
                Ok(busy_block::Entity::find()
                    .select_only()
                    .columns([busy_block::Column::StartAt, busy_block::Column::EndAt])
                    .filter(busy_block::Column::MentorId.eq(mentor_id))
                    .filter(busy_block::Column::StartAt.lt(to + margin))
                    .filter(busy_block::Column::EndAt.gt(from - margin))
                    .into_tuple::<(DateTime<Utc>, DateTime<Utc>)>()
                    .all(conn)
                    .await?)
            },
        )?;
        let (zone, rules) = rules_of(settings_row.as_ref(), &mentor)?;
        let blocks = block_rows
            .into_iter()
            .map(block_from_row)
            .collect::<AppResult<Vec<_>>>()?;
        let overrides = override_rows
            .into_iter()
            .map(override_from_row)
            .collect::<AppResult<DateOverrides>>()?;
        let schedule = Schedule {
            zone,
            weekly: WeeklyPattern::from_blocks(blocks.into_iter().map(|b| (b.weekday, b.range))),
            overrides,
            rules,
        };
        let busy: Vec<Interval> = busy_rows
            .into_iter()
            .map(|(start, end)| Interval::new(start, end))
            .collect();
        Ok(Slots {
            zone,
            slots: available_slots(&schedule, &busy, &query, self.clock.now()),
        })
    }
}
