//! Calendar connections: which provider, in what state, and the mentor's sync choices.

use chrono::{DateTime, NaiveDate, Utc};

use super::error::{DomainError, DomainResult};
use super::interval::Interval;
use super::time::{LocalTime, TimeZone};
use super::wallclock::resolve_edge;

listed_enum! { $
    /// A calendar service a mentor can connect.
    pub enum CalendarProvider, calendar_providers, "SCREAMING_SNAKE_CASE" { Google, Outlook, Caldav }
}

listed_enum! { $
    /// Where a connection stands. `Disconnected` is never stored: it is the absence of a connection.
    pub enum SyncState, sync_states, "SCREAMING_SNAKE_CASE" {
        Disconnected, Idle, Syncing, Error, ReconnectRequired, Disabled,
    }
}

listed_enum! { $
    /// What happens when the mentor deletes or moves a session's event on their calendar.
    pub enum ConflictPolicy, conflict_policies, "SCREAMING_SNAKE_CASE" {
        FollowCalendar, Ask, RestoreEvent,
    }
}

listed_enum! { $
    /// How a mentor's calendar and their sessions disagree.
    pub enum ConflictKind, conflict_kinds, "SCREAMING_SNAKE_CASE" {
        BusyOverSession, SessionEventDeleted, SessionEventMoved,
    }
}

listed_enum! { $
    /// How a conflict was settled.
    pub enum ConflictResolution, conflict_resolutions, "SCREAMING_SNAKE_CASE" {
        KeepSession, CancelSession, RescheduleSession, RestoreEvent,
    }
}

impl CalendarProvider {
    /// The name people know it by.
    pub fn display_name(self) -> &'static str {
        match self {
            CalendarProvider::Google => "Google Calendar",
            CalendarProvider::Outlook => "Outlook",
            CalendarProvider::Caldav => "CalDAV",
        }
    }

    /// The lower-case name in URLs and REST bodies (`google`).
    pub fn slug(self) -> &'static str {
        match self {
            CalendarProvider::Google => "google",
            CalendarProvider::Outlook => "outlook",
            CalendarProvider::Caldav => "caldav",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.slug().eq_ignore_ascii_case(slug))
    }
}

/// How often a calendar without a live push channel is polled, in minutes.
pub const MIN_FREQUENCY_MINUTES: i32 = 5;
pub const MAX_FREQUENCY_MINUTES: i32 = 24 * 60;
pub const DEFAULT_FREQUENCY_MINUTES: i32 = 15;
/// A provider with no push (CalDAV) is polled this often until the mentor says otherwise.
pub const POLLED_FREQUENCY_MINUTES: i32 = 5;

/// A polling frequency the mentor asked for, checked.
pub fn frequency(minutes: i32) -> DomainResult<i32> {
    if (MIN_FREQUENCY_MINUTES..=MAX_FREQUENCY_MINUTES).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(DomainError::invalid(
            "frequencyMinutes",
            format!(
                "must be from {MIN_FREQUENCY_MINUTES} to {MAX_FREQUENCY_MINUTES} (got {minutes})"
            ),
        ))
    }
}

/// An event read from a mentor's calendar, as the busy rules need it (each provider's adapter reads its
/// own format into this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEvent {
    /// The provider's id of the event (of the instance, for a recurring one).
    pub id: String,
    pub cancelled: bool,
    /// Marked "free" (Google's `transparency: transparent`).
    pub transparent: bool,
    /// The mentor declined it.
    pub declined: bool,
    /// Written by this service (a session): never outside busy time.
    pub ours: bool,
    /// `None` when the provider sent no times (a cancelled event carries only its id).
    pub when: Option<EventTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
    At {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// Whole days, `end` exclusive.
    AllDay { start: NaiveDate, end: NaiveDate },
}

/// The id of one occurrence of a provider object that holds several (a CalDAV resource with a
/// recurring event): [`occurrences_of`] the object, then the occurrence's original start in Unix
/// seconds. When an object is read again or removed, every id starting so goes.
pub fn occurrence_id(object: &str, original_start: i64) -> String {
    format!("{}{original_start}", occurrences_of(object))
}

/// What the ids of `object`'s occurrences start with.
pub fn occurrences_of(object: &str) -> String {
    format!("{object}#")
}

