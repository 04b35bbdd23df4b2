use chrono::{Duration, NaiveDate, Weekday};
use proptest::prelude::*;

use super::*;
use crate::domain::time::WEEKDAYS;
use crate::domain::weekly::TimeRange;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn range(s: &str, e: &str) -> TimeRange {
    TimeRange::new(s.parse().unwrap(), e.parse().unwrap(), "block").unwrap()
}

fn schedule(zone: &str, blocks: &[(Weekday, &str, &str)], buffer: i32) -> Schedule {
    Schedule {
        zone: zone.parse().unwrap(),
        weekly: WeeklyPattern::from_blocks(blocks.iter().map(|(d, s, e)| (*d, range(s, e)))),
        overrides: DateOverrides::new(),
        rules: BookingRules::new(buffer, 0, 366, "").unwrap(),
    }
}

fn every_day(s: &'static str, e: &'static str) -> Vec<(Weekday, &'static str, &'static str)> {
    WEEKDAYS.into_iter().map(|d| (d, s, e)).collect()
}

fn starts(slots: &[Interval], zone: &str) -> Vec<String> {
    let zone: TimeZone = zone.parse().unwrap();
    slots
        .iter()
        .map(|s| in_zone(s.start, zone).to_rfc3339())
        .collect()
}

fn query(from: &str, to: &str, minutes: i32) -> SlotQuery {
    SlotQuery::new(utc(from), utc(to), minutes).unwrap()
}

// "Now" for tests that are not about notice or horizon: early enough, with a 366-day horizon covering 2026.
const LONG_AGO: &str = "2026-01-01T00:00:00Z";

#[test]
fn grid_step_follows_the_duration() {
    let step = |m| grid_step(Duration::minutes(m)).num_minutes();
    assert_eq!(
        [
            step(60),
            step(120),
            step(90),
            step(45),
            step(30),
            step(15),
            step(20),
            step(50)
        ],
        [60, 60, 30, 15, 30, 15, 20, 50]
    );
}

#[test]
fn slots_fill_a_block_on_its_grid() {
    let s = schedule("Europe/London", &[(Weekday::Mon, "09:00", "12:00")], 0);
    let slots = available_slots(
        &s,
        &[],
        &query("2026-07-06T00:00:00Z", "2026-07-07T00:00:00Z", 60),
        utc(LONG_AGO),
    );
    assert_eq!(
        starts(&slots, "Europe/London"),
        [
            "2026-07-06T09:00:00+01:00",
            "2026-07-06T10:00:00+01:00",
            "2026-07-06T11:00:00+01:00"
        ]
    );
    let ninety = available_slots(
        &s,
        &[],
        &query("2026-07-06T00:00:00Z", "2026-07-07T00:00:00Z", 90),
        utc(LONG_AGO),
    );
    assert_eq!(
        starts(&ninety, "Europe/London"),
        [
            "2026-07-06T09:00:00+01:00",
            "2026-07-06T09:30:00+01:00",
            "2026-07-06T10:00:00+01:00",
            "2026-07-06T10:30:00+01:00"
        ]
    );
}

#[test]
fn the_grid_starts_at_each_block_start() {
    let s = schedule("UTC", &[(Weekday::Mon, "09:10", "11:10")], 0);
    let slots = available_slots(
        &s,
        &[],
        &query("2026-07-06T00:00:00Z", "2026-07-07T00:00:00Z", 60),
        utc(LONG_AGO),
    );
    assert_eq!(
        starts(&slots, "UTC"),
        ["2026-07-06T09:10:00+00:00", "2026-07-06T10:10:00+00:00"]
    );
}

