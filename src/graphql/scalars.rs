//! The contract's scalars: `DateTime` (RFC 3339 with offset), `Date`, `LocalTime`, `TimeZone`.
//!
//! Each scalar also implements `is_valid`, so a bad value is rejected during validation with the
//! argument's path in the message (`Invalid value for argument "input.timeZone" ...`).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime as ChronoDateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};

use crate::domain::time::{LocalTime as DomainLocalTime, TimeZone as DomainTimeZone};

fn string_of<T: async_graphql::InputType>(value: &Value) -> Result<&str, InputValueError<T>> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(InputValueError::expected_type(other.clone())),
    }
}

/// An instant, exchanged as RFC 3339 with an offset, e.g. `2026-03-29T09:00:00+02:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub ChronoDateTime<FixedOffset>);

impl DateTime {
    pub fn utc(&self) -> ChronoDateTime<Utc> {
        self.0.with_timezone(&Utc)
    }
}

fn parse_instant(s: &str) -> Result<ChronoDateTime<FixedOffset>, String> {
    ChronoDateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{s:?} is not an RFC 3339 date-time with an offset ({e})"))
}

/// An instant as RFC 3339 with an offset, e.g. `2026-03-29T09:00:00+02:00`.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        parse_instant(string_of::<Self>(&value)?)
            .map(DateTime)
            .map_err(InputValueError::custom)
    }
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_instant(s).is_ok())
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Secs, false))
    }
}

/// A calendar date, `2026-03-29`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date like 2026-03-29"))
}

/// A calendar date, `2026-03-29`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        parse_date(string_of::<Self>(&value)?)
            .map(Date)
            .map_err(InputValueError::custom)
    }
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_date(s).is_ok())
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A wall-clock time without a zone, `09:30`; `24:00` is the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(pub DomainLocalTime);

/// A wall-clock time without a zone, `09:30`, from `00:00` to `24:00` (the end of the day).
#[Scalar(name = "LocalTime")]
impl ScalarType for LocalTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        string_of::<Self>(&value)?
            .parse()
            .map(LocalTime)
            .map_err(InputValueError::custom)
    }
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if s.parse::<DomainLocalTime>().is_ok())
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An IANA time zone name, e.g. `Europe/London`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub DomainTimeZone);

/// An IANA time zone name, e.g. `Europe/London`. Unknown names are rejected.
#[Scalar(
    name = "TimeZone",
    specified_by_url = "https://www.iana.org/time-zones"
)]
impl ScalarType for TimeZone {
    fn parse(value: Value) -> InputValueResult<Self> {
        string_of::<Self>(&value)?
            .parse()
            .map(TimeZone)
            .map_err(InputValueError::custom)
    }
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if s.parse::<DomainTimeZone>().is_ok())
    }
    fn to_value(&self) -> Value {
        Value::String(self.0.name().to_string())
    }
}
