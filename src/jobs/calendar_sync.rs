//! `calendar.sync`: reads a mentor's connected calendar into their busy time.
//!
//! One job per mentor and provider at a time: queueing while one is waiting adds nothing (the
//! unique key), so a burst of reasons to sync is one sync.

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
    enqueue(
        conn,
        now,
        &CalendarSync {
            mentor_id: mentor_id.into(),
            provider,
        },
        EnqueueOptions {
            run_at: None,
            unique_key: Some(format!(
                "{}:{mentor_id}:{}",
                CalendarSync::KIND,
                provider.slug()
            )),
        },
    )
    .await
    .map(|_| ())
}
