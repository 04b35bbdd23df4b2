//! The edge under attack, driven by `bench/edge-attacks.sh` (see there for usage): a normal client
//! measures `availableSlots` latency alone ("quiet"), then while every attack of the edge issue runs
//! at once ("attack"), then alone again ("after").
//!
//! Set-up (through the API, before anything is timed): a mentor in America/New_York with a weekly
//! schedule (Mon-Fri 09:00-12:00 and 13:00-18:00, Sat 10:00-14:00, buffer 15 min, notice 2 h, horizon
//! 60 days); the attacking student books a 52-week THRICE_WEEKLY booking with them (`createBooking`,
//! 156 sessions, Mon/Wed/Fri 10:00 New York time); `BENCH_STUDENTS` normal students. Tokens are minted
//! here with the server's `JWT_SECRET`.
//!
//! The normal client: `availableSlots` for the mentor over `BENCH_DAYS` days from tomorrow, 60-minute
//! slots, the students in turn, OPEN loop at `BENCH_RATE` requests a second (each request starts at its
//! planned instant whatever the earlier ones are doing, so a stall is not hidden by coordinated
//! omission). Latency is the round trip from sending to the end of the answer (the p99 from the planned
//! instant and the worst lag behind the plan are reported too); an answer that is not 200 with a list
//! of slots, or takes over 10 s, is an error. It runs on a runtime of its own (one thread, SCHED_FIFO
//! when allowed), with the RSS sampler (`/proc/<pid>/status` every 100 ms) and a timer probe (how late
//! a 10 ms sleep wakes up on that thread: the generator's own scheduling delay).
//!
//! The attacks (all at once, on one current-thread runtime on the main thread):
//! 1. WebSockets: `BENCH_WS_SOCKETS` sockets of the attacking student, each `connection_init` then
//!    `BENCH_WS_SUBSCRIBES` `subscribe` for `subscription { unreadNotificationCount }` back to back,
//!    waiting (up to 10 s) for a first answer to each; even sockets then close and reopen, odd ones
//!    `complete` everything and subscribe again with new ids; in a loop.
//! 2. The nested query (`booking { sessions { booking { sessions { booking { sessions } } } } }` on the
//!    52-week booking), `BENCH_NESTED_LOOPS` closed loops.
//! 3. `BENCH_ALIAS_LOOPS` closed loops, each taking the next of: 300 aliases of a 90-day
//!    `availableSlots` with 15-minute slots; 50 aliases with 1-minute slots (POST, and GET); a batch
//!    of 50 and one of 10 GraphiQL introspection queries without a token; a mutation over GET; a body
//!    over `MAX_BODY_BYTES`. Alias names change with every request, so no parsed document is reused.
//! 4. Slowloris: `BENCH_SLOW_HEADER` connections sending a request head a byte at a time (it never
//!    ends), `BENCH_SLOW_SILENT` sending nothing, `BENCH_SLOW_BODY` sending a whole head
//!    (`Content-Length: 10000`) then the body a byte at a time; a byte every `BENCH_SLOW_INTERVAL_MS`.
//!    Each connection is held until the server ends it, then reopened; this notes how long each lived
//!    and how it ended (the server's answer, a close without an answer, a reset).
//!
//! Report: the normal client's p50/p90/p99/max and errors per phase, p99(attack)/p99(quiet), the
//! server's peak RSS per phase and VmHWM, CPU of the server, PostgreSQL and the generator's two
//! threads per phase, every attack's answers by status and code, WebSocket close codes, slowloris
//! connections open over time and their lifetimes, and after the attack: `/readyz`, a fresh
//! `availableSlots` on a new connection and a fresh WebSocket of the attacker (ack and a first `next`).
//!
//! Exit status: 0 when everything held; 1 when the normal client saw an error or the server is not
//! healthy after the attack; 3 when only a target was missed (p99 ratio over `BENCH_TARGET_RATIO`,
//! peak RSS over `BENCH_TARGET_RSS_MB`); 2 when the set-up failed.
//!
//! Environment: `BENCH_ADDR` (host:port of the server), `BENCH_JWT_SECRET`, `BENCH_SERVER_PID`;
//! optional with defaults: `BENCH_WARMUP` (3 s), `BENCH_QUIET` (20 s), `BENCH_ATTACK` (40 s),
//! `BENCH_AFTER` (5 s), `BENCH_RATE` (100), `BENCH_STUDENTS` (4), `BENCH_DAYS` (7),
//! `BENCH_WS_SOCKETS` (16), `BENCH_WS_SUBSCRIBES` (30), `BENCH_NESTED_LOOPS` (1),
//! `BENCH_ALIAS_LOOPS` (1), `BENCH_SLOW_HEADER` (300), `BENCH_SLOW_SILENT` (50), `BENCH_SLOW_BODY`
//! (50), `BENCH_SLOW_INTERVAL_MS` (1000), `BENCH_MAX_BODY_BYTES` (262144), `BENCH_HEADER_TIMEOUT`,
//! `BENCH_BODY_TIMEOUT`, `BENCH_REQUEST_TIMEOUT` (the server's deadlines, for the report: 20, 30, 60),
//! `BENCH_TARGET_RATIO` (2), `BENCH_TARGET_RSS_MB` (300), `BENCH_ATTACKS` (which attacks run, default
//! `ws,nested,aliases,slowloris`; one kind of the alias loop alone: `aliases300`, `aliases50`,
//! `aliases50-get`, `introspection50`, `introspection10`, `mutation-get`, `oversize`),
//! `BENCH_NORMAL_NICE` (-10) and `BENCH_ATTACK_NICE` (0): the nice values of the normal client's
//! thread and of the attacks' thread (set with `renice`), `BENCH_NORMAL_RT` (10; 0 = off): the
//! SCHED_FIFO priority of the normal client's thread (`chrt`), so that it sends on time and takes its
//! timestamps when answers arrive, not when the scheduler gets round to it, and `BENCH_WAIT_IDLE`
//! (0 s): wait up to this long, before the set-up, for the rest of the machine to use under a quarter
//! of a core.

mod support;

use support::{env_or, env_required};

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate, SecondsFormat, TimeZone as _, Utc, Weekday};
use chrono_tz::Tz;
use futures::{SinkExt, StreamExt};
use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::{Principal, Role};
use mentor_scheduler::config::Secret;
use mentor_scheduler::domain::time::TimeZone;
use serde_json::{json, Value};
use support::post;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;

const MENTOR: &str = "clbenchedgementor00000001";
const ATTACKER: &str = "clbenchedgeattacker000001";
const MENTOR_TZ: Tz = chrono_tz::America::New_York;
const SLOTS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!) { availableSlots(mentorId: $m, from: $from, to: $to, durationMinutes: 60) { start end } }";
const NESTED: &str = "query($id: ID!) { booking(id: $id) { sessions { id booking { sessions { id booking { sessions { id } } } } } } }";
const SUBSCRIPTION: &str = "subscription { unreadNotificationCount }";
/// What graphql-js's `getIntrospectionQuery()` sends (GraphiQL's first request).
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
const NORMAL_TIMEOUT: Duration = Duration::from_secs(10);
const WS_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Linux's USER_HZ: `/proc` CPU times are in these ticks.
const TICKS_PER_SECOND: f64 = 100.0;
const PHASES: [&str; 4] = ["warm-up", "quiet", "attack", "after"];
const QUIET: usize = 1;
const ATTACK: usize = 2;
const AFTER: usize = 3;

