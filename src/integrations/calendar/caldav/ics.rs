//! A CalDAV object's events as the busy rules need them (RFC 5545): CalDAV servers hand back whole
//! `VCALENDAR`s, many with no free-busy report, so recurrences are expanded here. Parsing is the
//! `icalendar` crate's (content lines unfolded, properties with their parameters); expansion is the
//! `rrule` crate's (`RRULE`, `RDATE`, `EXDATE`), bounded to [`MAX_OCCURRENCES`] per event and to
//! the window read. `RECURRENCE-ID` overrides replace (or cancel) their occurrence.
//!
//! Times: `…Z` is UTC; `TZID=` names an IANA zone (also at the end of a prefixed id such as
//! Mozilla's `/mozilla.org/20050126_1/Europe/London`); a TZID that is neither is read by the rules of
//! the object's own `VTIMEZONE` for it (through the IANA zone that keeps them, see
//! [`vtimezone`](super::vtimezone)); floating times, and a TZID with neither, are the mentor's. `VALUE=DATE`
//! events are whole days, which the busy rules read in the mentor's zone. `TRANSP:TRANSPARENT` is
//! free; `STATUS:CANCELLED` is not busy. Our own session events carry `X-MENTOR-SESSION`.

use std::cell::Cell;
use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use icalendar::parser::{read_calendar, unfold, Component, Property};

use crate::domain::calendar::{occurrence_id, EventTime, ExternalEvent};
use crate::domain::time::TimeZone;

/// Occurrences read of one recurring event at most: a rule that would give more (a hostile
/// `FREQ=SECONDLY`, say) costs no more than this.
pub const MAX_OCCURRENCES: u16 = 1_000;
/// An object's own zone definitions read at most.
const MAX_OWN_ZONES: usize = 8;
/// The property that marks our own session events.
pub const OURS: &str = "X-MENTOR-SESSION";

/// A `DTSTART`-like value: a date, or an instant with the zone it was written in (recurrences
/// keep that zone's wall clock).
#[derive(Debug, Clone, Copy, PartialEq)]
enum When {
    Date(NaiveDate),
    At(DateTime<Utc>, chrono_tz::Tz),
}

impl When {
    fn instant(self, zone: chrono_tz::Tz) -> DateTime<Utc> {
        match self {
            When::At(at, _) => at,
            When::Date(d) => local_instant(zone, d.and_hms_opt(0, 0, 0).expect("midnight")),
        }
    }
}

/// A local time in `zone` as an instant: the earlier of an overlap, and past a gap by its length.
fn local_instant(zone: chrono_tz::Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = local + Duration::hours(1);
            zone.from_local_datetime(&later)
                .earliest()
                .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
        }
    }
}

/// The zone a `TZID` names, if it is (or ends with) an IANA name, or is a Windows name.
fn zone_of(tzid: &str) -> Option<chrono_tz::Tz> {
    let tzid = tzid.trim_matches('"');
    if let Ok(tz) = tzid.parse() {
        return Some(tz);
    }
    let parts: Vec<&str> = tzid.split('/').filter(|p| !p.is_empty()).collect();
    (1..parts.len())
        .find_map(|from| parts[from..].join("/").parse().ok())
        .or_else(|| TimeZone::named(tzid).map(TimeZone::tz))
}

fn param<'a>(p: &'a Property<'_>, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|x| x.val.as_ref())
        .map(|v| v.as_str())
}

/// The zones an object's own `VTIMEZONE`s stand for, by `TZID` (see [`vtimezone`](super::vtimezone)).
type OwnZones = HashMap<String, chrono_tz::Tz>;

