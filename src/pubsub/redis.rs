//! The bus across nodes: Redis pub/sub, for when several processes serve the same users.
//!
//! Each process holds exactly one subscriber connection, PSUBSCRIBEd to `{prefix}*`, and routes every
//! message to a local broadcast channel per topic (as `InProcessBus` does). A message for a topic nobody
//! on this node listens to is dropped at a hash lookup, before its payload is parsed: with one Redis
//! subscription per process instead of one per socket, the cost of an event is paid once per node, and
//! only where someone listens.
//!
//! Redis pub/sub is fire-and-forget: what is published while a connection is down is lost. So after the
//! subscriber reconnects, every local subscriber hears `Ring::Lagged` and re-reads the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::stream::{BoxStream, StreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{Client, Msg, RedisError};
use tokio::sync::broadcast;
use tokio::time::timeout;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::{EventBus, Ring};

/// Per topic and node, as in `InProcessBus`: a subscriber this far behind is told it lagged.
const CHANNEL_CAPACITY: usize = 16;
/// How long a connection attempt (including the PSUBSCRIBE) may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Publishing is best effort and runs inside requests: it must never hold one up for long.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnect delays double from the first to the last (each with jitter).
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A subscriber connection only ever reads, so a silently dead peer (a half-open TCP connection after
/// a network failure) would go unnoticed without a periodic PING.
const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(15);
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

type Topics = Arc<Mutex<HashMap<String, broadcast::Sender<Ring>>>>;

/// Why a Redis operation of the bus failed.
#[derive(Debug, thiserror::Error)]
enum BusError {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the Redis connection closed")]
    Closed,
    /// Displayed without a source: a `RedisError` already says what its I/O error says.
    #[error("{0}")]
    Redis(RedisError),
}

impl From<RedisError> for BusError {
    fn from(error: RedisError) -> Self {
        BusError::Redis(error)
    }
}

/// The Redis event bus. Clones share one subscriber connection and one publishing connection; the
/// background subscriber task stops when the last clone is dropped.
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    topics: Topics,
    /// Multiplexed, and reconnects by itself after a failed command.
    publisher: ConnectionManager,
    subscriber: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

impl RedisBus {
    /// The PSUBSCRIBE pattern matching every channel under `prefix` (glob characters in it escaped).
    pub fn pattern(prefix: &str) -> String {
        format!("{}*", escape_glob(prefix))
    }

    /// Connects both connections and PSUBSCRIBEs to `{prefix}*` before returning, so that whatever is
    /// published after `connect` and `subscribe` is heard. Fails (within a few seconds) when Redis is
    /// unreachable: a node with a bad `REDIS_URL` must not start and silently miss every event.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        // Neither the URL nor the client's errors are logged as they are: the URL may hold a password.
        let client = Client::open(url).context("not a valid Redis URL")?;
        let addr = client.get_connection_info().addr().to_string();
        let pattern = Self::pattern(prefix);
        let pubsub = subscribe_prefix(&client, &pattern)
            .await
            .with_context(|| format!("subscribing to Redis at {addr}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(PUBLISH_TIMEOUT))
            .set_response_timeout(Some(PUBLISH_TIMEOUT))
            .set_min_delay(BACKOFF_MIN)
            .set_max_delay(BACKOFF_MAX);
        let publisher = timeout(
            CONNECT_TIMEOUT,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| BusError::Timeout(CONNECT_TIMEOUT))
        .and_then(|result| result.map_err(BusError::from))
        .with_context(|| format!("connecting to Redis at {addr}"))?;
        let topics = Topics::default();
        let task = tokio::spawn(run_subscriber(
            client,
            pattern,
            prefix.to_owned(),
            topics.clone(),
            pubsub,
        ));
        Ok(RedisBus {
            inner: Arc::new(Inner {
                prefix: prefix.to_owned(),
                topics,
                publisher,
                subscriber: task.abort_handle(),
            }),
        })
    }

    async fn try_publish(&self, channel: &str, payload: &str) -> Result<(), BusError> {
        let mut connection = self.inner.publisher.clone();
        let send = async move {
            let publish = redis::cmd("PUBLISH").arg(channel).arg(payload).clone();
            match publish.query_async::<()>(&mut connection).await {
                // A connection that died while idle (say Redis restarted) fails its first command and
                // starts reconnecting: one more try waits for the fresh connection, so the first event
                // after a restart is not lost.
                Err(error) if error.is_unrecoverable_error() => {
                    publish.query_async::<()>(&mut connection).await
                }
                result => result,
            }
        };
        timeout(PUBLISH_TIMEOUT, send)
            .await
            .map_err(|_| BusError::Timeout(PUBLISH_TIMEOUT))??;
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, topic: &str, payload: serde_json::Value) {
        let channel = format!("{}{topic}", self.inner.prefix);
        if let Err(error) = self.try_publish(&channel, &payload.to_string()).await {
            tracing::warn!(topic, %error, "could not publish on Redis; the event is dropped");
        }
    }

    fn subscribe(&self, topic: &str) -> BoxStream<'static, Ring> {
        let receiver = {
            let mut topics = lock(&self.inner.topics);
            topics.retain(|_, sender| sender.receiver_count() > 0);
            topics
                .entry(topic.to_string())
                .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
                .subscribe()
        };
        BroadcastStream::new(receiver)
            .map(|ring| match ring {
                Ok(ring) => ring,
                Err(BroadcastStreamRecvError::Lagged(_)) => Ring::Lagged,
            })
            .boxed()
    }
}

/// The topic map stays consistent whatever panicked while holding it (every change is one call), so a
/// poisoned lock is used as is rather than spreading the panic.
fn lock(topics: &Topics) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Ring>>> {
    topics.lock().unwrap_or_else(PoisonError::into_inner)
}

/// PSUBSCRIBE patterns are globs: a prefix holding `*`, `?`, `[`, `]` or `\` must match only itself.
fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Opens a dedicated pub/sub connection and PSUBSCRIBEs it, all within `CONNECT_TIMEOUT`.
async fn subscribe_prefix(client: &Client, pattern: &str) -> Result<PubSub, BusError> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe(pattern).await?;
        Ok::<_, BusError>(pubsub)
    };
    timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| BusError::Timeout(CONNECT_TIMEOUT))?
}