struct Settings {
    addr: String,
    url: String,
    ws_url: String,
    pid: String,
    warmup: f64,
    quiet: f64,
    attack: f64,
    after: f64,
    rate: f64,
    students: usize,
    days: u64,
    ws_sockets: usize,
    ws_subscribes: usize,
    nested_loops: usize,
    alias_loops: usize,
    slow: [usize; 3],
    slow_interval: Duration,
    max_body_bytes: usize,
    deadlines: [u64; 3],
    target_ratio: f64,
    target_rss_mb: f64,
    attacks: Vec<String>,
    normal_nice: i32,
    normal_rt: u32,
    attack_nice: i32,
    wait_idle: f64,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let addr = env_required("BENCH_ADDR")?;
        Ok(Settings {
            url: format!("http://{addr}/graphql"),
            ws_url: format!("ws://{addr}/graphql/ws"),
            addr,
            pid: env_required("BENCH_SERVER_PID")?,
            warmup: env_or("BENCH_WARMUP", 3.0)?,
            quiet: env_or("BENCH_QUIET", 20.0)?,
            attack: env_or("BENCH_ATTACK", 40.0)?,
            after: env_or("BENCH_AFTER", 5.0)?,
            rate: env_or("BENCH_RATE", 100.0)?,
            students: env_or("BENCH_STUDENTS", 4usize)?.max(1),
            days: env_or("BENCH_DAYS", 7u64)?,
            ws_sockets: env_or("BENCH_WS_SOCKETS", 16)?,
            ws_subscribes: env_or("BENCH_WS_SUBSCRIBES", 30)?,
            nested_loops: env_or("BENCH_NESTED_LOOPS", 1)?,
            alias_loops: env_or("BENCH_ALIAS_LOOPS", 1)?,
            slow: [
                env_or("BENCH_SLOW_HEADER", 300)?,
                env_or("BENCH_SLOW_SILENT", 50)?,
                env_or("BENCH_SLOW_BODY", 50)?,
            ],
            slow_interval: Duration::from_millis(env_or("BENCH_SLOW_INTERVAL_MS", 1000u64)?.max(1)),
            max_body_bytes: env_or("BENCH_MAX_BODY_BYTES", 262_144)?,
            deadlines: [
                env_or("BENCH_HEADER_TIMEOUT", 20)?,
                env_or("BENCH_BODY_TIMEOUT", 30)?,
                env_or("BENCH_REQUEST_TIMEOUT", 60)?,
            ],
            target_ratio: env_or("BENCH_TARGET_RATIO", 2.0)?,
            target_rss_mb: env_or("BENCH_TARGET_RSS_MB", 300.0)?,
            attacks: env_or("BENCH_ATTACKS", "ws,nested,aliases,slowloris".to_string())?
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            normal_nice: env_or("BENCH_NORMAL_NICE", -10)?,
            normal_rt: env_or("BENCH_NORMAL_RT", 10)?,
            attack_nice: env_or("BENCH_ATTACK_NICE", 0)?,
            wait_idle: env_or("BENCH_WAIT_IDLE", 0.0)?,
        })
    }

    fn attacking(&self, what: &str) -> bool {
        self.attacks.iter().any(|a| a == what || a == "all")
    }
}

// ---------------------------------------------------------------------------------------------
// Counting.

/// Counts by kind of outcome, each with the first example seen.
#[derive(Default)]
struct Tally {
    counts: Mutex<BTreeMap<String, (usize, String)>>,
}

impl Tally {
    fn add(&self, key: impl Into<String>, example: impl FnOnce() -> String) {
        let mut counts = self.counts.lock().unwrap();
        let entry = counts.entry(key.into()).or_insert_with(|| (0, example()));
        entry.0 += 1;
    }
    fn count(&self, key: &str) -> usize {
        self.counts.lock().unwrap().get(key).map_or(0, |e| e.0)
    }
    fn total(&self) -> usize {
        self.counts.lock().unwrap().values().map(|e| e.0).sum()
    }
    fn print(&self, indent: &str, with_examples: bool) {
        for (key, (n, example)) in self.counts.lock().unwrap().iter() {
            if with_examples && !example.is_empty() {
                println!("{indent}{n:>7}  {key}   e.g. {}", clip(example, 160));
            } else {
                println!("{indent}{n:>7}  {key}");
            }
        }
    }
}

fn clip(s: &str, n: usize) -> String {
    let s = s.replace('\n', " ");
    match s.char_indices().nth(n) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s,
    }
}

/// Decrements an open-connections gauge when dropped (also when the task is cancelled).
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(gauge: &'a AtomicUsize) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Open(gauge)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct HttpAttack {
    name: &'static str,
    answers: Tally,
    latency_ms: Mutex<Vec<f64>>,
}

impl HttpAttack {
    fn new(name: &'static str) -> Self {
        HttpAttack {
            name,
            answers: Tally::default(),
            latency_ms: Mutex::default(),
        }
    }
}

#[derive(Default)]
struct WsStats {
    connects: AtomicUsize,
    acks: AtomicUsize,
    open: AtomicUsize,
    rounds: AtomicUsize,
    subscribes: AtomicUsize,
    completes: AtomicUsize,
    unanswered: AtomicUsize,
    closes_by_us: AtomicUsize,
    /// `next` / `error` / `complete` messages by kind and code.
    messages: Tally,
    /// Close frames from the server by code and reason, and sockets that ended otherwise.
    ends: Tally,
}

const SLOW_KINDS: [&str; 3] = ["header a byte at a time", "silent", "body a byte at a time"];

#[derive(Default)]
struct SlowStats {
    open: [AtomicUsize; 3],
    opened: [AtomicUsize; 3],
    /// (kind, how it ended, seconds it lived).
    ends: Mutex<Vec<(usize, String, f64)>>,
    connect_errors: Tally,
}

struct Sample {
    /// Planned start, seconds since the run's origin.
    at: f64,
    latency_ms: f64,
    rtt_ms: f64,
    ok: bool,
}

#[derive(Default)]
struct PhaseRecord {
    samples: Vec<Sample>,
    errors: Tally,
    max_lag_ms: f64,
    started: f64,
    ended: f64,
    cpu: CpuSpan,
}

#[derive(Default, Clone, Copy)]
struct CpuTicks {
    server: u64,
    postgres: u64,
    normal_thread: u64,
    attack_thread: u64,
    generator: u64,
    machine_busy: u64,
    machine_total: u64,
}

#[derive(Default, Clone, Copy)]
struct CpuSpan {
    from: CpuTicks,
    to: CpuTicks,
    wall: f64,
}

/// One row a second: what the server and the attacks looked like.
struct Row {
    at: f64,
    rss_kb: u64,
    fds: usize,
    slow_open: [usize; 3],
    ws_open: usize,
}

struct Shared {
    s: Settings,
    origin: Instant,
    phase: AtomicU8,
    peak_rss_kb: [AtomicU64; 4],
    timer_late_us: Mutex<Vec<(f64, f64)>>,
    rows: Mutex<Vec<Row>>,
    ws: WsStats,
    slow: SlowStats,
    nested: HttpAttack,
    aliases: Vec<HttpAttack>,
    alias_turn: AtomicUsize,
    /// The kinds of `ALIAS_KINDS` the alias loops take in turn.
    alias_kinds: Vec<usize>,
    alias_seq: AtomicUsize,
    normal_tid: AtomicU64,
    attack_tid: AtomicU64,
}

impl Shared {
    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }
}

// ---------------------------------------------------------------------------------------------
// /proc.

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// (VmRSS, VmHWM) in KB.
fn memory(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_field(&status, "VmRSS:"),
        status_field(&status, "VmHWM:"),
    ))
}

/// utime + stime of a process or thread, from its `stat` file.
fn cpu_ticks(stat_path: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return 0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // Fields after the command start at field 3 (`state`); utime and stime are fields 14 and 15.
    let at = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    at(14) + at(15)
}

fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|e| cpu_ticks(&format!("{}/stat", e.path().display())))
        .sum()
}

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

