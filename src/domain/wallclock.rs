//! Turning a local date and wall-clock time in a zone into one UTC instant, with the DST rules.
//!
//! The rules:
//! - **Spring-forward gap, a moment** (a session's start, [`resolve`]): a wall-clock time that does not
//!   exist is read with the UTC offset in force just before the gap, so it lands as far after the gap
//!   as it was into it: a weekly session at 02:30 is at 03:30 EDT on New York's spring-forward night
//!   (as RFC 5545 section 3.3.5 and java.time's defaults say).
//! - **Spring-forward gap, an edge of availability** ([`resolve_edge`]): a block is the set of
//!   wall-clock times the mentor gave, and the times in the gap do not exist that night, so an edge
//!   inside the gap stands at the gap itself (the instant of the change). A block lying wholly inside
//!   the gap (02:15-02:45 in New York) is empty that night; one starting in it (02:30-05:00) starts at
//!   03:00 EDT, one ending in it (01:00-02:30) ends at 02:00 EST, and one crossing it is shorter by the
//!   gap. No block is moved past where the mentor put it.
//! - **Fall-back overlap.** A wall-clock time that occurs twice means its first occurrence (the earlier
//!   instant), for session starts and block edges alike: 01:00-02:00 on New York's fall-back night runs
//!   from 01:00 EDT to 02:00 EST, two real hours.

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone as _, Utc,
};
use chrono_tz::Tz;

use super::time::{LocalTime, TimeZone};

/// The UTC instant of `time` on `date` in `zone`, applying the gap and overlap rules above.
/// `24:00` means midnight at the start of the next day.
pub fn resolve(zone: TimeZone, date: NaiveDate, time: LocalTime) -> DateTime<Utc> {
    let minutes = i64::from(time.minutes());
    let local = date.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::minutes(minutes);
    resolve_naive(zone.tz(), local)
}

/// The UTC instant of an availability block's edge at `time` on `date` in `zone`: as [`resolve`],
/// except that a time inside a spring-forward gap is the instant of the gap itself.
pub fn resolve_edge(zone: TimeZone, date: NaiveDate, time: LocalTime) -> DateTime<Utc> {
    let minutes = i64::from(time.minutes());
    let local = date.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::minutes(minutes);
    let tz = zone.tz();
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => dt.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => gap_instant(tz, local),
    }
}

/// The instant at which the gap that swallows `local` opens: the zone's offset changes there, and the
/// wall clock jumps from the gap's start to its end.
fn gap_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let before = offset_before_gap(tz, local);
    let offset_at = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0).map(|at| {
            tz.offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc()
        })
    };
    // `local` read with the earlier offset is at or after the change, and a day before that is before
    // it (no zone changes its offset twice in a day). Bisect to the second between the two, keeping
    // `late` on the changed side.
    let mut late = (local - Duration::seconds(i64::from(before)))
        .and_utc()
        .timestamp();
    let mut early = late - 86_400;
    while late - early > 1 {
        let middle = early + (late - early) / 2;
        if offset_at(middle) == Some(before) {
            early = middle;
        } else {
            late = middle;
        }
    }
    DateTime::from_timestamp(late, 0).expect("a moment near a real wall-clock time")
}

/// The same rules for any naive local date-time.
pub fn resolve_naive(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => dt.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            let offset = offset_before_gap(tz, local);
            DateTime::from_naive_utc_and_offset(local - Duration::seconds(i64::from(offset)), Utc)
        }
    }
}

