//! `calendar.sync`: reads a mentor's connected calendar into their busy time.
//!
//! A sync asked for now (connecting, `syncCalendarNow`) is one job per mentor and provider at a time:
//! queueing while one is waiting adds nothing (the unique key), so a burst of reasons to sync is one
//! sync. A push reads the one calendar it is about: each push is counted on the calendar and queues a
//! job under its count, so none is ever lost behind a running job's key; a job whose count a later
//! push has passed does nothing (that push's job reads after it), so a burst is one read. Polls are
//! scheduled for the connection's `next_sync_at` (`due`); a poll whose `due` is no longer the
//! connection's (a later sync rescheduled it) does nothing, so there is one chain of polls per
//! connection however many syncs ran.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::job::Job;
use super::queue::{enqueue, EnqueueOptions};
use crate::domain::calendar::CalendarProvider;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarSync {
    pub mentor_id: String,
    pub provider: CalendarProvider,
    /// For a poll: the `next_sync_at` it was scheduled for.
    #[serde(default)]
    pub due: Option<DateTime<Utc>>,
    /// For a push: the one calendar to read (none: every calendar that counts as busy).
    #[serde(default)]
    pub calendar_id: Option<String>,
    /// For a push: the calendar's push count it was queued at.
    #[serde(default)]
    pub push: Option<i64>,
}

impl Job for CalendarSync {
    const KIND: &'static str = "calendar.sync";
}

fn key(mentor_id: &str, provider: CalendarProvider) -> String {
    format!("{}:{mentor_id}:{}", CalendarSync::KIND, provider.slug())
}

/// Queues a sync of `mentor_id`'s `provider` calendar, now.
pub async fn queue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    mentor_id: &str,
    provider: CalendarProvider,
) -> Result<(), sea_orm::DbErr> {
    let job = CalendarSync {
        mentor_id: mentor_id.into(),
        provider,
        due: None,
        calendar_id: None,
        push: None,
    };
    put(conn, now, job, None, key(mentor_id, provider)).await
}

/// Queues a read of one calendar after the push that brought its push count to `pushes`.
pub async fn queue_push(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    mentor_id: &str,
    provider: CalendarProvider,
    calendar_id: &str,
    pushes: i64,
) -> Result<(), sea_orm::DbErr> {
    // Calendar ids run long (`…@group.calendar.google.com`): the key names a digest of it.
    let calendar = &hex::encode(Sha256::digest(calendar_id.as_bytes()))[..24];
    let key = format!("{}:push:{calendar}:{pushes}", key(mentor_id, provider));
    let job = CalendarSync {
        mentor_id: mentor_id.into(),
        provider,
        due: None,
        calendar_id: Some(calendar_id.into()),
        push: Some(pushes),
    };
    put(conn, now, job, None, key).await
}

/// Schedules the poll of `mentor_id`'s `provider` calendar due at `due`.
pub async fn schedule_poll(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    mentor_id: &str,
    provider: CalendarProvider,
    due: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let key = format!("{}:poll:{}", key(mentor_id, provider), due.timestamp());
    let job = CalendarSync {
        mentor_id: mentor_id.into(),
        provider,
        due: Some(due),
        calendar_id: None,
        push: None,
    };
    put(conn, now, job, Some(due), key).await
}

async fn put(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    job: CalendarSync,
    run_at: Option<DateTime<Utc>>,
    unique_key: String,
) -> Result<(), sea_orm::DbErr> {
    let opts = EnqueueOptions {
        run_at,
        unique_key: Some(unique_key),
    };
    enqueue(conn, now, &job, opts).await.map(|_| ())
}
