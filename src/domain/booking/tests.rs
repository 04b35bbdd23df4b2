use chrono::Weekday;

use super::*;
use crate::domain::settings::BookingRules;
use crate::domain::time::LocalTime;
use crate::domain::weekly::{DateOverrides, TimeRange, WeeklyPattern};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn zone(name: &str) -> TimeZone {
    name.parse().unwrap()
}

fn range(a: &str, b: &str) -> TimeRange {
    TimeRange::new(
        a.parse::<LocalTime>().unwrap(),
        b.parse::<LocalTime>().unwrap(),
        "t",
    )
    .unwrap()
}

/// Monday and Thursday 09:00-12:00 in London, default rules (15 min buffer, 2 h notice, 28 days).
fn schedule() -> Schedule {
    Schedule {
        zone: zone("Europe/London"),
        weekly: WeeklyPattern::from_blocks([
            (Weekday::Mon, range("09:00", "12:00")),
            (Weekday::Thu, range("09:00", "12:00")),
        ]),
        overrides: DateOverrides::new(),
        rules: BookingRules::default(),
    }
}

fn plan(firsts: &[&str], weeks: Option<i32>) -> DomainResult<BookingPlan> {
    let freq = match firsts.len() {
        1 => Frequency::OnceWeekly,
        2 => Frequency::TwiceWeekly,
        _ => Frequency::ThriceWeekly,
    };
    let firsts: Vec<_> = firsts.iter().map(|s| utc(s)).collect();
    BookingPlan::new(
        BookingKind::Regular,
        freq,
        zone("Europe/London"),
        &firsts,
        60,
        weeks,
    )
}

const NOW: &str = "2026-01-01T00:00:00Z";

fn check(plan: &BookingPlan, busy: &[Interval], sessions: &[Interval]) -> Vec<(u32, ClashReason)> {
    let schedule = schedule();
    let around = Surroundings {
        schedule: &schedule,
        busy,
        sessions,
        now: utc(NOW),
    };
    let weeks = plan.span.initial_weeks();
    clashes(&around, &plan.occurrences(0..weeks))
        .into_iter()
        .map(|c| (c.occurrence.week, c.reason))
        .collect()
}

fn hour(start: &str) -> Interval {
    Interval::new(utc(start), utc(start) + Duration::hours(1))
}

#[test]
fn a_free_twice_weekly_plan_has_no_clash() {
    let p = plan(&["2026-01-05T09:00:00Z", "2026-01-08T10:00:00Z"], Some(4)).unwrap();
    assert_eq!(p.occurrences(0..4).len(), 8);
    assert!(check(&p, &[], &[]).is_empty());
}

#[test]
fn every_week_is_checked_and_each_clash_named() {
    let p = plan(&["2026-01-05T09:00:00Z"], Some(4)).unwrap();
    let busy = [hour("2026-01-19T09:30:00Z")];
    let taken = [hour("2026-01-26T10:00:00Z")]; // ends 11:00; the buffer reaches back to 09:45.
    assert_eq!(
        check(&p, &busy, &taken),
        [(2, ClashReason::MentorBusy), (3, ClashReason::SessionTaken)]
    );
}

#[test]
fn the_buffer_applies_to_sessions_and_busy_time() {
    let p = plan(&["2026-01-05T10:00:00Z"], Some(1)).unwrap();
    // A session ending at 09:50 is within 15 minutes of 10:00.
    let taken = [Interval::new(
        utc("2026-01-05T08:50:00Z"),
        utc("2026-01-05T09:50:00Z"),
    )];
    assert_eq!(check(&p, &[], &taken), [(0, ClashReason::SessionTaken)]);
    // One ending at 09:45 is not.
    let taken = [Interval::new(
        utc("2026-01-05T08:45:00Z"),
        utc("2026-01-05T09:45:00Z"),
    )];
    assert!(check(&p, &[], &taken).is_empty());
}

#[test]
fn outside_availability_overrides_notice_and_horizon() {
    // 11:30 runs past the 12:00 end of the block.
    let p = plan(&["2026-01-05T11:30:00Z"], Some(1)).unwrap();
    assert_eq!(check(&p, &[], &[]), [(0, ClashReason::OutsideAvailability)]);
    // An override that closes the third Monday.
    let mut s = schedule();
    s.overrides.insert(
        chrono::NaiveDate::from_ymd_opt(2026, 1, 19).unwrap(),
        vec![],
    );
    let p = plan(&["2026-01-05T09:00:00Z"], Some(4)).unwrap();
    let around = Surroundings {
        schedule: &s,
        busy: &[],
        sessions: &[],
        now: utc(NOW),
    };
    let got: Vec<_> = clashes(&around, &p.occurrences(0..4))
        .into_iter()
        .map(|c| (c.occurrence.week, c.reason))
        .collect();
    assert_eq!(got, [(2, ClashReason::OutsideAvailability)]);
    // Within the two hours of notice.
    let around = Surroundings {
        now: utc("2026-01-05T07:30:00Z"),
        ..around
    };
    let got: Vec<_> = clashes(&around, &p.occurrences(0..1))
        .into_iter()
        .map(|c| c.reason)
        .collect();
    assert_eq!(got, [ClashReason::TooSoon]);
    // Beyond the 28-day horizon for the first week, but later weeks may run past it.
    let far = plan(&["2026-02-02T09:00:00Z"], Some(1)).unwrap();
    assert_eq!(check(&far, &[], &[]), [(0, ClashReason::BeyondHorizon)]);
    let long = plan(&["2026-01-05T09:00:00Z"], Some(8)).unwrap();
    assert!(check(&long, &[], &[]).is_empty());
}

