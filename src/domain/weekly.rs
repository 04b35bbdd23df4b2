//! A mentor's weekly pattern: wall-clock ranges per weekday, date overrides, and the edit rules
//! (overlapping or touching ranges merge into one).

use std::collections::BTreeMap;

use chrono::{NaiveDate, Weekday};

use super::error::{DomainError, DomainResult};
use super::time::{weekday_index, LocalTime};

/// Most blocks one bulk replace may send.
pub const MAX_INPUT_BLOCKS: usize = 200;
/// Blocks a weekly pattern may hold after merging, however it was built (so lists stay bounded).
pub const MAX_WEEK_BLOCKS: usize = MAX_INPUT_BLOCKS;
/// How far ahead an override may be set: the longest horizon, and today.
pub const MAX_OVERRIDE_DAYS_AHEAD: i64 = 366;
/// Most ranges on one date override.
pub const MAX_OVERRIDE_RANGES: usize = 48;
/// Most templates one mentor keeps.
pub const MAX_TEMPLATES: usize = 50;

/// A wall-clock range within one day, `start < end`, `end` at most `24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeRange {
    start: LocalTime,
    end: LocalTime,
}

impl TimeRange {
    /// Checks `start < end`; `field` names the input in the error (`input.blocks[1]`).
    pub fn new(start: LocalTime, end: LocalTime, field: &str) -> DomainResult<Self> {
        if end <= start {
            return Err(DomainError::invalid(
                format!("{field}.end"),
                format!("end {end} must be after start {start}"),
            ));
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> LocalTime {
        self.start
    }

    pub fn end(&self) -> LocalTime {
        self.end
    }

    /// Overlapping or touching (09:00-10:00 and 10:00-11:00 touch).
    fn meets(&self, other: &TimeRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    fn span(&self, other: &TimeRange) -> TimeRange {
        TimeRange {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Sorts and merges overlapping or touching ranges.
pub fn merge_ranges(mut ranges: Vec<TimeRange>) -> Vec<TimeRange> {
    ranges.sort_unstable();
    let mut merged: Vec<TimeRange> = Vec::with_capacity(ranges.len());
    for next in ranges {
        match merged.last_mut() {
            Some(last) if last.meets(&next) => *last = last.span(&next),
            _ => merged.push(next),
        }
    }
    merged
}

/// Ranges per weekday, each day's list sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeeklyPattern {
    days: [Vec<TimeRange>; 7],
}

impl WeeklyPattern {
    pub fn from_blocks(blocks: impl IntoIterator<Item = (Weekday, TimeRange)>) -> Self {
        let mut days: [Vec<TimeRange>; 7] = Default::default();
        for (day, range) in blocks {
            days[usize::from(weekday_index(day))].push(range);
        }
        Self {
            days: days.map(merge_ranges),
        }
    }

    pub fn day(&self, day: Weekday) -> &[TimeRange] {
        &self.days[usize::from(weekday_index(day))]
    }
}

/// Dates whose hours replace the weekly pattern; an empty list means unavailable all day.
pub type DateOverrides = BTreeMap<NaiveDate, Vec<TimeRange>>;

/// What adding (or moving) one block does to the blocks already on that weekday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMerge<Id> {
    /// The merged range the edited block now covers.
    pub range: TimeRange,
    /// Existing blocks swallowed by the merge, to be deleted.
    pub absorbed: Vec<Id>,
}

/// Merges `edited` with every existing block of the same day that it overlaps or touches,
/// transitively (a block can bridge two others).
pub fn merge_block<Id: Clone>(edited: TimeRange, existing: &[(Id, TimeRange)]) -> BlockMerge<Id> {
    let mut range = edited;
    let mut absorbed_flags = vec![false; existing.len()];
    loop {
        let mut grew = false;
        for (i, (_, other)) in existing.iter().enumerate() {
            if !absorbed_flags[i] && range.meets(other) {
                range = range.span(other);
                absorbed_flags[i] = true;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let absorbed = existing
        .iter()
        .zip(absorbed_flags)
        .filter(|(_, a)| *a)
        .map(|((id, _), _)| id.clone())
        .collect();
    BlockMerge { range, absorbed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str, e: &str) -> TimeRange {
        TimeRange::new(s.parse().unwrap(), e.parse().unwrap(), "block").unwrap()
    }

    #[test]
    fn range_requires_end_after_start() {
        let err = TimeRange::new(
            "10:00".parse().unwrap(),
            "09:00".parse().unwrap(),
            "input.blocks[1]",
        )
        .unwrap_err();
        assert_eq!(err.field, "input.blocks[1].end");
        assert!(TimeRange::new("10:00".parse().unwrap(), "10:00".parse().unwrap(), "b").is_err());
        assert!(TimeRange::new("22:00".parse().unwrap(), "24:00".parse().unwrap(), "b").is_ok());
    }

    #[test]
    fn pattern_merges_each_day() {
        let p = WeeklyPattern::from_blocks([
            (Weekday::Mon, r("09:00", "10:00")),
            (Weekday::Mon, r("10:00", "12:00")),
            (Weekday::Mon, r("14:00", "15:00")),
            (Weekday::Tue, r("09:00", "10:00")),
        ]);
        assert_eq!(
            p.day(Weekday::Mon),
            &[r("09:00", "12:00"), r("14:00", "15:00")]
        );
        assert_eq!(p.day(Weekday::Tue), &[r("09:00", "10:00")]);
        assert!(p.day(Weekday::Sun).is_empty());
    }

    #[test]
    fn a_block_bridging_two_others_absorbs_both() {
        let existing = vec![
            (1, r("09:00", "10:00")),
            (2, r("11:00", "12:00")),
            (3, r("15:00", "16:00")),
        ];
        let merge = merge_block(r("09:30", "11:00"), &existing);
        assert_eq!(merge.range, r("09:00", "12:00"));
        assert_eq!(merge.absorbed, vec![1, 2]);
        let apart = merge_block(r("13:00", "14:00"), &existing);
        assert_eq!(apart.range, r("13:00", "14:00"));
        assert!(apart.absorbed.is_empty());
    }
}