#[test]
fn busy_time_widened_by_the_buffer_removes_slots() {
    let s = schedule("UTC", &[(Weekday::Mon, "09:00", "17:00")], 15);
    let busy = [Interval::new(
        utc("2026-07-06T12:00:00Z"),
        utc("2026-07-06T12:30:00Z"),
    )];
    let slots = available_slots(
        &s,
        &busy,
        &query("2026-07-06T00:00:00Z", "2026-07-07T00:00:00Z", 60),
        utc(LONG_AGO),
    );
    // Blocked 11:45-12:45: 11:00 and 12:00 are gone, and the grid resumes at 13:00.
    assert_eq!(
        starts(&slots, "UTC"),
        [
            "2026-07-06T09:00:00+00:00",
            "2026-07-06T10:00:00+00:00",
            "2026-07-06T13:00:00+00:00",
            "2026-07-06T14:00:00+00:00",
            "2026-07-06T15:00:00+00:00",
            "2026-07-06T16:00:00+00:00"
        ]
    );
}

#[test]
fn minimum_notice_horizon_and_window_bound_the_starts() {
    let mut s = schedule("UTC", &every_day("09:00", "12:00"), 0);
    s.rules = BookingRules::new(0, 120, 2, "").unwrap();
    let now = utc("2026-07-06T08:30:00Z");
    let slots = available_slots(
        &s,
        &[],
        &query("2026-07-06T00:00:00Z", "2026-07-20T00:00:00Z", 60),
        now,
    );
    // Notice: nothing before 10:30, so the grid resumes at 11:00. Horizon: starts up to 2026-07-08T08:30.
    assert_eq!(
        starts(&slots, "UTC"),
        [
            "2026-07-06T11:00:00+00:00",
            "2026-07-07T09:00:00+00:00",
            "2026-07-07T10:00:00+00:00",
            "2026-07-07T11:00:00+00:00"
        ]
    );
    let window = available_slots(
        &s,
        &[],
        &query("2026-07-07T09:30:00Z", "2026-07-07T11:00:00Z", 60),
        now,
    );
    assert_eq!(starts(&window, "UTC"), ["2026-07-07T10:00:00+00:00"]);
}

#[test]
fn overrides_replace_or_remove_a_day() {
    let mut s = schedule("UTC", &every_day("09:00", "11:00"), 0);
    s.overrides.insert(
        NaiveDate::from_ymd_opt(2026, 7, 6).unwrap(),
        vec![range("14:00", "15:00")],
    );
    s.overrides
        .insert(NaiveDate::from_ymd_opt(2026, 7, 7).unwrap(), vec![]);
    let slots = available_slots(
        &s,
        &[],
        &query("2026-07-06T00:00:00Z", "2026-07-09T00:00:00Z", 60),
        utc(LONG_AGO),
    );
    assert_eq!(
        starts(&slots, "UTC"),
        [
            "2026-07-06T14:00:00+00:00",
            "2026-07-08T09:00:00+00:00",
            "2026-07-08T10:00:00+00:00"
        ]
    );
}

#[test]
fn blocks_touching_across_midnight_form_one_interval() {
    let s = schedule(
        "UTC",
        &[
            (Weekday::Mon, "22:00", "24:00"),
            (Weekday::Tue, "00:00", "01:00"),
        ],
        0,
    );
    let slots = available_slots(
        &s,
        &[],
        &query("2026-07-06T00:00:00Z", "2026-07-08T00:00:00Z", 90),
        utc(LONG_AGO),
    );
    assert_eq!(
        starts(&slots, "UTC"),
        [
            "2026-07-06T22:00:00+00:00",
            "2026-07-06T22:30:00+00:00",
            "2026-07-06T23:00:00+00:00",
            "2026-07-06T23:30:00+00:00"
        ]
    );
}

#[test]
fn query_rejects_bad_input_naming_the_field() {
    let (a, b) = (utc("2026-07-06T00:00:00Z"), utc("2026-07-07T00:00:00Z"));
    assert_eq!(
        SlotQuery::new(a, b, 0).unwrap_err().field,
        "durationMinutes"
    );
    assert_eq!(
        SlotQuery::new(a, b, -30).unwrap_err().field,
        "durationMinutes"
    );
    assert_eq!(
        SlotQuery::new(a, b, 24 * 60 + 1).unwrap_err().field,
        "durationMinutes"
    );
    assert_eq!(SlotQuery::new(b, a, 60).unwrap_err().field, "to");
    assert_eq!(SlotQuery::new(a, a, 60).unwrap_err().field, "to");
    assert_eq!(
        SlotQuery::new(a, a + Duration::days(90) + Duration::minutes(1), 60)
            .unwrap_err()
            .field,
        "to"
    );
    assert!(SlotQuery::new(a, a + Duration::days(90), 60).is_ok());
}