/// The time `event` keeps the mentor busy, or `None` when it does not: cancelled, free, declined,
/// one of our own sessions, or without a positive length. An all-day event blocks the mentor's whole
/// local days, from midnight of its first day to midnight after its last, in `zone`.
pub fn busy_time(event: &ExternalEvent, zone: TimeZone) -> Option<Interval> {
    if event.cancelled || event.transparent || event.declined || event.ours {
        return None;
    }
    let (start, end) = match event.when? {
        EventTime::At { start, end } => (start, end),
        EventTime::AllDay { start, end } => (
            resolve_edge(zone, start, LocalTime::MIDNIGHT),
            resolve_edge(zone, end, LocalTime::MIDNIGHT),
        ),
    };
    (start < end).then(|| Interval::new(start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_owns_its_occurrences_and_nothing_else() {
        let id = occurrence_id("abc", 1_767_600_000);
        assert_eq!(id, "abc#1767600000");
        assert!(id.starts_with(&occurrences_of("abc")));
        assert!(
            !"abcd#1".starts_with(&occurrences_of("abc")),
            "another object sharing a prefix"
        );
    }

    fn event(when: EventTime) -> ExternalEvent {
        ExternalEvent {
            id: "e1".into(),
            cancelled: false,
            transparent: false,
            declined: false,
            ours: false,
            when: Some(when),
        }
    }

    #[test]
    fn what_blocks_and_what_does_not() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let timed = event(EventTime::At {
            start: at("2027-03-10T15:00:00Z"),
            end: at("2027-03-10T16:00:00Z"),
        });
        let zone: TimeZone = "Europe/London".parse().unwrap();
        assert_eq!(
            busy_time(&timed, zone),
            Some(Interval::new(
                at("2027-03-10T15:00:00Z"),
                at("2027-03-10T16:00:00Z")
            ))
        );
        for free in [
            ExternalEvent {
                cancelled: true,
                ..timed.clone()
            },
            ExternalEvent {
                transparent: true,
                ..timed.clone()
            },
            ExternalEvent {
                declined: true,
                ..timed.clone()
            },
            ExternalEvent {
                ours: true,
                ..timed.clone()
            },
            ExternalEvent {
                when: None,
                ..timed.clone()
            },
            event(EventTime::At {
                start: at("2027-03-10T16:00:00Z"),
                end: at("2027-03-10T16:00:00Z"),
            }),
        ] {
            assert_eq!(busy_time(&free, zone), None, "{free:?}");
        }
    }

    #[test]
    fn an_all_day_event_blocks_the_mentors_local_days() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        // Two days over New York's spring-forward (2027-03-14): 23 + 24 hours, midnight to midnight.
        let trip = event(EventTime::AllDay {
            start: day("2027-03-14"),
            end: day("2027-03-16"),
        });
        let zone: TimeZone = "America/New_York".parse().unwrap();
        assert_eq!(
            busy_time(&trip, zone),
            Some(Interval::new(
                at("2027-03-14T05:00:00Z"),
                at("2027-03-16T04:00:00Z")
            ))
        );
        let kolkata: TimeZone = "Asia/Kolkata".parse().unwrap();
        let one = event(EventTime::AllDay {
            start: day("2027-01-01"),
            end: day("2027-01-02"),
        });
        assert_eq!(
            busy_time(&one, kolkata),
            Some(Interval::new(
                at("2026-12-31T18:30:00Z"),
                at("2027-01-01T18:30:00Z")
            ))
        );
    }

    #[test]
    fn providers_have_names_and_slugs_and_frequencies_are_bounded() {
        assert_eq!(CalendarProvider::Google.as_str(), "GOOGLE");
        assert_eq!(
            CalendarProvider::from_slug("Google"),
            Some(CalendarProvider::Google)
        );
        assert_eq!(CalendarProvider::from_slug("gmail"), None);
        assert_eq!(SyncState::ReconnectRequired.as_str(), "RECONNECT_REQUIRED");
        assert_eq!(frequency(15).unwrap(), 15);
        for bad in [0, 4, 1441, -5] {
            assert!(frequency(bad).is_err(), "{bad}");
        }
    }
}