/// The UTC offset (seconds east) in force just before the gap that swallows `local`.
fn offset_before_gap(tz: Tz, local: NaiveDateTime) -> i32 {
    // Gaps are at most a day long (Pacific/Apia skipped 30 December 2011), so walking back in
    // 15-minute steps finds a real wall-clock time within 97 steps.
    (1..=97)
        .find_map(
            |step| match tz.from_local_datetime(&(local - Duration::minutes(15 * step))) {
                LocalResult::Single(dt) => Some(dt.offset().fix().local_minus_utc()),
                LocalResult::Ambiguous(_, later) => Some(later.offset().fix().local_minus_utc()),
                LocalResult::None => None,
            },
        )
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        name.parse().unwrap()
    }

    fn t(s: &str) -> LocalTime {
        s.parse().unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ordinary_times_use_the_zone_offset() {
        assert_eq!(
            resolve(zone("Europe/London"), d(2026, 7, 1), t("09:00")),
            utc("2026-07-01T08:00:00Z")
        );
        assert_eq!(
            resolve(zone("Asia/Kolkata"), d(2026, 7, 1), t("09:00")),
            utc("2026-07-01T03:30:00Z")
        );
        assert_eq!(
            resolve(zone("Asia/Kathmandu"), d(2026, 7, 1), t("09:00")),
            utc("2026-07-01T03:15:00Z")
        );
        assert_eq!(
            resolve(zone("UTC"), d(2026, 7, 1), t("24:00")),
            utc("2026-07-02T00:00:00Z")
        );
    }

    #[test]
    fn gap_times_move_forward_by_the_gap() {
        // New York springs forward at 02:00 on 8 March 2026.
        assert_eq!(
            resolve(zone("America/New_York"), d(2026, 3, 8), t("02:30")),
            utc("2026-03-08T07:30:00Z")
        );
        assert_eq!(
            resolve(zone("America/New_York"), d(2026, 3, 8), t("02:00")),
            utc("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            resolve(zone("America/New_York"), d(2026, 3, 8), t("03:00")),
            utc("2026-03-08T07:00:00Z")
        );
        // London springs forward at 01:00 on 29 March 2026.
        assert_eq!(
            resolve(zone("Europe/London"), d(2026, 3, 29), t("01:30")),
            utc("2026-03-29T01:30:00Z")
        );
        // Sydney springs forward at 02:00 on 4 October 2026 (southern hemisphere).
        assert_eq!(
            resolve(zone("Australia/Sydney"), d(2026, 10, 4), t("02:15")),
            utc("2026-10-03T16:15:00Z")
        );
        // Lord Howe moves only 30 minutes: 02:00 -> 02:30 on 4 October 2026.
        assert_eq!(
            resolve(zone("Australia/Lord_Howe"), d(2026, 10, 4), t("02:15")),
            utc("2026-10-03T15:45:00Z")
        );
        assert_eq!(
            resolve(zone("Australia/Lord_Howe"), d(2026, 10, 4), t("02:30")),
            utc("2026-10-03T15:30:00Z")
        );
    }

    #[test]
    fn overlap_times_take_the_first_occurrence() {
        // New York falls back at 02:00 EDT on 1 November 2026: 01:30 happens at 05:30Z and 06:30Z.
        assert_eq!(
            resolve(zone("America/New_York"), d(2026, 11, 1), t("01:30")),
            utc("2026-11-01T05:30:00Z")
        );
        // London falls back at 02:00 BST on 25 October 2026: 01:30 happens at 00:30Z and 01:30Z.
        assert_eq!(
            resolve(zone("Europe/London"), d(2026, 10, 25), t("01:30")),
            utc("2026-10-25T00:30:00Z")
        );
        // Sydney falls back at 03:00 AEDT on 5 April 2026: 02:30 happens at 15:30Z and 16:30Z the day before.
        assert_eq!(
            resolve(zone("Australia/Sydney"), d(2026, 4, 5), t("02:30")),
            utc("2026-04-04T15:30:00Z")
        );
        // Lord Howe falls back 30 minutes at 02:00 on 5 April 2026: 01:45 happens at 14:45Z and 15:15Z.
        assert_eq!(
            resolve(zone("Australia/Lord_Howe"), d(2026, 4, 5), t("01:45")),
            utc("2026-04-04T14:45:00Z")
        );
    }

    #[test]
    fn an_edge_inside_a_gap_stands_at_the_gap() {
        // New York, 14 March 2027: 02:00 EST (07:00Z) jumps to 03:00 EDT.
        let ny = zone("America/New_York");
        for time in ["02:00", "02:15", "02:59", "03:00"] {
            assert_eq!(
                resolve_edge(ny, d(2027, 3, 14), t(time)),
                utc("2027-03-14T07:00:00Z"),
                "{time}"
            );
        }
        // Times that exist resolve as moments do; overlaps take the first occurrence.
        assert_eq!(
            resolve_edge(ny, d(2027, 3, 14), t("03:30")),
            utc("2027-03-14T07:30:00Z")
        );
        assert_eq!(
            resolve_edge(ny, d(2027, 11, 7), t("01:30")),
            utc("2027-11-07T05:30:00Z")
        );
        // Lord Howe's 30-minute gap (02:00 -> 02:30, 15:30Z on 2 October 2027).
        let lh = zone("Australia/Lord_Howe");
        assert_eq!(
            resolve_edge(lh, d(2027, 10, 3), t("02:10")),
            utc("2027-10-02T15:30:00Z")
        );
        // Antarctica/Troll's two-hour gap (01:00 UTC+0 -> 03:00 UTC+2, 28 March 2027).
        let troll = zone("Antarctica/Troll");
        assert_eq!(
            resolve_edge(troll, d(2027, 3, 28), t("02:45")),
            utc("2027-03-28T01:00:00Z")
        );
        // Havana springs forward at midnight (00:00 CST -> 01:00 CDT, 14 March 2027).
        let havana = zone("America/Havana");
        assert_eq!(
            resolve_edge(havana, d(2027, 3, 14), t("00:30")),
            utc("2027-03-14T05:00:00Z")
        );
        // Samoa's skipped day: every edge of 30 December 2011 is the one instant of the jump.
        let apia = zone("Pacific/Apia");
        assert_eq!(
            resolve_edge(apia, d(2011, 12, 30), t("09:00")),
            utc("2011-12-30T10:00:00Z")
        );
    }

    #[test]
    fn a_skipped_day_still_resolves() {
        // Samoa skipped 30 December 2011 entirely (-10:00 to +14:00).
        let tz = zone("Pacific/Apia");
        assert_eq!(
            resolve(tz, d(2011, 12, 30), t("09:00")),
            utc("2011-12-30T19:00:00Z")
        );
    }
}