// ---- DST: a weekly block keeps its wall-clock hours on both sides of every change ----

/// Slots of a daily 09:00-12:00 block across a DST change, shown in the mentor's zone.
fn nine_to_noon(zone: &str, from: &str, to: &str) -> Vec<String> {
    let s = schedule(zone, &every_day("09:00", "12:00"), 0);
    starts(
        &available_slots(&s, &[], &query(from, to, 60), utc(LONG_AGO)),
        zone,
    )
}

#[test]
fn dst_keeps_local_hours_in_london() {
    // BST starts 29 March 2026.
    let got = nine_to_noon(
        "Europe/London",
        "2026-03-28T00:00:00Z",
        "2026-03-30T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-03-28T09:00:00+00:00",
            "2026-03-28T10:00:00+00:00",
            "2026-03-28T11:00:00+00:00",
            "2026-03-29T09:00:00+01:00",
            "2026-03-29T10:00:00+01:00",
            "2026-03-29T11:00:00+01:00"
        ]
    );
}

#[test]
fn dst_keeps_local_hours_in_new_york() {
    // EST returns 1 November 2026.
    let got = nine_to_noon(
        "America/New_York",
        "2026-10-31T12:00:00Z",
        "2026-11-02T12:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-10-31T09:00:00-04:00",
            "2026-10-31T10:00:00-04:00",
            "2026-10-31T11:00:00-04:00",
            "2026-11-01T09:00:00-05:00",
            "2026-11-01T10:00:00-05:00",
            "2026-11-01T11:00:00-05:00"
        ]
    );
}

#[test]
fn dst_keeps_local_hours_in_sydney() {
    // Southern hemisphere: AEDT starts 4 October 2026.
    let got = nine_to_noon(
        "Australia/Sydney",
        "2026-10-02T12:00:00Z",
        "2026-10-04T12:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-10-03T09:00:00+10:00",
            "2026-10-03T10:00:00+10:00",
            "2026-10-03T11:00:00+10:00",
            "2026-10-04T09:00:00+11:00",
            "2026-10-04T10:00:00+11:00",
            "2026-10-04T11:00:00+11:00"
        ]
    );
}

#[test]
fn dst_keeps_local_hours_in_lord_howe() {
    // A 30-minute shift: +10:30 becomes +11:00 on 4 October 2026.
    let got = nine_to_noon(
        "Australia/Lord_Howe",
        "2026-10-02T12:00:00Z",
        "2026-10-04T12:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-10-03T09:00:00+10:30",
            "2026-10-03T10:00:00+10:30",
            "2026-10-03T11:00:00+10:30",
            "2026-10-04T09:00:00+11:00",
            "2026-10-04T10:00:00+11:00",
            "2026-10-04T11:00:00+11:00"
        ]
    );
}

#[test]
fn kolkata_has_no_dst_and_a_half_hour_offset() {
    let got = nine_to_noon(
        "Asia/Kolkata",
        "2026-03-07T00:00:00Z",
        "2026-03-08T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-03-07T09:00:00+05:30",
            "2026-03-07T10:00:00+05:30",
            "2026-03-07T11:00:00+05:30"
        ]
    );
    // The same UTC instants all year round.
    let july = nine_to_noon(
        "Asia/Kolkata",
        "2026-07-07T00:00:00Z",
        "2026-07-08T00:00:00Z",
    );
    assert_eq!(july[0], "2026-07-07T09:00:00+05:30");
}

// Gap rule: a block starting or ending inside the spring-forward gap.

