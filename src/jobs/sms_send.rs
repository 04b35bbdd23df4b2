//! `sms.send`: sends one text of the outbox. The text row keeps its
//! own count of tries and decides when to give up, so the job's attempt limit is only a backstop.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::job::Job;
use super::queue::{enqueue_all, EnqueueOptions};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmsSend {
    pub sms_id: String,
}

impl Job for SmsSend {
    const KIND: &'static str = "sms.send";
    /// Above any sensible `SMS_MAX_ATTEMPTS`: the text gives up first, and says why.
    const MAX_ATTEMPTS: i32 = 100;
}

/// Queues a send for each text, not before its instant.
pub async fn queue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    sends: &[(SmsSend, DateTime<Utc>)],
) -> Result<u64, sea_orm::DbErr> {
    let jobs: Vec<(&SmsSend, EnqueueOptions)> = sends
        .iter()
        .map(|(job, at)| {
            let options = EnqueueOptions {
                run_at: Some(*at),
                unique_key: Some(format!("{}:{}", SmsSend::KIND, job.sms_id)),
            };
            (job, options)
        })
        .collect();
    enqueue_all(conn, now, jobs).await
}
