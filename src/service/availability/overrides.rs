//! Date overrides: other hours (or none) on one date in the mentor's zone.

use chrono::NaiveDate;

use super::{Availability, AvailabilityService};
use crate::auth::Principal;
use crate::domain::time::TimeZone;
use crate::domain::weekly::{
    merge_ranges, TimeRange, MAX_OVERRIDE_DAYS_AHEAD, MAX_OVERRIDE_RANGES,
};
use crate::error::{AppError, AppResult};
use crate::service::store::availability::{delete_override, put_override};
use crate::service::store::settings::lock_mentor;

impl AvailabilityService {
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
        put_override(&tx.txn, &mentor.id, date, &merge_ranges(ranges)).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    /// Back to the weekly pattern on `date`. Clearing a date without an override is not an error.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, %date), err(level = "debug"))]
    pub async fn clear_override(&self, p: &Principal, date: NaiveDate) -> AppResult<Availability> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        delete_override(&tx.txn, &mentor.id, date).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }
}