fn night_block(
    zone: &str,
    day: Weekday,
    s: &str,
    e: &str,
    from: &str,
    to: &str,
    minutes: i32,
) -> Vec<Interval> {
    let sch = schedule(zone, &[(day, s, e)], 0);
    let now = utc(from) - Duration::days(1);
    available_slots(&sch, &[], &query(from, to, minutes), now)
}

#[test]
fn gap_rule_new_york() {
    // 8 March 2026 (Sunday): 02:00 EST jumps to 03:00 EDT. Block 01:00-03:30 = 06:00Z..07:30Z: 90 real minutes.
    let slots = night_block(
        "America/New_York",
        Weekday::Sun,
        "01:00",
        "03:30",
        "2026-03-08T00:00:00Z",
        "2026-03-09T00:00:00Z",
        30,
    );
    assert_eq!(
        starts(&slots, "America/New_York"),
        [
            "2026-03-08T01:00:00-05:00",
            "2026-03-08T01:30:00-05:00",
            "2026-03-08T03:00:00-04:00"
        ]
    );
    // A block wholly inside the gap is empty that night.
    assert!(night_block(
        "America/New_York",
        Weekday::Sun,
        "02:00",
        "03:00",
        "2026-03-08T00:00:00Z",
        "2026-03-09T00:00:00Z",
        15
    )
    .is_empty());
    // A block starting in the gap starts when the gap ends (03:00 EDT): the times 02:30-03:00 do not
    // exist that night, and 03:00-05:00 are all times the mentor gave.
    let starts_in_gap = night_block(
        "America/New_York",
        Weekday::Sun,
        "02:30",
        "05:00",
        "2026-03-08T00:00:00Z",
        "2026-03-09T00:00:00Z",
        60,
    );
    assert_eq!(
        starts(&starts_in_gap, "America/New_York"),
        ["2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]
    );
}

/// The case: Sunday blocks 02:15-02:45 and 03:30-05:30 in New York on 14 March 2027. The first
/// lies wholly inside the gap, so it is empty that night; it must not turn into 03:15-03:45, merge
/// with the second, and shift the second's grid to 03:15.
#[test]
fn a_block_wholly_inside_the_gap_is_empty_and_does_not_move_its_neighbour() {
    let sch = schedule(
        "America/New_York",
        &[
            (Weekday::Sun, "02:15", "02:45"),
            (Weekday::Sun, "03:30", "05:30"),
        ],
        0,
    );
    let now = utc("2027-03-01T00:00:00Z");
    let slots = available_slots(
        &sch,
        &[],
        &query("2027-03-14T00:00:00Z", "2027-03-15T00:00:00Z", 15),
        now,
    );
    let got = starts(&slots, "America/New_York");
    assert_eq!(
        got.first().map(String::as_str),
        Some("2027-03-14T03:30:00-04:00")
    );
    assert_eq!(
        got.last().map(String::as_str),
        Some("2027-03-14T05:15:00-04:00")
    );
    assert_eq!(got.len(), 8);
    // Alone, the block in the gap offers nothing (not 03:15 and 03:30).
    let alone = night_block(
        "America/New_York",
        Weekday::Sun,
        "02:15",
        "02:45",
        "2027-03-14T00:00:00Z",
        "2027-03-15T00:00:00Z",
        15,
    );
    assert!(alone.is_empty(), "{:?}", starts(&alone, "America/New_York"));
    // The next Sunday, both blocks are there as written.
    let week_later = available_slots(
        &sch,
        &[],
        &query("2027-03-21T00:00:00Z", "2027-03-22T00:00:00Z", 15),
        now,
    );
    assert_eq!(
        starts(&week_later, "America/New_York")[0],
        "2027-03-21T02:15:00-04:00"
    );
}

/// The same in Jerusalem (springs forward on a Friday, 02:00 -> 03:00) and in Antarctica/Troll (a
/// two-hour jump, 01:00 -> 03:00 UTC+2).
#[test]
fn blocks_inside_friday_and_two_hour_gaps_are_empty() {
    let jerusalem = night_block(
        "Asia/Jerusalem",
        Weekday::Fri,
        "02:10",
        "02:50",
        "2027-03-25T12:00:00Z",
        "2027-03-27T00:00:00Z",
        15,
    );
    assert!(
        jerusalem.is_empty(),
        "{:?}",
        starts(&jerusalem, "Asia/Jerusalem")
    );
    let troll = night_block(
        "Antarctica/Troll",
        Weekday::Sun,
        "01:15",
        "02:45",
        "2027-03-27T12:00:00Z",
        "2027-03-29T00:00:00Z",
        15,
    );
    assert!(troll.is_empty(), "{:?}", starts(&troll, "Antarctica/Troll"));
    // A Troll block ending inside the gap is cut at it: 00:00-02:00 is 00:00-01:00 UTC.
    let cut = night_block(
        "Antarctica/Troll",
        Weekday::Sun,
        "00:00",
        "02:00",
        "2027-03-27T12:00:00Z",
        "2027-03-29T00:00:00Z",
        30,
    );
    assert_eq!(
        starts(&cut, "Antarctica/Troll"),
        ["2027-03-28T00:00:00+00:00", "2027-03-28T00:30:00+00:00"]
    );
}

#[test]
fn gap_rule_london_sydney_lord_howe() {
    // London 29 March 2026: 01:00 GMT -> 02:00 BST. Block 00:30-02:30 = 00:30Z..01:30Z.
    let london = night_block(
        "Europe/London",
        Weekday::Sun,
        "00:30",
        "02:30",
        "2026-03-28T12:00:00Z",
        "2026-03-29T12:00:00Z",
        30,
    );
    assert_eq!(
        starts(&london, "Europe/London"),
        ["2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+01:00"]
    );
    // Sydney 4 October 2026: 02:00 AEST -> 03:00 AEDT. A block ending at 02:30 ends at the gap
    // (02:00 AEST): it is not stretched to 03:30 AEDT, past where the mentor put its end.
    let sydney = night_block(
        "Australia/Sydney",
        Weekday::Sun,
        "01:00",
        "02:30",
        "2026-10-03T00:00:00Z",
        "2026-10-04T12:00:00Z",
        30,
    );
    assert_eq!(
        starts(&sydney, "Australia/Sydney"),
        ["2026-10-04T01:00:00+10:00", "2026-10-04T01:30:00+10:00"]
    );
    // Lord Howe 4 October 2026: 02:00 -> 02:30. Block 01:30-03:00 = 15:00Z..16:00Z.
    let lh = night_block(
        "Australia/Lord_Howe",
        Weekday::Sun,
        "01:30",
        "03:00",
        "2026-10-03T00:00:00Z",
        "2026-10-04T12:00:00Z",
        30,
    );
    assert_eq!(
        starts(&lh, "Australia/Lord_Howe"),
        ["2026-10-04T01:30:00+10:30", "2026-10-04T02:30:00+11:00"]
    );
}

// Overlap rule: both ends of a block read the first occurrence of an ambiguous time.

#[test]
fn overlap_rule_new_york() {
    // 1 November 2026: 02:00 EDT falls back to 01:00 EST. Block 01:00-02:00 = 05:00Z..07:00Z: two real hours,
    // so 01:00 appears twice, once per offset.
    let slots = night_block(
        "America/New_York",
        Weekday::Sun,
        "01:00",
        "02:00",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        60,
    );
    assert_eq!(
        starts(&slots, "America/New_York"),
        ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]
    );
    // A block ending at an ambiguous 01:30 ends at its first occurrence.
    let ends_in_overlap = night_block(
        "America/New_York",
        Weekday::Sun,
        "00:00",
        "01:30",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        30,
    );
    assert_eq!(
        ends_in_overlap.last().unwrap().end,
        utc("2026-11-01T05:30:00Z")
    );
}

