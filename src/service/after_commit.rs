//! What a committed write owes the rest of the system, collected while the transaction runs and
//! handed on once it has committed: rings on the event bus (live notifications, availability
//! subscribers) and the mentors whose slots changed (the slot caches of every node). Nothing is told
//! before the commit, so nobody reads the change before it is there, and a rolled-back write tells
//! nobody anything.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::slots::SlotCache;
use crate::pubsub::EventBus;

/// Where changes go once committed; cheap to clone into every service.
#[derive(Clone)]
pub struct AfterCommit {
    bus: Arc<dyn EventBus>,
    slots: Arc<SlotCache>,
}

impl AfterCommit {
    pub fn new(bus: Arc<dyn EventBus>, slots: Arc<SlotCache>) -> Self {
        AfterCommit { bus, slots }
    }

    /// An empty list of changes for one transaction.
    pub fn changes(&self) -> Changes {
        Changes {
            to: self.clone(),
            rings: Vec::new(),
            mentors: BTreeSet::new(),
        }
    }
}

/// The changes of one transaction. Apply them after it commits; dropping them only delays what they
/// tell (live subscribers catch up on their next ring, caches expire), but every commit should be
/// followed by [`Changes::apply`].
#[must_use = "apply the changes after the transaction commits"]
pub struct Changes {
    to: AfterCommit,
    rings: Vec<(String, serde_json::Value)>,
    mentors: BTreeSet<String>,
}

impl Changes {
    /// Publish `payload` on `topic` once committed.
    pub fn ring(&mut self, topic: String, payload: serde_json::Value) {
        self.rings.push((topic, payload));
    }

    /// The slots of `mentor_id` changed (schedule, rules, busy time, sessions).
    pub fn slots_of(&mut self, mentor_id: &str) {
        self.mentors.insert(mentor_id.to_string());
    }

    /// Takes on another list's changes (a transaction made of several steps).
    pub fn absorb(&mut self, other: Changes) {
        self.rings.extend(other.rings);
        self.mentors.extend(other.mentors);
    }

    /// Tells everyone, after the commit: slot caches first, so that a subscriber told of a change and
    /// asking for slots at once already misses the cache.
    pub async fn apply(self) {
        for mentor in &self.mentors {
            self.to.slots.changed(mentor).await;
        }
        for (topic, payload) in self.rings {
            self.to.bus.publish(&topic, payload).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pubsub::{InProcessBus, Ring};
    use futures::{FutureExt, StreamExt};

    #[tokio::test]
    async fn nothing_is_told_before_apply_and_everything_after() {
        let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::new());
        let slots = SlotCache::new(Duration::from_secs(60), bus.clone());
        let after = AfterCommit::new(bus.clone(), slots);
        let mut listening = bus.subscribe("user:u1");
        let mut changes = after.changes();
        changes.ring("user:u1".into(), serde_json::json!({"n": 1}));
        changes.slots_of("m1");
        let mut more = after.changes();
        more.ring("user:u1".into(), serde_json::json!({"n": 2}));
        changes.absorb(more);
        // The in-process bus hands a publish over at once: anything published would be here now.
        assert!(
            listening.next().now_or_never().is_none(),
            "nothing before the commit"
        );
        changes.apply().await;
        for n in [1, 2] {
            match listening.next().await {
                Some(Ring::Message(v)) => assert_eq!(v["n"], n),
                other => panic!("{other:?}"),
            }
        }
    }
}
