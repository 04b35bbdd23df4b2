//! Load generator for live notifications, driven by `bench/notifications-load.sh` (see there for
//! usage).
//!
//! 1. Opens `BENCH_SUBSCRIBERS` WebSockets on `/graphql/ws` (`graphql-transport-ws`), one per user
//!    `{BENCH_USER_PREFIX}{i}`, at most `BENCH_CONNECT_CONCURRENCY` handshakes in flight. Each sends
//!    `connection_init` with a locally minted token (which creates the user's record), waits for
//!    `connection_ack` and subscribes to `notificationReceived(after: <seq 0>)`: with a cursor the
//!    server replays whatever it committed before the subscription was live, so nothing is lost to
//!    the subscription's start-up race (it would only show up as a late arrival).
//! 2. Sends `BENCH_RATE` notifications a second for `BENCH_DURATION` seconds through the admin
//!    mutation `sendNotification` over HTTP, `BENCH_BATCH` distinct users per request, on a fixed
//!    schedule: each request is spawned at its planned instant whatever the earlier ones are doing
//!    (no coordinated omission). Notification `k` goes to user `k % SUBSCRIBERS`; its `data` carries
//!    the batch number and `sentAt` (ns since the epoch, taken just before the request is sent).
//! 3. Meanwhile the generator PSUBSCRIBEs to `{BENCH_REDIS_PREFIX}user:*` itself and notes when each
//!    notification's Redis message reached it, and runs a raw Redis baseline: one connection
//!    PUBLISHes a timestamp at the same rate on a channel the server does not hear, another
//!    SUBSCRIBEs to it.
//! 4. Reports connections, notifications sent / received / missing / duplicated / misrouted,
//!    latency percentiles (mutation start -> WebSocket, Redis -> WebSocket, mutation start ->
//!    Redis, the HTTP round trip, raw Redis), the server's RSS (`/proc/<pid>/status`) and CPU, and
//!    this process's RSS. Exit status 1 when a subscriber failed to connect, a request failed, or a
//!    notification was missing, duplicated or misrouted; 3 when all was correct but a target was
//!    missed (p99 Redis -> WebSocket < `BENCH_TARGET_P99_MS`, server RSS < `BENCH_TARGET_RSS_MB`).
//!
//! Environment: `BENCH_URL` (the GraphQL endpoint over HTTP), `BENCH_WS_URL` (the WebSocket
//! endpoint), `BENCH_JWT_SECRET`, `BENCH_SERVER_PID`, `BENCH_REDIS_URL`, `BENCH_REDIS_PREFIX` (the
//! server's `REDIS_CHANNEL_PREFIX`), `BENCH_SUBSCRIBERS` (default 10000), `BENCH_RATE`
//! (notifications a second, default 1000), `BENCH_DURATION` (seconds, default 20), `BENCH_BATCH`
//! (users per request, default 1), `BENCH_CONNECT_CONCURRENCY` (default 256), `BENCH_SETTLE`
//! (seconds of quiet between connecting and sending, default 3), `BENCH_DRAIN` (seconds to wait
//! for stragglers, default 10), `BENCH_THREADS` (runtime threads, default 2), `BENCH_USER_PREFIX`
//! (default `bench-user-`), `BENCH_TARGET_P99_MS` (50), `BENCH_TARGET_RSS_MB` (300).

mod support;

use support::{env_or, env_required};

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::{Principal, Role};
use mentor_scheduler::config::Secret;
use mentor_scheduler::domain::time::TimeZone;
use mentor_scheduler::pubsub::RedisBus;
use serde_json::{json, Value};
use support::post;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const SEND: &str =
    "mutation($i: SendNotificationInput!) { sendNotification(input: $i) { delivered skipped } }";
const SUBSCRIBE: &str =
    "subscription($after: String) { notificationReceived(after: $after) { id createdAt data } }";
/// The cursor of `seq` 0 (cursors are the hex of the `seq`): everything the user ever gets.
const FROM_THE_START: &str = "30";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// Error messages printed in full per kind; the rest are only counted.
const ERRORS_SHOWN: usize = 5;
/// Linux's USER_HZ on every mainstream architecture: `/proc` CPU times are in these ticks.
const TICKS_PER_SECOND: f64 = 100.0;

