//! Each mentor's bookable-time inputs (schedule, rules, busy time and sessions), kept in memory between
//! slot queries so that a query reads nothing from the database.
//!
//! Slots are an offer, never a promise: `createBooking` re-checks everything under the mentor's lock.
//! The cache still tries hard not to offer stale time:
//! - every change to what decides a mentor's slots (availability, settings, sessions, the mentor's
//!   own record) calls [`SlotCache::changed`] after its commit, which drops the entry on this node at
//!   once and tells the other nodes through the event bus (`topic::schedules`);
//! - a load that raced with a change is not kept (stamps below), so a read from before a commit never
//!   outlives the change;
//! - when the bus may have lost messages (`Ring::Lagged`, a Redis reconnect) every entry is dropped;
//! - entries expire after `SLOT_CACHE_SECONDS` anyway, which bounds how long time written around the
//!   service (a SQL console, another deployment) can go unseen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::domain::interval::Interval;
use crate::domain::slots::{DailyIntervals, Schedule};
use crate::pubsub::{topic, EventBus, Ring};

/// Entries kept at most; past it the cache starts again empty (mentors are far fewer on one node).
const MAX_ENTRIES: usize = 10_000;

/// What the slot engine needs about one mentor, over the span `covers`.
#[derive(Debug)]
pub struct MentorTimes {
    pub schedule: Schedule,
    /// The schedule resolved to UTC for every local date `covers` can touch.
    pub days: DailyIntervals,
    /// Busy time and sessions widened by the buffer, sorted and merged (`domain::slots::blocked_time`).
    pub blocked: Vec<Interval>,
    /// Busy time and overrides were read for this span; queries reaching past it read again.
    pub covers: Interval,
}

/// A cache entry, or the trace of a change that emptied it.
struct Entry {
    times: Option<(Arc<MentorTimes>, Instant)>,
    /// The stamp of the last change to this mentor.
    changed: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Every change and every clear takes the next stamp.
    stamp: u64,
    /// The stamp of the last time every entry was dropped.
    cleared: u64,
}

/// A load may be kept only if nothing changed since it began: it carries the stamp read at its start.
#[derive(Debug, Clone, Copy)]
struct LoadTicket(u64);

pub struct SlotCache {
    state: Mutex<State>,
    /// One load at a time per mentor: callers that miss together wait for the first one's load.
    gates: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    ttl: Duration,
    bus: Arc<dyn EventBus>,
}

impl SlotCache {
    /// A cache whose entries live at most `ttl` (zero keeps nothing). Call [`SlotCache::listen`] to
    /// hear other nodes' changes.
    pub fn new(ttl: Duration, bus: Arc<dyn EventBus>) -> Arc<Self> {
        Arc::new(SlotCache {
            state: Mutex::new(State::default()),
            gates: Mutex::new(HashMap::new()),
            ttl,
            bus,
        })
    }

