//! Keeping an ongoing booking's sessions four weeks ahead.
//!
//! Each run creates the occurrences of every week that now starts within four weeks. An occurrence
//! that has become unavailable (the mentor changed their hours, is busy, or the time was taken) is
//! skipped and recorded as an `OCCURRENCE_SKIPPED` event; the booking itself goes on.

use chrono::Duration;
use sea_orm::{EntityTrait, Set};

use super::check::clashes_for;
use super::create::insert_sessions;
use super::BookingService;
use crate::domain::booking::{comes_into_view, BookingStatus};
use crate::domain::event::DomainEvent;
use crate::domain::recurrence::{expand, WeeklySlot};
use crate::domain::time::TimeZone;
use crate::entity::booking;
use crate::error::{AppError, AppResult};
use crate::jobs::extend_booking;
use crate::service::store::settings::{lock_mentor, rules_of};
use crate::service::store::users::find_user;

/// What one extension run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extended {
    pub created: usize,
    pub skipped: usize,
}

impl BookingService {
    /// Creates the missing weeks of an ongoing booking. Bookings that are fixed-length or no longer
    /// confirmed are left alone.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn extend_ongoing(&self, booking_id: &str) -> AppResult<Extended> {
        let now = self.clock.now();
        let Some(found) = booking::Entity::find_by_id(booking_id)
            .one(self.db.conn())
            .await?
        else {
            return Ok(Extended::default());
        };
        let mentor = find_user(self.db.conn(), &found.mentor_id).await?;
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let settings = lock_mentor(txn, &mentor, now).await?;
        // Re-read under the mentor lock: a cancellation may have landed in between.
        let Some(row) = booking::Entity::find_by_id(booking_id).one(txn).await? else {
            return Ok(Extended::default());
        };
        if row.weeks.is_some() || row.status != BookingStatus::Confirmed {
            return Ok(Extended::default());
        }
        let bad = |why: String| AppError::Internal(anyhow::anyhow!("booking {booking_id}: {why}"));
        let zone: TimeZone = row.time_zone.parse().map_err(bad)?;
        let slots: Vec<WeeklySlot> =
            serde_json::from_str(&row.weekly_slots).map_err(|e| bad(e.to_string()))?;
        let from_week = row.weeks_created.max(0) as u32;
        let mut to_week = from_week;
        while comes_into_view(zone, &slots, to_week).is_some_and(|at| at <= now) {
            to_week += 1;
        }
        if to_week == from_week {
            return Ok(Extended::default());
        }
        let duration = Duration::minutes(i64::from(row.duration_minutes));
        let candidates = expand(zone, &slots, from_week..to_week, duration);
        let rules = rules_of(Some(&settings), &mentor)?;
        let clashes = clashes_for(txn, &row.mentor_id, rules, &candidates, None, now).await?;
        let ok: Vec<_> = candidates
            .iter()
            .filter(|c| !clashes.iter().any(|x| x.occurrence == **c))
            .copied()
            .collect();
        let sessions = insert_sessions(txn, self.meetings.as_ref(), &row, &ok, now).await?;
        super::hold::start_timelines(txn, &sessions, now).await?;
        let mut changes = self.changes_for(&row.mentor_id);
        for clash in &clashes {
            let o = clash.occurrence;
            let skipped = DomainEvent::OccurrenceSkipped {
                booking_id: booking_id.into(),
                slot: o.slot,
                week: o.week,
                start: o.interval.start,
                end: o.interval.end,
                reason: clash.reason,
            };
            self.events
                .record(txn, &skipped, None, now, &mut changes)
                .await?;
        }
        if !sessions.is_empty() {
            let added = DomainEvent::SessionsAdded {
                booking_id: booking_id.into(),
                session_ids: sessions.iter().map(|s| s.id.clone()).collect(),
            };
            self.events
                .record(txn, &added, None, now, &mut changes)
                .await?;
        }
        if let Some(at) = comes_into_view(zone, &slots, to_week) {
            extend_booking::schedule(txn, now, booking_id, to_week, at).await?;
        }
        let mut active: booking::ActiveModel = row.into();
        active.weeks_created = Set(to_week as i32);
        active.updated_at = Set(now);
        booking::Entity::update(active).exec(txn).await?;
        write.commit().await?;
        changes.apply().await;
        Ok(Extended {
            created: sessions.len(),
            skipped: clashes.len(),
        })
    }
}
