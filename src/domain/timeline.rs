//! What happens around each session, in order: email reminders 24 hours and 1 hour ahead, "starting
//! soon" 10 minutes before it, then, at its end, completion and the feedback request.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Reminder24h,
    Reminder1h,
    StartingSoon,
    Ended,
}

pub const STARTING_SOON_LEAD: Duration = Duration::minutes(10);
pub const REMINDER_24H_LEAD: Duration = Duration::hours(24);
pub const REMINDER_1H_LEAD: Duration = Duration::hours(1);
/// How long before they are due reminders are written: rendered and queued then, sent at their
/// time. A burst of sessions starting together then costs, when it falls due, only the sending.
pub const WRITE_AHEAD: Duration = Duration::minutes(1);

/// A message written before its time: sent at `due`, and only if its session is then still
/// scheduled at `sequence` (not cancelled, completed or moved since).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ahead {
    pub due: DateTime<Utc>,
    pub session_id: String,
    pub sequence: i32,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Reminder24h,
        Phase::Reminder1h,
        Phase::StartingSoon,
        Phase::Ended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Reminder24h => "reminder_24h",
            Phase::Reminder1h => "reminder_1h",
            Phase::StartingSoon => "starting_soon",
            Phase::Ended => "ended",
        }
    }

    /// When this phase is due for a session running `[start, end)`.
    pub fn due(self, start: DateTime<Utc>, end: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Phase::Reminder24h => start - REMINDER_24H_LEAD,
            Phase::Reminder1h => start - REMINDER_1H_LEAD,
            Phase::StartingSoon => start - STARTING_SOON_LEAD,
            Phase::Ended => end,
        }
    }

    /// When this phase's job runs: reminders [`WRITE_AHEAD`] of their due time (their messages
    /// then wait for it), the others when due (what they do shows at once: in-app notifications,
    /// the session's completion).
    pub fn run_at(self, start: DateTime<Utc>, end: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Phase::Reminder24h | Phase::Reminder1h => self.due(start, end) - WRITE_AHEAD,
            Phase::StartingSoon | Phase::Ended => self.due(start, end),
        }
    }

    /// Whether acting now still makes sense (a late run after a restart): a reminder only until the
    /// next one is due (no "tomorrow" email an hour before), "starting soon" only before the start;
    /// the end always.
    pub fn still_useful(self, start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        match self {
            Phase::Reminder24h => now < start - REMINDER_1H_LEAD,
            Phase::Reminder1h => now < start - STARTING_SOON_LEAD,
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

/// The first phase still ahead of a session created (or moved) at `now`: a session booked 30 minutes
/// ahead gets no reminder, one booked five minutes ahead no "starting soon", but every session its
/// end.
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
        let day_before = start - Duration::hours(30);
        assert_eq!(
            first_phase(start, end, day_before),
            Some(Phase::Reminder24h)
        );
        assert_eq!(
            Phase::Reminder24h.due(start, end),
            start - Duration::hours(24)
        );
        assert_eq!(first_phase(start, end, t(8, 0)), Some(Phase::Reminder1h));
        assert_eq!(first_phase(start, end, t(9, 0)), Some(Phase::StartingSoon));
        assert_eq!(first_phase(start, end, t(9, 30)), Some(Phase::StartingSoon));
        assert_eq!(first_phase(start, end, t(9, 55)), Some(Phase::Ended));
        assert_eq!(first_phase(start, end, t(11, 0)), None);
        assert_eq!(Phase::StartingSoon.due(start, end), t(9, 50));
        assert_eq!(Phase::Reminder24h.next(), Some(Phase::Reminder1h));
        assert_eq!(Phase::Reminder1h.next(), Some(Phase::StartingSoon));
        assert_eq!(Phase::StartingSoon.next(), Some(Phase::Ended));
        assert_eq!(Phase::Ended.next(), None);
    }

    #[test]
    fn reminders_run_ahead_of_their_time_and_the_rest_on_time() {
        let (start, end) = (t(10, 0), t(11, 0));
        assert_eq!(
            Phase::Reminder24h.run_at(start, end),
            start - Duration::hours(24) - Duration::minutes(1)
        );
        assert_eq!(Phase::Reminder1h.run_at(start, end), t(8, 59));
        assert_eq!(Phase::StartingSoon.run_at(start, end), t(9, 50));
        assert_eq!(Phase::Ended.run_at(start, end), end);
        // Whether a reminder is still to come goes by its due time: one due in 30 seconds is
        // written at once.
        assert_eq!(
            first_phase(start, end, t(8, 59) + Duration::seconds(30)),
            Some(Phase::Reminder1h)
        );
    }

    #[test]
    fn a_late_reminder_gives_way_to_the_next_one() {
        let start = t(10, 0);
        assert!(Phase::Reminder24h.still_useful(start, t(8, 59)));
        assert!(!Phase::Reminder24h.still_useful(start, t(9, 0)));
        assert!(Phase::Reminder1h.still_useful(start, t(9, 49)));
        assert!(!Phase::Reminder1h.still_useful(start, t(9, 50)));
    }

    #[test]
    fn a_late_starting_soon_is_dropped_once_the_session_began() {
        assert!(Phase::StartingSoon.still_useful(t(10, 0), t(9, 58)));
        assert!(!Phase::StartingSoon.still_useful(t(10, 0), t(10, 0)));
        assert!(Phase::Ended.still_useful(t(10, 0), t(12, 0)));
    }
}