fn current_tid() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// Puts one thread under SCHED_FIFO at `priority` (`chrt` on a thread id); what it got.
fn realtime(tid: u64, priority: u32) -> String {
    if priority == 0 || tid == 0 {
        return "no".into();
    }
    let output = std::process::Command::new("chrt")
        .args(["-f", "-p", &priority.to_string(), &tid.to_string()])
        .output();
    match output {
        Ok(o) if o.status.success() => format!("SCHED_FIFO {priority}"),
        Ok(o) => format!(
            "no (chrt failed: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("no (chrt: {e})"),
    }
}

/// Sets one thread's nice value (`renice` on a thread id changes that thread only); what it got.
fn renice(tid: u64, nice: i32) -> String {
    if nice == 0 || tid == 0 {
        return "0".into();
    }
    let output = std::process::Command::new("renice")
        .args(["-n", &nice.to_string(), "-p", &tid.to_string()])
        .output();
    match output {
        Ok(o) if o.status.success() => nice.to_string(),
        Ok(o) => format!(
            "0 (renice {nice} failed: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("0 (renice {nice}: {e})"),
    }
}

fn cpu_now(shared: &Shared) -> CpuTicks {
    let thread = |tid: u64| cpu_ticks(&format!("/proc/self/task/{tid}/stat"));
    let (machine_busy, machine_total) = machine_ticks();
    CpuTicks {
        server: cpu_ticks(&format!("/proc/{}/stat", shared.s.pid)),
        postgres: postgres_ticks(),
        normal_thread: thread(shared.normal_tid.load(Ordering::Relaxed)),
        attack_thread: thread(shared.attack_tid.load(Ordering::Relaxed)),
        generator: cpu_ticks("/proc/self/stat"),
        machine_busy,
        machine_total,
    }
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

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    v
}

// ---------------------------------------------------------------------------------------------
// Set-up.

struct Seeded {
    booking_id: String,
    sessions: usize,
    attacker_token: String,
    student_tokens: Vec<String>,
    slots_body: Value,
    slots_per_answer: usize,
    alias_from: String,
    alias_to: String,
}

fn principal(id: &str, role: Role, tz: &str) -> Principal {
    Principal {
        user_id: id.to_string(),
        role,
        email: format!("{id}@bench.example"),
        name: id.to_string(),
        time_zone: tz.parse().unwrap_or(TimeZone::UTC),
        phone: None,
    }
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn local_instant(date: NaiveDate, hour: u32) -> Result<String, String> {
    let local = date.and_hms_opt(hour, 0, 0).ok_or("bad hour")?;
    let at = MENTOR_TZ
        .from_local_datetime(&local)
        .earliest()
        .ok_or_else(|| format!("{local} does not exist in {MENTOR_TZ}"))?;
    Ok(rfc3339(at.with_timezone(&Utc)))
}

async fn seed(s: &Settings, keys: &JwtKeys) -> Result<Seeded, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let mint = |p: Principal| {
        keys.mint(&p, chrono::Duration::hours(6))
            .map_err(|e| e.to_string())
    };
    let mentor_token = mint(principal(MENTOR, Role::Mentor, MENTOR_TZ.name()))?;
    let attacker_token = mint(principal(ATTACKER, Role::Student, "Europe/London"))?;
    let student_tokens = (1..=s.students)
        .map(|i| {
            mint(principal(
                &format!("clbenchedgestudent{i:07}"),
                Role::Student,
                "Europe/London",
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut blocks = Vec::new();
    for day in ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"] {
        blocks.push(json!({ "weekday": day, "start": "09:00", "end": "12:00" }));
        blocks.push(json!({ "weekday": day, "start": "13:00", "end": "18:00" }));
    }
    blocks.push(json!({ "weekday": "SATURDAY", "start": "10:00", "end": "14:00" }));
    let schedule = post(
        &client,
        &s.url,
        &mentor_token,
        &json!({
            "query": "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { mentorId blocks { id } } }",
            "variables": { "i": {
                "timeZone": MENTOR_TZ.name(), "bufferMinutes": 15, "minimumNoticeMinutes": 120,
                "horizonDays": 60, "blocks": blocks,
            }},
        }),
    )
    .await?;
    if schedule["data"]["setWeeklySchedule"]["mentorId"] != MENTOR {
        return Err(format!("setWeeklySchedule failed: {schedule}"));
    }

    // The first Monday at least two days ahead in the mentor's zone, then Wednesday and Friday.
    let today = Utc::now().with_timezone(&MENTOR_TZ).date_naive();
    let mut monday = today + Days::new(2);
    while monday.weekday() != Weekday::Mon {
        monday = monday + Days::new(1);
    }
    let slots = [
        local_instant(monday, 10)?,
        local_instant(monday + Days::new(2), 10)?,
        local_instant(monday + Days::new(4), 10)?,
    ];
    let booking = post(
        &client,
        &s.url,
        &attacker_token,
        &json!({
            "query": "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id sessions(first: 500) { id } } }",
            "variables": { "i": {
                "mentorId": MENTOR, "frequency": "THRICE_WEEKLY", "durationMinutes": 60,
                "slots": slots, "subject": "Calculus", "goals": ["limits"], "weeks": 52,
            }},
        }),
    )
    .await?;
    let booking_id = booking["data"]["createBooking"]["id"]
        .as_str()
        .ok_or_else(|| format!("createBooking failed: {booking}"))?
        .to_string();
    let sessions = booking["data"]["createBooking"]["sessions"]
        .as_array()
        .map_or(0, Vec::len);

    for token in &student_tokens {
        let me = post(&client, &s.url, token, &json!({ "query": "{ me { id } }" })).await?;
        if !me["data"]["me"]["id"].is_string() {
            return Err(format!("`me` failed: {me}"));
        }
    }

    let tomorrow = (Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let slots_body = json!({
        "query": SLOTS,
        "variables": {
            "m": MENTOR,
            "from": rfc3339(tomorrow),
            "to": rfc3339(tomorrow + chrono::Duration::days(s.days as i64)),
        },
    });
    let answer = post(&client, &s.url, &student_tokens[0], &slots_body).await?;
    let slots_per_answer = answer["data"]["availableSlots"]
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| format!("availableSlots failed: {answer}"))?;
    if slots_per_answer == 0 {
        return Err("availableSlots returned no slots".into());
    }
    Ok(Seeded {
        booking_id,
        sessions,
        attacker_token,
        student_tokens,
        slots_body,
        slots_per_answer,
        alias_from: rfc3339(tomorrow),
        alias_to: rfc3339(tomorrow + chrono::Duration::days(90)),
    })
}

// ---------------------------------------------------------------------------------------------
// The normal client, the RSS sampler and the timer probe (on the measuring runtime).

async fn normal_phase(
    shared: Arc<Shared>,
    client: reqwest::Client,
    seeded: Arc<Seeded>,
    phase: usize,
    duration: f64,
) -> PhaseRecord {
    let rate = shared.s.rate;
    let n = (duration * rate).round() as usize;
    let cpu_from = cpu_now(&shared);
    let wall_from = Instant::now();
    shared.phase.store(phase as u8, Ordering::Relaxed);
    let start = tokio::time::Instant::now() + Duration::from_millis(5);
    let started = shared.now() + 0.005;
    let errors = Arc::new(Tally::default());
    let mut tasks = Vec::with_capacity(n);
    let mut max_lag = Duration::ZERO;
    for k in 0..n {
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(due).await;
        max_lag = max_lag.max(tokio::time::Instant::now() - due);
        let (client, seeded, errors, shared) = (
            client.clone(),
            seeded.clone(),
            errors.clone(),
            shared.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let token = &seeded.student_tokens[k % seeded.student_tokens.len()];
            let sent = tokio::time::Instant::now();
            let result = post(&client, &shared.s.url, token, &seeded.slots_body).await;
            let done = tokio::time::Instant::now();
            let ok = match result {
                Ok(answer) => match answer["data"]["availableSlots"].as_array() {
                    Some(slots) if !slots.is_empty() => true,
                    Some(_) => {
                        errors.add("an empty list of slots", String::new);
                        false
                    }
                    None => {
                        let code = answer["errors"][0]["extensions"]["code"]
                            .as_str()
                            .unwrap_or("no code")
                            .to_string();
                        errors.add(format!("GraphQL error {code}"), || answer.to_string());
                        false
                    }
                },
                Err(e) => {
                    let key = e.split(':').next().unwrap_or_default().to_string();
                    errors.add(key, || e);
                    false
                }
            };
            Sample {
                at: shared.origin.elapsed().as_secs_f64() - (done - due).as_secs_f64(),
                latency_ms: (done - due).as_secs_f64() * 1000.0,
                rtt_ms: (done - sent).as_secs_f64() * 1000.0,
                ok,
            }
        }));
    }
    let mut samples = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(sample) = t.await {
            samples.push(sample);
        }
    }
    let cpu_to = cpu_now(&shared);
    let errors = Arc::try_unwrap(errors).unwrap_or_default();
    PhaseRecord {
        samples,
        errors,
        max_lag_ms: max_lag.as_secs_f64() * 1000.0,
        started,
        ended: shared.now(),
        cpu: CpuSpan {
            from: cpu_from,
            to: cpu_to,
            wall: wall_from.elapsed().as_secs_f64(),
        },
    }
}

/// RSS every 100 ms (peak per phase), a timeline row every second.
async fn sampler(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        let phase = shared.phase.load(Ordering::Relaxed) as usize;
        let (rss, _) = memory(&shared.s.pid).unwrap_or_default();
        shared.peak_rss_kb[phase].fetch_max(rss, Ordering::Relaxed);
        if n.is_multiple_of(10) {
            let row = Row {
                at: shared.now(),
                rss_kb: rss,
                fds: open_fds(&shared.s.pid),
                slow_open: std::array::from_fn(|k| shared.slow.open[k].load(Ordering::Relaxed)),
                ws_open: shared.ws.open.load(Ordering::Relaxed),
            };
            shared.rows.lock().unwrap().push(row);
        }
        n += 1;
    }
}

/// How late a 10 ms sleep wakes up on the measuring thread.
async fn timer_probe(shared: Arc<Shared>) {
    loop {
        let asked = tokio::time::Instant::now() + Duration::from_millis(10);
        tokio::time::sleep_until(asked).await;
        let late = (tokio::time::Instant::now() - asked).as_secs_f64() * 1e6;
        shared
            .timer_late_us
            .lock()
            .unwrap()
            .push((shared.now(), late));
    }
}

// ---------------------------------------------------------------------------------------------
// Attacks (on the main thread's runtime).

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// `HTTP <status> <codes>` for an answer: `COST` for an error refused by cost (it has
/// `extensions.cost`), else its `extensions.code`; a batch gives the count of each per operation.
fn summarize(status: u16, text: &str) -> String {
    fn one(v: &Value) -> String {
        match v["errors"].as_array() {
            Some(errors) if !errors.is_empty() => {
                let mut codes: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        if e["extensions"]["cost"].is_number() {
                            "COST".to_string()
                        } else {
                            e["extensions"]["code"]
                                .as_str()
                                .unwrap_or("no code")
                                .to_string()
                        }
                    })
                    .collect();
                codes.sort();
                codes.dedup();
                let data = if v["data"].is_null() {
                    ""
                } else {
                    " (with data)"
                };
                format!("{}{data}", codes.join("+"))
            }
            _ if !v["data"].is_null() => "ok".to_string(),
            _ => format!("unexpected {}", clip(&v.to_string(), 60)),
        }
    }
    let what = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for item in &items {
                *counts.entry(one(item)).or_default() += 1;
            }
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            format!("batch of {}: [{}]", items.len(), parts.join(", "))
        }
        Ok(v) if v.get("error").is_some() => {
            v["error"]["code"].as_str().unwrap_or("no code").to_string()
        }
        Ok(v) => one(&v),
        Err(_) if text.is_empty() => "empty body".to_string(),
        Err(_) => format!("not JSON: {}", clip(text, 40)),
    };
    format!("HTTP {status} {what}")
}

