//! Value types for time: IANA zones, wall-clock times of day, weekdays.

use std::fmt;
use std::str::FromStr;

use chrono::Weekday;
use chrono_tz::Tz;

/// An IANA time zone, e.g. `Europe/London`. Parsing rejects unknown names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(Tz::UTC);

    pub fn tz(self) -> Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The zone a calendar names: an IANA name, or a Windows one (`W. Europe Standard Time`, as
    /// Outlook and Exchange write them) through CLDR's table of their world-wide defaults (the
    /// `localzone` crate's).
    pub fn named(name: &str) -> Option<TimeZone> {
        let name = name.trim();
        name.parse()
            .ok()
            .or_else(|| localzone::win_zone_to_iana(name, None).and_then(|iana| iana.parse().ok()))
    }
}

impl FromStr for TimeZone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<Tz>().map(TimeZone).map_err(|_| {
            format!("unknown time zone \"{s}\" (expected an IANA name such as Europe/London)")
        })
    }
}

impl From<Tz> for TimeZone {
    fn from(tz: Tz) -> Self {
        TimeZone(tz)
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Minutes in a day; `24:00` (the end of the day) is the largest wall-clock time a block may use.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A wall-clock time of day with minute precision, `00:00` to `24:00` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(u16);

impl LocalTime {
    pub const MIDNIGHT: LocalTime = LocalTime(0);
    pub const END_OF_DAY: LocalTime = LocalTime(MINUTES_PER_DAY);

    /// From minutes after midnight; `None` past 24:00.
    pub fn from_minutes(minutes: u16) -> Option<Self> {
        (minutes <= MINUTES_PER_DAY).then_some(LocalTime(minutes))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for LocalTime {
    type Err = String;
    /// Accepts `HH:MM` and `HH:MM:SS` with zero seconds, from `00:00` to `24:00`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid local time \"{s}\" (expected HH:MM between 00:00 and 24:00)");
        let parts: Vec<&str> = s.split(':').collect();
        if !(2..=3).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let num = |p: &str| p.parse::<u16>().map_err(|_| bad());
        let (hours, minutes) = (num(parts[0])?, num(parts[1])?);
        if parts.len() == 3 && num(parts[2])? != 0 {
            return Err(format!(
                "invalid local time \"{s}\" (seconds are not supported)"
            ));
        }
        if minutes >= 60 {
            return Err(bad());
        }
        LocalTime::from_minutes(hours * 60 + minutes)
            .ok_or_else(|| format!("local time \"{s}\" is past 24:00"))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// The week in ISO order, Monday first.
pub const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// Weekday as stored: 0 = Monday .. 6 = Sunday (ISO order).
pub fn weekday_index(day: Weekday) -> u8 {
    day.num_days_from_monday() as u8
}

pub fn weekday_from_index(index: u8) -> Option<Weekday> {
    (index < 7).then(|| Weekday::try_from(index).expect("index checked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_parses_and_prints() {
        assert_eq!("09:30".parse::<LocalTime>().unwrap().minutes(), 570);
        assert_eq!("24:00".parse::<LocalTime>().unwrap(), LocalTime::END_OF_DAY);
        assert_eq!(
            "07:05:00".parse::<LocalTime>().unwrap().to_string(),
            "07:05"
        );
        for bad in [
            "24:01", "25:00", "9:30", "09:60", "09:30:10", "", "ab:cd", "09-30", "-1:00",
        ] {
            assert!(
                bad.parse::<LocalTime>().is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn time_zone_rejects_unknown_names() {
        assert_eq!(
            "Asia/Kolkata".parse::<TimeZone>().unwrap().name(),
            "Asia/Kolkata"
        );
        assert!("Mars/Olympus_Mons".parse::<TimeZone>().is_err());
        assert!("".parse::<TimeZone>().is_err());
    }

    #[test]
    fn weekday_index_round_trips() {
        for i in 0..7 {
            assert_eq!(weekday_index(weekday_from_index(i).unwrap()), i);
        }
        assert_eq!(weekday_from_index(7), None);
        assert_eq!(weekday_index(Weekday::Mon), 0);
    }
}