/// The values of a date or date-time property (a list for `EXDATE`/`RDATE`).
fn whens(p: &Property<'_>, zone: chrono_tz::Tz, own: &OwnZones) -> Vec<When> {
    let date_only = param(p, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    let in_zone = param(p, "TZID")
        .and_then(|id| zone_of(id).or_else(|| own.get(id.trim_matches('"')).copied()))
        .unwrap_or(zone);
    p.val
        .as_str()
        .split(',')
        .filter_map(|v| {
            let v = v.trim();
            if date_only || v.len() == 8 {
                return NaiveDate::parse_from_str(v, "%Y%m%d").ok().map(When::Date);
            }
            if let Some(utc) = v.strip_suffix('Z') {
                return NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
                    .ok()
                    .map(|t| When::At(t.and_utc(), chrono_tz::UTC));
            }
            NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
                .ok()
                .map(|t| When::At(local_instant(in_zone, t), in_zone))
        })
        .collect()
}

/// An RFC 5545 `DURATION` (`P1D`, `PT1H30M`, `P2W`, `-PT5M`).
fn duration(text: &str) -> Option<Duration> {
    let (negative, rest) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim().trim_start_matches('+')),
    };
    let rest = rest.strip_prefix('P')?;
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut in_time = false;
    for c in rest.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => number.push(c),
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                total += match (unit, in_time) {
                    ('W', false) => Duration::weeks(n),
                    ('D', false) => Duration::days(n),
                    ('H', true) => Duration::hours(n),
                    ('M', true) => Duration::minutes(n),
                    ('S', true) => Duration::seconds(n),
                    _ => return None,
                };
            }
        }
    }
    number
        .is_empty()
        .then_some(if negative { -total } else { total })
}

/// One `VEVENT` as read.
struct Vevent {
    uid: String,
    recurrence_id: Option<When>,
    start: When,
    /// From `DTEND`, else `DURATION`, else a day for dates and nothing for times.
    length: Duration,
    rules: Vec<String>,
    exdates: Vec<When>,
    rdates: Vec<When>,
    cancelled: bool,
    transparent: bool,
    ours: bool,
}

fn vevent(c: &Component<'_>, zone: chrono_tz::Tz, own: &OwnZones) -> Option<Vevent> {
    let whens = |p: &Property<'_>, zone| whens(p, zone, own);
    let prop = |name: &str| {
        c.properties
            .iter()
            .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
    };
    let all = |name: &'static str| {
        c.properties
            .iter()
            .filter(move |p| p.name.as_str().eq_ignore_ascii_case(name))
    };
    let text = |name: &str| prop(name).map(|p| p.val.as_str().trim().to_ascii_uppercase());
    let start = whens(prop("DTSTART")?, zone).into_iter().next()?;
    let length = match (prop("DTEND").map(|p| whens(p, zone)), prop("DURATION")) {
        (Some(end), _) if !end.is_empty() => end[0].instant(zone) - start.instant(zone),
        (_, Some(d)) => duration(d.val.as_str())?,
        _ => match start {
            When::Date(_) => Duration::days(1),
            When::At(..) => Duration::zero(),
        },
    };
    Some(Vevent {
        uid: prop("UID")
            .map(|p| p.val.as_str().to_string())
            .unwrap_or_default(),
        recurrence_id: prop("RECURRENCE-ID").and_then(|p| whens(p, zone).into_iter().next()),
        start,
        length,
        rules: all("RRULE").map(|p| p.val.as_str().to_string()).collect(),
        exdates: all("EXDATE").flat_map(|p| whens(p, zone)).collect(),
        rdates: all("RDATE").flat_map(|p| whens(p, zone)).collect(),
        cancelled: text("STATUS").as_deref() == Some("CANCELLED"),
        transparent: text("TRANSP").as_deref() == Some("TRANSPARENT"),
        ours: prop(OURS).is_some(),
    })
}

/// The starts of `e`'s occurrences that may overlap `[from, to)`.
fn occurrences(
    e: &Vevent,
    zone: chrono_tz::Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<When>, String> {
    if e.rules.is_empty() && e.rdates.is_empty() {
        return Ok(vec![e.start]);
    }
    let rz = |at: DateTime<Utc>| at.with_timezone(&rrule::Tz::UTC);
    // Dates recur as midnights in the mentor's zone, times in the zone they were written in (so a
    // weekly 09:00 stays 09:00 across a change of offset).
    let tz = rrule::Tz::Tz(match e.start {
        When::At(_, written_in) => written_in,
        When::Date(_) => zone,
    });
    let start = e.start.instant(zone).with_timezone(&tz);
    let mut set = rrule::RRuleSet::new(start);
    for rule in &e.rules {
        let parsed: rrule::RRule<rrule::Unvalidated> = rule
            .parse()
            .map_err(|err| format!("RRULE {rule:?}: {err}"))?;
        let valid = parsed
            .validate(start)
            .map_err(|err| format!("RRULE {rule:?}: {err}"))?;
        set = set.rrule(valid);
    }
    for d in &e.rdates {
        set = set.rdate(d.instant(zone).with_timezone(&tz));
    }
    for d in &e.exdates {
        set = set.exdate(d.instant(zone).with_timezone(&tz));
    }
    let found = set
        .after(rz(from - e.length.max(Duration::zero()) - Duration::seconds(1)).with_timezone(&tz))
        .before(rz(to).with_timezone(&tz))
        .all(MAX_OCCURRENCES);
    Ok(found
        .dates
        .into_iter()
        .map(|d| match e.start {
            When::Date(_) => When::Date(d.date_naive()),
            When::At(_, written_in) => When::At(d.with_timezone(&Utc), written_in),
        })
        .collect())
}

/// What one object's events are called: ours by the object's path (one event, which may move),
/// the others by the object's key and each occurrence's original start.
pub struct Names<'a> {
    pub path: &'a str,
    pub key: &'a str,
    /// The domain of our sessions' `UID`s: an event with such a `UID` is a session even without
    /// our mark (the mentor's calendar took in its email invitation), never busy time.
    pub invite_domain: &'a str,
    /// How many more `VTIMEZONE`s the read may work out (see [`super::vtimezone::matching`]).
    pub zone_budget: &'a Cell<u32>,
}

