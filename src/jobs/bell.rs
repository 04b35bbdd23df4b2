//! A bell for idle job workers: a service that has just queued a job to run now (a push's read)
//! rings it, and a worker of this process claims it at once instead of at its next poll. Workers of
//! other processes still find it at their next poll.

use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct JobBell(Arc<Notify>);

impl JobBell {
    /// Wakes one idle worker (or the next to go idle).
    pub fn ring(&self) {
        self.0.notify_one();
    }

    /// Waits until rung (at once if it was rung while nobody waited).
    pub async fn rung(&self) {
        self.0.notified().await;
    }
}