#[test]
fn overlap_rule_london_sydney_lord_howe() {
    // London 25 October 2026: 02:00 BST -> 01:00 GMT. Block 01:00-02:00 = 00:00Z..02:00Z.
    let london = night_block(
        "Europe/London",
        Weekday::Sun,
        "01:00",
        "02:00",
        "2026-10-24T12:00:00Z",
        "2026-10-25T12:00:00Z",
        60,
    );
    assert_eq!(
        starts(&london, "Europe/London"),
        ["2026-10-25T01:00:00+01:00", "2026-10-25T01:00:00+00:00"]
    );
    // Sydney 5 April 2026: 03:00 AEDT -> 02:00 AEST. Block 02:00-03:00 = 15:00Z..17:00Z.
    let sydney = night_block(
        "Australia/Sydney",
        Weekday::Sun,
        "02:00",
        "03:00",
        "2026-04-04T00:00:00Z",
        "2026-04-05T12:00:00Z",
        60,
    );
    assert_eq!(
        starts(&sydney, "Australia/Sydney"),
        ["2026-04-05T02:00:00+11:00", "2026-04-05T02:00:00+10:00"]
    );
    // Lord Howe 5 April 2026: 02:00 (+11) -> 01:30 (+10:30). Block 01:30-02:00 = 14:30Z..15:30Z.
    let lh = night_block(
        "Australia/Lord_Howe",
        Weekday::Sun,
        "01:30",
        "02:00",
        "2026-04-04T00:00:00Z",
        "2026-04-05T12:00:00Z",
        30,
    );
    assert_eq!(
        starts(&lh, "Australia/Lord_Howe"),
        ["2026-04-05T01:30:00+11:00", "2026-04-05T01:30:00+10:30"]
    );
}

