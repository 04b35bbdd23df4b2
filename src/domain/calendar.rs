//! Calendar connections: which provider, in what state, and the mentor's sync choices.

use super::error::{DomainError, DomainResult};

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

#[cfg(test)]
mod tests {
    use super::*;

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
