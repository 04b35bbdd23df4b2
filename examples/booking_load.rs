//! Load generator for `createBooking`, driven by `bench/bookings-load.sh` (see there for usage).
//!
//! Workers `0..CONCURRENCY/2` are the contending half: they all cycle through the same few
//! mentor/slot combinations (the first `BENCH_HOT_MENTORS` mentors, `BENCH_HOT_SLOTS` slots each), so
//! after the first booking of each combination they get `CONFLICT`. The other half take distinct free
//! slots from a shared list (every other mentor, whole hours 06:00-21:00 local, days chosen so that
//! no two `BENCH_WEEKS`-week bookings overlap), so each of their requests should create a booking.
//! Each worker sends one request at a time until the duration is over. A `CONFLICT` is an expected
//! answer; anything else (HTTP error, other GraphQL error, timeout) fails the run (exit status 1).
//!
//! Environment: `BENCH_URL` (the GraphQL endpoint), `BENCH_DURATION` (seconds, default 30),
//! `BENCH_CONCURRENCY` (default 64), `BENCH_MENTORS_FILE` (lines `mentor-id time-zone`),
//! `BENCH_STUDENTS_FILE` (one student token a line, at least `BENCH_CONCURRENCY`), `BENCH_WEEKS`
//! (default 4), `BENCH_HORIZON_DAYS` (the mentors' horizon, default 60), `BENCH_HOT_MENTORS`
//! (default 2), `BENCH_HOT_SLOTS` (per hot mentor, 1 to 7, default 4).

mod support;

use support::{env_or, env_required};

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::json;
use support::post;

const MUTATION: &str = "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }";
/// First and last whole-hour start inside the mentors' 06:00-22:00 availability.
const FIRST_HOUR: u32 = 6;
const LAST_HOUR: u32 = 21;
/// Other errors printed in full; the rest are only counted.
const ERRORS_SHOWN: usize = 10;

#[derive(Clone)]
struct Slot {
    mentor_id: Arc<str>,
    start: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Conflict,
    Failed,
}

struct Sample {
    latency: Duration,
    outcome: Outcome,
}

