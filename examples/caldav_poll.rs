//! Load generator for CalDAV polling, driven by `bench/caldav-poll.sh` (see there for usage).
//!
//! 1. Starts a real Radicale (`python3 -m radicale`) on `BENCH_RADICALE_PORT` with its storage
//!    written straight to disk beforehand: `BENCH_MENTORS` accounts, each with a `work` calendar of
//!    `BENCH_EVENTS` events (a quarter of them weekly). Anyone may sign in (`auth = none`); each
//!    account sees only its own calendars (`owner_only`).
//! 2. Puts a counting proxy in front of it (every request the server makes to Radicale goes
//!    through it, counted by method), then starts the server (`BENCH_BIN serve`) with
//!    `CALDAV_ALLOW_LOCAL=true`, on `BENCH_DATABASE_URL`, its log in `BENCH_LOG`.
//! 3. Connects every mentor with `connectCalDav`, `BENCH_CONCURRENCY` at a time, and waits until
//!    every first read is done.
//! 4. The polling round with nothing changed: waits until every connection has been polled once
//!    more (at the default five minutes), and reports the requests it made to Radicale (per
//!    mentor, by method), the CPU seconds the server, PostgreSQL and Radicale spent meanwhile (idle
//!    time included), and how long each poll's request took at the proxy (p50/p99).
//!
//! Exit status 1 when something failed, 3 when all worked but a poll made more than one request
//! per calendar.

mod support;

use std::collections::BTreeMap;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::Role;
use mentor_scheduler::config::Secret;
use sea_orm::Database;
use serde_json::json;
use support::{count, env_or, env_required, ms, percentile, Gql as Bench};
use tokio::sync::Semaphore;

const SECRET: &str = "bench-caldav-secret-0123456789abcdef";
const TOKEN_KEY: &str = "bench:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const CONNECT: &str =
    "mutation($i: CalDavConnectInput!) { connectCalDav(input: $i) { connected } }";
const SCHEDULE: &str =
    "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { mentorId } }";

