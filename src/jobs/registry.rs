//! Which handler runs each job kind, and what a kind's successes write with their completion.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::FutureExt as _;
use sea_orm::sea_query::UpdateStatement;

use super::job::{Job, JobError};

/// What a job's success leaves to write with its completion: a key for its kind's [`Finisher`]
/// (`None`: nothing).
pub type Finish = Option<String>;

/// Writes what jobs of one kind finished with, in the transaction that marks them done: given the
/// keys they returned and the time, the statement to run. A job's success and what it means (an
/// email `SENT`) then commit together, in one commit for a whole batch, and the worker goes on to
/// its next job without waiting for either.
pub type Finisher = Arc<dyn Fn(&[String], DateTime<Utc>) -> UpdateStatement + Send + Sync>;

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
        finisher: impl Fn(&[String], DateTime<Utc>) -> UpdateStatement + Send + Sync + 'static,
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
