//! Which handler runs each job kind, and what a kind's successes write with their completion.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::FutureExt as _;
use sea_orm::sea_query::UpdateStatement;
use sea_orm::DbBackend;

use super::job::{Job, JobError};
use crate::entity::job;

/// What a job's success leaves to write with its completion: a key for its kind's [`Finisher`]
/// (`None`: nothing).
pub type Finish = Option<String>;

/// Writes what jobs of one kind finished with, in the transaction that marks them done: given the
/// database's backend, the keys they returned and the time, the statement to run. A job's success
/// and what it means (an email `SENT`) then commit together, in one commit for a whole batch, and
/// the worker goes on to its next job without waiting for either.
pub type Finisher =
    Arc<dyn Fn(DbBackend, &[String], DateTime<Utc>) -> UpdateStatement + Send + Sync>;

/// Told the payloads of jobs of its kind as soon as they are claimed, before any of them runs, so
/// that what the handlers will need can be fetched together for all of them (one read for a
/// batch instead of one each). It only starts the work: it must not block.
type Prefetcher = Arc<dyn Fn(&[&str]) + Send + Sync>;

/// A handler with its job type erased: parses the payload, then runs.
type ErasedHandler = Arc<
    dyn Fn(&str) -> Result<BoxFuture<'static, Result<Finish, JobError>>, serde_json::Error>
        + Send
        + Sync,
>;

/// The job kinds a runner knows. A runner claims only these kinds: jobs of any other kind stay
/// queued, untouched, for a worker that knows them (a newer release, during a rolling deploy).
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, ErasedHandler>,
    finishers: HashMap<&'static str, Finisher>,
    prefetchers: HashMap<&'static str, Prefetcher>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `handler` for every job of kind `J::KIND`.
    ///
    /// # Panics
    /// When `J::KIND` is registered already: two handlers for one kind is a wiring mistake.
    pub fn register<J: Job, F, Fut>(&mut self, handler: F)
    where
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = move |job: J| handler(job).map(|done| done.map(|()| None));
        self.insert(handler, None);
    }

    /// Runs `handler` for every job of kind `J::KIND`; the key a success returns is written by
    /// `finisher` in the transaction that marks the job done.
    ///
    /// # Panics
    /// When `J::KIND` is registered already.
    pub fn register_finishing<J: Job, F, Fut>(
        &mut self,
        handler: F,
        finisher: impl Fn(DbBackend, &[String], DateTime<Utc>) -> UpdateStatement
            + Send
            + Sync
            + 'static,
    ) where
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Finish, JobError>> + Send + 'static,
    {
        self.insert(handler, Some(Arc::new(finisher)));
    }

    fn insert<J: Job, F, Fut>(&mut self, handler: F, finisher: Option<Finisher>)
    where
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Finish, JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: ErasedHandler = Arc::new(move |payload: &str| {
            let job: J = serde_json::from_str(payload)?;
            let handler = handler.clone();
            // The call happens inside the future so the runner's panic guard covers it too.
            Ok(async move { handler(job).await }.boxed())
        });
        let previous = self.handlers.insert(J::KIND, erased);
        assert!(
            previous.is_none(),
            "job kind {:?} registered twice",
            J::KIND
        );
        if let Some(finisher) = finisher {
            self.finishers.insert(J::KIND, finisher);
        }
    }

    /// Tells `prefetch` the jobs of kind `J::KIND` as soon as a runner claims them (payloads that
    /// do not parse are left out: their jobs fail when they run). See [`Prefetcher`].
    pub fn prefetch_with<J: Job>(&mut self, prefetch: impl Fn(Vec<J>) + Send + Sync + 'static) {
        let erased: Prefetcher = Arc::new(move |payloads: &[&str]| {
            let jobs: Vec<J> = payloads
                .iter()
                .filter_map(|payload| serde_json::from_str(payload).ok())
                .collect();
            if !jobs.is_empty() {
                prefetch(jobs);
            }
        });
        self.prefetchers.insert(J::KIND, erased);
    }

    /// Hands claimed `jobs` to their kinds' prefetchers, each kind's at once.
    pub(crate) fn prefetch(&self, jobs: &[job::Model]) {
        if self.prefetchers.is_empty() {
            return;
        }
        let mut by_kind: HashMap<&str, Vec<&str>> = HashMap::new();
        for job in jobs {
            if self.prefetchers.contains_key(job.kind.as_str()) {
                let payloads = by_kind.entry(job.kind.as_str()).or_default();
                payloads.push(job.payload.as_str());
            }
        }
        for (kind, payloads) in by_kind {
            if let Some(prefetch) = self.prefetchers.get(kind) {
                prefetch(&payloads);
            }
        }
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.handlers.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    pub(crate) fn handler(&self, kind: &str) -> Option<&ErasedHandler> {
        self.handlers.get(kind)
    }

    pub(crate) fn finisher(&self, kind: &str) -> Option<&Finisher> {
        self.finishers.get(kind)
    }
}
