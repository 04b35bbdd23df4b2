//! A session as a CalDAV calendar object, and the names objects go by.
//!
//! A session's object holds one `VEVENT` whose `UID` is its email invite's
//! (`{session id}@{domain}`), marked `X-MENTOR-SESSION` so reads know it is ours (never busy time,
//! followed by the two-way rules). It carries no `ORGANIZER` or `ATTENDEE`: a server that schedules
//! (RFC 6638: iCloud, Fastmail) would send invitations of its own, and the student has ours.
//! Moving a session changes the times of the object as the server holds it, keeping what the
//! mentor added (alarms, notes), and raises its `SEQUENCE`.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, EventLike, Property};
use sha2::{Digest, Sha256};

use super::ics::OURS;
use crate::integrations::calendar::api::SessionEvent;

/// The object of a new session event.
pub fn session_object(event: &SessionEvent<'_>, uid: &str, now: DateTime<Utc>) -> String {
    let mut vevent = icalendar::Event::new();
    vevent
        .uid(uid)
        .timestamp(now)
        .sequence(0)
        .starts(event.start)
        .ends(event.end)
        .summary(event.summary)
        .description(event.description)
        .location(event.location)
        .url(event.location)
        .add_property("TRANSP", "OPAQUE")
        .add_property(OURS, event.session_id);
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("PRODID", "-//mentor-scheduler//sessions//EN"))
        .append_property(Property::new("VERSION", "2.0"))
        .push(vevent.done());
    calendar.to_string()
}

/// `ics` with its events at `[start, end)` and their `SEQUENCE` raised; everything else kept.
pub fn retimed(
    ics: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let mut calendar: Calendar = ics.parse()?;
    let mut moved = 0;
    for event in calendar.events_mut() {
        let sequence = event
            .property_value("SEQUENCE")
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0);
        event
            .remove_property("DURATION")
            .starts(start)
            .ends(end)
            .sequence(sequence.saturating_add(1))
            .timestamp(now);
        moved += 1;
    }
    if moved == 0 {
        return Err("the object holds no event".into());
    }
    Ok(calendar.to_string())
}

/// The path of `href` (as a multistatus names a member) under `calendar`, the form every object
/// is known by, whichever way the server wrote it.
pub fn path_of(calendar: &url::Url, href: &str) -> Option<String> {
    calendar.join(href).ok().map(|u| u.path().to_string())
}

/// The short, fixed-length key an object's busy blocks are kept under (its occurrences are
/// `{key}#{start}`): the first 128 bits of the SHA-256 of its path, in hex.
pub fn key_of(path: &str) -> String {
    hex::encode(&Sha256::digest(path.as_bytes())[..16])
}

/// The URL of a session's object: its path once written (an id starting with `/`), else
/// `{event id}.ics` in the calendar.
pub fn url_of(calendar: &url::Url, event_id: &str) -> Option<url::Url> {
    if event_id.starts_with('/') {
        // A path on the calendar's own server (`//host/...` would be another host).
        return calendar
            .join(event_id)
            .ok()
            .filter(|u| u.origin() == calendar.origin());
    }
    if event_id.is_empty()
        || !event_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    collection(calendar).join(&format!("{event_id}.ics")).ok()
}

/// A calendar's URL as a collection (ending in `/`, so members join under it).
pub fn collection(calendar: &url::Url) -> url::Url {
    let mut url = calendar.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_session_object_is_ours_and_moves_keeping_what_the_mentor_added() {
        let event = SessionEvent {
            event_id: "abc",
            session_id: "s-1",
            summary: "Rust with Ann",
            description: "Mentoring session",
            location: "https://app.example/join/x",
            start: at("2026-03-02T09:00:00Z"),
            end: at("2026-03-02T10:00:00Z"),
            attendees: &["ann@example.com"],
        };
        let ics = session_object(&event, "s-1@mentors.example", at("2026-03-01T00:00:00Z"));
        assert!(ics.contains("UID:s-1@mentors.example\r\n"), "{ics}");
        assert!(ics.contains("X-MENTOR-SESSION:s-1\r\n"));
        assert!(ics.contains("DTSTART:20260302T090000Z\r\n"));
        assert!(!ics.contains("ATTENDEE") && !ics.contains("ORGANIZER"));
        // The mentor added an alarm; the move keeps it and raises the sequence.
        let edited = ics.replace(
            "END:VEVENT",
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:soon\r\nEND:VALARM\r\nEND:VEVENT",
        );
        let moved = retimed(
            &edited,
            at("2026-03-03T14:00:00Z"),
            at("2026-03-03T15:00:00Z"),
            at("2026-03-02T00:00:00Z"),
        )
        .unwrap();
        assert!(moved.contains("DTSTART:20260303T140000Z\r\n"), "{moved}");
        assert!(moved.contains("DTEND:20260303T150000Z\r\n"));
        assert!(moved.contains("SEQUENCE:1\r\n"));
        assert!(moved.contains("TRIGGER:-PT10M"), "{moved}");
        assert!(moved.contains("X-MENTOR-SESSION:s-1"));
        assert!(retimed(
            "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            at("2026-03-03T14:00:00Z"),
            at("2026-03-03T15:00:00Z"),
            at("2026-03-02T00:00:00Z")
        )
        .is_err());
    }

    #[test]
    fn objects_are_named_by_their_path() {
        let cal = url::Url::parse("https://dav.example/alice/work").unwrap();
        assert_eq!(
            url_of(&cal, "abc123").unwrap().as_str(),
            "https://dav.example/alice/work/abc123.ics"
        );
        assert_eq!(
            url_of(&cal, "/alice/work/abc123.ics").unwrap().as_str(),
            "https://dav.example/alice/work/abc123.ics"
        );
        assert_eq!(url_of(&cal, "../../etc"), None);
        assert_eq!(url_of(&cal, "//evil.example/x.ics"), None);
        assert_eq!(
            path_of(&collection(&cal), "https://dav.example/alice/work/x.ics").as_deref(),
            Some("/alice/work/x.ics")
        );
        assert_eq!(
            path_of(&cal, "/alice/work/x.ics").as_deref(),
            Some("/alice/work/x.ics")
        );
        assert_eq!(key_of("/alice/work/x.ics").len(), 32);
    }
}
