//! The slot engine: weekly pattern + overrides + rules - busy time = bookable starts.
//!
//! Slots lie on a grid that starts at the start of each (merged) availability interval, with a step
//! of the largest of 60, 30 or 15 minutes that divides the duration, else the duration itself. A slot
//! is offered when it lies inside availability, starts no earlier than `now + minimum notice` and no
//! later than `now + horizon`, lies inside the requested window, and does not overlap any busy
//! interval widened by the buffer on both sides.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

use super::error::{DomainError, DomainResult};
use super::interval::{merge, Interval};
use super::settings::BookingRules;
use super::time::TimeZone;
use super::wallclock::resolve;
use super::weekly::{DateOverrides, WeeklyPattern};
use chrono::Datelike;

/// Longest window one query may ask for.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// Longest session a slot can be computed for.
pub const MAX_DURATION_MINUTES: i32 = 24 * 60;

/// Everything about a mentor that decides where slots can be.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub zone: TimeZone,
    pub weekly: WeeklyPattern,
    pub overrides: DateOverrides,
    pub rules: BookingRules,
}

/// A validated request: a window and a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotQuery {
    window: Interval,
    duration: Duration,
}

impl SlotQuery {
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        duration_minutes: i32,
    ) -> DomainResult<Self> {
        if duration_minutes <= 0 {
            return Err(DomainError::invalid(
                "durationMinutes",
                format!("must be positive (got {duration_minutes})"),
            ));
        }
        if duration_minutes > MAX_DURATION_MINUTES {
            return Err(DomainError::invalid(
                "durationMinutes",
                format!("must be at most {MAX_DURATION_MINUTES} (got {duration_minutes})"),
            ));
        }
        if to <= from {
            return Err(DomainError::invalid("to", "must be after from"));
        }
        if to - from > Duration::days(MAX_WINDOW_DAYS) {
            return Err(DomainError::invalid(
                "to",
                format!("the window from..to must be at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        Ok(Self {
            window: Interval::new(from, to),
            duration: Duration::minutes(i64::from(duration_minutes)),
        })
    }

    pub fn window(&self) -> Interval {
        self.window
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// The grid step for a duration: the largest of 60, 30, 15 minutes dividing it, else the duration.
pub fn grid_step(duration: Duration) -> Duration {
    let minutes = duration.num_minutes();
    [60, 30, 15]
        .into_iter()
        .find(|step| minutes % step == 0)
        .map(Duration::minutes)
        .unwrap_or(duration)
}

/// The mentor's availability as merged UTC intervals, for every local date from `first` to `last`.
pub fn availability_intervals(
    schedule: &Schedule,
    first: NaiveDate,
    last: NaiveDate,
) -> Vec<Interval> {
    let mut intervals = Vec::new();
    let mut date = first;
    while date <= last {
        let ranges = match schedule.overrides.get(&date) {
            Some(ranges) => ranges.as_slice(),
            None => schedule.weekly.day(date.weekday()),
        };
        intervals.extend(ranges.iter().map(|r| {
            Interval::new(
                resolve(schedule.zone, date, r.start()),
                resolve(schedule.zone, date, r.end()),
            )
        }));
        date = date
            .succ_opt()
            .expect("dates stay far from chrono's limits");
    }
    merge(intervals)
}

/// The local dates whose blocks can reach into `[from, to)`, one day of margin either side.
fn local_dates(zone: TimeZone, from: DateTime<Utc>, to: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let first = from.with_timezone(&zone.tz()).date_naive();
    let last = to.with_timezone(&zone.tz()).date_naive();
    (
        first.pred_opt().unwrap_or(first),
        last.succ_opt().unwrap_or(last),
    )
}

/// The bookable slots, sorted by start. `busy` may be unsorted and overlapping.
pub fn available_slots(
    schedule: &Schedule,
    busy: &[Interval],
    query: &SlotQuery,
    now: DateTime<Utc>,
) -> Vec<Interval> {
    let duration = query.duration;
    let step = grid_step(duration);
    let earliest_start = query
        .window
        .start
        .max(now + schedule.rules.minimum_notice());
    let latest_start = (query.window.end - duration).min(now + schedule.rules.horizon());
    if latest_start < earliest_start {
        return Vec::new();
    }
    let (first, last) = local_dates(schedule.zone, earliest_start, latest_start + duration);
    let available = availability_intervals(schedule, first, last);
    let buffer = schedule.rules.buffer();
    let blocked = merge(busy.iter().map(|b| b.widen(buffer)).collect());

    let mut slots = Vec::new();
    let mut next_busy = 0;
    for interval in available {
        let mut start = interval.start;
        if start < earliest_start {
            start = next_on_grid(interval.start, step, earliest_start);
        }
        while start <= latest_start && start + duration <= interval.end {
            let slot = Interval::new(start, start + duration);
            while next_busy < blocked.len() && blocked[next_busy].end <= slot.start {
                next_busy += 1;
            }
            match blocked.get(next_busy) {
                Some(b) if b.start < slot.end => start = next_on_grid(interval.start, step, b.end),
                _ => {
                    slots.push(slot);
                    start += step;
                }
            }
        }
    }
    slots
}

/// The first point of the grid `origin + k * step` (k >= 0) at or after `at`.
fn next_on_grid(origin: DateTime<Utc>, step: Duration, at: DateTime<Utc>) -> DateTime<Utc> {
    if at <= origin {
        return origin;
    }
    let step_s = step.num_seconds();
    let k = ((at - origin).num_seconds() + step_s - 1) / step_s;
    origin + Duration::seconds(k * step_s)
}

/// An instant shown with the offset `zone` has at that instant.
pub fn in_zone(instant: DateTime<Utc>, zone: TimeZone) -> DateTime<FixedOffset> {
    instant.with_timezone(&zone.tz()).fixed_offset()
}

#[cfg(test)]
mod tests;
