//! Weekly recurrence at a local wall-clock time in the mentor's zone, and its iCalendar RRULE.
//!
//! A booking's weekly slot is the local weekday and time of its first occurrence in the mentor's zone.
//! Week `k` happens at the same wall-clock time `7 * k` days later, so a DST change moves the UTC
//! instant and keeps the local hour. Later weeks that land in a DST gap or overlap follow the rules in
//! [`super::wallclock`]; week 0 is always the exact instant the student picked.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::interval::Interval;
use super::time::{LocalTime, TimeZone};
use super::wallclock::resolve;

/// One weekly slot of a booking: where its week 0 is, in UTC and as wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklySlot {
    /// The exact first occurrence (week 0).
    pub first: DateTime<Utc>,
    /// The local date of week 0 in the booking's zone.
    pub first_date: NaiveDate,
    /// Minutes after local midnight.
    pub minute_of_day: u16,
}

impl WeeklySlot {
    /// The weekly slot whose first occurrence is `first`, read in `zone`. `first` must be on a whole
    /// minute (callers check this, with the field name, before).
    pub fn starting_at(zone: TimeZone, first: DateTime<Utc>) -> Self {
        let local = first.with_timezone(&zone.tz()).naive_local();
        WeeklySlot {
            first,
            first_date: local.date(),
            minute_of_day: (local.hour() * 60 + local.minute()) as u16,
        }
    }

    pub fn weekday(&self) -> Weekday {
        self.first_date.weekday()
    }

    pub fn local_time(&self) -> LocalTime {
        LocalTime::from_minutes(self.minute_of_day).expect("a minute of the day is below 24:00")
    }

    /// The start of week `week` (0 = the first occurrence).
    pub fn start_of_week(&self, zone: TimeZone, week: u32) -> DateTime<Utc> {
        if week == 0 {
            return self.first;
        }
        let date = self.first_date + Duration::weeks(i64::from(week));
        resolve(zone, date, self.local_time())
    }
}

/// One occurrence of one weekly slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub slot: usize,
    pub week: u32,
    pub interval: Interval,
}

/// Every occurrence of `slots` in weeks `weeks`, sorted by start.
pub fn expand(
    zone: TimeZone,
    slots: &[WeeklySlot],
    weeks: std::ops::Range<u32>,
    duration: Duration,
) -> Vec<Occurrence> {
    let mut out: Vec<Occurrence> = slots
        .iter()
        .enumerate()
        .flat_map(|(slot_index, slot)| {
            weeks.clone().map(move |week| {
                let start = slot.start_of_week(zone, week);
                Occurrence {
                    slot: slot_index,
                    week,
                    interval: Interval::new(start, start + duration),
                }
            })
        })
        .collect();
    out.sort_by_key(|o| (o.interval.start, o.slot));
    out
}