/// The subscriber task: routes messages until the connection drops, then reconnects (forever, with
/// backoff) and tells every local subscriber that it may have missed something.
async fn run_subscriber(
    client: Client,
    pattern: String,
    prefix: String,
    topics: Topics,
    mut pubsub: PubSub,
) {
    loop {
        let error = route(pubsub, &prefix, &topics).await;
        tracing::warn!(%error, "lost the Redis subscriber connection; reconnecting");
        let outage = Instant::now();
        pubsub = reconnect(&client, &pattern).await;
        // Only now, subscribed again: whoever re-reads the database on this ring also hears what
        // follows.
        ring_lagged(&topics);
        tracing::info!(
            outage_ms = outage.elapsed().as_millis() as u64,
            "Redis subscriber reconnected; local subscribers told to catch up"
        );
    }
}

/// Delivers messages until the connection fails, and says why it did.
async fn route(pubsub: PubSub, prefix: &str, topics: &Topics) -> BusError {
    let (mut sink, mut messages) = pubsub.split();
    let start = tokio::time::Instant::now() + HEALTH_CHECK_INTERVAL;
    let mut health = tokio::time::interval_at(start, HEALTH_CHECK_INTERVAL);
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => deliver(&message, prefix, topics),
                None => return BusError::Closed,
            },
            _ = health.tick() => {
                match timeout(HEALTH_CHECK_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return error.into(),
                    Err(_) => return BusError::Timeout(HEALTH_CHECK_TIMEOUT),
                }
            }
        }
    }
}

/// Hands one Redis message to the local subscribers of its topic, if there are any.
fn deliver(message: &Msg, prefix: &str, topics: &Topics) {
    let Some(topic) = message.get_channel_name().strip_prefix(prefix) else {
        return;
    };
    // Most messages are for topics nobody on this node listens to: they stop here, unparsed.
    let Some(sender) = lock(topics).get(topic).cloned() else {
        return;
    };
    match serde_json::from_slice(message.get_payload_bytes()) {
        Ok(value) => {
            if sender.send(Ring::Message(value)).is_err() {
                // The last subscriber left: drop the channel unless someone subscribed meanwhile.
                let mut topics = lock(topics);
                if topics.get(topic).is_some_and(|s| s.receiver_count() == 0) {
                    topics.remove(topic);
                }
            }
        }
        Err(error) => {
            tracing::warn!(topic, %error, "dropping a bus message whose payload is not JSON");
        }
    }
}

