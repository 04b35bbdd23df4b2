//! The slot engine: weekly pattern + overrides + rules - busy time = bookable starts.
//!
//! Slots lie on a grid that starts at the start of each (merged) availability interval, wherever that
//! start lies (days before the query's window, for blocks that touch across midnights), with a step
//! of the largest of 60, 30 or 15 minutes that divides the duration, else the duration itself. An
//! interval that has run for a week or more restarts its grid at 00:00 on each Monday in the mentor's
//! zone (a mentor open around the clock has no start to lay it from). A slot is offered when it lies
//! inside availability, starts no earlier than `now + minimum notice` and no later than
//! `now + horizon`, lies inside the requested window, and does not overlap any busy interval widened
//! by the buffer on both sides.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

use super::error::{DomainError, DomainResult};
use super::interval::{merge, Interval};
use super::settings::BookingRules;
use super::time::{LocalTime, TimeZone};
use super::wallclock::resolve_edge;
use super::weekly::{DateOverrides, WeeklyPattern};
use chrono::Datelike;

/// Longest window one query may ask for.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// Longest session a slot can be computed for.
pub const MAX_DURATION_MINUTES: i32 = 24 * 60;
/// An interval that has run this long restarts its grid at each Monday 00:00 in the mentor's zone.
const GRID_RESTART_AFTER_DAYS: i64 = 7;
/// How many days before the slots' reach the engine reads availability to find where a grid starts:
/// a week for an interval that has run that long, a week to the Monday before the reach, a day's
/// margin for the zone.
pub const GRID_LOOKBACK_DAYS: i64 = 2 * GRID_RESTART_AFTER_DAYS + 1;

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
    DailyIntervals::new(schedule, first, last)
        .merged(first, last)
        .expect("the days were built for exactly these dates")
}

/// Each local date's availability as UTC intervals, not yet merged, over a span of dates. Resolving
/// wall-clock times in the zone is the costly part of a slot query, so a cache builds this once for a
/// mentor and answers many queries from it.
#[derive(Debug, Clone)]
pub struct DailyIntervals {
    first: NaiveDate,
    /// The intervals of date `first + i days` are `intervals[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    intervals: Vec<Interval>,
}

impl DailyIntervals {
    pub fn new(schedule: &Schedule, first: NaiveDate, last: NaiveDate) -> Self {
        let mut starts = vec![0];
        let mut intervals = Vec::new();
        let mut date = first;
        while date <= last {
            let ranges = match schedule.overrides.get(&date) {
                Some(ranges) => ranges.as_slice(),
                None => schedule.weekly.day(date.weekday()),
            };
            intervals.extend(ranges.iter().map(|r| {
                Interval::new(
                    resolve_edge(schedule.zone, date, r.start()),
                    resolve_edge(schedule.zone, date, r.end()),
                )
            }));
            starts.push(intervals.len());
            date = date
                .succ_opt()
                .expect("dates stay far from chrono's limits");
        }
        DailyIntervals {
            first,
            starts,
            intervals,
        }
    }