fn transport_error(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "reading the answer"
    } else {
        "request"
    };
    format!(
        "transport error ({kind}): {}",
        clip(&source.to_string(), 80)
    )
}

async fn record(attack: &HttpAttack, request: reqwest::RequestBuilder) {
    let started = Instant::now();
    let result = request.send().await;
    let key_and_example = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Ok(text) => (summarize(status, &text), text),
                Err(e) => (
                    format!("HTTP {status} {}", transport_error(&e)),
                    e.to_string(),
                ),
            }
        }
        Err(e) => (transport_error(&e), format!("{e:?}")),
    };
    attack
        .latency_ms
        .lock()
        .unwrap()
        .push(started.elapsed().as_secs_f64() * 1000.0);
    let (key, example) = key_and_example;
    attack.answers.add(key, || example);
}

async fn nested_loop(
    shared: Arc<Shared>,
    client: reqwest::Client,
    seeded: Arc<Seeded>,
    mut stop: watch::Receiver<bool>,
) {
    let body = json!({ "query": NESTED, "variables": { "id": seeded.booking_id } });
    loop {
        let request = client
            .post(&shared.s.url)
            .bearer_auth(&seeded.attacker_token)
            .json(&body);
        tokio::select! {
            () = stopped(&mut stop) => return,
            () = record(&shared.nested, request) => {}
        }
    }
}

fn aliases(seq: usize, count: usize, from: &str, to: &str, minutes: u32) -> String {
    let mut query = format!("query Aliases{seq} {{");
    for i in 0..count {
        query.push_str(&format!(
            " r{seq}a{i}: availableSlots(mentorId: \"{MENTOR}\", from: \"{from}\", to: \"{to}\", durationMinutes: {minutes}) {{ start end }}"
        ));
    }
    query.push_str(" }");
    query
}

/// Names for `BENCH_ATTACKS`, to run one kind of the alias loop alone (`aliases` runs them all).
const ALIAS_NAMES: [&str; 7] = [
    "aliases300",
    "aliases50",
    "aliases50-get",
    "introspection50",
    "introspection10",
    "mutation-get",
    "oversize",
];
const ALIAS_KINDS: [&str; 7] = [
    "300 aliases of availableSlots, 90 days / 15 min (POST)",
    "50 aliases of availableSlots, 90 days / 1 min (POST)",
    "50 aliases of availableSlots, 90 days / 1 min (GET)",
    "batch of 50 introspection queries, no token",
    "batch of 10 introspection queries, no token",
    "a mutation over GET",
    "a body over MAX_BODY_BYTES",
];

