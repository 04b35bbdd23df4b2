//! The embedded bus: one broadcast channel per topic, dropped when its last subscriber leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{EventBus, Ring};

const CHANNEL_CAPACITY: usize = 16;

#[derive(Default, Clone)]
pub struct InProcessBus {
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<serde_json::Value>>>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Topics with a live channel (for tests of the clean-up).
    pub fn topic_count(&self) -> usize {
        self.topics.lock().expect("bus lock").len()
    }
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, topic: &str, payload: serde_json::Value) {
        let mut topics = self.topics.lock().expect("bus lock");
        if let Some(sender) = topics.get(topic) {
            if sender.send(payload).is_err() {
                topics.remove(topic);
            }
        }
    }

    fn subscribe(&self, topic: &str) -> BoxStream<'static, Ring> {
        let mut topics = self.topics.lock().expect("bus lock");
        topics.retain(|_, sender| sender.receiver_count() > 0);
        let receiver = topics
            .entry(topic.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        // A lagging subscriber is told so, and re-reads the database.
        BroadcastStream::new(receiver)
            .map(|m| match m {
                Ok(value) => Ring::Message(value),
                Err(BroadcastStreamRecvError::Lagged(_)) => Ring::Lagged,
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_hear_their_topic_only_and_channels_are_cleaned_up() {
        let bus = InProcessBus::new();
        let mut a = bus.subscribe("a");
        let mut b = bus.subscribe("b");
        bus.publish("a", serde_json::json!(1)).await;
        bus.publish("b", serde_json::json!(2)).await;
        assert_eq!(a.next().await, Some(Ring::Message(serde_json::json!(1))));
        assert_eq!(b.next().await, Some(Ring::Message(serde_json::json!(2))));
        drop(a);
        bus.publish("a", serde_json::json!(3)).await;
        assert_eq!(bus.topic_count(), 1);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_it_lagged() {
        let bus = InProcessBus::new();
        let mut slow = bus.subscribe("t");
        for i in 0..(CHANNEL_CAPACITY + 5) {
            bus.publish("t", serde_json::json!(i)).await;
        }
        assert_eq!(slow.next().await, Some(Ring::Lagged));
        assert!(matches!(slow.next().await, Some(Ring::Message(_))));
    }
}
