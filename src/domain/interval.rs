//! Half-open UTC intervals `[start, end)` and merging them.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Interval) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The interval grown by `by` on both sides (used to apply a buffer around busy time).
    pub fn widen(&self, by: Duration) -> Interval {
        Interval::new(self.start - by, self.end + by)
    }
}

/// Sorts and merges overlapping or touching intervals, dropping empty ones.
pub fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.retain(|i| !i.is_empty());
    intervals.sort_unstable();
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for next in intervals {
        match merged.last_mut() {
            Some(last) if next.start <= last.end => last.end = last.end.max(next.end),
            _ => merged.push(next),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, h, m, 0).unwrap()
    }

    #[test]
    fn merges_overlapping_and_touching_and_drops_empty() {
        let merged = merge(vec![
            Interval::new(at(12, 0), at(13, 0)),
            Interval::new(at(9, 0), at(10, 0)),
            Interval::new(at(10, 0), at(11, 0)),
            Interval::new(at(9, 30), at(9, 45)),
            Interval::new(at(15, 0), at(15, 0)),
        ]);
        assert_eq!(
            merged,
            vec![
                Interval::new(at(9, 0), at(11, 0)),
                Interval::new(at(12, 0), at(13, 0))
            ]
        );
    }

    #[test]
    fn overlap_is_half_open() {
        let a = Interval::new(at(9, 0), at(10, 0));
        assert!(!a.overlaps(&Interval::new(at(10, 0), at(11, 0))));
        assert!(a.overlaps(&Interval::new(at(9, 59), at(11, 0))));
        assert!(a
            .widen(Duration::minutes(15))
            .overlaps(&Interval::new(at(10, 10), at(11, 0))));
    }
}