async fn alias_loop(
    shared: Arc<Shared>,
    client: reqwest::Client,
    seeded: Arc<Seeded>,
    mut stop: watch::Receiver<bool>,
) {
    let (from, to, token) = (&seeded.alias_from, &seeded.alias_to, &seeded.attacker_token);
    loop {
        let turn = shared.alias_turn.fetch_add(1, Ordering::Relaxed);
        let kind = shared.alias_kinds[turn % shared.alias_kinds.len()];
        let seq = shared.alias_seq.fetch_add(1, Ordering::Relaxed);
        let url = &shared.s.url;
        let request = match kind {
            0 => client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": aliases(seq, 300, from, to, 15) })),
            1 => client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": aliases(seq, 50, from, to, 1) })),
            2 => client
                .get(url)
                .bearer_auth(token)
                .query(&[("query", aliases(seq, 50, from, to, 1))]),
            3 | 4 => {
                let n = if kind == 3 { 50 } else { 10 };
                let batch: Vec<Value> = (0..n).map(|_| json!({ "query": INTROSPECTION })).collect();
                client.post(url).json(&batch)
            }
            5 => client
                .get(url)
                .bearer_auth(token)
                .query(&[("query", "mutation { markAllNotificationsRead }")]),
            _ => {
                let pad = " ".repeat(shared.s.max_body_bytes + 1024);
                let body = format!("{{\"query\":\"{{ me {{ id }} }}{pad}\"}}");
                client
                    .post(url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
            }
        };
        tokio::select! {
            () = stopped(&mut stop) => return,
            () = record(&shared.aliases[kind], request) => {}
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn ws_attacker(
    shared: Arc<Shared>,
    token: Arc<str>,
    i: usize,
    mut stop: watch::Receiver<bool>,
) {
    let resubscribe = i % 2 == 1;
    let config = WebSocketConfig::default()
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    while !*stop.borrow() {
        tokio::select! {
            () = stopped(&mut stop) => return,
            () = ws_session(&shared, &token, resubscribe, config) => {}
        }
    }
}

fn close_key(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close {} {:?}", u16::from(f.code), f.reason.as_str()),
        None => "close without a code".into(),
    }
}

/// One socket's life: init, then rounds of subscribes until it closes (or, for the closing kind,
/// one round).
async fn ws_session(shared: &Shared, token: &str, resubscribe: bool, config: WebSocketConfig) {
    let ws = &shared.ws;
    ws.connects.fetch_add(1, Ordering::Relaxed);
    let socket = async {
        let mut request = shared
            .s
            .ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let tcp = TcpStream::connect(&shared.s.addr)
            .await
            .map_err(|e| format!("connect: {}", e.kind()))?;
        let _ = tcp.set_nodelay(true);
        let (socket, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
            .await
            .map_err(|e| format!("upgrade: {}", clip(&e.to_string(), 60)))?;
        Ok::<Socket, String>(socket)
    }
    .await;
    let mut socket = match socket {
        Ok(s) => s,
        Err(e) => {
            ws.ends
                .add(format!("before the socket opened: {e}"), String::new);
            // Not a busy loop when the server refuses connections.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return;
        }
    };
    let _open = Open::new(&ws.open);
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    if socket.send(Message::text(init.to_string())).await.is_err() {
        return ws.ends.add("sending connection_init failed", String::new);
    }
    let acked = tokio::time::timeout(WS_ANSWER_TIMEOUT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    match v["type"].as_str() {
                        Some("connection_ack") => return Ok(()),
                        Some("ping") => {
                            let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                        }
                        _ => return Err(format!("before the ack: {}", clip(t.as_str(), 60))),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!("before the ack: {}", close_key(frame.as_ref())))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return Err(format!("before the ack: {}", clip(&e.to_string(), 60)))
                }
                None => return Err("before the ack: the stream ended".into()),
            }
        }
    })
    .await;
    match acked {
        Ok(Ok(())) => {
            ws.acks.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Err(e)) => return ws.ends.add(e, String::new),
        Err(_) => return ws.ends.add("no ack within 10 s", String::new),
    }

    let mut round = 0usize;
    loop {
        round += 1;
        ws.rounds.fetch_add(1, Ordering::Relaxed);
        let ids: Vec<String> = (0..shared.s.ws_subscribes)
            .map(|k| format!("{round}-{k}"))
            .collect();
        for id in &ids {
            let subscribe =
                json!({ "id": id, "type": "subscribe", "payload": { "query": SUBSCRIPTION } });
            if socket
                .feed(Message::text(subscribe.to_string()))
                .await
                .is_err()
            {
                return ws.ends.add("sending subscribe failed", String::new);
            }
        }
        if socket.flush().await.is_err() {
            return ws.ends.add("sending subscribe failed", String::new);
        }
        ws.subscribes.fetch_add(ids.len(), Ordering::Relaxed);
        let mut pending: HashSet<String> = ids.iter().cloned().collect();
        let deadline = tokio::time::Instant::now() + WS_ANSWER_TIMEOUT;
        while !pending.is_empty() {
            let message = match tokio::time::timeout_at(deadline, socket.next()).await {
                Err(_) => {
                    ws.unanswered.fetch_add(pending.len(), Ordering::Relaxed);
                    break;
                }
                Ok(m) => m,
            };
            match message {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    let id = v["id"].as_str().unwrap_or_default();
                    let code = |errors: &Value| {
                        errors[0]["extensions"]["code"]
                            .as_str()
                            .unwrap_or("no code")
                            .to_string()
                    };
                    match v["type"].as_str() {
                        Some("next") if v["payload"]["errors"].is_array() => ws.messages.add(
                            format!("next with an error {}", code(&v["payload"]["errors"])),
                            || t.to_string(),
                        ),
                        Some("next") => ws.messages.add("next (a count)", String::new),
                        Some("error") => ws
                            .messages
                            .add(format!("error {}", code(&v["payload"])), || t.to_string()),
                        Some("complete") => ws.messages.add("complete", String::new),
                        Some("ping") => {
                            let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                            continue;
                        }
                        Some("pong") => continue,
                        _ => {
                            ws.messages.add("another message", || t.to_string());
                            continue;
                        }
                    }
                    pending.remove(id);
                }
                Some(Ok(Message::Close(frame))) => {
                    return ws.ends.add(
                        format!("closed by the server: {}", close_key(frame.as_ref())),
                        String::new,
                    )
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return ws
                        .ends
                        .add(format!("broken: {}", clip(&e.to_string(), 60)), String::new)
                }
                None => return ws.ends.add("the stream ended", String::new),
            }
        }
        if !resubscribe {
            ws.closes_by_us.fetch_add(1, Ordering::Relaxed);
            let _ = socket
                .close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                }))
                .await;
            // Wait (briefly) for the server's side of the close, as a browser would.
            let answer = tokio::time::timeout(Duration::from_secs(2), async {
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Close(frame))) => return close_key(frame.as_ref()),
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => return "no close frame".to_string(),
                    }
                }
            })
            .await
            .unwrap_or_else(|_| "no answer within 2 s".into());
            return ws.ends.add(
                format!("closed by us, server answered {answer}"),
                String::new,
            );
        }
        for id in &ids {
            let complete = json!({ "id": id, "type": "complete" });
            if socket
                .feed(Message::text(complete.to_string()))
                .await
                .is_err()
            {
                return ws.ends.add("sending complete failed", String::new);
            }
        }
        if socket.flush().await.is_err() {
            return ws.ends.add("sending complete failed", String::new);
        }
        ws.completes.fetch_add(ids.len(), Ordering::Relaxed);
    }
}

/// The bytes a slow connection sends, one at a time: a request head that never ends, or a body.
struct Dribble {
    buffer: Vec<u8>,
    at: usize,
    next_header: usize,
    body: bool,
}

impl Dribble {
    fn new(body: bool, host: &str) -> Self {
        let buffer = if body {
            br#"{"query":"{ me { id } }","pad":""#.to_vec()
        } else {
            format!("POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n")
                .into_bytes()
        };
        Dribble {
            buffer,
            at: 0,
            next_header: 0,
            body,
        }
    }

    fn next(&mut self) -> u8 {
        if self.at == self.buffer.len() {
            self.buffer = if self.body {
                b"aaaaaaaaaaaaaaaa".to_vec()
            } else {
                self.next_header += 1;
                format!("X-Slow-{}: {}\r\n", self.next_header, self.next_header).into_bytes()
            };
            self.at = 0;
        }
        self.at += 1;
        self.buffer[self.at - 1]
    }
}

