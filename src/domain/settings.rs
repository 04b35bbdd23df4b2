//! A mentor's booking rules: buffer around busy time, minimum notice, horizon.

use chrono::Duration;

use super::error::{DomainError, DomainResult};

pub const DEFAULT_BUFFER_MINUTES: i32 = 15;
pub const DEFAULT_MINIMUM_NOTICE_MINUTES: i32 = 120;
pub const DEFAULT_HORIZON_DAYS: i32 = 28;

const MAX_BUFFER_MINUTES: i32 = 12 * 60;
const MAX_NOTICE_MINUTES: i32 = 60 * 24 * 60;
const MAX_HORIZON_DAYS: i32 = 366;

/// Validated booking rules. Whole minutes and days, as mentors set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingRules {
    buffer_minutes: i32,
    minimum_notice_minutes: i32,
    horizon_days: i32,
}

impl Default for BookingRules {
    fn default() -> Self {
        Self {
            buffer_minutes: DEFAULT_BUFFER_MINUTES,
            minimum_notice_minutes: DEFAULT_MINIMUM_NOTICE_MINUTES,
            horizon_days: DEFAULT_HORIZON_DAYS,
        }
    }
}

impl BookingRules {
    /// Field names in errors are prefixed with `prefix` (`input.`).
    pub fn new(
        buffer_minutes: i32,
        minimum_notice_minutes: i32,
        horizon_days: i32,
        prefix: &str,
    ) -> DomainResult<Self> {
        in_range(
            buffer_minutes,
            0,
            MAX_BUFFER_MINUTES,
            &format!("{prefix}bufferMinutes"),
        )?;
        in_range(
            minimum_notice_minutes,
            0,
            MAX_NOTICE_MINUTES,
            &format!("{prefix}minimumNoticeMinutes"),
        )?;
        in_range(
            horizon_days,
            1,
            MAX_HORIZON_DAYS,
            &format!("{prefix}horizonDays"),
        )?;
        Ok(Self {
            buffer_minutes,
            minimum_notice_minutes,
            horizon_days,
        })
    }

    pub fn buffer_minutes(&self) -> i32 {
        self.buffer_minutes
    }
    pub fn minimum_notice_minutes(&self) -> i32 {
        self.minimum_notice_minutes
    }
    pub fn horizon_days(&self) -> i32 {
        self.horizon_days
    }
    pub fn buffer(&self) -> Duration {
        Duration::minutes(i64::from(self.buffer_minutes))
    }
    pub fn minimum_notice(&self) -> Duration {
        Duration::minutes(i64::from(self.minimum_notice_minutes))
    }
    pub fn horizon(&self) -> Duration {
        Duration::days(i64::from(self.horizon_days))
    }
}

fn in_range(value: i32, min: i32, max: i32, field: &str) -> DomainResult<()> {
    if value < min {
        let message = if min == 0 {
            "must not be negative".to_string()
        } else {
            format!("must be at least {min}")
        };
        return Err(DomainError::invalid(
            field,
            format!("{message} (got {value})"),
        ));
    }
    if value > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} (got {value})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_values_naming_the_field() {
        assert_eq!(
            BookingRules::new(-1, 0, 1, "input.").unwrap_err().field,
            "input.bufferMinutes"
        );
        assert_eq!(
            BookingRules::new(0, -5, 1, "input.").unwrap_err().field,
            "input.minimumNoticeMinutes"
        );
        assert_eq!(
            BookingRules::new(0, 0, 0, "").unwrap_err().field,
            "horizonDays"
        );
        assert_eq!(
            BookingRules::new(0, 0, 367, "").unwrap_err().field,
            "horizonDays"
        );
        assert!(BookingRules::new(0, 0, 1, "").is_ok());
        assert_eq!(BookingRules::default().buffer_minutes(), 15);
    }
}
