//! `calendar.sync`: reads a mentor's connected calendar into their busy time.
//!
//! A sync asked for now (connecting, `syncCalendarNow`, a push) is one job per mentor and provider at
//! a time: queueing while one is waiting adds nothing (the unique key), so a burst of reasons to sync
//! is one sync. Polls are scheduled for the connection's `next_sync_at` (`due`); a poll whose `due`
//! is no longer the connection's (a later sync rescheduled it) does nothing, so there is one chain of
//! polls per connection however many syncs ran.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

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
}

impl Job for CalendarSync {
    const KIND: &'static str = "calendar.sync";
}

/// Queues a sync of `mentor_id`'s `provider` calendar, now.
pub async fn queue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    mentor_id: &str,
    provider: CalendarProvider,
) -> Result<(), sea_orm::DbErr> {
    let key = format!("{}:{mentor_id}:{}", CalendarSync::KIND, provider.slug());
    put(conn, now, mentor_id, provider, None, key).await
}

/// Schedules the poll of `mentor_id`'s `provider` calendar due at `due`.
pub async fn schedule_poll(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    mentor_id: &str,
    provider: CalendarProvider,
    due: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let key = format!(
        "{}:{mentor_id}:{}:poll:{}",
        CalendarSync::KIND,
        provider.slug(),
        due.timestamp()
    );
    put(conn, now, mentor_id, provider, Some(due), key).await
}

async fn put(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    mentor_id: &str,
    provider: CalendarProvider,
    due: Option<DateTime<Utc>>,
    unique_key: String,
) -> Result<(), sea_orm::DbErr> {
    let job = CalendarSync {
        mentor_id: mentor_id.into(),
        provider,
        due,
    };
    let opts = EnqueueOptions {
        run_at: due,
        unique_key: Some(unique_key),
    };
    enqueue(conn, now, &job, opts).await.map(|_| ())
}