/// `HTTP <status> <code>` of what the server sent on a slow connection.
fn slow_answer(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    let code = text
        .split("\"code\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("");
    format!("HTTP {status} {code}").trim_end().to_string()
}

/// One slow connection until the server ends it: how it ended.
async fn slow_connection(shared: &Shared, kind: usize) -> Option<String> {
    let stream = match TcpStream::connect(&shared.s.addr).await {
        Ok(s) => s,
        Err(e) => {
            shared
                .slow
                .connect_errors
                .add(format!("{}: {}", SLOW_KINDS[kind], e.kind()), String::new);
            tokio::time::sleep(Duration::from_millis(100)).await;
            return None;
        }
    };
    let _open = Open::new(&shared.slow.open[kind]);
    shared.slow.opened[kind].fetch_add(1, Ordering::Relaxed);
    let (mut read, mut write) = stream.into_split();
    let mut dribble = Dribble::new(kind == 2, &shared.s.addr);
    if kind == 2 {
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n",
            shared.s.addr
        );
        if let Err(e) = write.write_all(head.as_bytes()).await {
            return Some(format!("writing the head failed: {:?}", e.kind()));
        }
    }
    let mut tick = tokio::time::interval(shared.s.slow_interval);
    let mut answer: Vec<u8> = Vec::new();
    let mut buf = [0u8; 1024];
    let mut kept_until: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            read = read.read(&mut buf) => match read {
                Ok(0) if answer.is_empty() => return Some("closed by the server without an answer".into()),
                Ok(0) => return Some(format!("{}, then closed by the server", slow_answer(&answer))),
                Ok(n) => {
                    if answer.len() < 4096 {
                        answer.extend_from_slice(&buf[..n]);
                    }
                    // An answer on a connection the server keeps: wait a little for it to close.
                    kept_until.get_or_insert(tokio::time::Instant::now() + Duration::from_secs(5));
                }
                Err(e) if answer.is_empty() => return Some(format!("reset by the server without an answer ({:?})", e.kind())),
                Err(e) => return Some(format!("{}, then reset ({:?})", slow_answer(&answer), e.kind())),
            },
            _ = tick.tick(), if kind != 1 && kept_until.is_none() => {
                if let Err(e) = write.write_all(&[dribble.next()]).await {
                    return Some(format!("our write failed ({:?}): the server closed", e.kind()));
                }
            }
            () = sleep_until_opt(kept_until) => {
                return Some(format!("{}, connection kept open 5 s (closed by us)", slow_answer(&answer)));
            }
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn slow_slot(shared: Arc<Shared>, kind: usize, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let started = Instant::now();
        let ended = tokio::select! {
            () = stopped(&mut stop) => Some("still open when the attack ended".to_string()),
            ended = slow_connection(&shared, kind) => ended,
        };
        if let Some(how) = ended {
            let lived = started.elapsed().as_secs_f64();
            shared.slow.ends.lock().unwrap().push((kind, how, lived));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// After the attack.

struct Health {
    readyz: String,
    fresh_query: String,
    fresh_socket: String,
    healthy: bool,
}

async fn check_health(s: &Settings, seeded: &Seeded) -> Health {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client");
    let readyz = match client.get(format!("http://{}/readyz", s.addr)).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, transport_error(&e)),
    };
    let started = Instant::now();
    let fresh = post(
        &client,
        &s.url,
        &seeded.student_tokens[0],
        &seeded.slots_body,
    )
    .await;
    let fresh_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (fresh_ok, fresh_query) = match fresh {
        Ok(v) => match v["data"]["availableSlots"].as_array() {
            Some(slots) if !slots.is_empty() => (
                true,
                format!(
                    "{} slots in {fresh_ms:.1} ms on a new connection",
                    slots.len()
                ),
            ),
            _ => (false, format!("FAILED: {}", clip(&v.to_string(), 200))),
        },
        Err(e) => (false, format!("FAILED: {}", clip(&e, 200))),
    };
    let (socket_ok, fresh_socket) = fresh_socket(s, &seeded.attacker_token).await;
    Health {
        healthy: readyz.0 == 200 && fresh_ok && socket_ok,
        readyz: format!("HTTP {} {}", readyz.0, clip(&readyz.1, 100)),
        fresh_query,
        fresh_socket,
    }
}

/// A new socket of the attacking student: its places must have been given back.
async fn fresh_socket(s: &Settings, token: &str) -> (bool, String) {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        let mut request = s.ws_url.as_str().into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let tcp = TcpStream::connect(&s.addr).await.map_err(|e| e.to_string())?;
        let (mut socket, _) = tokio_tungstenite::client_async(request, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        socket
            .send(Message::text(init.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        let mut acked = false;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    match v["type"].as_str() {
                        Some("connection_ack") => {
                            acked = true;
                            let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } });
                            socket
                                .send(Message::text(sub.to_string()))
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                        Some("next") if acked => {
                            let count = &v["payload"]["data"]["unreadNotificationCount"];
                            let _ = socket.close(None).await;
                            return if count.is_number() {
                                Ok(format!("unreadNotificationCount = {count}"))
                            } else {
                                Err(format!("next without a count: {t}"))
                            };
                        }
                        Some("ping") => {
                            let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                        }
                        _ => return Err(format!("unexpected {t}")),
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(close_key(frame.as_ref())),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the stream ended".into()),
            }
        }
    })
    .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(Ok(what)) => (true, format!("ack and first next ({what}) in {ms:.1} ms")),
        Ok(Err(e)) => (false, format!("FAILED: {}", clip(&e, 160))),
        Err(_) => (false, "FAILED: no ack and next within 10 s".into()),
    }
}

/// Cores the rest of the machine uses over `over`: busy time less the server, PostgreSQL and this
/// process.
async fn others_cores(s: &Settings, over: Duration) -> f64 {
    let ours = || {
        cpu_ticks(&format!("/proc/{}/stat", s.pid))
            + postgres_ticks()
            + cpu_ticks("/proc/self/stat")
    };
    let (busy_from, ours_from, started) = (machine_ticks().0, ours(), Instant::now());
    tokio::time::sleep(over).await;
    let busy = machine_ticks().0.saturating_sub(busy_from);
    let ours = ours().saturating_sub(ours_from);
    busy.saturating_sub(ours) as f64 / TICKS_PER_SECOND / started.elapsed().as_secs_f64()
}

