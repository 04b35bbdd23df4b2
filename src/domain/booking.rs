//! Booking rules: what a booking request may ask for, and which occurrences clash with what.

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::error::{DomainError, DomainResult};
use super::interval::{merge, Interval};
use super::recurrence::{expand, Occurrence, WeeklySlot};
use super::slots::{availability_intervals, Schedule};
use super::time::TimeZone;

/// Sessions a fixed booking may hold per weekly slot.
pub const MAX_WEEKS: i32 = 52;
/// Weeks created at once for a booking with no end, and kept ahead by the extension job.
pub const ONGOING_WEEKS_AHEAD: u32 = 4;
/// The longest session.
pub const MAX_SESSION_MINUTES: i32 = 8 * 60;

listed_enum! { $
    /// How many sessions a week.
    pub enum Frequency, frequencies, "SCREAMING_SNAKE_CASE" { OnceWeekly, TwiceWeekly, ThriceWeekly }
}

listed_enum! { $
    /// A regular (paid, recurring) booking or a single free trial session.
    pub enum BookingKind, booking_kinds, "SCREAMING_SNAKE_CASE" { Regular, Trial }
}

listed_enum! { $
    pub enum BookingStatus, booking_statuses, "SCREAMING_SNAKE_CASE" {
        Pending, Confirmed, Cancelled, Completed,
    }
}

listed_enum! { $
    pub enum SessionStatus, session_statuses, "SCREAMING_SNAKE_CASE" {
        Scheduled, Cancelled, Completed, NoShow,
    }
}

listed_enum! { $
    /// `Free` for trials; `NotRequired` for regular bookings while payments are off (no payment
    /// provider configured: the embedded default); with one, `Pending` until paid, then `Paid`,
    /// `PastDue` after a failed charge, and `Failed`, `Refunded` or `Cancelled` at the end.
    pub enum PaymentStatus, payment_statuses, "SCREAMING_SNAKE_CASE" {
        Free, NotRequired, Pending, Paid, PastDue, Failed, Refunded, Cancelled,
    }
}

impl Frequency {
    pub fn per_week(self) -> usize {
        match self {
            Frequency::OnceWeekly => 1,
            Frequency::TwiceWeekly => 2,
            Frequency::ThriceWeekly => 3,
        }
    }
}

/// How long a booking runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Weeks(u32),
    Ongoing,
}

impl Span {
    /// The weeks created when the booking is made.
    pub fn initial_weeks(self) -> u32 {
        match self {
            Span::Weeks(n) => n,
            Span::Ongoing => ONGOING_WEEKS_AHEAD,
        }
    }
}

/// A validated booking request, its weekly slots read in the mentor's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingPlan {
    pub kind: BookingKind,
    pub frequency: Frequency,
    pub zone: TimeZone,
    pub duration: Duration,
    pub slots: Vec<WeeklySlot>,
    pub span: Span,
}

impl BookingPlan {
    /// Checks a request. A trial is one session: frequency once weekly, one slot, and `weeks` is
    /// not used (but must not ask for an ongoing booking).
    pub fn new(
        kind: BookingKind,
        frequency: Frequency,
        zone: TimeZone,
        firsts: &[DateTime<Utc>],
        duration_minutes: i32,
        weeks: Option<i32>,
    ) -> DomainResult<Self> {
        if !(1..=MAX_SESSION_MINUTES).contains(&duration_minutes) {
            return Err(DomainError::invalid(
                "input.durationMinutes",
                format!("must be between 1 and {MAX_SESSION_MINUTES} (got {duration_minutes})"),
            ));
        }
        let span = match (kind, weeks) {
            (BookingKind::Trial, None) => {
                return Err(DomainError::invalid(
                    "input.weeks",
                    "a trial is a single session and cannot be ongoing",
                ))
            }
            (BookingKind::Trial, Some(_)) => Span::Weeks(1),
            (BookingKind::Regular, None) => Span::Ongoing,
            (BookingKind::Regular, Some(n)) if (1..=MAX_WEEKS).contains(&n) => {
                Span::Weeks(n as u32)
            }
            (BookingKind::Regular, Some(n)) => {
                return Err(DomainError::invalid(
                    "input.weeks",
                    format!("must be between 1 and {MAX_WEEKS}, or null for ongoing (got {n})"),
                ))
            }
        };
        if kind == BookingKind::Trial && frequency != Frequency::OnceWeekly {
            return Err(DomainError::invalid(
                "input.frequency",
                "a trial is a single session: use ONCE_WEEKLY",
            ));
        }
        if firsts.len() != frequency.per_week() {
            return Err(DomainError::invalid(
                "input.slots",
                format!(
                    "{frequency:?} needs {} weekly slot(s); got {}",
                    frequency.per_week(),
                    firsts.len()
                ),
            ));
        }
        for (i, first) in firsts.iter().enumerate() {
            if first.second() != 0 || first.nanosecond() != 0 {
                return Err(DomainError::invalid(
                    format!("input.slots[{i}]"),
                    "must be on a whole minute",
                ));
            }
        }
        let duration = Duration::minutes(i64::from(duration_minutes));
        let mut sorted: Vec<DateTime<Utc>> = firsts.to_vec();
        sorted.sort();
        if let (Some(first), Some(last)) = (sorted.first(), sorted.last()) {
            if *last - *first >= Duration::weeks(1) {
                return Err(DomainError::invalid(
                    "input.slots",
                    "the slots are the first occurrence of each weekly time and must lie within one week",
                ));
            }
            // The slots repeat every week, so the last one must also end before the first comes round.
            let wraps = sorted.windows(2).any(|w| w[0] + duration > w[1])
                || *last + duration > *first + Duration::weeks(1);
            if wraps {
                return Err(DomainError::invalid(
                    "input.slots",
                    "the weekly slots overlap one another",
                ));
            }
        }
        Ok(BookingPlan {
            kind,
            frequency,
            zone,
            duration,
            slots: firsts
                .iter()
                .map(|f| WeeklySlot::starting_at(zone, *f))
                .collect(),
            span,
        })
    }