// ---- properties ----

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
];

fn arb_range() -> impl Strategy<Value = TimeRange> {
    (0u16..96, 1u16..40).prop_map(|(start, len)| {
        let s = start * 15;
        let e = (s + len * 15).min(24 * 60);
        TimeRange::new(LocalTimeOf(s).get(), LocalTimeOf(e).get(), "p").unwrap()
    })
}

struct LocalTimeOf(u16);
impl LocalTimeOf {
    fn get(self) -> crate::domain::time::LocalTime {
        crate::domain::time::LocalTime::from_minutes(self.0).unwrap()
    }
}

fn arb_case() -> impl Strategy<Value = (Schedule, Vec<Interval>, SlotQuery, DateTime<Utc>)> {
    (
        0usize..ZONES.len(),
        proptest::collection::vec((0usize..7, arb_range()), 0..14),
        proptest::collection::vec((0i64..30 * 24 * 4, 1i64..16), 0..40),
        prop_oneof![
            Just(15),
            Just(30),
            Just(45),
            Just(60),
            Just(90),
            Just(50),
            Just(120)
        ],
        (0i32..61, 0i32..600, 1i32..40),
        // Window start: any 15-minute step over two years spanning several DST changes.
        (0i64..2 * 365 * 96, 1i64..30 * 96),
        -2000i64..2000,
    )
        .prop_map(
            |(zone, blocks, busy, duration, (buffer, notice, horizon), (from_q, len_q), now_q)| {
                let base = utc("2026-01-01T00:00:00Z");
                let from = base + Duration::minutes(from_q * 15);
                let to = from + Duration::minutes(len_q * 15);
                let now = from + Duration::minutes(now_q * 15);
                let busy = busy
                    .into_iter()
                    .map(|(start_q, len_q)| {
                        let start = from - Duration::days(1) + Duration::minutes(start_q * 15);
                        Interval::new(start, start + Duration::minutes(len_q * 15))
                    })
                    .collect();
                let schedule = Schedule {
                    zone: ZONES[zone].parse().unwrap(),
                    weekly: WeeklyPattern::from_blocks(
                        blocks.into_iter().map(|(d, r)| (WEEKDAYS[d], r)),
                    ),
                    overrides: DateOverrides::new(),
                    rules: BookingRules::new(buffer, notice, horizon, "").unwrap(),
                };
                (
                    schedule,
                    busy,
                    SlotQuery::new(from, to, duration).unwrap(),
                    now,
                )
            },
        )
}

