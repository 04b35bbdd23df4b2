//! Load generator for payments, driven by `bench/payments-load.sh` (see there for usage).
//!
//! 1. Starts the fake Stripe of the tests (`tests/api/helpers/fake_stripe.rs`) in this process,
//!    then the server (`BENCH_BIN serve`) on `BENCH_DATABASE_URL`, pointed at it, with its log in
//!    `BENCH_LOG`.
//! 2. `BENCH_MENTORS` mentors with a weekly schedule; `BENCH_BOOKINGS` students each book a weekly
//!    slot (four weeks), `BENCH_CONCURRENCY` at a time, and `createBooking` is timed from the
//!    request to the answer carrying its Stripe checkout URL (p50/p90/p99/max).
//! 3. Every checkout is paid at the fake and each subscription renewed `BENCH_RENEWALS` times, then
//!    every event waiting (`checkout.session.completed`, `invoice.paid`: each a confirmation or a
//!    receipt with its email and notification) is delivered signed to `/webhooks/stripe`,
//!    `BENCH_CONCURRENCY` at a time: events applied per second. The booking states are checked.
//!
//! Exit status 1 when something failed, 3 when all worked but fewer than `BENCH_TARGET_PER_SECOND`
//! (default 500) events were applied per second.

#[allow(dead_code)]
#[path = "../tests/api/helpers/fake_stripe.rs"]
mod fake_stripe;
mod support;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use fake_stripe::FakeStripe;
use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::Role;
use mentor_scheduler::config::Secret;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};
use support::{env_or, env_required, ms, percentile, Gql as Bench};
use tokio::sync::Semaphore;

const SECRET: &str = "bench-payments-secret-0123456789abcdef";
const SCHEDULE: &str =
    "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { mentorId } }";
const CREATE: &str = "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id status payment { checkoutUrl } } }";
/// Weekly start hours each mentor offers (one booking each).
const HOURS: [u32; 12] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];

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