/// What the proxy saw: requests by method, and how long Radicale took over each.
#[derive(Default)]
struct Seen {
    by_method: BTreeMap<String, u64>,
    took: Vec<Duration>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Seen>>,
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let started = Instant::now();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = proxy
        .http
        .request(method.clone(), format!("{}{path}", proxy.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(_) => return (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new()),
    };
    let status = answer.status();
    let mut back = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "content-length" && name != "connection" {
            back.insert(name.clone(), value.clone());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut seen = proxy.seen.lock().unwrap_or_else(|e| e.into_inner());
    *seen.by_method.entry(method.to_string()).or_default() += 1;
    seen.took.push(started.elapsed());
    seen.first_at.get_or_insert(started);
    seen.last_at = Some(Instant::now());
    (status, back, bytes)
}

fn mentor_id(i: usize) -> String {
    format!("clbenchdavmentor{i:09}")
}

fn user(i: usize) -> String {
    format!("m{i}")
}

/// Writes Radicale's storage for `mentors` accounts with a `work` calendar of `events` events.
fn write_storage(root: &std::path::Path, mentors: usize, events: usize) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let day0 = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    for i in 0..mentors {
        let principal = root.join("collection-root").join(user(i));
        let calendar = principal.join("work");
        std::fs::create_dir_all(&calendar).map_err(io)?;
        std::fs::write(principal.join(".Radicale.props"), "{}").map_err(io)?;
        std::fs::write(
            calendar.join(".Radicale.props"),
            r#"{"tag": "VCALENDAR", "D:displayname": "Work", "C:supported-calendar-component-set": "VEVENT"}"#,
        )
        .map_err(io)?;
        for e in 0..events {
            let day = day0 + chrono::Duration::days((e % 28) as i64);
            let hour = 6 + (e * 7 % 12);
            let rule = if e % 4 == 0 {
                "RRULE:FREQ=WEEKLY;COUNT=8\r\n"
            } else {
                ""
            };
            let ics = format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e{e}-{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{}T{hour:02}0000Z\r\nDURATION:PT45M\r\n{rule}END:VEVENT\r\nEND:VCALENDAR\r\n",
                day.format("%Y%m%d")
            );
            std::fs::write(calendar.join(format!("e{e}.ics")), ics).map_err(io)?;
        }
    }
    Ok(())
}

/// CPU seconds (user + system) of `pid`, from `/proc`.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of every process named `name`.
fn cpu_of_all(name: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
        .map(cpu_seconds)
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

/// Children killed when the generator ends, however it ends.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

async fn run() -> Result<ExitCode, String> {
    let bin = env_required("BENCH_BIN")?;
    let database_url = env_required("BENCH_DATABASE_URL")?;
    let log = env_required("BENCH_LOG")?;
    let port: u16 = env_or("BENCH_PORT", 18186)?;
    let radicale_port: u16 = env_or("BENCH_RADICALE_PORT", 18187)?;
    let proxy_port: u16 = env_or("BENCH_PROXY_PORT", 18188)?;
    let mentors: usize = env_or("BENCH_MENTORS", 1000)?;
    let events: usize = env_or("BENCH_EVENTS", 20)?;
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 16)?;
    let workers: usize = env_or("BENCH_JOB_WORKERS", 8)?;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let storage = dir.path().join("collections");
    let setup = Instant::now();
    write_storage(&storage, mentors, events)?;
    let config = dir.path().join("radicale.conf");
    std::fs::write(
        &config,
        format!(
            "[server]\nhosts = 127.0.0.1:{radicale_port}\nmax_connections = 64\n\
             [auth]\ntype = none\n[rights]\ntype = owner_only\n\
             [storage]\nfilesystem_folder = {}\n[web]\ntype = none\n[logging]\nlevel = warning\n",
            storage.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut children = Children(Vec::new());
    let radicale = std::process::Command::new("python3")
        .args(["-m", "radicale", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("python3 -m radicale: {e}"))?;
    let radicale_pid = radicale.id();
    children.0.push(radicale);
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", radicale_port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let seen = Arc::new(Mutex::new(Seen::default()));
    let proxy = Proxy {
        upstream: format!("http://127.0.0.1:{radicale_port}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?,
        seen: seen.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", proxy_port))
        .await
        .map_err(|e| format!("proxy port {proxy_port}: {e}"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = support::Server {
        bin: &bin,
        port,
        database_url: &database_url,
        data_dir: data_dir.path(),
        log: &log,
        jwt_secret: SECRET,
        job_workers: workers,
    }
    .command()?
    .env("CALENDAR_TOKEN_KEY", TOKEN_KEY)
    .env("CALDAV_ALLOW_LOCAL", "true")
    .spawn()
    .map_err(|e| format!("{bin}: {e}"))?;
    let pid = server.id();
    children.0.push(server);

    let bench = Arc::new(Bench {
        url: format!("http://127.0.0.1:{port}/graphql"),
        http: reqwest::Client::new(),
        keys: JwtKeys::new(&Secret::new(SECRET), None, None),
    });
    support::wait_ready(&bench.http, port).await?;
    let db = Database::connect(&database_url)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{mentors} CalDAV accounts x {events} events written for Radicale in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // Connect everyone; the first reads run in the server's job workers meanwhile.
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let server_url = format!("http://127.0.0.1:{proxy_port}/");
    for i in 0..mentors {
        let (bench, gate, server_url) = (bench.clone(), gate.clone(), server_url.clone());
        tasks.spawn(async move {
            let _turn = gate.acquire_owned().await;
            let mentor = bench.token(&mentor_id(i), Role::Mentor);
            let blocks: Vec<serde_json::Value> = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
                .iter()
                .map(|d| json!({ "weekday": d, "start": "06:00", "end": "20:00" }))
                .collect();
            bench
                .gql(&mentor, SCHEDULE, json!({ "i": { "timeZone": "UTC", "blocks": blocks, "horizonDays": 28 } }))
                .await?;
            let login = json!({ "i": { "serverUrl": server_url, "username": user(i), "password": "app-password" } });
            bench.gql(&mentor, CONNECT, login).await.map(|_| ())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let connected = started.elapsed();
    let total = mentors as i64;
    loop {
        let synced = count(
            &db,
            "SELECT count(*) FROM calendar_connections WHERE last_synced_at IS NOT NULL",
        )
        .await?;
        if synced >= total {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!("after 30 minutes {synced} of {total} read"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let busy = count(
        &db,
        "SELECT count(*) FROM busy_blocks WHERE source = 'caldav'",
    )
    .await?;
    let first = {
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.by_method.values().sum::<u64>()
    };
    println!(
        "connected in {:.1} s, every first read done {:.1} s after the first connect; {busy} busy blocks; {:.2} requests per mentor to connect and read",
        connected.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        first as f64 / mentors as f64
    );

    // What idling costs (job runners polling for due jobs), to tell the round's cost from it.
    let idle_for = Duration::from_secs(20);
    let (server_i, postgres_i, radicale_i) = (
        cpu_seconds(pid),
        cpu_of_all("postgres"),
        cpu_seconds(radicale_pid),
    );
    let before_idle = seen.lock().unwrap_or_else(|e| e.into_inner()).took.len();
    tokio::time::sleep(idle_for).await;
    let idle = [
        cpu_seconds(pid) - server_i,
        cpu_of_all("postgres") - postgres_i,
        cpu_seconds(radicale_pid) - radicale_i,
    ];
    if seen.lock().unwrap_or_else(|e| e.into_inner()).took.len() != before_idle {
        return Err(
            "polls began before the idle baseline was measured: fewer mentors, or more workers"
                .into(),
        );
    }

    // The round with nothing changed: every connection polled once more.
    let (server0, postgres0, radicale0) = (
        cpu_seconds(pid),
        cpu_of_all("postgres"),
        cpu_seconds(radicale_pid),
    );
    let round_start = Instant::now();
    {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        *seen = Seen::default();
    }
    let baseline = "SELECT count(*) FROM calendar_connections c WHERE c.last_synced_at > c.created_at + interval '4 minutes'";
    loop {
        if count(&db, baseline).await? >= total {
            break;
        }
        if round_start.elapsed() > Duration::from_secs(900) {
            return Err("after 15 minutes not every connection was polled again".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = round_start.elapsed();
    let (server1, postgres1, radicale1) = (
        cpu_seconds(pid),
        cpu_of_all("postgres"),
        cpu_seconds(radicale_pid),
    );
    let seen = {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *seen)
    };
    let requests: u64 = seen.by_method.values().sum();
    let mut took = seen.took.clone();
    took.sort();
    println!(
        "one polling round, nothing changed ({mentors} mentors, waited {:.0} s for it):",
        waited.as_secs_f64()
    );
    println!(
        "  requests to Radicale: {requests} ({:.2} per mentor) {:?}",
        requests as f64 / mentors as f64,
        seen.by_method
    );
    let rate = |i: usize| idle[i] / idle_for.as_secs_f64() * waited.as_secs_f64();
    println!(
        "  CPU while waiting for the round: server {:.2} s, PostgreSQL {:.2} s, Radicale {:.2} s; \
         above idle (measured {} s before): server {:.2} s, PostgreSQL {:.2} s, Radicale {:.2} s",
        server1 - server0,
        postgres1 - postgres0,
        radicale1 - radicale0,
        idle_for.as_secs(),
        server1 - server0 - rate(0),
        postgres1 - postgres0 - rate(1),
        radicale1 - radicale0 - rate(2),
    );
    if let (Some(first), Some(last)) = (seen.first_at, seen.last_at) {
        println!(
            "  the round's polls spread over {:.1} s (as the first reads were)",
            (last - first).as_secs_f64()
        );
    }
    println!(
        "  each poll's request at the proxy: p50 {}, p99 {}, max {}",
        ms(percentile(&took, 50.0)),
        ms(percentile(&took, 99.0)),
        ms(took.last().copied().unwrap_or_default())
    );
    let still = count(
        &db,
        "SELECT count(*) FROM busy_blocks WHERE source = 'caldav'",
    )
    .await?;
    if still != busy {
        return Err(format!(
            "busy blocks changed from {busy} to {still} with nothing changed"
        ));
    }
    if requests > mentors as u64 {
        println!("TARGET MISSED: more than one request per calendar when nothing changed");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