/// The whole-hour `hour` on `date` in `tz`, as an RFC 3339 UTC instant.
fn instant(tz: Tz, date: NaiveDate, hour: u32) -> Result<String, String> {
    let local = date.and_hms_opt(hour, 0, 0).ok_or("bad hour")?;
    let at = tz
        .from_local_datetime(&local)
        .earliest()
        .ok_or_else(|| format!("{local} does not exist in {tz}"))?;
    Ok(at
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn mentor_today(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The contended combinations: hot slot `s` of a mentor is day `2 + s` from today at `10 + s` o'clock
/// (distinct weekdays, so the combinations never overlap one another).
fn hot_slots(mentors: &[(Arc<str>, Tz)], per_mentor: u32) -> Result<Vec<Slot>, String> {
    let now = Utc::now();
    let mut out = Vec::new();
    for (id, tz) in mentors {
        for s in 0..per_mentor {
            let date = mentor_today(*tz, now) + Days::new(u64::from(2 + s));
            out.push(Slot {
                mentor_id: id.clone(),
                start: instant(*tz, date, 10 + s)?,
            });
        }
    }
    Ok(out)
}

/// Free slots for the uncontended half, interleaved over the mentors. A booking repeats `weeks`
/// times a week apart, so start days are taken from the first week of each block of `weeks` weeks
/// (day offsets `d` from 1 with `(d - 1) % (7 * weeks) < 7`); the last start day stays two days
/// inside the horizon. No two of these slots overlap, whatever the run does.
fn free_slots(
    mentors: &[(Arc<str>, Tz)],
    weeks: u32,
    horizon_days: u32,
) -> Result<Vec<Slot>, String> {
    let now = Utc::now();
    let period = 7 * weeks;
    let mut out = Vec::new();
    for day in (1..horizon_days.saturating_sub(1)).filter(|d| (d - 1) % period < 7) {
        for hour in FIRST_HOUR..=LAST_HOUR {
            for (id, tz) in mentors {
                let date = mentor_today(*tz, now) + Days::new(u64::from(day));
                out.push(Slot {
                    mentor_id: id.clone(),
                    start: instant(*tz, date, hour)?,
                });
            }
        }
    }
    Ok(out)
}

async fn create_booking(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    slot: &Slot,
    weeks: u32,
) -> Result<Outcome, String> {
    let body = json!({
        "query": MUTATION,
        "variables": { "i": {
            "mentorId": &*slot.mentor_id,
            "frequency": "ONCE_WEEKLY",
            "slots": [&slot.start],
            "subject": "bench",
            "weeks": weeks,
        }},
    });
    let answer = post(client, url, token, &body).await?;
    if let Some(errors) = answer["errors"].as_array().filter(|e| !e.is_empty()) {
        return if errors.len() == 1 && errors[0]["extensions"]["code"] == "CONFLICT" {
            Ok(Outcome::Conflict)
        } else {
            Err(format!("{} {}: {answer}", slot.mentor_id, slot.start))
        };
    }
    if answer["data"]["createBooking"]["id"].is_string() {
        Ok(Outcome::Created)
    } else {
        Err(format!("no booking id: {answer}"))
    }
}

struct Shared {
    client: reqwest::Client,
    url: String,
    weeks: u32,
    deadline: Instant,
    hot: Vec<Slot>,
    free: Vec<Slot>,
    next_free: AtomicUsize,
    ran_out: AtomicBool,
}

/// One student: a request at a time until the deadline. Returns its samples and other errors.
async fn worker(
    shared: Arc<Shared>,
    index: usize,
    contending: bool,
    token: String,
) -> (Vec<Sample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut errors = Vec::new();
    let mut round = 0;
    while Instant::now() < shared.deadline {
        let slot = if contending {
            &shared.hot[(index + round) % shared.hot.len()]
        } else {
            let i = shared.next_free.fetch_add(1, Ordering::Relaxed);
            match shared.free.get(i) {
                Some(slot) => slot,
                None => {
                    shared.ran_out.store(true, Ordering::Relaxed);
                    break;
                }
            }
        };
        round += 1;
        let started = Instant::now();
        let outcome = create_booking(&shared.client, &shared.url, &token, slot, shared.weeks).await;
        let latency = started.elapsed();
        let outcome = outcome.unwrap_or_else(|e| {
            errors.push(e);
            Outcome::Failed
        });
        samples.push(Sample { latency, outcome });
    }
    (samples, errors)
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn report_row(name: &str, samples: &[&Sample], elapsed: f64) {
    let count = |o: Outcome| samples.iter().filter(|s| s.outcome == o).count();
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort_unstable();
    let created = count(Outcome::Created);
    println!(
        "{name:<12} {:>9} {:>9} {:>9} {:>7} {:>9.1} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        samples.len(),
        created,
        count(Outcome::Conflict),
        count(Outcome::Failed),
        samples.len() as f64 / elapsed,
        created as f64 / elapsed,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies
            .last()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
    );
}

fn read_lines(path: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

async fn run() -> Result<bool, String> {
    let url = env_required("BENCH_URL")?;
    let duration = Duration::from_secs_f64(env_or("BENCH_DURATION", 30.0)?);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 64)?;
    let weeks: u32 = env_or("BENCH_WEEKS", 4)?;
    let horizon_days: u32 = env_or("BENCH_HORIZON_DAYS", 60)?;
    let hot_mentors: usize = env_or("BENCH_HOT_MENTORS", 2)?;
    let hot_per_mentor: u32 = env_or("BENCH_HOT_SLOTS", 4)?;
    if !(1..=7).contains(&hot_per_mentor) || concurrency < 2 || !(1..=52).contains(&weeks) {
        return Err(
            "need BENCH_HOT_SLOTS 1..=7, BENCH_CONCURRENCY >= 2, BENCH_WEEKS 1..=52".into(),
        );
    }
    let mentors = read_lines(&env_required("BENCH_MENTORS_FILE")?)?
        .into_iter()
        .map(|line| {
            let (id, zone) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("mentor line {line:?} is not `id zone`"))?;
            let tz: Tz = zone
                .trim()
                .parse()
                .map_err(|_| format!("unknown time zone {zone:?}"))?;
            Ok((Arc::<str>::from(id), tz))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let tokens = read_lines(&env_required("BENCH_STUDENTS_FILE")?)?;
    if tokens.len() < concurrency {
        return Err(format!(
            "{} student tokens for {concurrency} workers",
            tokens.len()
        ));
    }
    if mentors.len() <= hot_mentors {
        return Err(format!(
            "{} mentors, {hot_mentors} of them hot: none left for the uncontended half",
            mentors.len()
        ));
    }
    let (hot, cold) = mentors.split_at(hot_mentors);
    let hot = hot_slots(hot, hot_per_mentor)?;
    let free = free_slots(cold, weeks, horizon_days)?;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    // A user's first request creates their record: do that outside the timed run.
    for token in &tokens[..concurrency] {
        let answer = post(&client, &url, token, &json!({ "query": "{ me { id } }" })).await?;
        if !answer["data"]["me"]["id"].is_string() {
            return Err(format!("`me` failed: {answer}"));
        }
    }

    let contending = concurrency / 2;
    println!(
        "{concurrency} students for {:.0} s: {contending} contending for {} mentor/slot combinations \
         ({hot_mentors} mentors), {} booking distinct free slots ({} slots over {} mentors); \
         ONCE_WEEKLY, weeks {weeks}, 60 minutes",
        duration.as_secs_f64(),
        hot.len(),
        concurrency - contending,
        free.len(),
        cold.len(),
    );
    let started = Instant::now();
    let shared = Arc::new(Shared {
        client,
        url,
        weeks,
        deadline: started + duration,
        hot,
        free,
        next_free: AtomicUsize::new(0),
        ran_out: AtomicBool::new(false),
    });
    let handles: Vec<_> = tokens[..concurrency]
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let shared = shared.clone();
            tokio::spawn(worker(shared, i, i < contending, token.clone()))
        })
        .collect();
    let mut by_worker = Vec::with_capacity(concurrency);
    for handle in handles {
        by_worker.push(handle.await.map_err(|e| format!("worker panicked: {e}"))?);
    }
    let elapsed = started.elapsed().as_secs_f64();

    let group = |range: std::ops::Range<usize>| -> Vec<&Sample> {
        by_worker[range].iter().flat_map(|(s, _)| s).collect()
    };
    let all = group(0..concurrency);
    let contended = group(0..contending);
    let uncontended = group(contending..concurrency);
    println!("elapsed {elapsed:.2} s; latency in ms");
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "",
        "requests",
        "created",
        "conflicts",
        "errors",
        "req/s",
        "created/s",
        "p50",
        "p90",
        "p99",
        "max"
    );
    report_row("all", &all, elapsed);
    report_row("contending", &contended, elapsed);
    report_row("uncontended", &uncontended, elapsed);
    let used = shared
        .next_free
        .load(Ordering::Relaxed)
        .min(shared.free.len());
    println!(
        "uncontended free slots used: {used} of {}",
        shared.free.len()
    );

    let count = |o: Outcome| all.iter().filter(|s| s.outcome == o).count();
    let (created, conflicts, failed) = (
        count(Outcome::Created),
        count(Outcome::Conflict),
        count(Outcome::Failed),
    );
    let uncontended_conflicts = uncontended
        .iter()
        .filter(|s| s.outcome == Outcome::Conflict)
        .count();
    if uncontended_conflicts > 0 {
        println!("WARNING: {uncontended_conflicts} uncontended requests got CONFLICT for a slot planned to be free");
    }
    println!(
        "RESULT requests={} created={created} conflicts={conflicts} errors={failed}",
        all.len()
    );
    let errors: Vec<&String> = by_worker.iter().flat_map(|(_, e)| e).collect();
    for e in errors.iter().take(ERRORS_SHOWN) {
        eprintln!("error: {e}");
    }
    let mut ok = true;
    if !errors.is_empty() {
        eprintln!(
            "FAILED: {} requests failed with something other than CONFLICT",
            errors.len()
        );
        ok = false;
    }
    if shared.ran_out.load(Ordering::Relaxed) {
        eprintln!(
            "FAILED: the uncontended half ran out of free slots; use more mentors or a shorter run"
        );
        ok = false;
    }
    Ok(ok)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("booking_load: {e}");
            ExitCode::from(2)
        }
    }
}