/// Wall-clock nanoseconds since the epoch: the one clock every timestamp of the run is taken on.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// First few errors of one kind, and how many there were.
#[derive(Default)]
struct Errors {
    count: AtomicUsize,
    shown: Mutex<Vec<String>>,
}

impl Errors {
    fn push(&self, error: String) {
        if self.count.fetch_add(1, Ordering::Relaxed) < ERRORS_SHOWN {
            self.shown.lock().unwrap().push(error);
        }
    }
    fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
    fn print(&self, what: &str) {
        let n = self.count();
        if n > 0 {
            println!("{what}: {n}");
            for e in self.shown.lock().unwrap().iter() {
                println!("  {e}");
            }
        }
    }
}

/// Everything the tasks record; slots per notification `k` hold a timestamp (0 = not yet).
struct Shared {
    subscribers: usize,
    batch: usize,
    user_prefix: String,
    /// Per notification: when its WebSocket message arrived, and how often.
    ws_at: Vec<AtomicU64>,
    ws_count: Vec<AtomicU32>,
    /// Per notification: when its Redis message reached this process.
    redis_at: Vec<AtomicU64>,
    redis_extra: AtomicUsize,
    /// Per batch: when its request started, when its answer came, and how many it delivered.
    sent_at: Vec<AtomicU64>,
    answered_at: Vec<AtomicU64>,
    delivered: Vec<AtomicU32>,
    /// Per raw Redis message: publish-to-receive in ns, plus one (0 = not received).
    raw_latency: Vec<AtomicU64>,
    received: AtomicUsize,
    misrouted: AtomicUsize,
    connected: AtomicUsize,
    connect_ms: Mutex<Vec<f64>>,
    connect_errors: Errors,
    closed: Errors,
    stream_errors: Errors,
    send_errors: Errors,
    redis_errors: Errors,
}

impl Shared {
    fn user(&self, i: usize) -> String {
        format!("{}{i}", self.user_prefix)
    }

    /// Notification `k` of batch `b` that user `i` should get, if the batch has one for them.
    fn notification_of(&self, batch: usize, user: usize) -> Option<usize> {
        let base = batch * self.batch;
        let k = base + (user + self.subscribers - base % self.subscribers) % self.subscribers;
        (k < base + self.batch && k < self.ws_at.len()).then_some(k)
    }

