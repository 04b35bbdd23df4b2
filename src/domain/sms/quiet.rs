//! Quiet hours: no texts at night in the recipient's zone, except about a session starting within
//! the hour. A text written in quiet hours waits for their end, the next time that wall-clock time
//! comes in the recipient's zone (with the DST rules of `wallclock::resolve_edge`: an end inside a
//! spring-forward gap is the instant of the gap).

use chrono::{DateTime, Duration, Utc};

use crate::domain::time::{LocalTime, TimeZone};
use crate::domain::wallclock::resolve_edge;

/// A nightly window of wall-clock times, `from` (inclusive) to `to` (exclusive); it may run past
/// midnight (`21:00-08:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: LocalTime,
    pub to: LocalTime,
}

impl std::str::FromStr for QuietHours {
    type Err = String;

    /// `HH:MM-HH:MM`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (from, to) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not HH:MM-HH:MM"))?;
        let from: LocalTime = from
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: bad start"))?;
        let to: LocalTime = to.trim().parse().map_err(|_| format!("{s:?}: bad end"))?;
        if from == to {
            return Err(format!("{s:?} is empty"));
        }
        Ok(QuietHours { from, to })
    }
}

/// A text about a session starting within this long is sent even in quiet hours.
pub const URGENT_WITHIN: Duration = Duration::hours(1);

impl QuietHours {
    fn contains(&self, minutes: u16) -> bool {
        let (from, to) = (self.from.minutes(), self.to.minutes());
        if from < to {
            (from..to).contains(&minutes)
        } else {
            minutes >= from || minutes < to
        }
    }

    /// When a text written at `now` for someone in `zone` may go: `now`, or the end of the quiet
    /// hours it falls in. `session_start` makes it urgent when within [`URGENT_WITHIN`].
    pub fn send_at(
        &self,
        now: DateTime<Utc>,
        zone: TimeZone,
        session_start: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        if session_start.is_some_and(|start| start - now <= URGENT_WITHIN) {
            return now;
        }
        let local = now.with_timezone(&zone.tz()).naive_local();
        let minutes = (local
            .time()
            .signed_duration_since(chrono::NaiveTime::MIN)
            .num_minutes()) as u16;
        if !self.contains(minutes) {
            return now;
        }
        let today = local.date();
        [today, today + Duration::days(1)]
            .into_iter()
            .map(|date| resolve_edge(zone, date, self.to))
            .find(|end| *end > now)
            .unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn zone(name: &str) -> TimeZone {
        name.parse().unwrap()
    }

    fn night() -> QuietHours {
        "21:00-08:00".parse().unwrap()
    }

    #[test]
    fn daytime_texts_go_now_and_night_ones_wait_for_the_morning_in_the_readers_zone() {
        // 22:30 in London (GMT): waits for 08:00 London.
        assert_eq!(
            night().send_at(at("2026-01-10T22:30:00Z"), zone("Europe/London"), None),
            at("2026-01-11T08:00:00Z")
        );
        // 07:59 London: one minute.
        assert_eq!(
            night().send_at(at("2026-01-11T07:59:00Z"), zone("Europe/London"), None),
            at("2026-01-11T08:00:00Z")
        );
        // The same instant is 04:00 in Kolkata (+05:30): quiet until 08:00 there.
        assert_eq!(
            night().send_at(at("2026-01-10T22:30:00Z"), zone("Asia/Kolkata"), None),
            at("2026-01-11T02:30:00Z")
        );
        // 13:30 in Kolkata: now.
        assert_eq!(
            night().send_at(at("2026-01-10T08:00:00Z"), zone("Asia/Kolkata"), None),
            at("2026-01-10T08:00:00Z")
        );
        // 12:00 in Sydney (+11 in January): now.
        assert_eq!(
            night().send_at(at("2026-01-10T01:00:00Z"), zone("Australia/Sydney"), None),
            at("2026-01-10T01:00:00Z")
        );
        // 21:00 sharp is quiet; 08:00 sharp is not.
        assert_eq!(
            night().send_at(at("2026-01-10T21:00:00Z"), zone("Africa/Abidjan"), None),
            at("2026-01-11T08:00:00Z")
        );
        assert_eq!(
            night().send_at(at("2026-01-11T08:00:00Z"), zone("Africa/Abidjan"), None),
            at("2026-01-11T08:00:00Z")
        );
        // Kathmandu (+05:45): 02:15 UTC is 08:00 local, 02:14 is quiet.
        assert_eq!(
            night().send_at(at("2026-01-10T02:14:00Z"), zone("Asia/Kathmandu"), None),
            at("2026-01-10T02:15:00Z")
        );
    }

    #[test]
    fn the_morning_follows_dst() {
        // New York's spring-forward night (8 March 2026): 23:00 EST waits for 08:00 EDT (12:00 UTC).
        assert_eq!(
            night().send_at(at("2026-03-08T04:00:00Z"), zone("America/New_York"), None),
            at("2026-03-08T12:00:00Z")
        );
        // Quiet hours ending at 02:30 fall in the gap that night: they end at the gap (07:00 UTC).
        let short: QuietHours = "23:00-02:30".parse().unwrap();
        assert_eq!(
            short.send_at(at("2026-03-08T05:00:00Z"), zone("America/New_York"), None),
            at("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn a_session_within_the_hour_is_texted_at_night() {
        let now = at("2026-01-10T23:10:00Z");
        assert_eq!(
            night().send_at(
                now,
                zone("Europe/London"),
                Some(now + Duration::minutes(50))
            ),
            now
        );
        assert_eq!(
            night().send_at(
                now,
                zone("Europe/London"),
                Some(now + Duration::minutes(61))
            ),
            at("2026-01-11T08:00:00Z")
        );
    }

    #[test]
    fn windows_are_read_and_checked() {
        assert!("08:00-08:00".parse::<QuietHours>().is_err());
        assert!("21:00".parse::<QuietHours>().is_err());
        assert!("25:00-08:00".parse::<QuietHours>().is_err());
        let day: QuietHours = "12:00-13:00".parse().unwrap();
        assert_eq!(
            day.send_at(at("2026-01-10T12:30:00Z"), zone("UTC"), None),
            at("2026-01-10T13:00:00Z")
        );
    }
}
