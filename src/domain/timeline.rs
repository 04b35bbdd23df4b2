//! What happens around each session, in order: "starting soon" 10 minutes before it, then, at its
//! end, completion and the feedback request. (Email reminders 24 hours and 1 hour ahead will join
//! the front of this list.)

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    StartingSoon,
    Ended,
}

pub const STARTING_SOON_LEAD: Duration = Duration::minutes(10);

impl Phase {
    pub const ALL: [Phase; 2] = [Phase::StartingSoon, Phase::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::StartingSoon => "starting_soon",
            Phase::Ended => "ended",
        }
    }

    /// When this phase is due for a session running `[start, end)`.
    pub fn due(self, start: DateTime<Utc>, end: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Phase::StartingSoon => start - STARTING_SOON_LEAD,
            Phase::Ended => end,
        }
    }

    /// Whether acting now still makes sense (a late run after a restart): "starting soon" only
    /// before the start; the end always.
    pub fn still_useful(self, start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        match self {
            Phase::StartingSoon => now < start,
            Phase::Ended => true,
        }
    }

    /// The phase after this one. It is queued even when already due (a late run), and decides for
    /// itself with [`Phase::still_useful`].
    pub fn next(self) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| *p > self)
    }
}

/// The first phase still ahead of a session created (or moved) at `now`: a session booked five
/// minutes ahead gets no "starting soon", but always its end.
pub fn first_phase(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> Option<Phase> {
    Phase::ALL.into_iter().find(|p| p.due(start, end) > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    #[test]
    fn phases_run_in_order_and_skip_what_has_passed() {
        let (start, end) = (t(10, 0), t(11, 0));
        assert_eq!(first_phase(start, end, t(8, 0)), Some(Phase::StartingSoon));
        assert_eq!(first_phase(start, end, t(9, 55)), Some(Phase::Ended));
        assert_eq!(first_phase(start, end, t(11, 0)), None);
        assert_eq!(Phase::StartingSoon.due(start, end), t(9, 50));
        assert_eq!(Phase::StartingSoon.next(), Some(Phase::Ended));
        assert_eq!(Phase::Ended.next(), None);
    }

    #[test]
    fn a_late_starting_soon_is_dropped_once_the_session_began() {
        assert!(Phase::StartingSoon.still_useful(t(10, 0), t(9, 58)));
        assert!(!Phase::StartingSoon.still_useful(t(10, 0), t(10, 0)));
        assert!(Phase::Ended.still_useful(t(10, 0), t(12, 0)));
    }
}