    fn note_ws(&self, user: usize, batch: usize, at: u64) {
        let Some(k) = self.notification_of(batch, user) else {
            self.misrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.ws_count[k].fetch_add(1, Ordering::Relaxed) == 0 {
            self.ws_at[k].store(at, Ordering::Relaxed);
            self.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One subscriber: connect, init, subscribe (then give the handshake slot back), and read until the
/// process ends.
async fn subscriber(
    shared: Arc<Shared>,
    keys: Arc<JwtKeys>,
    ws_url: Arc<str>,
    config: WebSocketConfig,
    slots: Arc<Semaphore>,
    i: usize,
) {
    let permit = slots
        .acquire_owned()
        .await
        .expect("the semaphore stays open");
    let started = Instant::now();
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(&shared, &keys, &ws_url, config, i),
    )
    .await;
    drop(permit);
    let mut socket = match handshake {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => return shared.connect_errors.push(format!("subscriber {i}: {e}")),
        Err(_) => {
            return shared.connect_errors.push(format!(
                "subscriber {i}: no ack within {HANDSHAKE_TIMEOUT:?}"
            ))
        }
    };
    shared
        .connect_ms
        .lock()
        .unwrap()
        .push(started.elapsed().as_secs_f64() * 1000.0);
    shared.connected.fetch_add(1, Ordering::Relaxed);

    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let at = now_ns();
                let message: Value = match serde_json::from_str(text.as_str()) {
                    Ok(v) => v,
                    Err(e) => {
                        shared
                            .stream_errors
                            .push(format!("subscriber {i}: not JSON ({e}): {text}"));
                        continue;
                    }
                };
                match message["type"].as_str() {
                    Some("next") => {
                        let data = &message["payload"]["data"]["notificationReceived"]["data"];
                        match data["b"].as_u64() {
                            Some(b) => shared.note_ws(i, b as usize, at),
                            None => shared
                                .stream_errors
                                .push(format!("subscriber {i}: unexpected {message}")),
                        }
                    }
                    Some("ping") => {
                        let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                    }
                    Some("pong") => {}
                    _ => shared
                        .stream_errors
                        .push(format!("subscriber {i}: {message}")),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return shared
                    .closed
                    .push(format!("subscriber {i}: closed by the server: {frame:?}"))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return shared.closed.push(format!("subscriber {i}: {e}")),
            None => return shared.closed.push(format!("subscriber {i}: stream ended")),
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn handshake(
    shared: &Shared,
    keys: &JwtKeys,
    ws_url: &str,
    config: WebSocketConfig,
    i: usize,
) -> Result<Socket, String> {
    let principal = Principal {
        user_id: shared.user(i),
        role: Role::Student,
        email: String::new(),
        name: String::new(),
        time_zone: TimeZone::UTC,
        phone: None,
    };
    let token = keys
        .mint(&principal, chrono::Duration::hours(2))
        .map_err(|e| e.to_string())?;
    let mut request = ws_url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let host = request
        .uri()
        .authority()
        .ok_or("the WebSocket URL has no host")?
        .as_str()
        .to_string();
    let tcp = tokio::net::TcpStream::connect(&host)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket
        .send(Message::text(init.to_string()))
        .await
        .map_err(|e| format!("connection_init: {e}"))?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                match message["type"].as_str() {
                    Some("connection_ack") => break,
                    Some("ping") => {
                        let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                    }
                    _ => return Err(format!("before the ack: {text}")),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed before the ack: {frame:?}"))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("before the ack: {e}")),
            None => return Err("closed before the ack".into()),
        }
    }
    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": SUBSCRIBE, "variables": { "after": FROM_THE_START } },
    });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    Ok(socket)
}

/// PSUBSCRIBEs to the users' channels and notes when each notification's message arrives here.
async fn watch_redis(
    shared: Arc<Shared>,
    client: redis::Client,
    pattern: String,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut pubsub = match client.get_async_pubsub().await {
        Ok(p) => p,
        Err(e) => return shared.redis_errors.push(format!("pubsub connection: {e}")),
    };
    if let Err(e) = pubsub.psubscribe(&pattern).await {
        return shared
            .redis_errors
            .push(format!("PSUBSCRIBE {pattern}: {e}"));
    }
    let _ = ready.send(());
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let at = now_ns();
        let payload: Value =
            serde_json::from_slice(message.get_payload_bytes()).unwrap_or_default();
        let notification = &payload["notification"];
        let user = notification["userId"]
            .as_str()
            .and_then(|u| u.strip_prefix(shared.user_prefix.as_str()))
            .and_then(|i| i.parse::<usize>().ok());
        let k = match (user, notification["data"]["b"].as_u64()) {
            (Some(user), Some(b)) => shared.notification_of(b as usize, user),
            _ => None,
        };
        match k {
            Some(k) if shared.redis_at[k].load(Ordering::Relaxed) == 0 => {
                shared.redis_at[k].store(at, Ordering::Relaxed)
            }
            _ => {
                shared.redis_extra.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    shared
        .redis_errors
        .push("the PSUBSCRIBE connection ended".into());
}

/// The raw baseline's subscriber: payload `seq:ns`.
async fn raw_subscriber(
    shared: Arc<Shared>,
    client: redis::Client,
    channel: String,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut pubsub = match client.get_async_pubsub().await {
        Ok(p) => p,
        Err(e) => {
            return shared
                .redis_errors
                .push(format!("raw pubsub connection: {e}"))
        }
    };
    if let Err(e) = pubsub.subscribe(&channel).await {
        return shared
            .redis_errors
            .push(format!("SUBSCRIBE {channel}: {e}"));
    }
    let _ = ready.send(());
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let at = now_ns();
        let payload = String::from_utf8_lossy(message.get_payload_bytes()).into_owned();
        let parsed = payload
            .split_once(':')
            .and_then(|(s, t)| Some((s.parse::<usize>().ok()?, t.parse::<u64>().ok()?)));
        match parsed {
            Some((seq, sent)) if seq < shared.raw_latency.len() => {
                shared.raw_latency[seq].store(at.saturating_sub(sent) + 1, Ordering::Relaxed)
            }
            _ => shared.redis_errors.push(format!("raw message {payload:?}")),
        }
    }
}

/// Publishes `total` raw messages at `rate` a second, each spawned at its planned instant.
async fn raw_publisher(
    shared: Arc<Shared>,
    connection: redis::aio::MultiplexedConnection,
    channel: Arc<str>,
    rate: f64,
    start: tokio::time::Instant,
) {
    let total = shared.raw_latency.len();
    let mut tasks = Vec::with_capacity(total);
    for seq in 0..total {
        tokio::time::sleep_until(start + Duration::from_secs_f64(seq as f64 / rate)).await;
        let (shared, mut connection, channel) =
            (shared.clone(), connection.clone(), channel.clone());
        tasks.push(tokio::spawn(async move {
            let payload = format!("{seq}:{}", now_ns());
            let result = redis::cmd("PUBLISH")
                .arg(&*channel)
                .arg(payload)
                .query_async::<i64>(&mut connection)
                .await;
            if let Err(e) = result {
                shared.redis_errors.push(format!("raw PUBLISH: {e}"));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// One `sendNotification` request for batch `b`.
async fn send_batch(
    shared: Arc<Shared>,
    client: reqwest::Client,
    url: Arc<str>,
    token: Arc<str>,
    b: usize,
) {
    let first = b * shared.batch;
    let last = (first + shared.batch).min(shared.ws_at.len());
    let user_ids: Vec<String> = (first..last)
        .map(|k| shared.user(k % shared.subscribers))
        .collect();
    let sent_at = now_ns();
    shared.sent_at[b].store(sent_at, Ordering::Relaxed);
    let body = json!({
        "query": SEND,
        "variables": { "i": {
            "userIds": user_ids,
            "type": "SYSTEM_UPDATE",
            "title": "bench",
            "body": "",
            "data": { "b": b, "sentAt": sent_at },
        }},
    });
    let result = post(&client, &url, &token, &body).await;
    shared.answered_at[b].store(now_ns(), Ordering::Relaxed);
    match result {
        Ok(answer) => match answer["data"]["sendNotification"]["delivered"].as_u64() {
            Some(n) => {
                shared.delivered[b].store(n as u32, Ordering::Relaxed);
                if n as usize != last - first {
                    shared.send_errors.push(format!(
                        "batch {b}: {n} of {} delivered: {answer}",
                        last - first
                    ));
                }
            }
            None => shared.send_errors.push(format!("batch {b}: {answer}")),
        },
        Err(e) => shared.send_errors.push(format!("batch {b}: {e}")),
    }
}

/// What `/proc` says about a process at one moment.
#[derive(Clone, Copy, Default)]
struct ProcSample {
    rss_kb: u64,
    hwm_kb: u64,
    threads: u64,
    cpu_ticks: u64,
}

fn proc_sample(pid: &str) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3, `state`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
        threads: field("Threads:"),
        cpu_ticks: ticks(14) + ticks(15),
    })
}

/// Busy and total ticks of the whole machine (all cores).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// `TcpExt: ListenOverflows` of this network namespace: connection attempts dropped because a
/// listener's accept queue was full (the client retries its SYN after a second).
fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

fn open_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints a latency row and returns its p99.
fn latency_row(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_unstable_by(|a, b| a.total_cmp(b));
    let p99 = percentile(&ms, 99.0);
    println!(
        "  {name:<44} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        p99,
        percentile(&ms, 99.9),
        ms.last().copied().unwrap_or(f64::NAN),
    );
    p99
}

fn delta_ms(later: u64, earlier: u64) -> f64 {
    (later as i64 - earlier as i64) as f64 / 1e6
}

async fn run() -> Result<u8, String> {
    let url: Arc<str> = env_required("BENCH_URL")?.into();
    let ws_url: Arc<str> = env_required("BENCH_WS_URL")?.into();
    let secret = env_required("BENCH_JWT_SECRET")?;
    let pid = env_required("BENCH_SERVER_PID")?;
    let redis_url = env_required("BENCH_REDIS_URL")?;
    let prefix = env_required("BENCH_REDIS_PREFIX")?;
    let subscribers: usize = env_or("BENCH_SUBSCRIBERS", 10_000)?;
    let rate: f64 = env_or("BENCH_RATE", 1000.0)?;
    let duration: f64 = env_or("BENCH_DURATION", 20.0)?;
    let batch: usize = env_or("BENCH_BATCH", 1)?;
    let connect_concurrency: usize = env_or("BENCH_CONNECT_CONCURRENCY", 256)?;
    let settle = Duration::from_secs_f64(env_or("BENCH_SETTLE", 3.0)?);
    let drain = Duration::from_secs_f64(env_or("BENCH_DRAIN", 10.0)?);
    let user_prefix: String = env_or("BENCH_USER_PREFIX", "bench-user-".to_string())?;
    let target_p99_ms: f64 = env_or("BENCH_TARGET_P99_MS", 50.0)?;
    let target_rss_mb: f64 = env_or("BENCH_TARGET_RSS_MB", 300.0)?;
    if subscribers == 0 || rate <= 0.0 || duration <= 0.0 || batch == 0 || batch > subscribers {
        return Err("need BENCH_SUBSCRIBERS > 0, BENCH_RATE > 0, BENCH_DURATION > 0 and 1 <= BENCH_BATCH <= BENCH_SUBSCRIBERS".into());
    }
    if batch > 1000 {
        return Err("BENCH_BATCH: sendNotification takes at most 1000 users".into());
    }
    proc_sample(&pid).ok_or_else(|| format!("no process {pid} (BENCH_SERVER_PID)"))?;
    let total = (rate * duration).round() as usize;
    let batches = total.div_ceil(batch);
    let atomics = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
    let shared = Arc::new(Shared {
        subscribers,
        batch,
        user_prefix,
        ws_at: atomics(total),
        ws_count: (0..total).map(|_| AtomicU32::new(0)).collect(),
        redis_at: atomics(total),
        redis_extra: AtomicUsize::new(0),
        sent_at: atomics(batches),
        answered_at: atomics(batches),
        delivered: (0..batches).map(|_| AtomicU32::new(0)).collect(),
        raw_latency: atomics(total),
        received: AtomicUsize::new(0),
        misrouted: AtomicUsize::new(0),
        connected: AtomicUsize::new(0),
        connect_ms: Mutex::new(Vec::with_capacity(subscribers)),
        connect_errors: Errors::default(),
        closed: Errors::default(),
        stream_errors: Errors::default(),
        send_errors: Errors::default(),
        redis_errors: Errors::default(),
    });
    let keys = Arc::new(JwtKeys::new(&Secret::new(secret), None, None));
    let admin = Principal {
        user_id: "bench-admin".into(),
        role: Role::Admin,
        email: String::new(),
        name: String::new(),
        time_zone: TimeZone::UTC,
        phone: None,
    };
    let admin_token: Arc<str> = keys
        .mint(&admin, chrono::Duration::hours(2))
        .map_err(|e| e.to_string())?
        .into();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| e.to_string())?;
    // The admin's record is created by its first request: outside the timed run.
    let me = post(
        &client,
        &url,
        &admin_token,
        &json!({ "query": "{ me { id } }" }),
    )
    .await?;
    if !me["data"]["me"]["id"].is_string() {
        return Err(format!("`me` failed: {me}"));
    }

    let redis =
        redis::Client::open(redis_url.as_str()).map_err(|e| format!("BENCH_REDIS_URL: {e}"))?;
    let pattern = RedisBus::pattern(&format!("{prefix}user:"));
    let raw_channel: Arc<str> = format!(
        "notifications-bench-raw:{}:{}",
        std::process::id(),
        now_ns()
    )
    .into();
    let (watch_ready, watching) = tokio::sync::oneshot::channel();
    tokio::spawn(watch_redis(
        shared.clone(),
        redis.clone(),
        pattern.clone(),
        watch_ready,
    ));
    let (raw_ready, raw_listening) = tokio::sync::oneshot::channel();
    tokio::spawn(raw_subscriber(
        shared.clone(),
        redis.clone(),
        raw_channel.to_string(),
        raw_ready,
    ));
    let raw_connection = redis
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("Redis: {e}"))?;
    if watching.await.is_err() || raw_listening.await.is_err() {
        shared.redis_errors.print("Redis errors");
        return Err("could not subscribe on Redis".into());
    }

    // 1. Subscribers.
    let before_connect = proc_sample(&pid).unwrap_or_default();
    println!(
        "server pid {pid}: RSS {:.1} MB before any subscriber; connecting {subscribers} subscribers \
         ({connect_concurrency} handshakes at a time)",
        mb(before_connect.rss_kb)
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let slots = Arc::new(Semaphore::new(connect_concurrency));
    let overflows_before = listen_overflows();
    let connect_started = Instant::now();
    for i in 0..subscribers {
        tokio::spawn(subscriber(
            shared.clone(),
            keys.clone(),
            ws_url.clone(),
            config,
            slots.clone(),
            i,
        ));
    }
    let mut last_report = Instant::now();
    loop {
        let connected = shared.connected.load(Ordering::Relaxed);
        let failed = shared.connect_errors.count();
        if connected + failed >= subscribers {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            println!(
                "  ... {connected} connected, {failed} failed after {:.1} s; server RSS {:.1} MB",
                connect_started.elapsed().as_secs_f64(),
                mb(proc_sample(&pid).unwrap_or_default().rss_kb)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_elapsed = connect_started.elapsed().as_secs_f64();
    let overflows = listen_overflows().zip(overflows_before).map(|(a, b)| a - b);
    let connected = shared.connected.load(Ordering::Relaxed);
    // The last subscriptions' first reads run on the server after their `subscribe` went out.
    tokio::time::sleep(settle).await;
    let after_connect = proc_sample(&pid).unwrap_or_default();
    let server_fds = open_fds(&pid);
    let client_after_connect = proc_sample("self").unwrap_or_default();
    println!(
        "{connected} connected in {connect_elapsed:.1} s; {:.1} s later: server RSS {:.1} MB (HWM {:.1} MB), {} threads, {server_fds} open fds; client RSS {:.1} MB",
        settle.as_secs_f64(),
        mb(after_connect.rss_kb),
        mb(after_connect.hwm_kb),
        after_connect.threads,
        mb(client_after_connect.rss_kb),
    );

    // 2. Notifications, and the raw baseline beside them.
    println!(
        "sending {total} notifications at {rate} a second for {duration} s ({batches} requests of {batch} users), raw Redis baseline at the same rate"
    );
    let server_before = proc_sample(&pid).unwrap_or_default();
    let client_before = proc_sample("self").unwrap_or_default();
    let machine_before = machine_ticks();
    let measured_from = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let raw = tokio::spawn(raw_publisher(
        shared.clone(),
        raw_connection,
        raw_channel.clone(),
        rate,
        start,
    ));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak_rss, pid) = (peak_rss.clone(), pid.clone());
        tokio::spawn(async move {
            loop {
                let rss = proc_sample(&pid).unwrap_or_default().rss_kb;
                peak_rss.fetch_max(rss, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let mut sends = Vec::with_capacity(batches);
    let mut max_lag = Duration::ZERO;
    for b in 0..batches {
        let due = start + Duration::from_secs_f64((b * batch) as f64 / rate);
        tokio::time::sleep_until(due).await;
        max_lag = max_lag.max(tokio::time::Instant::now() - due);
        sends.push(tokio::spawn(send_batch(
            shared.clone(),
            client.clone(),
            url.clone(),
            admin_token.clone(),
            b,
        )));
    }
    let scheduled_for = start.elapsed().as_secs_f64();
    for s in sends {
        let _ = s.await;
    }
    let _ = raw.await;
    let all_answered = start.elapsed().as_secs_f64();
    let expected: usize = shared
        .delivered
        .iter()
        .map(|d| d.load(Ordering::Relaxed) as usize)
        .sum();
    let drain_started = Instant::now();
    while drain_started.elapsed() < drain {
        let raw_done = shared
            .raw_latency
            .iter()
            .all(|l| l.load(Ordering::Relaxed) != 0);
        if shared.received.load(Ordering::Relaxed) >= expected && raw_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sampler.abort();
    let server_after = proc_sample(&pid).unwrap_or_default();
    let client_after = proc_sample("self").unwrap_or_default();
    let machine_after = machine_ticks();
    let peak_rss = peak_rss.load(Ordering::Relaxed).max(server_after.rss_kb);

    // 3. Report.
    let first_sent = shared
        .sent_at
        .first()
        .map_or(0, |s| s.load(Ordering::Relaxed));
    let last_sent = shared
        .sent_at
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let send_span = delta_ms(last_sent, first_sent) / 1000.0;
    let ok_requests = shared
        .delivered
        .iter()
        .zip(&shared.answered_at)
        .filter(|(d, a)| d.load(Ordering::Relaxed) > 0 && a.load(Ordering::Relaxed) > 0)
        .count();
    let received = shared.received.load(Ordering::Relaxed);
    let mut missing = 0;
    let mut duplicated = 0;
    let (mut to_ws, mut redis_to_ws, mut to_redis, mut http) = (vec![], vec![], vec![], vec![]);
    for b in 0..batches {
        let sent = shared.sent_at[b].load(Ordering::Relaxed);
        let answered = shared.answered_at[b].load(Ordering::Relaxed);
        let delivered = shared.delivered[b].load(Ordering::Relaxed) > 0;
        if answered > 0 {
            http.push(delta_ms(answered, sent));
        }
        for k in b * batch..((b + 1) * batch).min(total) {
            let count = shared.ws_count[k].load(Ordering::Relaxed);
            let ws = shared.ws_at[k].load(Ordering::Relaxed);
            let redis = shared.redis_at[k].load(Ordering::Relaxed);
            if count > 1 {
                duplicated += count as usize - 1;
            }
            if delivered && count == 0 {
                missing += 1;
            }
            if ws > 0 {
                to_ws.push(delta_ms(ws, sent));
            }
            if redis > 0 {
                to_redis.push(delta_ms(redis, sent));
            }
            if ws > 0 && redis > 0 {
                redis_to_ws.push(delta_ms(ws, redis));
            }
        }
    }
    let raw: Vec<f64> = shared
        .raw_latency
        .iter()
        .map(|l| l.load(Ordering::Relaxed))
        .filter(|&l| l > 0)
        .map(|l| (l - 1) as f64 / 1e6)
        .collect();
    let raw_missing = total - raw.len();
    let misrouted = shared.misrouted.load(Ordering::Relaxed);
    let seconds = (machine_after.1 - machine_before.1) as f64 / TICKS_PER_SECOND;
    let wall = measured_from.elapsed().as_secs_f64();
    let cores = |a: ProcSample, b: ProcSample| -> f64 {
        (b.cpu_ticks - a.cpu_ticks) as f64 / TICKS_PER_SECOND / wall
    };
    let machine_busy = if seconds > 0.0 {
        (machine_after.0 - machine_before.0) as f64 / (machine_after.1 - machine_before.1) as f64
    } else {
        f64::NAN
    };

    println!();
    println!("== notifications load: {subscribers} subscribers, {rate}/s for {duration} s ==");
    let mut connect_ms = shared.connect_ms.lock().unwrap().clone();
    connect_ms.sort_unstable_by(|a, b| a.total_cmp(b));
    println!(
        "connections: {connected} established, {} failed, {} dropped during the run; ramp-up {connect_elapsed:.1} s ({:.0}/s), handshake+init+ack p50 {:.1} ms p99 {:.1} ms max {:.1} ms; \
         accept queue overflows (SYNs dropped, retried after 1 s) during the ramp-up: {}",
        shared.connect_errors.count(),
        shared.closed.count(),
        connected as f64 / connect_elapsed,
        percentile(&connect_ms, 50.0),
        percentile(&connect_ms, 99.0),
        connect_ms.last().copied().unwrap_or(f64::NAN),
        overflows.map_or("unknown".to_string(), |n| n.to_string()),
    );
    println!(
        "notifications: {total} planned, {batches} requests ({ok_requests} ok, {} failed), {expected} delivered by the server; \
         {received} received over WebSocket, {missing} missing, {duplicated} duplicated, {misrouted} misrouted",
        shared.send_errors.count(),
    );
    println!(
        "send rate: {:.1}/s achieved ({} requests sent over {send_span:.2} s; the schedule took {scheduled_for:.2} s, max lag behind it {:.1} ms); last answer after {all_answered:.2} s",
        (total.saturating_sub(batch)) as f64 / send_span.max(f64::EPSILON),
        batches,
        max_lag.as_secs_f64() * 1000.0,
    );
    println!(
        "redis: {} of {total} notification messages seen by the bench's PSUBSCRIBE, {} others; raw baseline {} of {total} received",
        to_redis.len(),
        shared.redis_extra.load(Ordering::Relaxed),
        raw.len(),
    );
    println!(
        "latency in ms (all on this process's wall clock)      count      p50      p90      p99    p99.9      max"
    );
    latency_row("mutation start -> WebSocket receive", to_ws);
    let publish_p99 = latency_row("Redis message at bench -> WebSocket receive", redis_to_ws);
    latency_row("mutation start -> Redis message at bench", to_redis);
    latency_row("sendNotification HTTP round trip", http);
    latency_row("raw Redis PUBLISH -> SUBSCRIBE (baseline)", raw);
    println!(
        "server RSS: {:.1} MB before subscribers, {:.1} MB connected, {:.1} MB at the end, peak {:.1} MB (VmHWM {:.1} MB); {:.0} KB per subscriber",
        mb(before_connect.rss_kb),
        mb(after_connect.rss_kb),
        mb(server_after.rss_kb),
        mb(peak_rss),
        mb(server_after.hwm_kb),
        (after_connect.rss_kb as f64 - before_connect.rss_kb as f64) / connected.max(1) as f64,
    );
    println!(
        "client RSS: {:.1} MB connected, {:.1} MB at the end (VmHWM {:.1} MB)",
        mb(client_after_connect.rss_kb),
        mb(client_after.rss_kb),
        mb(client_after.hwm_kb),
    );
    println!(
        "CPU while sending (cores): server {:.2}, this generator {:.2}, whole machine {:.0}% busy of {} cores",
        cores(server_before, server_after),
        cores(client_before, client_after),
        machine_busy * 100.0,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    shared.connect_errors.print("connection errors");
    shared.closed.print("connections dropped");
    shared
        .stream_errors
        .print("unexpected subscription messages");
    shared.send_errors.print("send errors");
    shared.redis_errors.print("Redis errors");
    println!(
        "RESULT connected={connected} failed={} sent={expected} received={received} missing={missing} duplicated={duplicated} misrouted={misrouted} \
         p99_publish_to_receive_ms={publish_p99:.2} server_peak_rss_mb={:.1}",
        shared.connect_errors.count(),
        mb(peak_rss),
    );

    let correct = connected == subscribers
        && shared.send_errors.count() == 0
        && missing == 0
        && duplicated == 0
        && misrouted == 0
        && shared.closed.count() == 0
        && shared.stream_errors.count() == 0
        && raw_missing == 0
        && shared.redis_errors.count() == 0;
    let p99_ok = publish_p99 < target_p99_ms;
    let rss_ok = mb(peak_rss) < target_rss_mb;
    println!(
        "targets: p99 Redis -> WebSocket {publish_p99:.2} ms < {target_p99_ms} ms: {}; server peak RSS {:.1} MB < {target_rss_mb} MB: {}",
        if p99_ok { "met" } else { "MISSED" },
        mb(peak_rss),
        if rss_ok { "met" } else { "MISSED" },
    );
    Ok(if !correct {
        println!("FAILED: see the counts above");
        1
    } else if !(p99_ok && rss_ok) {
        3
    } else {
        0
    })
}

fn main() -> ExitCode {
    let threads = match env_or("BENCH_THREADS", 2usize) {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("notification_load: BENCH_THREADS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let status = runtime.block_on(run());
    // Thousands of sockets and tasks: leave them to the operating system.
    std::mem::forget(runtime);
    match status {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("notification_load: {e}");
            ExitCode::from(2)
        }
    }
}
