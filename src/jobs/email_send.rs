//! `email.send`: sends one email of the outbox (a digest is sealed first). The email row keeps its
//! own count of tries and decides when to give up, so the job's attempt limit is only a backstop.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::job::Job;
use super::queue::{enqueue_all, EnqueueOptions};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailSend {
    pub email_id: String,
}

impl Job for EmailSend {
    const KIND: &'static str = "email.send";
    /// Above any sensible `EMAIL_MAX_ATTEMPTS`: the email gives up first, and says why.
    const MAX_ATTEMPTS: i32 = 100;
}

/// Queues a send for each email, not before its instant.
pub async fn queue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    sends: &[(EmailSend, DateTime<Utc>)],
) -> Result<u64, sea_orm::DbErr> {
    let jobs: Vec<(&EmailSend, EnqueueOptions)> = sends
        .iter()
        .map(|(job, at)| {
            let options = EnqueueOptions {
                run_at: Some(*at),
                unique_key: Some(format!("{}:{}", EmailSend::KIND, job.email_id)),
            };
            (job, options)
        })
        .collect();
    enqueue_all(conn, now, jobs).await
}
