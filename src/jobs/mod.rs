//! The database-backed job queue: typed jobs enqueued in the caller's transaction, run by workers.
//!
//! Modelled on crates.io's background jobs. A job is a serde struct with a stable [`Job::KIND`]:
//!
//! ```ignore
//! #[derive(Serialize, Deserialize)]
//! struct SendReminder { session_id: String }
//! impl Job for SendReminder { const KIND: &'static str = "send_reminder"; }
//!
//! // in a service, inside the business write's transaction:
//! jobs::enqueue(&tx.txn, now, &SendReminder { .. }, EnqueueOptions::default()).await?;
//!
//! // in `registry` below:
//! registry.register(move |job: SendReminder| { let s = services.clone(); async move { .. } });
//! ```
//!
//! Delivery is at least once: a worker that dies mid-job (or loses its database connection before
//! recording the result) leaves the job to be claimed again when its lease runs out, so handlers
//! must be idempotent. Failures are retried with exponential backoff and jitter until
//! `MAX_ATTEMPTS`, then the job is `dead` with its last error kept for inspection.

mod backoff;
pub mod email_send;
pub mod extend_booking;
mod queue;
mod registry;
mod runner;
pub mod session_timeline;

pub use backoff::{backoff, backoff_ceiling};
pub use queue::{enqueue, enqueue_all, EnqueueOptions, JobState};
pub use registry::Registry;
pub use runner::{DrainReport, JobRunner, RunnerConfig};

use crate::service::Services;

/// A kind of background job: its payload is the struct itself, stored as JSON.
pub trait Job: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    /// The stable name stored with each job; renaming it orphans jobs already queued.
    const KIND: &'static str;
    /// Runs (the first included) before the job is `dead`.
    const MAX_ATTEMPTS: i32 = 8;
}

/// How a job handler failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another try later (the default for `?` on an `anyhow::Error`).
    #[error(transparent)]
    Retry(#[from] anyhow::Error),
    /// Will never succeed: the job goes `dead` at once.
    #[error("permanent failure: {0:#}")]
    Permanent(anyhow::Error),
}

impl JobError {
    pub fn permanent(error: impl Into<anyhow::Error>) -> Self {
        JobError::Permanent(error.into())
    }
}

/// Every job kind this service runs. Register new kinds here.
pub fn registry(services: &Services) -> Registry {
    let mut registry = Registry::new();
    email_send::register(&mut registry, services);
    extend_booking::register(&mut registry, services);
    session_timeline::register(&mut registry, services);
    registry
}