/// Waits (at most `BENCH_WAIT_IDLE` seconds) until other work on the machine uses under a quarter of
/// a core over 3 s.
async fn wait_for_idle(s: &Settings) {
    let started = Instant::now();
    loop {
        let others = others_cores(s, Duration::from_secs(3)).await;
        if others < 0.25 {
            println!(
                "the rest of the machine uses {others:.2} cores; starting after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        if started.elapsed().as_secs_f64() >= s.wait_idle {
            println!(
                "the rest of the machine still uses {others:.2} cores after {:.0} s; starting anyway",
                started.elapsed().as_secs_f64()
            );
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Report.

struct Latency {
    count: usize,
    errors: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    planned_p99: f64,
}

/// Round trips (send to end of answer), and the p99 from the planned start.
fn latency(record: &PhaseRecord) -> Latency {
    let rtt = sorted(record.samples.iter().map(|s| s.rtt_ms).collect());
    let planned = sorted(record.samples.iter().map(|s| s.latency_ms).collect());
    Latency {
        count: record.samples.len(),
        errors: record.samples.iter().filter(|s| !s.ok).count(),
        p50: percentile(&rtt, 50.0),
        p90: percentile(&rtt, 90.0),
        p99: percentile(&rtt, 99.0),
        max: rtt.last().copied().unwrap_or(f64::NAN),
        planned_p99: percentile(&planned, 99.0),
    }
}

fn timer_p99(shared: &Shared, from: f64, to: f64) -> (f64, f64) {
    let late = shared.timer_late_us.lock().unwrap();
    let v = sorted(
        late.iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, us)| us / 1000.0)
            .collect(),
    );
    (percentile(&v, 99.0), v.last().copied().unwrap_or(f64::NAN))
}

fn cores(span: &CpuSpan, pick: fn(&CpuTicks) -> u64) -> f64 {
    pick(&span.to).saturating_sub(pick(&span.from)) as f64 / TICKS_PER_SECOND / span.wall
}

fn report_timeline(shared: &Shared, records: &[(usize, &PhaseRecord)]) {
    let rows = shared.rows.lock().unwrap();
    let start = records.first().map_or(0.0, |r| r.1.started);
    println!("timeline (5 s windows of each phase; normal client by planned start; the rest as sampled at the window's end):");
    println!("     t  phase    normal  errors   p99 ms   max ms  slow open hdr/silent/body  ws open   RSS MB    fds");
    for &(phase, record) in records {
        let mut t = record.started;
        while t < record.ended - 0.5 {
            let until = (t + 5.0).min(record.ended);
            let window: Vec<&Sample> = record
                .samples
                .iter()
                .filter(|s| s.at >= t && s.at < until)
                .collect();
            let lat = sorted(window.iter().map(|s| s.rtt_ms).collect());
            let errors = window.iter().filter(|s| !s.ok).count();
            if let Some(row) = rows.iter().rfind(|r| r.at <= until) {
                println!(
                    "{:>6.0}  {:<7} {:>7} {errors:>7} {:>8.2} {:>8.2}  {:>13}/{:>3}/{:>3}   {:>6} {:>8.1} {:>6}",
                    t - start,
                    PHASES[phase],
                    window.len(),
                    percentile(&lat, 99.0),
                    lat.last().copied().unwrap_or(f64::NAN),
                    row.slow_open[0],
                    row.slow_open[1],
                    row.slow_open[2],
                    row.ws_open,
                    mb(row.rss_kb),
                    row.fds,
                );
            }
            t = until;
        }
    }
}

fn report_slowloris(shared: &Shared) {
    let s = &shared.s;
    let [header, body, request] = s.deadlines;
    let expected = [
        format!("header deadline {header} s"),
        format!("header deadline {header} s"),
        format!("whole-body deadline {body} s"),
    ];
    let ends = shared.slow.ends.lock().unwrap();
    println!(
        "slowloris ({} header + {} silent + {} body connections, a byte every {} ms; server deadlines: header {header} s, body {body} s, request {request} s):",
        s.slow[0],
        s.slow[1],
        s.slow[2],
        s.slow_interval.as_millis()
    );
    for kind in 0..3 {
        if s.slow[kind] == 0 {
            continue;
        }
        println!(
            "  {}: {} connections opened (expected cut: {})",
            SLOW_KINDS[kind],
            shared.slow.opened[kind].load(Ordering::Relaxed),
            expected[kind]
        );
        let mut by_outcome: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for (k, how, lived) in ends.iter() {
            if *k == kind {
                by_outcome.entry(how.as_str()).or_default().push(*lived);
            }
        }
        for (how, lived) in by_outcome {
            let lived = sorted(lived);
            println!(
                "    {:>6}  {how}: lived min {:.1} s, p50 {:.1} s, max {:.1} s",
                lived.len(),
                lived[0],
                percentile(&lived, 50.0),
                lived[lived.len() - 1],
            );
        }
    }
    if shared.slow.connect_errors.total() > 0 {
        println!("  connections that could not be opened:");
        shared.slow.connect_errors.print("    ", false);
    }
}

fn report_http(attack: &HttpAttack, seconds: f64) {
    let lat = sorted(attack.latency_ms.lock().unwrap().clone());
    if lat.is_empty() {
        return;
    }
    println!(
        "  {}: {} requests ({:.1}/s), answered in p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        attack.name,
        lat.len(),
        lat.len() as f64 / seconds,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat[lat.len() - 1],
    );
    attack.answers.print("    ", true);
}

// ---------------------------------------------------------------------------------------------

fn main() -> ExitCode {
    let s = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("edge_attacks: {e}");
            return ExitCode::from(2);
        }
    };
    let secret = match env_required("BENCH_JWT_SECRET") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("edge_attacks: {e}");
            return ExitCode::from(2);
        }
    };
    if memory(&s.pid).is_none() {
        eprintln!("edge_attacks: no process {} (BENCH_SERVER_PID)", s.pid);
        return ExitCode::from(2);
    }
    // The normal client gets a thread of its own; every attack shares the main thread.
    let measuring = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .thread_name("normal-client")
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let attacking = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let keys = JwtKeys::new(&Secret::new(secret), None, None);
    let code = attacking.block_on(run(s, keys, measuring.handle().clone()));
    // Hundreds of sockets and tasks: leave them to the operating system.
    std::mem::forget(measuring);
    std::mem::forget(attacking);
    ExitCode::from(code)
}

