//! `calendar.write`: brings one session's event on its mentor's calendar in line with the session
//! (created, moved, deleted; the Meet link looked for until Google has made it).
//!
//! The job reads the session when it runs, so any job for a session does whatever is owed. Each
//! change to a session queues one under a key naming the session's state (its sequence and status):
//! a change while an older job runs is not lost behind that job's key, and the older job, seeing the
//! session moved on when it finishes, goes round again.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::job::Job;
use super::queue::{enqueue, EnqueueOptions};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarWrite {
    pub session_id: String,
}

impl Job for CalendarWrite {
    const KIND: &'static str = "calendar.write";
    /// Google's 5xx and rate limits pass; an hour of backoff covers them.
    const MAX_ATTEMPTS: i32 = 12;
}

/// Queues the write owed for `session_id` in the state `state` (e.g. `3:SCHEDULED`), at `run_at`
/// (default now).
pub async fn queue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    session_id: &str,
    state: &str,
    run_at: Option<DateTime<Utc>>,
) -> Result<(), sea_orm::DbErr> {
    let job = CalendarWrite {
        session_id: session_id.into(),
    };
    let opts = EnqueueOptions {
        run_at,
        unique_key: Some(format!("{}:{session_id}:{state}", CalendarWrite::KIND)),
    };
    enqueue(conn, now, &job, opts).await.map(|_| ())
}
