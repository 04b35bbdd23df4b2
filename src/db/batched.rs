//! Many small statements of one shape sent as one: requests that arrive while a batch runs wait
//! and go together in the next.
//!
//! Under load, workers each finishing a job would each send `UPDATE … WHERE id = $1` (one round
//! trip and one commit each); here they share one statement for all of them. Nobody waits for a
//! batch to fill: an idle database takes a lone request at once, so latency at low load is one
//! hop between tasks. async-graphql's `DataLoader` batches too, but by waiting a fixed delay for
//! more requests; this one gathers only what queued up meanwhile.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use tokio::sync::{mpsc, oneshot};

/// Why a request got no output.
#[derive(Debug)]
pub enum BatchFailed<E> {
    /// The batch's statement failed: every request of the batch gets its error.
    Run(Arc<E>),
    /// The batch panicked (a bug); the next batch runs as usual.
    Panicked,
}

impl<E: fmt::Display> fmt::Display for BatchFailed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchFailed::Run(error) => error.fmt(f),
            BatchFailed::Panicked => f.write_str("the batch panicked"),
        }
    }
}

type Request<I, O, E> = (I, oneshot::Sender<Result<O, Arc<E>>>);

/// A queue of requests served in batches by one background task (ended when the last handle is
/// dropped). Cheap to clone.
pub struct Batched<I, O, E> {
    requests: mpsc::UnboundedSender<Request<I, O, E>>,
}

impl<I, O, E> Clone for Batched<I, O, E> {
    fn clone(&self) -> Self {
        Batched {
            requests: self.requests.clone(),
        }
    }
}

impl<I, O, E> Batched<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Send + Sync + 'static,
{
    /// Serves requests with `run`, at most `max_batch` at a time. `run` answers one output per
    /// input, in order; its error is every caller's. Needs a Tokio runtime.
    pub fn new<F, Fut>(max_batch: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send,
    {
        let (requests, mut queue) = mpsc::unbounded_channel::<Request<I, O, E>>();
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while queue.recv_many(&mut batch, max_batch).await > 0 {
                let (inputs, answers): (Vec<I>, Vec<_>) = batch.drain(..).unzip();
                let count = inputs.len();
                // A panic drops this batch's answers (its callers learn it) and spares the task.
                match AssertUnwindSafe(run(inputs)).catch_unwind().await {
                    Err(_) => {}
                    Ok(Ok(outputs)) => {
                        assert_eq!(outputs.len(), count, "a batch answers every request");
                        for (answer, output) in answers.into_iter().zip(outputs) {
                            // A caller that gave up waiting does not need its answer.
                            let _ = answer.send(Ok(output));
                        }
                    }
                    Ok(Err(error)) => {
                        let error = Arc::new(error);
                        for answer in answers {
                            let _ = answer.send(Err(error.clone()));
                        }
                    }
                }
            }
        });
        Batched { requests }
    }

    /// Queues `input` and waits for its batch to run.
    pub async fn call(&self, input: I) -> Result<O, BatchFailed<E>> {
        self.submit(input).await
    }

    /// Queues `input` now (not when first polled, as [`call`](Self::call) does) and returns its
    /// answer to come: inputs submitted one after another go in one batch, or two when the
    /// batch task wakes between them.
    pub fn submit(
        &self,
        input: I,
    ) -> impl Future<Output = Result<O, BatchFailed<E>>> + Send + 'static {
        let (answer, answered) = oneshot::channel();
        // The task lives as long as any handle, so the queue is open; were it not, the answer
        // would be dropped and read as a failure below.
        let _ = self.requests.send((input, answer));
        async move {
            match answered.await {
                Ok(result) => result.map_err(BatchFailed::Run),
                Err(_) => Err(BatchFailed::Panicked),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn requests_that_queue_while_a_batch_runs_go_together_in_the_next() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (gate_open, gate) = tokio::sync::watch::channel(false);
        let seen = sizes.clone();
        let batched = Batched::new(3, move |inputs: Vec<u32>| {
            seen.lock().unwrap().push(inputs.len());
            let mut gate = gate.clone();
            async move {
                // The first batch waits until the test has queued the rest behind it.
                gate.wait_for(|open| *open).await.unwrap();
                Ok::<_, String>(inputs.into_iter().map(|i| i * 10).collect())
            }
        });
        // Polling a call once queues its request.
        let mut first = Box::pin(batched.call(1));
        assert!(futures::poll!(&mut first).is_pending());
        while sizes.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let mut rest: Vec<_> = (2..=6).map(|i| Box::pin(batched.call(i))).collect();
        for call in &mut rest {
            assert!(futures::poll!(call).is_pending());
        }
        gate_open.send(true).unwrap();
        assert_eq!(first.await.unwrap(), 10);
        for (i, call) in (2..=6).zip(rest) {
            assert_eq!(call.await.unwrap(), i * 10);
        }
        assert_eq!(*sizes.lock().unwrap(), vec![1, 3, 2]);
    }

    #[tokio::test]
    async fn inputs_submitted_together_go_in_one_batch_before_anyone_waits() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batched = Batched::new(8, move |inputs: Vec<u32>| {
            seen.lock().unwrap().push(inputs.len());
            async move { Ok::<_, String>(inputs.into_iter().map(|i| i + 1).collect()) }
        });
        let answers: Vec<_> = (1..=3).map(|i| batched.submit(i)).collect();
        // The batch runs with all three though nobody has polled an answer yet (one thread: the
        // batch task runs only when this test yields).
        let ran = async {
            while sizes.lock().unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), ran)
            .await
            .expect("the batch runs before its answers are awaited");
        let got = futures::future::join_all(answers).await;
        assert_eq!(
            got.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert_eq!(*sizes.lock().unwrap(), vec![3]);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_requests() {
        let batched = Batched::new(8, |_: Vec<u32>| async { Err::<Vec<u32>, _>("down") });
        let failed = batched.call(1).await.unwrap_err();
        assert!(
            matches!(failed, BatchFailed::Run(ref e) if **e == "down"),
            "{failed:?}"
        );
    }

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_requests_and_the_next_batch_runs() {
        let batched = Batched::new(8, |inputs: Vec<u32>| async move {
            assert!(!inputs.contains(&13), "a bug");
            Ok::<_, String>(inputs)
        });
        let failed = batched.call(13).await.unwrap_err();
        assert!(matches!(failed, BatchFailed::Panicked), "{failed:?}");
        assert_eq!(batched.call(7).await.unwrap(), 7);
    }
}
