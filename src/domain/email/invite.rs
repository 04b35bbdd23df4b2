//! Calendar invites (iCalendar, RFC 5545, as iTIP messages, RFC 5546) for sessions.
//!
//! One `VEVENT` per session, whose `UID` is stable for the session's life (`{session id}@{domain}`),
//! so a mail client that added the invite updates or removes that same event later:
//! - `REQUEST` for a new or moved session, with the session's `SEQUENCE` (raised on every move);
//! - `CANCEL` with `STATUS:CANCELLED` and `SEQUENCE` one above the last one sent.
//!
//! Times are written in UTC (no `VTIMEZONE` needed): every session is a single instance, and the
//! recurrence lives in the platform, not in the invite.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, EventLike, EventStatus, Property};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteMethod {
    Request,
    Cancel,
}

impl InviteMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteMethod::Request => "REQUEST",
            InviteMethod::Cancel => "CANCEL",
        }
    }
}

/// Someone on the invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// One session as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    pub session_id: String,
    /// The session's current `sequence` (0 when never moved).
    pub sequence: i32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: String,
    /// Where to join (shown as the location and the URL).
    pub join_url: Option<String>,
}

/// An invite for some sessions of one booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub method: InviteMethod,
    /// `UID`s end in `@{domain}`.
    pub domain: String,
    pub product: String,
    pub organizer: Person,
    pub attendees: Vec<Person>,
    pub events: Vec<SessionEvent>,
    /// `DTSTAMP`: when the invite was made.
    pub stamp: DateTime<Utc>,
}

impl Invite {
    /// The `.ics` text (CRLF line ends, folded at 75 octets, text escaped).
    pub fn to_ics(&self) -> String {
        let mut calendar = Calendar::empty();
        calendar
            .append_property(Property::new("PRODID", &self.product))
            .append_property(Property::new("VERSION", "2.0"))
            .append_property(Property::new("CALSCALE", "GREGORIAN"))
            .append_property(Property::new("METHOD", self.method.as_str()));
        for session in &self.events {
            calendar.push(self.event(session));
        }
        calendar.to_string()
    }

    fn event(&self, s: &SessionEvent) -> icalendar::Event {
        let mut event = icalendar::Event::new();
        let sequence = match self.method {
            InviteMethod::Request => s.sequence,
            InviteMethod::Cancel => s.sequence + 1,
        };
        event
            .uid(&format!("{}@{}", s.session_id, self.domain))
            .timestamp(self.stamp)
            .sequence(sequence.max(0) as u32)
            .starts(s.start)
            .ends(s.end)
            .summary(&s.summary)
            .description(&s.description)
            .append_property(
                Property::new("ORGANIZER", format!("mailto:{}", self.organizer.email))
                    .add_parameter("CN", &self.organizer.name)
                    .done(),
            );
        for person in &self.attendees {
            event.append_multi_property(
                Property::new("ATTENDEE", format!("mailto:{}", person.email))
                    .add_parameter("CN", &person.name)
                    .add_parameter("ROLE", "REQ-PARTICIPANT")
                    .add_parameter("PARTSTAT", "ACCEPTED")
                    .done(),
            );
        }
        if let Some(url) = &s.join_url {
            event.location(url).url(url);
        }
        match self.method {
            InviteMethod::Request => event.status(EventStatus::Confirmed),
            InviteMethod::Cancel => event.status(EventStatus::Cancelled),
        };
        event.add_property("TRANSP", "OPAQUE");
        event.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn invite(method: InviteMethod) -> Invite {
        Invite {
            method,
            domain: "mentors.example".into(),
            product: "-//Example//Scheduler//EN".into(),
            organizer: Person {
                name: "Example Learning".into(),
                email: "bookings@mentors.example".into(),
            },
            attendees: vec![Person {
                name: "Doe, Jane".into(),
                email: "jane@example.com".into(),
            }],
            events: vec![SessionEvent {
                session_id: "s1".into(),
                sequence: 2,
                start: Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap(),
                summary: "Algebra; week 1, with Ana".into(),
                description: "A long description that goes well past the seventy-five octet limit of one content line, with ünïcödé".into(),
                join_url: Some("https://meet.example/room-1".into()),
            }],
            stamp: Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn lines_are_crlf_folded_and_text_is_escaped() {
        let ics = invite(InviteMethod::Request).to_ics();
        assert!(ics.contains("METHOD:REQUEST\r\n"), "{ics}");
        assert!(
            ics.contains("SUMMARY:Algebra\\; week 1\\, with Ana\r\n"),
            "{ics}"
        );
        assert!(ics.contains("SEQUENCE:2\r\n") && ics.contains("STATUS:CONFIRMED\r\n"));
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is {} octets", line.len());
        }
        assert!(
            !ics.replace("\r\n", "").contains('\n'),
            "bare LF in {ics:?}"
        );
    }

    #[test]
    fn a_cancel_raises_the_sequence_and_says_cancelled() {
        let ics = invite(InviteMethod::Cancel).to_ics();
        assert!(ics.contains("METHOD:CANCEL\r\n") && ics.contains("STATUS:CANCELLED\r\n"));
        assert!(ics.contains("SEQUENCE:3\r\n"), "{ics}");
        assert!(ics.contains("UID:s1@mentors.example\r\n"));
    }
}
