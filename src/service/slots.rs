//! Bookable slots of a mentor: loads the schedule, busy time and sessions, then asks the slot engine.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::EntityTrait;

use super::availability::rules_of;
use super::schedule::{busy_between, override_dates, overrides_of, sessions_between, weekly_of};
use super::users::find_mentor;
use crate::clock::Clock;
use crate::db::Db;
use crate::domain::interval::Interval;
use crate::domain::slots::{available_slots, Schedule, SlotQuery};
use crate::domain::time::TimeZone;
use crate::entity::availability_settings as settings;
use crate::error::AppResult;

/// Busy time is loaded this far around the window so any buffer (at most 12 hours) is covered
/// without first reading the settings: all the reads then run at once.
const BUSY_MARGIN_HOURS: i64 = 12;

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

    #[tracing::instrument(skip(self), err(level = "debug"))]
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
        let (first_date, last_date) = override_dates(from, to);
        let (mentor, settings_row, weekly, overrides, busy, sessions) = tokio::try_join!(
            find_mentor(&self.db, mentor_id),
            async { Ok(settings::Entity::find_by_id(mentor_id).one(conn).await?) },
            weekly_of(conn, mentor_id),
            overrides_of(conn, mentor_id, first_date, last_date),
            busy_between(conn, mentor_id, from - margin, to + margin),
            sessions_between(conn, mentor_id, from - margin, to + margin, None),
        )?;
        let (zone, rules) = rules_of(settings_row.as_ref(), &mentor)?;
        let schedule = Schedule {
            zone,
            weekly,
            overrides,
            rules,
        };
        let mut busy = busy;
        busy.extend(sessions);
        Ok(Slots {
            zone,
            slots: available_slots(&schedule, &busy, &query, self.clock.now()),
        })
    }
}
