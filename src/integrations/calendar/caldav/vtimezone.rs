//! A calendar's own time zones: a `TZID` that is no IANA name (Outlook's `W. Europe Standard
//! Time`, a server's custom id) comes with a `VTIMEZONE` that says its rules: `STANDARD` and
//! `DAYLIGHT` observances, each an onset (`DTSTART`, local), its offsets (`TZOFFSETFROM`,
//! `TZOFFSETTO`) and when it recurs (`RRULE`, `RDATE`). Those rules are read here into the changes
//! of offset over the window, and the IANA zone that keeps the same offsets over the whole window,
//! day by day and at each change, stands for it (so recurrences keep its wall clock as for any
//! zone). A `VTIMEZONE` no IANA zone matches is not used (its times are read in the mentor's zone).
//! Matches are kept per definition and window, as a calendar repeats the same `VTIMEZONE` in every
//! object.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone as _, Utc};
use icalendar::parser::Component;

/// Onsets expanded per observance at most (a yearly rule from 1601, as Microsoft writes them, is
/// well under).
const MAX_ONSETS: u16 = 1_000;
/// Matches kept at most; past it the cache starts again.
const MAX_KEPT: usize = 1_000;

/// A definition's observances and the window's first and last day.
type MatchKey = (String, i64, i64);

static MATCHED: Mutex<Option<HashMap<MatchKey, Option<chrono_tz::Tz>>>> = Mutex::new(None);

/// One observance: its first onset (local time), offsets in seconds, and recurrence.
#[derive(Debug)]
struct Observance {
    start: NaiveDateTime,
    from: i32,
    to: i32,
    rules: Vec<String>,
    rdates: Vec<NaiveDateTime>,
}

/// `+0100`, `-0530`, `+013045` in seconds east of UTC.
fn offset(text: &str) -> Option<i32> {
    let text = text.trim();
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |i: usize| digits.get(i..i + 2).and_then(|p| p.parse::<i32>().ok());
    let seconds = part(0)? * 3600 + part(2)? * 60 + if digits.len() == 6 { part(4)? } else { 0 };
    (seconds < 24 * 3600).then_some(sign * seconds)
}

fn local(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.trim().trim_end_matches('Z'), "%Y%m%dT%H%M%S").ok()
}

fn observances(vtimezone: &Component<'_>) -> Vec<Observance> {
    vtimezone
        .components
        .iter()
        .filter(|c| {
            let name = c.name.as_str();
            name.eq_ignore_ascii_case("STANDARD") || name.eq_ignore_ascii_case("DAYLIGHT")
        })
        .filter_map(|c| {
            let value = |name: &str| {
                c.properties
                    .iter()
                    .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
                    .map(|p| p.val.as_str())
            };
            let all = |name: &str| {
                c.properties
                    .iter()
                    .filter(|p| p.name.as_str().eq_ignore_ascii_case(name))
                    .map(|p| p.val.as_str().to_string())
                    .collect::<Vec<_>>()
            };
            Some(Observance {
                start: local(value("DTSTART")?)?,
                from: offset(value("TZOFFSETFROM")?)?,
                to: offset(value("TZOFFSETTO")?)?,
                rules: all("RRULE"),
                rdates: all("RDATE")
                    .iter()
                    .flat_map(|v| v.split(',').filter_map(local).collect::<Vec<_>>())
                    .collect(),
            })
        })
        .collect()
}

/// The instants (UTC) each observance begins, up to `until`, with the offset it brings; sorted.
fn changes(observances: &[Observance], until: DateTime<Utc>) -> Vec<(DateTime<Utc>, i32)> {
    let mut found = Vec::new();
    for o in observances {
        // Onsets are local times in the offset in force before them.
        let at = |local: NaiveDateTime| local.and_utc() - Duration::seconds(i64::from(o.from));
        let mut onsets = vec![o.start];
        onsets.extend(o.rdates.iter().copied());
        if !o.rules.is_empty() {
            let start = o.start.and_utc().with_timezone(&rrule::Tz::UTC);
            let mut set = rrule::RRuleSet::new(start);
            for rule in &o.rules {
                let parsed = rule
                    .parse::<rrule::RRule<rrule::Unvalidated>>()
                    .ok()
                    .and_then(|r| r.validate(start).ok());
                if let Some(valid) = parsed {
                    set = set.rrule(valid);
                }
            }
            let limit = (until + Duration::days(1)).with_timezone(&rrule::Tz::UTC);
            onsets.extend(
                set.before(limit)
                    .all(MAX_ONSETS)
                    .dates
                    .into_iter()
                    .map(|d| d.naive_utc()),
            );
        }
        found.extend(
            onsets
                .into_iter()
                .map(at)
                .filter(|t| *t <= until)
                .map(|t| (t, o.to)),
        );
    }
    found.sort_by_key(|(t, _)| *t);
    found.dedup();
    found
}

