//! The weekly pattern: replacing it whole (with the rules), and dragging single blocks.

use chrono::Weekday;

use super::{Availability, AvailabilityService};
use crate::auth::Principal;
use crate::db::new_id;
use crate::domain::settings::BookingRules;
use crate::domain::time::TimeZone;
use crate::domain::weekly::{TimeRange, MAX_INPUT_BLOCKS};
use crate::error::{AppError, AppResult};
use crate::service::store::availability::{
    blocks_of_day, clear_day, delete_block, ensure_week_fits, insert_block, owned_block,
    place_block, replace_blocks,
};
use crate::service::store::settings::{self, lock_mentor};

/// A bulk replace. Settings left `None` keep their current value (the defaults if never set).
#[derive(Debug, Clone)]
pub struct WeeklyScheduleInput {
    pub zone: TimeZone,
    pub blocks: Vec<(Weekday, TimeRange)>,
    pub buffer_minutes: Option<i32>,
    pub minimum_notice_minutes: Option<i32>,
    pub horizon_days: Option<i32>,
}

impl AvailabilityService {
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
        settings::update(&tx.txn, &mentor.id, input.zone, &rules, self.clock.now()).await?;
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
        delete_block(&tx.txn, id).await?;
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
            clear_day(&tx.txn, &mentor.id, day).await?;
            for (_, range) in &source {
                insert_block(&tx.txn, &mentor.id, new_id(), day, *range).await?;
            }
        }
        ensure_week_fits(&tx.txn, &mentor.id).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }
}