    /// Drops entries as other nodes (and this one) announce changes, for as long as the cache lives.
    /// The subscription is taken before this returns.
    pub fn listen(self: &Arc<Self>) {
        let mut changes = self.bus.subscribe(&topic::schedules());
        let cache: Weak<SlotCache> = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(ring) = changes.next().await {
                let Some(cache) = cache.upgrade() else { return };
                match ring {
                    Ring::Message(serde_json::Value::String(mentor_id)) => cache.forget(&mentor_id),
                    Ring::Message(other) => {
                        tracing::warn!(payload = %other, "unexpected schedule change message");
                        cache.clear();
                    }
                    Ring::Lagged => cache.clear(),
                }
            }
        });
    }

    /// The mentor's times: the cached ones when fresh and `usable`, otherwise what `load` reads. Callers
    /// that miss together share one load (each re-checks the cache after waiting for the one before).
    pub async fn get_or_load<E, F, Fut>(
        &self,
        mentor_id: &str,
        usable: impl Fn(&MentorTimes) -> bool,
        load: F,
    ) -> Result<Arc<MentorTimes>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<MentorTimes, E>>,
    {
        let cached = || self.get(mentor_id).filter(|t| usable(t));
        if let Some(times) = cached() {
            return Ok(times);
        }
        let gate = self.gate(mentor_id);
        let _turn = gate.lock().await;
        if let Some(times) = cached() {
            return Ok(times);
        }
        let ticket = self.ticket();
        let times = Arc::new(load().await?);
        self.put(mentor_id, ticket, times.clone());
        Ok(times)
    }

    /// The mentor's load gate, shared by everyone loading that mentor right now.
    fn gate(&self, mentor_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = gates.get(mentor_id).and_then(Weak::upgrade) {
            return gate;
        }
        if gates.len() >= MAX_ENTRIES {
            gates.retain(|_, gate| gate.strong_count() > 0);
        }
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        gates.insert(mentor_id.to_string(), Arc::downgrade(&gate));
        gate
    }

    /// The cached times of `mentor_id`, if fresh.
    fn get(&self, mentor_id: &str) -> Option<Arc<MentorTimes>> {
        let state = self.lock();
        match state.entries.get(mentor_id).and_then(|e| e.times.as_ref()) {
            Some((times, at)) if at.elapsed() < self.ttl => Some(times.clone()),
            _ => None,
        }
    }

    /// Take one before a load starts, and hand it to [`SlotCache::put`] with what the load read.
    fn ticket(&self) -> LoadTicket {
        LoadTicket(self.lock().stamp)
    }

    /// Keeps what a load read, unless the mentor changed (or everything was dropped) since it began.
    fn put(&self, mentor_id: &str, ticket: LoadTicket, times: Arc<MentorTimes>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut state = self.lock();
        let changed = state.entries.get(mentor_id).map_or(0, |e| e.changed);
        if changed.max(state.cleared) > ticket.0 {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES && !state.entries.contains_key(mentor_id) {
            clear(&mut state);
            return;
        }
        state.entries.insert(
            mentor_id.to_string(),
            Entry {
                times: Some((times, Instant::now())),
                changed,
            },
        );
    }

    /// Call after committing anything that changes where `mentor_id` can be booked: drops the entry
    /// here at once, then tells every node.
    pub async fn changed(&self, mentor_id: &str) {
        self.forget(mentor_id);
        self.bus
            .publish(
                &topic::schedules(),
                serde_json::Value::String(mentor_id.into()),
            )
            .await;
    }

    /// Empties the mentor's entry. A mentor with no entry needs a trace of the change only while a
    /// load of theirs is in flight (it may have read before the commit); a load that starts later reads
    /// after it. So changes to users nobody loads (students, through their tokens) leave nothing behind.
    fn forget(&self, mentor_id: &str) {
        let loading = self
            .gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(mentor_id)
            .is_some_and(|gate| gate.strong_count() > 0);
        let mut state = self.lock();
        state.stamp += 1;
        let stamp = state.stamp;
        if let Some(entry) = state.entries.get_mut(mentor_id) {
            entry.times = None;
            entry.changed = stamp;
            return;
        }
        if !loading {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            clear(&mut state);
            return;
        }
        state.entries.insert(
            mentor_id.to_string(),
            Entry {
                times: None,
                changed: stamp,
            },
        );
    }

    fn clear(&self) {
        clear(&mut self.lock());
    }

    /// Every change is one call under the lock, so a poisoned lock still holds a consistent state.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn clear(state: &mut State) {
    state.stamp += 1;
    state.cleared = state.stamp;
    state.entries.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::BookingRules;
    use crate::domain::weekly::{DateOverrides, WeeklyPattern};
    use crate::pubsub::InProcessBus;
    use chrono::{TimeZone as _, Utc};

    fn times() -> Arc<MentorTimes> {
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
        let schedule = Schedule {
            zone: "Europe/London".parse().unwrap(),
            weekly: WeeklyPattern::from_blocks(std::iter::empty()),
            overrides: DateOverrides::default(),
            rules: BookingRules::default(),
        };
        Arc::new(MentorTimes {
            days: DailyIntervals::new(&schedule, t.date_naive(), t.date_naive()),
            schedule,
            blocked: Vec::new(),
            covers: Interval::new(t, t),
        })
    }

    fn cache(ttl: Duration) -> Arc<SlotCache> {
        SlotCache::new(ttl, Arc::new(InProcessBus::new()))
    }

    #[tokio::test]
    async fn a_load_is_kept_until_the_mentor_changes() {
        let cache = cache(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.put("m", ticket, times());
        assert!(cache.get("m").is_some());
        assert!(cache.get("other").is_none());
        cache.changed("m").await;
        assert!(cache.get("m").is_none());
    }

    #[tokio::test]
    async fn a_load_that_raced_a_change_is_not_kept() {
        let cache = cache(Duration::from_secs(60));
        // The change commits while the load is reading: what it read may predate the change.
        let racing = cache.get_or_load(
            "m",
            |_| true,
            || async {
                cache.changed("m").await;
                Ok::<_, ()>(Arc::into_inner(times()).unwrap())
            },
        );
        racing.await.unwrap();
        assert!(cache.get("m").is_none(), "a racing load must not be kept");
        // A load that starts after the change is kept.
        let ticket = cache.ticket();
        cache.put("m", ticket, times());
        assert!(cache.get("m").is_some());
    }

    #[tokio::test]
    async fn changes_to_users_nobody_loads_leave_nothing_behind() {
        let cache = cache(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.put("m", ticket, times());
        for i in 0..MAX_ENTRIES + 10 {
            cache.changed(&format!("student{i}")).await;
        }
        assert_eq!(cache.lock().entries.len(), 1);
        assert!(
            cache.get("m").is_some(),
            "other users' changes never evict a mentor"
        );
    }

    #[tokio::test]
    async fn a_bus_that_lost_messages_empties_the_cache() {
        let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::new());
        let here = SlotCache::new(Duration::from_secs(60), bus.clone());
        here.listen();
        let ticket = here.ticket();
        here.put("m", ticket, times());
        // More changes than the bus keeps, published before the listener runs: it hears `Lagged`,
        // and cannot know whether "m" was among the lost ones.
        for i in 0..100 {
            bus.publish(&topic::schedules(), serde_json::json!(format!("other{i}")))
                .await;
        }
        for _ in 0..100 {
            if here.get("m").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("a lagged bus never emptied the cache");
    }

    #[tokio::test]
    async fn a_load_that_raced_a_clear_is_not_kept() {
        let cache = cache(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.clear();
        cache.put("m", ticket, times());
        assert!(cache.get("m").is_none());
    }

    #[tokio::test]
    async fn a_change_to_another_mentor_does_not_drop_a_load() {
        let cache = cache(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.changed("other").await;
        cache.put("m", ticket, times());
        assert!(cache.get("m").is_some());
    }

    #[tokio::test]
    async fn callers_that_miss_together_share_one_load() {
        let cache = cache(Duration::from_secs(60));
        let loads = std::sync::atomic::AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>(Arc::into_inner(times()).unwrap())
        };
        let callers = (0..16).map(|_| cache.get_or_load("m", |_| true, load));
        let got = futures::future::join_all(callers).await;
        assert!(got.iter().all(Result::is_ok));
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A cached entry that does not suit the caller is read again.
        cache.get_or_load("m", |_| false, load).await.unwrap();
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A failed load is not kept, and the next caller tries again.
        cache.changed("m").await;
        let failed = cache.get_or_load("m", |_| true, || async { Err::<MentorTimes, _>("down") });
        assert_eq!(failed.await.unwrap_err(), "down");
        cache.get_or_load("m", |_| true, load).await.unwrap();
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_a_zero_ttl_keeps_nothing() {
        let cache = cache(Duration::from_millis(30));
        let ticket = cache.ticket();
        cache.put("m", ticket, times());
        assert!(cache.get("m").is_some());
        tokio::time::advance(Duration::from_millis(29)).await;
        assert!(cache.get("m").is_some(), "kept for its whole time to live");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(cache.get("m").is_none());

        let off = self::cache(Duration::ZERO);
        let ticket = off.ticket();
        off.put("m", ticket, times());
        assert!(off.get("m").is_none());
    }

    #[tokio::test]
    async fn changes_announced_on_the_bus_drop_entries() {
        let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::new());
        let here = SlotCache::new(Duration::from_secs(60), bus.clone());
        here.listen();
        let ticket = here.ticket();
        here.put("m", ticket, times());
        // Another node's change reaches this one only through the bus.
        let elsewhere = SlotCache::new(Duration::from_secs(60), bus.clone());
        elsewhere.changed("m").await;
        for _ in 0..100 {
            if here.get("m").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the announced change never dropped the entry");
    }
}
