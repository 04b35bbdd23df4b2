//! When a session's room is open to its participants.

use chrono::{DateTime, Duration, Utc};

use super::booking::SessionStatus;

/// Participants are let in this long before the start.
pub const OPENS_BEFORE_MINUTES: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Open,
    NotYet { opens_at: DateTime<Utc> },
    Ended,
    Cancelled,
}

/// The door of a session with this status and times, at `now`.
pub fn door(
    status: SessionStatus,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Door {
    let opens_at = start - Duration::minutes(OPENS_BEFORE_MINUTES);
    match status {
        SessionStatus::Cancelled => Door::Cancelled,
        SessionStatus::Completed | SessionStatus::NoShow => Door::Ended,
        SessionStatus::Scheduled if now >= end => Door::Ended,
        SessionStatus::Scheduled if now < opens_at => Door::NotYet { opens_at },
        SessionStatus::Scheduled => Door::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn open_from_fifteen_minutes_before_until_the_end() {
        let (start, end) = (at("2026-01-05T09:00:00Z"), at("2026-01-05T10:00:00Z"));
        let d = |now: &str| door(SessionStatus::Scheduled, start, end, at(now));
        assert_eq!(
            d("2026-01-05T08:44:59Z"),
            Door::NotYet {
                opens_at: at("2026-01-05T08:45:00Z")
            }
        );
        assert_eq!(d("2026-01-05T08:45:00Z"), Door::Open);
        assert_eq!(d("2026-01-05T09:59:59Z"), Door::Open);
        assert_eq!(d("2026-01-05T10:00:00Z"), Door::Ended);
        assert_eq!(
            door(
                SessionStatus::Cancelled,
                start,
                end,
                at("2026-01-05T09:00:00Z")
            ),
            Door::Cancelled
        );
    }
}