    /// The merged availability of the dates `first..=last`, or `None` when they are not all here.
    pub fn merged(&self, first: NaiveDate, last: NaiveDate) -> Option<Vec<Interval>> {
        let index = |date: NaiveDate| usize::try_from((date - self.first).num_days()).ok();
        let (from, to) = (index(first)?, index(last)? + 1);
        if from >= to || to >= self.starts.len() {
            return None;
        }
        Some(merge(
            self.intervals[self.starts[from]..self.starts[to]].to_vec(),
        ))
    }
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

/// The merged availability of the dates `first..=last`, from `days` when they hold them, and the
/// instant where the first date begins (an interval starting there may have begun earlier).
fn merged_from(
    schedule: &Schedule,
    days: Option<&DailyIntervals>,
    first: NaiveDate,
    last: NaiveDate,
) -> (Vec<Interval>, DateTime<Utc>) {
    let available = days
        .and_then(|d| d.merged(first, last))
        .unwrap_or_else(|| availability_intervals(schedule, first, last));
    (
        available,
        resolve_edge(schedule.zone, first, LocalTime::MIDNIGHT),
    )
}

/// Where the grids of `interval` start, into `origins` (emptied first): at its start (when it lies
/// after `boundary`, the first instant read; an interval reaching back to it may have begun earlier),
/// and again at every Monday 00:00 in `zone` at least [`GRID_RESTART_AFTER_DAYS`] after its start,
/// inside it.
fn grid_origins(
    interval: &Interval,
    boundary: DateTime<Utc>,
    zone: TimeZone,
    origins: &mut Vec<DateTime<Utc>>,
) {
    origins.clear();
    let known_start = interval.start > boundary;
    if known_start {
        origins.push(interval.start);
    }
    let restart_from = interval.start + Duration::days(GRID_RESTART_AFTER_DAYS);
    if known_start && interval.end <= restart_from {
        // Shorter than a week (nearly every interval): no restart, and no need to read the zone.
        return;
    }
    let tz = zone.tz();
    let mut date = interval.start.with_timezone(&tz).date_naive();
    let last = interval.end.with_timezone(&tz).date_naive();
    while date <= last {
        if date.weekday() == chrono::Weekday::Mon {
            let monday = resolve_edge(zone, date, LocalTime::MIDNIGHT);
            let restarts = !known_start || monday >= restart_from;
            if restarts && monday > interval.start && monday < interval.end {
                origins.push(monday);
            }
        }
        date = date
            .succ_opt()
            .expect("dates stay far from chrono's limits");
    }
}

/// Where the slots of `query` can lie, given the rules and the time now: from the later of the window's
/// start and `now + minimum notice`, to the end of the last start allowed by the window and the
/// horizon. `None` when no slot can fit.
pub fn reach(rules: &BookingRules, query: &SlotQuery, now: DateTime<Utc>) -> Option<Interval> {
    let earliest_start = query.window.start.max(now + rules.minimum_notice());
    let latest_start = (query.window.end - query.duration).min(now + rules.horizon());
    (latest_start >= earliest_start)
        .then_some(Interval::new(earliest_start, latest_start + query.duration))
}

/// Busy time as the slot engine takes it: each interval widened by the buffer, then sorted and merged.
/// Compute it once and reuse it for many queries with [`slots_outside`].
pub fn blocked_time(busy: &[Interval], buffer: Duration) -> Vec<Interval> {
    merge(busy.iter().map(|b| b.widen(buffer)).collect())
}

/// The bookable slots, sorted by start. `busy` may be unsorted and overlapping.
pub fn available_slots(
    schedule: &Schedule,
    busy: &[Interval],
    query: &SlotQuery,
    now: DateTime<Utc>,
) -> Vec<Interval> {
    let blocked = blocked_time(busy, schedule.rules.buffer());
    slots_outside(schedule, None, &blocked, query, now)
}

/// The bookable slots, sorted by start, given `blocked` from [`blocked_time`] with this schedule's
/// buffer (sorted, merged, already widened). Availability comes from `days` (built from this
/// schedule) where they hold every date the query needs, and is resolved afresh otherwise.
pub fn slots_outside(
    schedule: &Schedule,
    days: Option<&DailyIntervals>,
    blocked: &[Interval],
    query: &SlotQuery,
    now: DateTime<Utc>,
) -> Vec<Interval> {
    let Some(reach) = reach(&schedule.rules, query, now) else {
        return Vec::new();
    };
    let duration = query.duration;
    let step = grid_step(duration);
    let earliest_start = reach.start;
    let latest_start = reach.end - duration;
    let (first, last) = local_dates(schedule.zone, reach.start, reach.end);
    let (mut available, mut boundary) = merged_from(schedule, days, first, last);
    if available.first().is_some_and(|i| i.start <= boundary) {
        // Availability runs into the first date from before it: read back far enough to find where
        // its grid starts (rarely needed: blocks must touch across midnight there).
        let earlier = first - Duration::days(GRID_LOOKBACK_DAYS);
        (available, boundary) = merged_from(schedule, days, earlier, last);
    }
    // Skip straight to the first blocked interval that can matter.
    let from = blocked.partition_point(|b| b.end <= reach.start);
    let blocked = &blocked[from..];

    let mut slots = Vec::new();
    let mut next_busy = 0;
    let mut origins = Vec::new();
    for interval in available {
        if interval.end < earliest_start {
            continue;
        }
        if interval.start > latest_start {
            break;
        }
        grid_origins(&interval, boundary, schedule.zone, &mut origins);
        for (k, &origin) in origins.iter().enumerate() {
            // Each grid runs until the next one starts.
            let until = origins.get(k + 1).copied().unwrap_or(interval.end);
            let mut start = next_on_grid(origin, step, earliest_start);
            while start <= latest_start && start < until && start + duration <= interval.end {
                let slot = Interval::new(start, start + duration);
                while next_busy < blocked.len() && blocked[next_busy].end <= slot.start {
                    next_busy += 1;
                }
                match blocked.get(next_busy) {
                    Some(b) if b.start < slot.end => start = next_on_grid(origin, step, b.end),
                    _ => {
                        slots.push(slot);
                        start += step;
                    }
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