async fn run() -> Result<ExitCode, String> {
    let bin = env_required("BENCH_BIN")?;
    let database_url = env_required("BENCH_DATABASE_URL")?;
    let log = env_required("BENCH_LOG")?;
    let port: u16 = env_or("BENCH_PORT", 18185)?;
    let mentors: usize = env_or("BENCH_MENTORS", 100)?;
    let bookings: usize = env_or("BENCH_BOOKINGS", 1000)?;
    let renewals: usize = env_or("BENCH_RENEWALS", 2)?;
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 16)?;
    let target: f64 = env_or("BENCH_TARGET_PER_SECOND", 500.0)?;
    let workers: usize = env_or("BENCH_JOB_WORKERS", 8)?;
    if bookings > mentors * HOURS.len() {
        return Err(format!(
            "{bookings} bookings need at least {} mentors",
            bookings.div_ceil(HOURS.len())
        ));
    }

    let stripe = FakeStripe::start().await;
    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut server = support::Server {
        bin: &bin,
        port,
        database_url: &database_url,
        data_dir: data_dir.path(),
        log: &log,
        jwt_secret: SECRET,
        job_workers: workers,
    }
    .command()?
    .envs(stripe.settings())
    .spawn()
    .map_err(|e| format!("{bin}: {e}"))?;
    stripe.deliver_to(&format!("http://127.0.0.1:{port}/webhooks/stripe"));
    let outcome = measure(
        &stripe,
        port,
        &database_url,
        mentors,
        bookings,
        renewals,
        concurrency,
    )
    .await;
    server.kill().ok();
    server.wait().ok();
    let per_second = outcome?;
    if per_second < target {
        println!("TARGET MISSED: {per_second:.0} events applied per second < {target:.0}");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

async fn measure(
    stripe: &FakeStripe,
    port: u16,
    database_url: &str,
    mentors: usize,
    bookings: usize,
    renewals: usize,
    concurrency: usize,
) -> Result<f64, String> {
    let bench = Arc::new(Bench {
        url: format!("http://127.0.0.1:{port}/graphql"),
        http: reqwest::Client::new(),
        keys: JwtKeys::new(&Secret::new(SECRET), None, None),
    });
    support::wait_ready(&bench.http, port).await?;

    let blocks: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|d| json!({ "weekday": d, "start": "06:00", "end": "20:00" }))
    .collect();
    for m in 0..mentors {
        let token = bench.token(&format!("bench-pay-mentor-{m:05}"), Role::Mentor);
        let schedule = json!({ "i": { "timeZone": "UTC", "blocks": blocks, "bufferMinutes": 0,
            "minimumNoticeMinutes": 0, "horizonDays": 60 } });
        bench.gql(&token, SCHEDULE, schedule).await?;
    }
    // Next week's Monday, so every hour is ahead.
    let today = Utc::now().date_naive();
    let monday =
        today + chrono::Days::new(7 + (7 - today.weekday().num_days_from_monday() as u64) % 7);

    // createBooking to checkout URL.
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for b in 0..bookings {
        let bench = bench.clone();
        let gate = gate.clone();
        let (mentor, hour) = (b % mentors, HOURS[b / mentors]);
        let slot = format!("{monday}T{hour:02}:00:00Z");
        tasks.spawn(async move {
            let _turn = gate.acquire().await.expect("open");
            let student = bench.token(&format!("bench-pay-student-{b:06}"), Role::Student);
            let input = json!({ "i": { "mentorId": format!("bench-pay-mentor-{mentor:05}"), "frequency": "ONCE_WEEKLY",
                "slots": [slot], "subject": "Load", "weeks": 4 } });
            let t = Instant::now();
            let data = bench.gql(&student, CREATE, input).await?;
            let took = t.elapsed();
            let url = data["createBooking"]["payment"]["checkoutUrl"]
                .as_str()
                .ok_or_else(|| format!("no checkout URL: {data}"))?
                .to_string();
            Ok::<_, String>((took, url))
        });
    }
    let mut latencies = Vec::new();
    let mut checkouts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (took, url) = done.map_err(|e| e.to_string())??;
        latencies.push(took);
        checkouts.push(url.rsplit('/').next().unwrap_or_default().to_string());
    }
    let booking_time = started.elapsed();
    latencies.sort();
    println!(
        "createBooking to checkout URL ({bookings} bookings, {concurrency} at a time, {:.1} s): p50 {} p90 {} p99 {} max {}",
        booking_time.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
    );

    // Pay every checkout, renew each subscription, then deliver every event.
    for checkout in &checkouts {
        let subscription = stripe.pay(checkout);
        for _ in 0..renewals {
            stripe.renew(&subscription);
        }
    }
    let events = stripe.pending();
    stripe.deliver_nothing_yet();
    let total = events.len();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for event in events {
        let stripe = stripe.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _turn = gate.acquire().await.expect("open");
            stripe.send(&event).await
        });
    }
    let mut failed = 0;
    while let Some(status) = tasks.join_next().await {
        if status.map_err(|e| e.to_string())? != 200 {
            failed += 1;
        }
    }
    let took = started.elapsed();
    let per_second = total as f64 / took.as_secs_f64();
    println!(
        "signed webhooks: {total} events ({} bookings paid, {renewals} renewals each) applied in {:.2} s: {per_second:.0} per second, {failed} refused",
        checkouts.len(),
        took.as_secs_f64(),
    );
    if failed > 0 {
        return Err(format!("{failed} deliveries were not answered 200"));
    }
    let db = Database::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.query_one(Statement::from_string(db.get_database_backend(), sql))
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no row")?
                .try_get_by_index::<i64>(0)
                .map_err(|e| e.to_string())
        }
    };
    let confirmed = count(
        "SELECT COUNT(*) FROM bookings WHERE status = 'CONFIRMED' AND payment_status = 'PAID'",
    )
    .await?;
    let invoices = count("SELECT COUNT(*) FROM invoices").await?;
    println!("bookings confirmed and paid: {confirmed}; invoices recorded: {invoices}");
    if confirmed as usize != bookings || invoices as usize != bookings * (1 + renewals) {
        return Err("the events did not all land".into());
    }
    Ok(per_second)
}
