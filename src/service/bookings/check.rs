//! Checking candidate occurrences against everything that is already on a mentor's calendar.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::domain::booking::{clashes, Clash, Surroundings};
use crate::domain::recurrence::Occurrence;
use crate::domain::settings::BookingRules;
use crate::domain::time::TimeZone;
use crate::error::AppResult;
use crate::service::store::schedule::{
    busy_between, override_dates, schedule_of, sessions_between,
};

/// The clashes of `candidates` with the mentor's schedule (in `zone`, the mentor's current zone),
/// busy time and other sessions (except `except`, a session being moved).
pub(super) async fn clashes_for(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    (zone, rules): (TimeZone, BookingRules),
    candidates: &[Occurrence],
    except: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<Vec<Clash>> {
    let (Some(from), Some(to)) = (
        candidates.iter().map(|c| c.interval.start).min(),
        candidates.iter().map(|c| c.interval.end).max(),
    ) else {
        return Ok(Vec::new());
    };
    let (from, to) = (from - rules.buffer(), to + rules.buffer());
    let schedule = schedule_of(conn, mentor_id, zone, rules, override_dates(from, to)).await?;
    let busy = busy_between(conn, mentor_id, from, to).await?;
    let sessions = sessions_between(conn, mentor_id, from, to, except).await?;
    let around = Surroundings {
        schedule: &schedule,
        busy: &busy,
        sessions: &sessions,
        now,
    };
    Ok(clashes(&around, candidates))
}
