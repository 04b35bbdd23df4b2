//! The event bus: a doorbell that tells live subscribers something changed. Never the record: whoever
//! hears it reads the database.

mod in_process;

use futures::stream::BoxStream;
pub use in_process::InProcessBus;

/// Topics are plain strings; these helpers keep their shapes in one place.
pub mod topic {
    pub fn availability(mentor_id: &str) -> String {
        format!("availability:{mentor_id}")
    }
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Rings every current subscriber of `topic`, on every node. Best effort: a message nobody hears is gone.
    async fn publish(&self, topic: &str, payload: serde_json::Value);
    /// The messages published on `topic` from now on.
    fn subscribe(&self, topic: &str) -> BoxStream<'static, serde_json::Value>;
}