async fn run(s: Settings, keys: JwtKeys, measuring: tokio::runtime::Handle) -> u8 {
    println!(
        "edge attacks against {} (server pid {}): warm-up {} s, quiet {} s, attack {} s, after {} s; normal client {} req/s open loop, {} students, {} days of 60-minute slots",
        s.addr, s.pid, s.warmup, s.quiet, s.attack, s.after, s.rate, s.students, s.days
    );
    if s.wait_idle > 0.0 {
        wait_for_idle(&s).await;
    }
    let seeded = match seed(&s, &keys).await {
        Ok(seeded) => Arc::new(seeded),
        Err(e) => {
            eprintln!("edge_attacks: set-up failed: {e}");
            return 2;
        }
    };
    println!(
        "seeded: mentor {MENTOR} (America/New_York), booking {} of {ATTACKER} with {} sessions (52 weeks x 3); one normal answer holds {} slots",
        seeded.booking_id, seeded.sessions, seeded.slots_per_answer
    );
    let alias_kinds: Vec<usize> = (0..ALIAS_KINDS.len())
        .filter(|&k| s.attacking("aliases") || s.attacking(ALIAS_NAMES[k]))
        .collect();
    let shared = Arc::new(Shared {
        s,
        origin: Instant::now(),
        phase: AtomicU8::new(0),
        peak_rss_kb: Default::default(),
        timer_late_us: Mutex::default(),
        rows: Mutex::default(),
        ws: WsStats::default(),
        slow: SlowStats::default(),
        nested: HttpAttack::new("nested booking { sessions { booking { sessions ... } } }"),
        aliases: ALIAS_KINDS.iter().map(|k| HttpAttack::new(k)).collect(),
        alias_turn: AtomicUsize::new(0),
        alias_kinds,
        alias_seq: AtomicUsize::new(0),
        normal_tid: AtomicU64::new(0),
        attack_tid: AtomicU64::new(current_tid()),
    });
    let tid = measuring.spawn(async { current_tid() }).await.unwrap_or(0);
    shared.normal_tid.store(tid, Ordering::Relaxed);
    println!(
        "generator threads: normal client (tid {tid}) nice {}, real-time {}; attacks (tid {}) nice {}; attacks: {}",
        renice(tid, shared.s.normal_nice),
        realtime(tid, shared.s.normal_rt),
        shared.attack_tid.load(Ordering::Relaxed),
        renice(shared.attack_tid.load(Ordering::Relaxed), shared.s.attack_nice),
        shared.s.attacks.join(","),
    );
    measuring.spawn(sampler(shared.clone()));
    measuring.spawn(timer_probe(shared.clone()));
    // Idle connections are dropped before the server's idle deadline would cut them under a request.
    let normal_client = reqwest::Client::builder()
        .timeout(NORMAL_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .expect("a client");
    let phase = |p: usize, seconds: f64| {
        measuring.spawn(normal_phase(
            shared.clone(),
            normal_client.clone(),
            seeded.clone(),
            p,
            seconds,
        ))
    };

    let _ = phase(0, shared.s.warmup).await;
    let quiet = phase(QUIET, shared.s.quiet).await.unwrap_or_default();
    println!("quiet phase done; attacking");

    let (stop_tx, stop) = watch::channel(false);
    let attack_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(shared.s.deadlines[2] + 10))
        .tcp_nodelay(true)
        .build()
        .expect("a client");
    let mut attacks = Vec::new();
    let token: Arc<str> = seeded.attacker_token.as_str().into();
    let s = &shared.s;
    let ws_sockets = if s.attacking("ws") { s.ws_sockets } else { 0 };
    let nested_loops = if s.attacking("nested") {
        s.nested_loops
    } else {
        0
    };
    let alias_loops = if !shared.alias_kinds.is_empty() {
        s.alias_loops
    } else {
        0
    };
    let slow = if s.attacking("slowloris") {
        s.slow
    } else {
        [0; 3]
    };
    for i in 0..ws_sockets {
        attacks.push(tokio::spawn(ws_attacker(
            shared.clone(),
            token.clone(),
            i,
            stop.clone(),
        )));
    }
    for _ in 0..nested_loops {
        attacks.push(tokio::spawn(nested_loop(
            shared.clone(),
            attack_client.clone(),
            seeded.clone(),
            stop.clone(),
        )));
    }
    for _ in 0..alias_loops {
        attacks.push(tokio::spawn(alias_loop(
            shared.clone(),
            attack_client.clone(),
            seeded.clone(),
            stop.clone(),
        )));
    }
    for (kind, &count) in slow.iter().enumerate() {
        for _ in 0..count {
            attacks.push(tokio::spawn(slow_slot(shared.clone(), kind, stop.clone())));
        }
    }
    let attack_started = Instant::now();
    let under_attack = phase(ATTACK, shared.s.attack).await.unwrap_or_default();
    let _ = stop_tx.send(true);
    for a in attacks {
        let _ = a.await;
    }
    let attack_seconds = attack_started.elapsed().as_secs_f64();
    println!("attack phase done; attacks stopped");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = phase(AFTER, shared.s.after).await.unwrap_or_default();
    let health = check_health(&shared.s, &seeded).await;
    let (rss_end, hwm_end) = memory(&shared.s.pid).unwrap_or_default();

    // The report.
    let s = &shared.s;
    println!();
    println!(
        "== edge attacks: quiet {} s, attack {} s, after {} s; normal client {} req/s (open loop) ==",
        s.quiet, s.attack, s.after, s.rate
    );
    println!(
        "normal client: availableSlots, {} days, 60-minute slots ({} slots an answer), {} students in turn; round trip (send to end of answer), ms",
        s.days, seeded.slots_per_answer, s.students
    );
    println!("  (then: p99 from the planned start, which adds the tokio timer's ~1 ms; how far behind plan a request was ever sent; how late a 10 ms sleep woke on the client's thread)");
    println!("  phase     requests  errors      p50      p90      p99      max  | planned p99  send lag max  timer late p99/max");
    let records = [(QUIET, &quiet), (ATTACK, &under_attack), (AFTER, &after)];
    let mut lats = Vec::new();
    for (p, record) in records {
        let l = latency(record);
        let (late_p99, late_max) = timer_p99(&shared, record.started, record.ended);
        println!(
            "  {:<8} {:>9} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  | {:>11.2} {:>13.2} {:>9.2}/{:.2}",
            PHASES[p],
            l.count,
            l.errors,
            l.p50,
            l.p90,
            l.p99,
            l.max,
            l.planned_p99,
            record.max_lag_ms,
            late_p99,
            late_max
        );
        lats.push(l);
    }
    for (p, record) in records {
        if record.errors.total() > 0 {
            println!("  errors during {}:", PHASES[p]);
            record.errors.print("    ", true);
        }
    }
    let ratio = lats[1].p99 / lats[0].p99;
    println!(
        "  p99 attack / quiet = {:.2} / {:.2} ms = {ratio:.2} (target <= {})",
        lats[1].p99, lats[0].p99, s.target_ratio
    );
    let peak = |p: usize| mb(shared.peak_rss_kb[p].load(Ordering::Relaxed));
    let peak_rss = peak(QUIET).max(peak(ATTACK)).max(peak(AFTER));
    println!(
        "server RSS (every 100 ms): peak {:.1} MB quiet, {:.1} MB attack, {:.1} MB after; {:.1} MB at the end; VmHWM {:.1} MB (since start, set-up included)",
        peak(QUIET),
        peak(ATTACK),
        peak(AFTER),
        mb(rss_end),
        mb(hwm_end)
    );
    println!(
        "CPU, cores (of {}; \"others\" = the machine's busy time less the server, PostgreSQL and this generator):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("  phase       server  postgres  generator (normal thread / attack thread)   others  machine busy");
    for (p, record) in records {
        let span = &record.cpu;
        let busy = cores(span, |t| t.machine_busy);
        let total = cores(span, |t| t.machine_total);
        let ours =
            cores(span, |t| t.server) + cores(span, |t| t.postgres) + cores(span, |t| t.generator);
        println!(
            "  {:<8} {:>9.2} {:>9.2} {:>10.2} ({:.2} / {:.2}) {:>25.2} {:>12.0}%",
            PHASES[p],
            cores(span, |t| t.server),
            cores(span, |t| t.postgres),
            cores(span, |t| t.generator),
            cores(span, |t| t.normal_thread),
            cores(span, |t| t.attack_thread),
            (busy - ours).max(0.0),
            100.0 * busy / total.max(f64::EPSILON),
        );
    }
    let busiest_others = records
        .iter()
        .map(|(_, r)| {
            let span = &r.cpu;
            cores(span, |t| t.machine_busy)
                - cores(span, |t| t.server)
                - cores(span, |t| t.postgres)
                - cores(span, |t| t.generator)
        })
        .fold(0.0, f64::max);
    if busiest_others > 0.5 {
        println!(
            "  NOTE: other work on the machine used up to {busiest_others:.2} cores in a phase: its processes compete with the server (wake-ups wait for the CPU), so the latencies above carry that noise"
        );
    }
    println!();
    report_timeline(&shared, &records);
    println!();
    println!("attacks ({attack_seconds:.1} s):");
    let ws = &shared.ws;
    println!(
        "  WebSockets ({} sockets of one student, {} subscribes each round; even sockets close and reopen, odd ones complete and resubscribe): \
         {} connections, {} acked, {} rounds, {} subscribes sent, {} completes sent, {} subscribes unanswered within 10 s, {} closes by us",
        s.ws_sockets,
        s.ws_subscribes,
        ws.connects.load(Ordering::Relaxed),
        ws.acks.load(Ordering::Relaxed),
        ws.rounds.load(Ordering::Relaxed),
        ws.subscribes.load(Ordering::Relaxed),
        ws.completes.load(Ordering::Relaxed),
        ws.unanswered.load(Ordering::Relaxed),
        ws.closes_by_us.load(Ordering::Relaxed),
    );
    println!("    answers:");
    ws.messages.print("      ", true);
    println!("    how sockets ended (sockets still open when the attack stopped are not listed):");
    ws.ends.print("      ", false);
    report_http(&shared.nested, attack_seconds);
    for a in &shared.aliases {
        report_http(a, attack_seconds);
    }
    report_slowloris(&shared);
    println!();
    println!("after the attack:");
    println!("  /readyz: {}", health.readyz);
    println!("  fresh availableSlots: {}", health.fresh_query);
    println!(
        "  fresh WebSocket of the attacking student: {}",
        health.fresh_socket
    );

    let errors = lats.iter().map(|l| l.errors).sum::<usize>();
    let ratio_ok = ratio <= s.target_ratio;
    let rss_ok = peak_rss < s.target_rss_mb;
    println!(
        "RESULT p99_quiet_ms={:.2} p99_attack_ms={:.2} ratio={ratio:.2} peak_rss_mb={peak_rss:.1} normal_errors={errors} healthy_after={} \
         cost_refusals={} ws_rate_limited={}",
        lats[0].p99,
        lats[1].p99,
        health.healthy,
        shared.nested.answers.count("HTTP 200 COST")
            + shared.aliases.iter().map(|a| a.answers.count("HTTP 200 COST")).sum::<usize>(),
        ws.messages.count("error RATE_LIMITED"),
    );
    println!(
        "targets: p99 ratio {ratio:.2} <= {}: {}; peak RSS {peak_rss:.1} MB < {} MB: {}; normal client errors {errors}: {}; healthy after: {}",
        s.target_ratio,
        if ratio_ok { "met" } else { "MISSED" },
        s.target_rss_mb,
        if rss_ok { "met" } else { "MISSED" },
        if errors == 0 { "ok" } else { "FAILED" },
        if health.healthy { "yes" } else { "NO" },
    );
    if errors > 0 || !health.healthy {
        1
    } else if !(ratio_ok && rss_ok) {
        3
    } else {
        0
    }
}