    /// The occurrences of weeks `weeks`, sorted by start.
    pub fn occurrences(&self, weeks: std::ops::Range<u32>) -> Vec<Occurrence> {
        expand(self.zone, &self.slots, weeks, self.duration)
    }
}

/// When week `week` of an ongoing booking comes into view: its earliest occurrence is then
/// [`ONGOING_WEEKS_AHEAD`] weeks away.
pub fn comes_into_view(zone: TimeZone, slots: &[WeeklySlot], week: u32) -> Option<DateTime<Utc>> {
    slots
        .iter()
        .map(|s| s.start_of_week(zone, week))
        .min()
        .map(|start| start - Duration::weeks(i64::from(ONGOING_WEEKS_AHEAD)))
}

/// Why an occurrence cannot be booked. The first that applies is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClashReason {
    /// Before now plus the mentor's minimum notice.
    TooSoon,
    /// A first occurrence after now plus the mentor's horizon.
    BeyondHorizon,
    /// Not inside the mentor's availability (weekly pattern or that date's override).
    OutsideAvailability,
    /// Overlaps another session of the mentor, widened by the buffer.
    SessionTaken,
    /// Overlaps the mentor's busy time (calendar), widened by the buffer.
    MentorBusy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clash {
    pub occurrence: Occurrence,
    pub reason: ClashReason,
}

/// What the candidates are checked against. `sessions` and `busy` need not be sorted.
pub struct Surroundings<'a> {
    pub schedule: &'a Schedule,
    pub busy: &'a [Interval],
    pub sessions: &'a [Interval],
    pub now: DateTime<Utc>,
}

/// Every candidate that cannot be booked, with the first reason that applies. The horizon applies
/// to week 0 only: it limits how far ahead a student may start, not how long a booking runs.
/// Candidates are also checked against each other (with the buffer).
pub fn clashes(around: &Surroundings<'_>, candidates: &[Occurrence]) -> Vec<Clash> {
    let Some(span) = hull(candidates) else {
        return Vec::new();
    };
    let rules = &around.schedule.rules;
    let buffer = rules.buffer();
    let tz = around.schedule.zone.tz();
    let first_date = span.start.with_timezone(&tz).date_naive().pred_opt();
    let last_date = span.end.with_timezone(&tz).date_naive().succ_opt();
    let available = match (first_date, last_date) {
        (Some(first), Some(last)) => availability_intervals(around.schedule, first, last),
        _ => Vec::new(),
    };
    let busy = merge(around.busy.iter().map(|b| b.widen(buffer)).collect());
    let sessions = merge(around.sessions.iter().map(|s| s.widen(buffer)).collect());
    let earliest = around.now + rules.minimum_notice();
    let latest = around.now + rules.horizon();

    let mut out = Vec::new();
    for (i, candidate) in candidates.iter().enumerate() {
        let slot = candidate.interval;
        let reason = if slot.start < earliest {
            Some(ClashReason::TooSoon)
        } else if candidate.week == 0 && slot.start > latest {
            Some(ClashReason::BeyondHorizon)
        } else if !covered(&available, &slot) {
            Some(ClashReason::OutsideAvailability)
        } else if overlaps_any(&sessions, &slot) || overlaps_sibling(candidates, i, buffer) {
            Some(ClashReason::SessionTaken)
        } else if overlaps_any(&busy, &slot) {
            Some(ClashReason::MentorBusy)
        } else {
            None
        };
        if let Some(reason) = reason {
            out.push(Clash {
                occurrence: *candidate,
                reason,
            });
        }
    }
    out
}

fn hull(candidates: &[Occurrence]) -> Option<Interval> {
    let start = candidates.iter().map(|c| c.interval.start).min()?;
    let end = candidates.iter().map(|c| c.interval.end).max()?;
    Some(Interval::new(start, end))
}

/// Whether one of the sorted, disjoint `intervals` contains `slot`.
fn covered(intervals: &[Interval], slot: &Interval) -> bool {
    let i = intervals.partition_point(|a| a.end < slot.end);
    intervals.get(i).is_some_and(|a| a.contains(slot))
}

/// Whether `slot` overlaps one of the sorted, disjoint `intervals`.
fn overlaps_any(intervals: &[Interval], slot: &Interval) -> bool {
    let i = intervals.partition_point(|a| a.end <= slot.start);
    intervals.get(i).is_some_and(|a| a.overlaps(slot))
}

fn overlaps_sibling(candidates: &[Occurrence], i: usize, buffer: Duration) -> bool {
    let me = candidates[i].interval.widen(buffer);
    candidates
        .iter()
        .enumerate()
        .any(|(j, other)| j != i && me.overlaps(&other.interval))
}

#[cfg(test)]
mod tests;
