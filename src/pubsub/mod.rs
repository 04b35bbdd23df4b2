//! The event bus: a doorbell that tells live subscribers something changed. Never the record: whoever
//! hears it reads the database.

mod in_process;
mod redis;

pub use self::redis::RedisBus;
use futures::stream::BoxStream;
pub use in_process::InProcessBus;

/// Topics are plain strings; these helpers keep their shapes in one place.
pub mod topic {
    pub fn availability(mentor_id: &str) -> String {
        format!("availability:{mentor_id}")
    }

    /// Mentors whose bookable time changed (payload: the mentor id), for every node's slot cache.
    pub fn schedules() -> String {
        "schedules".into()
    }

    /// A mentor's calendar connections (payload: `{"provider": slug}`).
    pub fn calendar(mentor_id: &str) -> String {
        format!("calendar:{mentor_id}")
    }

    /// Everything that changes what one user sees in the notification center.
    pub fn user(user_id: &str) -> String {
        format!("user:{user_id}")
    }
}

/// What a subscriber hears.
#[derive(Debug, Clone, PartialEq)]
pub enum Ring {
    /// A message published on the topic.
    Message(serde_json::Value),
    /// Messages may have been lost (the subscriber lagged, or the bus reconnected after an outage):
    /// re-read the database.
    Lagged,
}

impl Ring {
    pub fn message(self) -> Option<serde_json::Value> {
        match self {
            Ring::Message(value) => Some(value),
            Ring::Lagged => None,
        }
    }
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Rings every current subscriber of `topic`, on every node. Best effort: a message nobody hears is
    /// gone, and a message that cannot be sent is logged and dropped (subscribers catch up from the
    /// database on their next ring or on `Ring::Lagged`).
    async fn publish(&self, topic: &str, payload: serde_json::Value);
    /// What is published on `topic` from now on.
    fn subscribe(&self, topic: &str) -> BoxStream<'static, Ring>;
}