/// A slow, obviously-correct restatement of the rules: walk every grid point of every interval.
fn oracle(
    schedule: &Schedule,
    busy: &[Interval],
    query: &SlotQuery,
    now: DateTime<Utc>,
) -> Vec<Interval> {
    let window = query.window();
    let (first, last) = local_dates(
        schedule.zone,
        window.start - Duration::days(1),
        window.end + Duration::days(1),
    );
    let step = grid_step(query.duration());
    let mut out = Vec::new();
    for interval in availability_intervals(schedule, first, last) {
        let mut start = interval.start;
        while start + query.duration() <= interval.end {
            let slot = Interval::new(start, start + query.duration());
            let ok = window.contains(&slot)
                && slot.start >= now + schedule.rules.minimum_notice()
                && slot.start <= now + schedule.rules.horizon()
                && busy
                    .iter()
                    .all(|b| !b.widen(schedule.rules.buffer()).overlaps(&slot));
            if ok {
                out.push(slot);
            }
            start += step;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn slots_obey_every_rule((schedule, busy, query, now) in arb_case()) {
        let slots = available_slots(&schedule, &busy, &query, now);
        let (first, last) = local_dates(schedule.zone, query.window().start, query.window().end);
        let available = availability_intervals(&schedule, first, last);
        for (i, slot) in slots.iter().enumerate() {
            prop_assert_eq!(slot.end - slot.start, query.duration());
            prop_assert!(busy.iter().all(|b| !b.widen(schedule.rules.buffer()).overlaps(slot)), "slot {:?} overlaps busy time", slot);
            prop_assert!(available.iter().any(|a| a.contains(slot)), "slot {:?} outside availability", slot);
            prop_assert!(query.window().contains(slot));
            prop_assert!(slot.start >= now + schedule.rules.minimum_notice());
            prop_assert!(slot.start <= now + schedule.rules.horizon());
            if i > 0 {
                prop_assert!(slots[i - 1].start < slot.start, "not sorted and unique at {}", i);
            }
        }
        prop_assert_eq!(slots, oracle(&schedule, &busy, &query, now));
    }

    #[test]
    fn precomputed_days_and_blocked_time_give_the_same_slots((schedule, busy, query, now) in arb_case(), before in 0i64..5, after in 0i64..5) {
        // As the slot cache does: days resolved once over a wider span, busy time widened once.
        let window = query.window();
        let first = (window.start - Duration::days(2 + before)).date_naive();
        let last = (window.end + Duration::days(2 + after)).date_naive();
        let days = DailyIntervals::new(&schedule, first, last);
        let blocked = blocked_time(&busy, schedule.rules.buffer());
        prop_assert_eq!(
            slots_outside(&schedule, Some(&days), &blocked, &query, now),
            available_slots(&schedule, &busy, &query, now)
        );
        // Days that do not hold the query's dates are not used.
        let elsewhere = DailyIntervals::new(&schedule, last + Duration::days(10), last + Duration::days(20));
        prop_assert_eq!(
            slots_outside(&schedule, Some(&elsewhere), &blocked, &query, now),
            available_slots(&schedule, &busy, &query, now)
        );
    }

    #[test]
    fn the_viewer_zone_never_changes_the_instants((schedule, busy, query, now) in arb_case(), a in 0usize..ZONES.len(), b in 0usize..ZONES.len()) {
        let slots = available_slots(&schedule, &busy, &query, now);
        let (za, zb): (TimeZone, TimeZone) = (ZONES[a].parse().unwrap(), ZONES[b].parse().unwrap());
        let seen_a: Vec<DateTime<Utc>> = slots.iter().map(|s| in_zone(s.start, za)).map(|d| d.to_rfc3339().parse::<DateTime<FixedOffset>>().unwrap().with_timezone(&Utc)).collect();
        let seen_b: Vec<DateTime<Utc>> = slots.iter().map(|s| in_zone(s.start, zb)).map(|d| d.to_rfc3339().parse::<DateTime<FixedOffset>>().unwrap().with_timezone(&Utc)).collect();
        prop_assert_eq!(&seen_a, &seen_b);
        prop_assert_eq!(seen_a, slots.iter().map(|s| s.start).collect::<Vec<_>>());
    }
}

/// The blocks Monday 23:00-24:00, Tuesday all day and Wednesday 00:00-01:00 form one interval from
/// Monday 23:00. Its grid starts there, days before a window on Wednesday, and the answer is the same
/// whatever the window's start: with 50-minute slots, Wednesday 00:00 is 30 steps from Monday 23:00.
#[test]
fn an_interval_days_long_lays_its_grid_from_its_start() {
    let sch = schedule(
        "UTC",
        &[
            (Weekday::Mon, "23:00", "24:00"),
            (Weekday::Tue, "00:00", "24:00"),
            (Weekday::Wed, "00:00", "01:00"),
        ],
        0,
    );
    let now = utc("2027-01-01T00:00:00Z");
    let narrow = available_slots(
        &sch,
        &[],
        &query("2027-01-06T00:00:00Z", "2027-01-06T01:00:00Z", 50),
        now,
    );
    assert_eq!(starts(&narrow, "UTC"), ["2027-01-06T00:00:00+00:00"]);
    let wide = available_slots(
        &sch,
        &[],
        &query("2027-01-05T12:00:00Z", "2027-01-06T01:00:00Z", 50),
        now,
    );
    assert_eq!(
        starts(&wide, "UTC").last().map(String::as_str),
        Some("2027-01-06T00:00:00+00:00")
    );
    // The same with minimum notice reaching into the interval: the grid does not follow the clock.
    let noticed = Schedule {
        rules: BookingRules::new(0, 60 * 30, 366, "").unwrap(),
        ..sch.clone()
    };
    let late = available_slots(
        &noticed,
        &[],
        &query("2027-01-04T00:00:00Z", "2027-01-06T01:00:00Z", 50),
        utc("2027-01-04T18:00:00Z"),
    );
    assert_eq!(
        starts(&late, "UTC").last().map(String::as_str),
        Some("2027-01-06T00:00:00+00:00")
    );
}

/// A mentor open around the clock all week has no block start: the grid starts again at 00:00 each
/// Monday in their zone. Slots of the old grid still start before Monday 00:00 (one crosses it), and
/// the new grid runs from there.
#[test]
fn around_the_clock_grid_restarts_each_monday() {
    let all_week: Vec<(Weekday, &str, &str)> = crate::domain::time::WEEKDAYS
        .iter()
        .map(|d| (*d, "00:00", "24:00"))
        .collect();
    let sch = schedule("UTC", &all_week, 0);
    let now = utc("2027-01-01T00:00:00Z");
    let around_monday = |from: &str| {
        let slots = available_slots(&sch, &[], &query(from, "2027-01-11T02:00:00Z", 50), now);
        starts(&slots, "UTC")
            .into_iter()
            .filter(|s| s.as_str() >= "2027-01-10T22:00:00+00:00")
            .collect::<Vec<_>>()
    };
    // Monday 4 January + 201 steps of 50 minutes = Sunday 10 January 23:30.
    let expected = [
        "2027-01-10T22:40:00+00:00",
        "2027-01-10T23:30:00+00:00",
        "2027-01-11T00:00:00+00:00",
        "2027-01-11T00:50:00+00:00",
    ];
    assert_eq!(around_monday("2027-01-10T22:00:00Z"), expected);
    assert_eq!(
        around_monday("2027-01-07T05:00:00Z"),
        expected,
        "whatever the window"
    );
    // In another zone, Monday 00:00 is the zone's.
    let kolkata = schedule("Asia/Kolkata", &all_week, 0);
    let slots = available_slots(
        &kolkata,
        &[],
        &query("2027-01-10T18:00:00Z", "2027-01-10T20:00:00Z", 50),
        now,
    );
    assert!(
        starts(&slots, "Asia/Kolkata").contains(&"2027-01-11T00:00:00+05:30".to_string()),
        "{:?}",
        starts(&slots, "Asia/Kolkata")
    );
}