/// The recurrence as iCalendar text: one `DTSTART;TZID=...` and `RRULE:FREQ=WEEKLY` pair per weekly
/// slot, separated by a newline. Slots may have different times of day, which one RRULE's `BYHOUR`
/// cannot say without pairing every day with every hour, so each slot gets its own rule.
/// `weeks: None` (ongoing) has no `COUNT`.
pub fn rrule(zone: TimeZone, slots: &[WeeklySlot], weeks: Option<u32>) -> String {
    slots
        .iter()
        .map(|slot| {
            let time = slot.local_time().minutes();
            let count = weeks.map(|n| format!(";COUNT={n}")).unwrap_or_default();
            format!(
                "DTSTART;TZID={}:{}T{:02}{:02}00\nRRULE:FREQ=WEEKLY;BYDAY={}{count}",
                zone.name(),
                slot.first_date.format("%Y%m%d"),
                time / 60,
                time % 60,
                byday(slot.weekday()),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn byday(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        name.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn starts(zone_name: &str, first: &str, weeks: u32) -> Vec<String> {
        let z = zone(zone_name);
        let slot = WeeklySlot::starting_at(z, utc(first));
        expand(z, &[slot], 0..weeks, Duration::hours(1))
            .into_iter()
            .map(|o| o.interval.start.to_rfc3339())
            .collect()
    }

    #[test]
    fn london_keeps_nine_oclock_across_spring_forward() {
        // 2026-03-29 is the change; 09:00 GMT then 09:00 BST.
        assert_eq!(
            starts("Europe/London", "2026-03-23T09:00:00Z", 3),
            [
                "2026-03-23T09:00:00+00:00",
                "2026-03-30T08:00:00+00:00",
                "2026-04-06T08:00:00+00:00"
            ]
        );
    }

    #[test]
    fn new_york_keeps_local_time_across_fall_back() {
        // 2026-11-01: 10:00 EDT (14:00Z) then 10:00 EST (15:00Z).
        assert_eq!(
            starts("America/New_York", "2026-10-26T14:00:00Z", 2),
            ["2026-10-26T14:00:00+00:00", "2026-11-02T15:00:00+00:00"]
        );
    }

    #[test]
    fn sydney_moves_the_other_way() {
        // Sydney leaves DST on 2026-04-05: 18:00 AEDT (07:00Z) then 18:00 AEST (08:00Z).
        assert_eq!(
            starts("Australia/Sydney", "2026-03-30T07:00:00Z", 2),
            ["2026-03-30T07:00:00+00:00", "2026-04-06T08:00:00+00:00"]
        );
    }

    #[test]
    fn kolkata_and_kathmandu_never_move() {
        assert_eq!(
            starts("Asia/Kolkata", "2026-03-23T03:30:00Z", 2),
            ["2026-03-23T03:30:00+00:00", "2026-03-30T03:30:00+00:00"]
        );
        assert_eq!(
            starts("Asia/Kathmandu", "2026-03-23T03:15:00Z", 2),
            ["2026-03-23T03:15:00+00:00", "2026-03-30T03:15:00+00:00"]
        );
    }

    #[test]
    fn a_later_week_in_the_gap_uses_the_offset_before_it() {
        // 02:30 on Sunday 2026-03-08 does not exist in New York: read with EST, it is 07:30Z.
        assert_eq!(
            starts("America/New_York", "2026-03-01T07:30:00Z", 2),
            ["2026-03-01T07:30:00+00:00", "2026-03-08T07:30:00+00:00"]
        );
    }

    #[test]
    fn a_later_week_in_the_overlap_is_its_first_occurrence() {
        // 01:30 on 2026-11-01 happens twice in New York; the first is 01:30 EDT = 05:30Z.
        assert_eq!(
            starts("America/New_York", "2026-10-25T05:30:00Z", 2),
            ["2026-10-25T05:30:00+00:00", "2026-11-01T05:30:00+00:00"]
        );
    }

    #[test]
    fn the_first_week_is_the_exact_instant_even_in_an_overlap() {
        // The student picked the second 01:30 (EST, 06:30Z); week 0 stays there, week 1 is 01:30 EST.
        assert_eq!(
            starts("America/New_York", "2026-11-01T06:30:00Z", 2),
            ["2026-11-01T06:30:00+00:00", "2026-11-08T06:30:00+00:00"]
        );
    }

    #[test]
    fn lord_howe_half_hour_shift() {
        // Lord Howe goes from +11 to +10:30 on 2026-04-05 at 02:00 local; 09:00 stays 09:00.
        assert_eq!(
            starts("Australia/Lord_Howe", "2026-03-29T22:00:00Z", 2),
            ["2026-03-29T22:00:00+00:00", "2026-04-05T22:30:00+00:00"]
        );
    }

    #[test]
    fn expansion_is_sorted_across_slots() {
        let z = zone("Europe/London");
        let slots = [
            WeeklySlot::starting_at(z, utc("2026-01-08T17:00:00Z")),
            WeeklySlot::starting_at(z, utc("2026-01-05T09:00:00Z")),
        ];
        let got: Vec<(usize, u32)> = expand(z, &slots, 0..2, Duration::hours(1))
            .into_iter()
            .map(|o| (o.slot, o.week))
            .collect();
        assert_eq!(got, [(1, 0), (0, 0), (1, 1), (0, 1)]);
    }

    #[test]
    fn rrule_has_one_rule_per_slot_in_the_mentor_zone() {
        let z = zone("America/New_York");
        let slots = [
            WeeklySlot::starting_at(z, utc("2026-01-05T14:00:00Z")),
            WeeklySlot::starting_at(z, utc("2026-01-08T22:30:00Z")),
        ];
        assert_eq!(
            rrule(z, &slots, Some(4)),
            "DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4\n\
             DTSTART;TZID=America/New_York:20260108T173000\nRRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=4"
        );
        assert_eq!(
            rrule(z, &slots[..1], None),
            "DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO"
        );
    }
}