/// One occurrence of `e`, starting at `at`; `original`: the start the recurrence gave it (its
/// `RECURRENCE-ID` for an override), which names it.
fn external(
    e: &Vevent,
    at: When,
    original: When,
    names: &Names<'_>,
    zone: chrono_tz::Tz,
) -> ExternalEvent {
    let when = match at {
        When::Date(d) => EventTime::AllDay {
            start: d,
            end: d + Duration::days(e.length.num_days().max(1)),
        },
        When::At(t, _) => EventTime::At {
            start: t,
            end: t + e.length,
        },
    };
    ExternalEvent {
        id: if e.ours {
            names.path.to_string()
        } else {
            occurrence_id(names.key, original.instant(zone).timestamp())
        },
        cancelled: e.cancelled,
        transparent: e.transparent,
        declined: false,
        ours: e.ours,
        when: Some(when),
    }
}

/// The events of one calendar object that may overlap `[from, to)`, each occurrence its own event
/// (see [`Names`]).
pub fn events_of(
    ics: &str,
    names: &Names<'_>,
    zone: chrono_tz::Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ExternalEvent>, String> {
    let unfolded = unfold(ics);
    let calendar = read_calendar(&unfolded)?;
    let invite = format!("@{}", names.invite_domain);
    // Zones the object defines under ids that are not IANA names.
    let own: OwnZones = calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VTIMEZONE"))
        .filter_map(|c| {
            let id = c
                .properties
                .iter()
                .find(|p| p.name.as_str().eq_ignore_ascii_case("TZID"))?
                .val
                .as_str()
                .trim()
                .to_string();
            if zone_of(&id).is_some() {
                return None;
            }
            super::vtimezone::matching(c, from, to, names.zone_budget).map(|tz| (id, tz))
        })
        .take(MAX_OWN_ZONES)
        .collect();
    let read: Vec<Vevent> = calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .filter_map(|c| vevent(c, zone, &own))
        .map(|mut e| {
            e.ours |= !names.invite_domain.is_empty() && e.uid.ends_with(&invite);
            e
        })
        .collect();
    let overrides: Vec<&Vevent> = read.iter().filter(|e| e.recurrence_id.is_some()).collect();
    let mut events = Vec::new();
    for master in read.iter().filter(|e| e.recurrence_id.is_none()) {
        for at in occurrences(master, zone, from, to)? {
            let replaced = overrides.iter().any(|o| {
                o.uid == master.uid
                    && o.recurrence_id.map(|r| r.instant(zone)) == Some(at.instant(zone))
            });
            if !replaced {
                events.push(external(master, at, at, names, zone));
            }
        }
    }
    for o in overrides {
        let original = o.recurrence_id.unwrap_or(o.start);
        events.push(external(o, o.start, original, names, zone));
    }
    events.retain(|e| match e.when {
        Some(EventTime::At { start, end }) => start < to && end > from,
        _ => true,
    });
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn read(body: &str, zone: &str) -> Vec<ExternalEvent> {
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n"
        );
        events_of(
            &ics,
            &Names {
                path: "/alice/work/x.ics",
                key: "k",
                invite_domain: "mentors.example",
                zone_budget: &Cell::new(4),
            },
            zone.parse().unwrap(),
            at("2026-03-01T00:00:00Z"),
            at("2026-05-01T00:00:00Z"),
        )
        .unwrap()
    }

    fn starts(events: &[ExternalEvent]) -> Vec<String> {
        let mut s: Vec<String> = events
            .iter()
            .filter(|e| !e.cancelled)
            .map(|e| match e.when {
                Some(EventTime::At { start, .. }) => start.to_rfc3339(),
                Some(EventTime::AllDay { start, .. }) => start.to_string(),
                None => String::new(),
            })
            .collect();
        s.sort();
        s
    }

    #[test]
    fn a_weekly_event_keeps_its_wall_clock_across_a_change_of_offset() {
        // Mondays 09:00 London, four of them around the 29 March change: 09:00 UTC, then 08:00 UTC.
        let events = read("BEGIN:VEVENT\r\nUID:w1\r\nDTSTART;TZID=Europe/London:20260316T090000\r\nDTEND;TZID=Europe/London:20260316T100000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Europe/London:20260323T090000\r\nEND:VEVENT\r\n", "UTC");
        assert_eq!(
            starts(&events),
            vec![
                "2026-03-16T09:00:00+00:00",
                "2026-03-30T08:00:00+00:00",
                "2026-04-06T08:00:00+00:00"
            ]
        );
        assert!(events.iter().all(|e| matches!(e.when, Some(EventTime::At { start, end }) if end - start == Duration::hours(1))));
    }

    #[test]
    fn overrides_move_or_cancel_their_occurrence() {
        let body = "BEGIN:VEVENT\r\nUID:d1\r\nDTSTART:20260302T140000Z\r\nDURATION:PT30M\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:d1\r\nRECURRENCE-ID:20260303T140000Z\r\nDTSTART:20260303T160000Z\r\nDURATION:PT30M\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:d1\r\nRECURRENCE-ID:20260304T140000Z\r\nDTSTART:20260304T140000Z\r\nDURATION:PT30M\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n";
        let events = read(body, "UTC");
        assert_eq!(
            starts(&events),
            vec!["2026-03-02T14:00:00+00:00", "2026-03-03T16:00:00+00:00"]
        );
        assert_eq!(events.iter().filter(|e| e.cancelled).count(), 1);
    }

    #[test]
    fn all_day_floating_transparent_and_ours_read_as_such() {
        let body = "BEGIN:VEVENT\r\nUID:a1\r\nDTSTART;VALUE=DATE:20260310\r\nDTEND;VALUE=DATE:20260312\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:f1\r\nDTSTART:20260311T090000\r\nDTEND:20260311T100000\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:t1\r\nDTSTART:20260312T090000Z\r\nDTEND:20260312T100000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:o1\r\nDTSTART:20260313T090000Z\r\nDTEND:20260313T100000Z\r\nX-MENTOR-SESSION:s1\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:s2@mentors.example\r\nDTSTART:20260314T090000Z\r\nDTEND:20260314T100000Z\r\nEND:VEVENT\r\n";
        let events = read(body, "Asia/Kolkata");
        // Each named by the object's key and its start; ours by the object's path.
        let by_uid = |uid: &str| {
            let id = match uid {
                "a1" => occurrence_id("k", at("2026-03-09T18:30:00Z").timestamp()),
                "f1" => occurrence_id("k", at("2026-03-11T03:30:00Z").timestamp()),
                "t1" => occurrence_id("k", at("2026-03-12T09:00:00Z").timestamp()),
                _ => "/alice/work/x.ics".to_string(),
            };
            events.iter().find(|e| e.id == id).unwrap()
        };
        assert_eq!(
            by_uid("a1").when,
            Some(EventTime::AllDay {
                start: "2026-03-10".parse().unwrap(),
                end: "2026-03-12".parse().unwrap()
            })
        );
        // Floating 09:00 is the mentor's 09:00 (Kolkata, UTC+05:30).
        assert_eq!(
            by_uid("f1").when,
            Some(EventTime::At {
                start: at("2026-03-11T03:30:00Z"),
                end: at("2026-03-11T04:30:00Z")
            })
        );
        assert!(by_uid("t1").transparent);
        assert!(by_uid("o1").ours);
        // A session's invitation taken into the calendar is ours too, though it lacks the mark.
        assert!(events
            .iter()
            .filter(|e| matches!(e.when, Some(EventTime::At { start, .. }) if start == at("2026-03-14T09:00:00Z")))
            .all(|e| e.ours));
        assert_eq!(events.iter().filter(|e| e.ours).count(), 2);
    }

    #[test]
    fn a_zone_the_object_defines_is_read_by_its_rules() {
        // A server's own id for Central Europe, with its VTIMEZONE (rules as Outlook writes them):
        // 10:00 there is 09:00 UTC in March before the change and 08:00 UTC after it.
        let body = "BEGIN:VTIMEZONE\r\nTZID:Amsterdam Berlin Rome (custom)\r\n\
            BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n\
            BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n\
            END:VTIMEZONE\r\n\
            BEGIN:VEVENT\r\nUID:w1\r\nDTSTART;TZID=Amsterdam Berlin Rome (custom):20260323T100000\r\nDTEND;TZID=Amsterdam Berlin Rome (custom):20260323T110000\r\nRRULE:FREQ=WEEKLY;COUNT=2\r\nEND:VEVENT\r\n";
        // Read for a mentor in Kolkata: the event's own zone wins over theirs.
        let events = read(body, "Asia/Kolkata");
        assert_eq!(
            starts(&events),
            vec!["2026-03-23T09:00:00+00:00", "2026-03-30T08:00:00+00:00"]
        );
    }

    #[test]
    fn zone_definitions_past_the_reads_budget_are_not_worked_out() {
        // A definition no other test uses (so none is kept from before): with no budget left it
        // is not read, and the times are the mentor's.
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
            BEGIN:VTIMEZONE\r\nTZID:Budget Test Zone\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0345\r\nTZOFFSETTO:+0545\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
            BEGIN:VEVENT\r\nUID:b1\r\nDTSTART;TZID=Budget Test Zone:20260302T120000\r\nDTEND;TZID=Budget Test Zone:20260302T130000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let read = |budget: u32| {
            let events = events_of(
                ics,
                &Names {
                    path: "/x",
                    key: "k",
                    invite_domain: "",
                    zone_budget: &Cell::new(budget),
                },
                chrono_tz::UTC,
                at("2026-03-01T00:00:00Z"),
                at("2026-04-01T00:00:00Z"),
            )
            .unwrap();
            starts(&events)
        };
        assert_eq!(
            read(0),
            vec!["2026-03-02T12:00:00+00:00"],
            "the mentor's zone (UTC)"
        );
        // With a budget: +05:45 (Kathmandu's offset) all year.
        assert_eq!(read(1), vec!["2026-03-02T06:15:00+00:00"]);
    }

    #[test]
    fn windows_zone_ids_resolve_without_a_definition() {
        let events = read("BEGIN:VEVENT\r\nUID:p1\r\nDTSTART;TZID=Pacific Standard Time:20260302T090000\r\nDTEND;TZID=Pacific Standard Time:20260302T100000\r\nEND:VEVENT\r\n", "UTC");
        assert_eq!(starts(&events), vec!["2026-03-02T17:00:00+00:00"]);
    }

    #[test]
    fn prefixed_zone_ids_resolve_and_hostile_rules_are_bounded() {
        let events = read("BEGIN:VEVENT\r\nUID:m1\r\nDTSTART;TZID=/mozilla.org/20050126_1/America/New_York:20260302T090000\r\nDTEND;TZID=/mozilla.org/20050126_1/America/New_York:20260302T100000\r\nEND:VEVENT\r\n", "UTC");
        assert_eq!(starts(&events), vec!["2026-03-02T14:00:00+00:00"]);
        // Every second, forever: at most MAX_OCCURRENCES are read.
        let events = read("BEGIN:VEVENT\r\nUID:s1\r\nDTSTART:20260301T000000Z\r\nDURATION:PT1S\r\nRRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\n", "UTC");
        assert_eq!(events.len(), usize::from(MAX_OCCURRENCES));
        assert_eq!(
            duration("P1W2DT3H4M5S"),
            Some(
                Duration::weeks(1)
                    + Duration::days(2)
                    + Duration::hours(3)
                    + Duration::minutes(4)
                    + Duration::seconds(5)
            )
        );
        assert_eq!(duration("-PT5M"), Some(-Duration::minutes(5)));
        assert_eq!(duration("1H"), None);
        let garbage = events_of(
            "not a calendar",
            &Names {
                path: "/x",
                key: "k",
                invite_domain: "",
                zone_budget: &Cell::new(4),
            },
            chrono_tz::UTC,
            at("2026-03-01T00:00:00Z"),
            at("2026-03-02T00:00:00Z"),
        );
        assert!(garbage.is_err() || garbage.unwrap().is_empty());
    }
}