/// The offset the changes give at `at`: the last change before it, else the offset the earliest
/// observance changed from.
fn offset_at(changes: &[(DateTime<Utc>, i32)], before_all: i32, at: DateTime<Utc>) -> i32 {
    match changes.partition_point(|(t, _)| *t <= at) {
        0 => before_all,
        n => changes[n - 1].1,
    }
}

/// The IANA zone keeping `vtimezone`'s offsets over `[from, to)`, if one does.
/// `budget`: the matches one read may still work out (a kept one is free); none left, the
/// definition is not used (a hostile calendar of endless distinct definitions costs no more).
pub fn matching(
    vtimezone: &Component<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    budget: &Cell<u32>,
) -> Option<chrono_tz::Tz> {
    let observances = observances(vtimezone);
    let key = (
        format!("{observances:?}"),
        from.timestamp() / 86_400,
        to.timestamp() / 86_400,
    );
    if let Some(found) = MATCHED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|m| m.get(&key))
    {
        return *found;
    }
    if budget.get() == 0 {
        return None;
    }
    budget.set(budget.get() - 1);
    let found = find(&observances, from, to);
    let mut kept = MATCHED.lock().unwrap_or_else(PoisonError::into_inner);
    let map = kept.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_KEPT {
        map.clear();
    }
    map.insert(key, found);
    found
}

fn find(
    observances: &[Observance],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<chrono_tz::Tz> {
    let earliest = observances.iter().min_by_key(|o| o.start)?;
    let before_all = earliest.from;
    let changes = changes(observances, to);
    // Every day of the window at noon UTC, and a minute either side of each change in it.
    let days = (to - from).num_days().clamp(1, 800);
    let mut samples: Vec<DateTime<Utc>> = (0..=days)
        .map(|d| from + Duration::days(d) + Duration::hours(12))
        .collect();
    for (t, _) in changes.iter().filter(|(t, _)| *t >= from && *t <= to) {
        samples.push(*t - Duration::minutes(1));
        samples.push(*t + Duration::minutes(1));
    }
    let wanted: Vec<i32> = samples
        .iter()
        .map(|s| offset_at(&changes, before_all, *s))
        .collect();
    let offset_of = |zone: chrono_tz::Tz, at: DateTime<Utc>| {
        zone.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc()
    };
    // Cheap checks first (the window's first and middle day), then every sample.
    let quick = [0, samples.len().min(days as usize + 1) / 2];
    chrono_tz::TZ_VARIANTS.iter().copied().find(|zone| {
        quick
            .iter()
            .all(|&i| offset_of(*zone, samples[i]) == wanted[i])
            && samples
                .iter()
                .zip(&wanted)
                .all(|(s, w)| offset_of(*zone, *s) == *w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use icalendar::parser::{read_calendar, unfold};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn zone_of(text: &str) -> Option<chrono_tz::Tz> {
        let unfolded = unfold(text);
        let calendar = read_calendar(&unfolded).unwrap();
        let vtimezone = calendar
            .components
            .iter()
            .find(|c| c.name.as_str() == "VTIMEZONE")
            .unwrap();
        find(
            &observances(vtimezone),
            at("2026-01-01T00:00:00Z"),
            at("2026-12-31T00:00:00Z"),
        )
    }

    #[test]
    fn a_windows_zone_is_read_by_its_rules() {
        // As Outlook writes Central Europe's rules (from 1601, last Sundays of March and October).
        let europe = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n\
            BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n\
            BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n\
            END:VTIMEZONE\r\nEND:VCALENDAR\r\n";
        let zone = zone_of(europe).expect("a match");
        for (instant, hours) in [
            ("2026-01-15T12:00:00Z", 1),
            ("2026-03-29T00:59:00Z", 1),
            ("2026-03-29T01:01:00Z", 2),
            ("2026-10-25T01:01:00Z", 1),
        ] {
            let offset = zone
                .offset_from_utc_datetime(&at(instant).naive_utc())
                .fix()
                .local_minus_utc();
            assert_eq!(offset, hours * 3600, "{instant} in {zone}");
        }
        // The US rules (second Sunday of March) are not Europe's.
        let us = europe
            .replace("BYDAY=-1SU;BYMONTH=3", "BYDAY=2SU;BYMONTH=3")
            .replace("BYDAY=-1SU;BYMONTH=10", "BYDAY=1SU;BYMONTH=11");
        let other = zone_of(&us);
        assert_ne!(other, Some(zone));
        // A fixed offset with no rules: a zone that never changes at +05:30.
        let india = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:India Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n";
        let kolkata = zone_of(india).expect("a match");
        assert_eq!(
            kolkata
                .offset_from_utc_datetime(&at("2026-06-01T00:00:00Z").naive_utc())
                .fix()
                .local_minus_utc(),
            19_800
        );
        assert_eq!(offset("+0530"), Some(19_800));
        assert_eq!(offset("-0345"), Some(-13_500));
        assert_eq!(offset("0100"), None);
        assert_eq!(offset("+9999"), None);
    }
}