#[test]
fn bad_requests_name_their_field() {
    let field = |r: DomainResult<BookingPlan>| r.unwrap_err().field;
    assert_eq!(
        field(plan(&["2026-01-05T09:00:30Z"], Some(4))),
        "input.slots[0]"
    );
    assert_eq!(
        field(plan(&["2026-01-05T09:00:00Z"], Some(0))),
        "input.weeks"
    );
    assert_eq!(
        field(plan(&["2026-01-05T09:00:00Z"], Some(53))),
        "input.weeks"
    );
    assert_eq!(
        field(plan(
            &["2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"],
            Some(4)
        )),
        "input.slots"
    );
    assert_eq!(
        field(plan(
            &["2026-01-05T09:00:00Z", "2026-01-05T09:30:00Z"],
            Some(4)
        )),
        "input.slots"
    );
    // Sunday 23:30 and the next Monday 00:00 would collide once the week comes round.
    assert_eq!(
        field(plan(
            &["2026-01-05T00:00:00Z", "2026-01-11T23:30:00Z"],
            Some(4)
        )),
        "input.slots"
    );
    let wrong_count = BookingPlan::new(
        BookingKind::Regular,
        Frequency::TwiceWeekly,
        zone("UTC"),
        &[utc("2026-01-05T09:00:00Z")],
        60,
        Some(4),
    );
    assert_eq!(field(wrong_count), "input.slots");
    for minutes in [0, -30, MAX_SESSION_MINUTES + 1] {
        let r = BookingPlan::new(
            BookingKind::Regular,
            Frequency::OnceWeekly,
            zone("UTC"),
            &[utc("2026-01-05T09:00:00Z")],
            minutes,
            Some(4),
        );
        assert_eq!(field(r), "input.durationMinutes");
    }
}

#[test]
fn a_trial_is_one_session() {
    let one = [utc("2026-01-05T09:00:00Z")];
    let trial = |f, weeks| BookingPlan::new(BookingKind::Trial, f, zone("UTC"), &one, 30, weeks);
    let p = trial(Frequency::OnceWeekly, Some(4)).unwrap();
    assert_eq!(p.span, Span::Weeks(1));
    assert_eq!(
        trial(Frequency::OnceWeekly, None).unwrap_err().field,
        "input.weeks"
    );
    assert_eq!(
        trial(Frequency::TwiceWeekly, Some(4)).unwrap_err().field,
        "input.frequency"
    );
}

#[test]
fn ongoing_creates_four_weeks() {
    let p = plan(&["2026-01-05T09:00:00Z"], None).unwrap();
    assert_eq!(p.span, Span::Ongoing);
    assert_eq!(p.span.initial_weeks(), ONGOING_WEEKS_AHEAD);
}

#[test]
fn weekly_slots_keep_local_time_through_dst_in_the_mentor_zone() {
    // A New York mentor, Monday and Wednesday 09:00 local; the US changes on 2026-03-08.
    let ny = zone("America/New_York");
    let p = BookingPlan::new(
        BookingKind::Regular,
        Frequency::TwiceWeekly,
        ny,
        &[utc("2026-03-02T14:00:00Z"), utc("2026-03-04T14:00:00Z")],
        60,
        Some(2),
    )
    .unwrap();
    let local: Vec<String> = p
        .occurrences(0..2)
        .iter()
        .map(|o| {
            o.interval
                .start
                .with_timezone(&ny.tz())
                .format("%a %H:%M %Z")
                .to_string()
        })
        .collect();
    assert_eq!(
        local,
        [
            "Mon 09:00 EST",
            "Wed 09:00 EST",
            "Mon 09:00 EDT",
            "Wed 09:00 EDT"
        ]
    );
    // Seen from London (which changes three weeks later) the instant moves an hour earlier.
    let london: Vec<String> = p
        .occurrences(0..2)
        .iter()
        .map(|o| {
            o.interval
                .start
                .with_timezone(&zone("Europe/London").tz())
                .format("%H:%M")
                .to_string()
        })
        .collect();
    assert_eq!(london, ["14:00", "14:00", "13:00", "13:00"]);
}

#[test]
fn reasons_serialize_as_api_codes() {
    assert_eq!(
        serde_json::to_string(&ClashReason::OutsideAvailability).unwrap(),
        "\"OUTSIDE_AVAILABILITY\""
    );
}
