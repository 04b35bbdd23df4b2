//! Which handler runs each job kind.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt as _;

use super::job::{Job, JobError};

/// A handler with its job type erased: parses the payload, then runs.
type ErasedHandler = Arc<
    dyn Fn(&str) -> Result<BoxFuture<'static, Result<(), JobError>>, serde_json::Error>
        + Send
        + Sync,
>;

/// The job kinds a runner knows. A runner claims only these kinds: jobs of any other kind stay
/// queued, untouched, for a worker that knows them (a newer release, during a rolling deploy).
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, ErasedHandler>,
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
}