/// Tells every local subscriber that messages may have been lost.
fn ring_lagged(topics: &Topics) {
    lock(topics).retain(|_, sender| sender.send(Ring::Lagged).is_ok());
}

/// Retries until Redis answers and the PSUBSCRIBE is done.
async fn reconnect(client: &Client, pattern: &str) -> PubSub {
    let mut backoff = Backoff::default();
    loop {
        match subscribe_prefix(client, pattern).await {
            Ok(pubsub) => return pubsub,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, delay_ms = delay.as_millis() as u64, "Redis is unreachable; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Exponential backoff from `BACKOFF_MIN` to `BACKOFF_MAX`, each delay drawn from its upper half so
/// that nodes that lost Redis together do not all knock again at the same instant.
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(BACKOFF_MAX);
        base / 2 + (base / 2).mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;
    use serde_json::json;

    const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

    fn require_redis() -> bool {
        std::env::var("REQUIRE_REDIS").is_ok_and(|v| v == "1")
    }

    /// A fresh channel prefix, so that tests running at once on the shared Redis never hear each other.
    fn unique_prefix() -> String {
        format!("mentor-test:{}:", uuid::Uuid::new_v4().simple())
    }

    /// The shared test Redis (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), or `None` (said so on
    /// stderr) when it is unreachable; with `REQUIRE_REDIS=1` an unreachable Redis fails the test.
    async fn shared_redis(test: &str) -> Option<String> {
        let url = std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        match RedisBus::connect(&url, &unique_prefix()).await {
            Ok(_) => Some(url),
            Err(error) if require_redis() => {
                panic!(
                    "REQUIRE_REDIS=1 but the test Redis (TEST_REDIS_URL) is unreachable: {error:#}"
                )
            }
            Err(error) => {
                say_skipped(
                    test,
                    &format!("the test Redis (TEST_REDIS_URL) is unreachable ({error:#})"),
                );
                None
            }
        }
    }

    /// Straight to stderr, past the test harness's capture, so that a skip is seen.
    fn say_skipped(test: &str, why: &str) {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {why}; set REQUIRE_REDIS=1 to fail instead"
        );
    }

    async fn next(stream: &mut BoxStream<'static, Ring>) -> Ring {
        timeout(RECEIVE_TIMEOUT, stream.next())
            .await
            .expect("a ring within the timeout")
            .expect("the stream stays open")
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let mut base = BACKOFF_MIN;
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(delay >= base / 2 && delay <= base, "{delay:?} for {base:?}");
            base = (base * 2).min(BACKOFF_MAX);
        }
        assert_eq!(base, BACKOFF_MAX);
    }

    #[test]
    fn glob_characters_in_the_prefix_match_only_themselves() {
        assert_eq!(escape_glob("mentor:"), "mentor:");
        assert_eq!(escape_glob(r"a*b?[c]\"), r"a\*b\?\[c\]\\");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_with_its_address() {
        let port = free_port();
        let started = Instant::now();
        let error = RedisBus::connect(&format!("redis://:hunter2@127.0.0.1:{port}"), "mentor:")
            .await
            .err()
            .expect("nothing listens there");
        let shown = format!("{error:#}");
        assert!(started.elapsed() < CONNECT_TIMEOUT + Duration::from_secs(1));
        assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let error = RedisBus::connect("http://:hunter2@nowhere", "mentor:")
            .await
            .err()
            .expect("not a Redis URL");
        let shown = format!("{error:#}");
        assert!(shown.contains("not a valid Redis URL") && !shown.contains("hunter2"));
    }

    #[tokio::test]
    async fn two_nodes_hear_each_other_in_order_and_topics_and_prefixes_are_isolated() {
        let Some(url) = shared_redis("two_nodes_hear_each_other").await else {
            return;
        };
        let prefix = unique_prefix();
        let a = RedisBus::connect(&url, &prefix).await.unwrap();
        let b = RedisBus::connect(&url, &prefix).await.unwrap();
        let elsewhere = RedisBus::connect(&url, &unique_prefix()).await.unwrap();
        let mut on_a = a.subscribe("t");
        let mut other_topic_on_a = a.subscribe("u");
        let mut other_prefix = elsewhere.subscribe("t");

        let publish = async {
            for i in 0..100 {
                b.publish("t", json!(i)).await;
            }
            b.publish("u", json!("u")).await;
        };
        let receive = async {
            let mut heard = Vec::new();
            for _ in 0..100 {
                heard.push(next(&mut on_a).await);
            }
            heard
        };
        let ((), heard) = tokio::join!(publish, receive);
        let expected: Vec<Ring> = (0..100).map(|i| Ring::Message(json!(i))).collect();
        assert_eq!(heard, expected);

        // One subscriber connection delivers in order: once "u" is in, nothing else is on its way.
        assert_eq!(next(&mut other_topic_on_a).await, Ring::Message(json!("u")));
        assert!(on_a.next().now_or_never().is_none());
        // Redis handles commands one at a time: had the other prefix heard B, it would have before this.
        elsewhere.publish("t", json!("mine")).await;
        assert_eq!(next(&mut other_prefix).await, Ring::Message(json!("mine")));
    }

    #[tokio::test]
    async fn a_payload_that_is_not_json_is_dropped_and_a_dropped_bus_stops_its_task() {
        let Some(url) = shared_redis("a_payload_that_is_not_json").await else {
            return;
        };
        let prefix = unique_prefix();
        let bus = RedisBus::connect(&url, &prefix).await.unwrap();
        let mut sub = bus.subscribe("t");
        let mut raw = Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        redis::cmd("PUBLISH")
            .arg(format!("{prefix}t"))
            .arg("{not json")
            .query_async::<()>(&mut raw)
            .await
            .unwrap();
        bus.publish("t", json!({"ok": true})).await;
        assert_eq!(next(&mut sub).await, Ring::Message(json!({"ok": true})));

        let topics = Arc::downgrade(&bus.inner.topics);
        drop((bus, sub));
        // The task held the only other reference to the topics: they go when it stops.
        let stopped = async {
            while topics.upgrade().is_some() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        timeout(Duration::from_secs(2), stopped)
            .await
            .expect("the subscriber task stops with the bus");
    }

    #[tokio::test]
    async fn after_a_redis_restart_subscribers_hear_lagged_then_new_messages() {
        if let Err(error) = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
        {
            assert!(
                !require_redis(),
                "REQUIRE_REDIS=1 but redis-server cannot run: {error}"
            );
            say_skipped(
                "after_a_redis_restart",
                &format!("redis-server cannot run ({error})"),
            );
            return;
        }
        let port = free_port();
        let url = format!("redis://127.0.0.1:{port}");
        let server = RedisServer::start(port).await;
        let bus = RedisBus::connect(&url, "restart:").await.unwrap();
        let mut sub = bus.subscribe("t");
        bus.publish("t", json!("before")).await;
        assert_eq!(next(&mut sub).await, Ring::Message(json!("before")));

        drop(server);
        let started = Instant::now();
        bus.publish("t", json!("lost")).await;
        assert!(
            started.elapsed() < PUBLISH_TIMEOUT + Duration::from_millis(500),
            "publishing while Redis is down took {:?}",
            started.elapsed()
        );

        let server = RedisServer::start(port).await;
        assert_eq!(next(&mut sub).await, Ring::Lagged);
        bus.publish("t", json!("after")).await;
        assert_eq!(next(&mut sub).await, Ring::Message(json!("after")));

        // A restart while nobody publishes: the first event after it still gets through.
        drop(server);
        let _server = RedisServer::start(port).await;
        assert_eq!(next(&mut sub).await, Ring::Lagged);
        bus.publish("t", json!("after a quiet restart")).await;
        assert_eq!(
            next(&mut sub).await,
            Ring::Message(json!("after a quiet restart"))
        );
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    /// A private `redis-server`, killed when dropped (also when the test fails).
    struct RedisServer(std::process::Child);

    impl RedisServer {
        async fn start(port: u16) -> Self {
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("redis-server starts");
            let server = RedisServer(child);
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return server;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("redis-server did not listen on port {port}");
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
