//! The database-backed job queue: typed jobs enqueued in the caller's transaction, run by workers.
//! A job's file holds its payload and the helpers that enqueue it; the handlers are wired to the
//! services in one place, `startup::job_handlers`.
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
//! // in `startup::job_handlers`, the one place that wires every kind to the services:
//! registry.register(move |job: SendReminder| { let s = services.clone(); async move { .. } });
//! ```
//!
//! A kind whose success means a row elsewhere changes (an email `SENT`) registers with
//! `register_finishing`: its handler returns a key, and the kind's finisher writes it in the
//! transaction that marks the job done.
//!
//! Delivery is at least once: a worker that dies mid-job (or loses its database connection before
//! recording the result) leaves the job to be claimed again when its lease runs out, so handlers
//! must be idempotent. Failures are retried with exponential backoff and jitter until
//! `MAX_ATTEMPTS`, then the job is `dead` with its last error kept for inspection.

mod backoff;
mod bell;
pub mod calendar_sync;
pub mod calendar_write;
pub mod email_send;
pub mod extend_booking;
mod job;
pub mod payment;
mod queue;
mod registry;
mod runner;
pub mod session_timeline;
pub mod sms_send;
pub mod wakeup;

pub use backoff::{backoff, backoff_ceiling};
pub use bell::JobBell;
pub use job::{Job, JobError};
pub use queue::{clear_dead, dead, enqueue, enqueue_all, EnqueueOptions, JobState};
pub use registry::{Finish, Registry};
pub use runner::{DrainReport, JobRunner, RunnerConfig};
