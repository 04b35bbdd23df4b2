//! `session.timeline`: one job per session and phase (reminders, "starting soon", ended), each
//! queueing the next, at [`Phase::run_at`]. The job names the session's `sequence`: a moved session
//! starts a new chain and the old one finds itself stale and stops, as does any chain of a
//! cancelled session.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::job::Job;
use super::queue::{enqueue_all, EnqueueOptions};
use crate::domain::timeline::{first_phase, Phase};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionTimeline {
    pub session_id: String,
    pub sequence: i32,
    pub phase: Phase,
}

impl Job for SessionTimeline {
    const KIND: &'static str = "session.timeline";
}

/// A session whose timeline to start: id, sequence, start and end.
pub type Timed<'a> = (&'a str, i32, DateTime<Utc>, DateTime<Utc>);

/// Queues the first phase still ahead of each session.
pub async fn start(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    sessions: impl IntoIterator<Item = Timed<'_>>,
) -> Result<(), sea_orm::DbErr> {
    let jobs: Vec<(SessionTimeline, DateTime<Utc>)> = sessions
        .into_iter()
        .filter_map(|(id, sequence, start, end)| {
            let phase = first_phase(start, end, now)?;
            Some((
                SessionTimeline {
                    session_id: id.into(),
                    sequence,
                    phase,
                },
                phase.run_at(start, end),
            ))
        })
        .collect();
    enqueue_all(
        conn,
        now,
        jobs.iter().map(|(job, at)| (job, options(job, *at))),
    )
    .await?;
    Ok(())
}

/// Queues `phase` of a session at `at`.
pub async fn queue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    job: &SessionTimeline,
    at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    enqueue_all(conn, now, [(job, options(job, at))]).await?;
    Ok(())
}

fn options(job: &SessionTimeline, at: DateTime<Utc>) -> EnqueueOptions {
    EnqueueOptions {
        run_at: Some(at),
        unique_key: Some(format!(
            "{}:{}:{}:{}",
            SessionTimeline::KIND,
            job.session_id,
            job.sequence,
            job.phase.as_str()
        )),
    }
}
