//! The job queue on real databases: enqueue in the caller's transaction, run_at, unique keys,
//! retries and dead jobs, lapsed leases, runners racing over one queue, and shutdown.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, TimeDelta, Utc};
use mentor_scheduler::auth::Role;
use mentor_scheduler::clock::{Clock, FixedClock};
use mentor_scheduler::config::Settings;
use mentor_scheduler::db::Db;
use mentor_scheduler::entity::{job, user};
use mentor_scheduler::jobs::{
    enqueue, enqueue_all, wakeup, DrainReport, EnqueueOptions, Job, JobBell, JobError, JobRunner,
    Registry, RunnerConfig,
};
use sea_orm::sea_query::{Alias, Expr, Query, UpdateStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::helpers::{default_now, fresh_postgres_database, say_skipped, Backend, TestApp};
use crate::on_both_backends;

const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// A guard against hanging forever, not a performance bound.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
struct Ping {
    n: u32,
}
impl Job for Ping {
    const KIND: &'static str = "test.ping";
}

/// The same kind with another shape: what an incompatible change to a job struct leaves queued.
#[derive(Serialize, Deserialize)]
struct PingReshaped {
    number: String,
}
impl Job for PingReshaped {
    const KIND: &'static str = "test.ping";
}

/// Succeeds, leaving a user's id for its kind's finisher to write with its completion.
#[derive(Serialize, Deserialize)]
struct Finishing {
    user_id: String,
}
impl Job for Finishing {
    const KIND: &'static str = "test.finishing";
}

/// Always fails in a way worth retrying.
#[derive(Serialize, Deserialize)]
struct Flaky {}
impl Job for Flaky {
    const KIND: &'static str = "test.flaky";
    const MAX_ATTEMPTS: i32 = 3;
}

/// Always fails for good.
#[derive(Serialize, Deserialize)]
struct Doomed {}
impl Job for Doomed {
    const KIND: &'static str = "test.doomed";
}

#[derive(Serialize, Deserialize)]
struct Panics {}
impl Job for Panics {
    const KIND: &'static str = "test.panics";
    const MAX_ATTEMPTS: i32 = 2;
}

/// Enqueues a `Ping` due now.
#[derive(Serialize, Deserialize)]
struct FanOut {
    n: u32,
}
impl Job for FanOut {
    const KIND: &'static str = "test.fan_out";
}

/// While it runs, another worker "claims" it (as after a lapsed lease).
#[derive(Serialize, Deserialize)]
struct Hijacked {}
impl Job for Hijacked {
    const KIND: &'static str = "test.hijacked";
}

/// Registered by no runner but one made for it.
#[derive(Serialize, Deserialize)]
struct Unknown {}
impl Job for Unknown {
    const KIND: &'static str = "test.unknown";
}

/// Waits for the test to release it.
#[derive(Serialize, Deserialize)]
struct Slow {}
impl Job for Slow {
    const KIND: &'static str = "test.slow";
}

/// Waits for as many others as there are workers.
#[derive(Serialize, Deserialize)]
struct Gathered {}
impl Job for Gathered {
    const KIND: &'static str = "test.gathered";
}

/// How many times each `Ping` ran, and on which runner.
#[derive(Clone, Default)]
struct Runs(Arc<Mutex<HashMap<u32, Vec<usize>>>>);

impl Runs {
    fn record(&self, n: u32, runner: usize) {
        self.0.lock().unwrap().entry(n).or_default().push(runner);
    }
    fn counts(&self) -> HashMap<u32, usize> {
        let runs = self.0.lock().unwrap();
        runs.iter().map(|(n, by)| (*n, by.len())).collect()
    }
    fn runners(&self) -> HashSet<usize> {
        let runs = self.0.lock().unwrap();
        runs.values().flatten().copied().collect()
    }
}

async fn doomed(_: Doomed) -> Result<(), JobError> {
    Err(JobError::permanent(anyhow!("the booking no longer exists")))
}

async fn flaky(_: Flaky) -> Result<(), JobError> {
    Err(anyhow!("the provider is down").into())
}

async fn panics(_: Panics) -> Result<(), JobError> {
    panic!("boom: a bug in the handler")
}

fn register_ping(registry: &mut Registry, runs: &Runs, runner: usize) {
    let runs = runs.clone();
    registry.register(move |job: Ping| {
        let runs = runs.clone();
        async move {
            // A real await, so jobs on one runner interleave.
            tokio::time::sleep(Duration::from_millis(1)).await;
            runs.record(job.n, runner);
            Ok(())
        }
    });
}

fn test_registry(db: &Db, clock: &FixedClock, runs: &Runs) -> Registry {
    let mut registry = Registry::new();
    register_ping(&mut registry, runs, 0);
    registry.register(flaky);
    registry.register(doomed);
    registry.register(panics);
    let (db_, clock) = (db.clone(), clock.clone());
    registry.register(move |job: FanOut| {
        let (db, now) = (db_.clone(), clock.now());
        async move {
            let tx = db.begin_write().await.map_err(anyhow::Error::from)?;
            enqueue(&tx.txn, now, &Ping { n: job.n }, EnqueueOptions::default())
                .await
                .map_err(anyhow::Error::from)?;
            tx.commit().await.map_err(anyhow::Error::from)?;
            Ok(())
        }
    });
    let db_ = db.clone();
    registry.register(move |_: Hijacked| {
        let db = db_.clone();
        async move {
            let tx = db.begin_write().await.map_err(anyhow::Error::from)?;
            job::Entity::update_many()
                .col_expr(
                    job::Column::Attempts,
                    Expr::col(job::Column::Attempts).add(1),
                )
                .filter(job::Column::Kind.eq(Hijacked::KIND))
                .exec(&tx.txn)
                .await
                .map_err(anyhow::Error::from)?;
            tx.commit().await.map_err(anyhow::Error::from)?;
            Ok(())
        }
    });
    registry
}

/// `Slow` jobs that say when they start and run until released.
fn register_slow(registry: &mut Registry) -> (Arc<Notify>, Arc<Notify>) {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (started_, release_) = (started.clone(), release.clone());
    registry.register(move |_: Slow| {
        let (started, release) = (started_.clone(), release_.clone());
        async move {
            started.notify_one();
            release.notified().await;
            Ok(())
        }
    });
    (started, release)
}

fn config() -> RunnerConfig {
    RunnerConfig {
        workers: 2,
        poll_interval: Duration::from_millis(5),
        lease: Duration::from_secs(60),
        backoff_base: BACKOFF_BASE,
        backoff_max: Duration::from_secs(60),
        batch_size: 4,
        retention: None,
    }
}

/// A runner over the app's database and clock with the test job kinds.
fn runner(app: &TestApp, runs: &Runs) -> JobRunner {
    let db = &app.services.db;
    JobRunner::new(
        db.clone(),
        Arc::new(app.clock.clone()),
        Arc::new(test_registry(db, &app.clock, runs)),
        config(),
    )
}

/// Enqueues in a transaction of its own.
async fn add<J: Job>(db: &Db, now: DateTime<Utc>, job: &J, opts: EnqueueOptions) -> Option<String> {
    let tx = db.begin_write().await.unwrap();
    let id = enqueue(&tx.txn, now, job, opts).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn at(run_at: DateTime<Utc>) -> EnqueueOptions {
    EnqueueOptions {
        run_at: Some(run_at),
        ..Default::default()
    }
}

fn keyed(key: &str) -> EnqueueOptions {
    EnqueueOptions {
        unique_key: Some(key.into()),
        ..Default::default()
    }
}

async fn row(db: &Db, id: &str) -> job::Model {
    job::Entity::find_by_id(id)
        .one(db.conn())
        .await
        .unwrap()
        .expect("the job row")
}

async fn count(db: &Db) -> u64 {
    job::Entity::find().count(db.conn()).await.unwrap()
}

async fn count_in(db: &Db, state: &str) -> u64 {
    job::Entity::find()
        .filter(job::Column::State.eq(state))
        .count(db.conn())
        .await
        .unwrap()
}

/// What a worker that claimed the job and then died leaves behind.
async fn set_running(db: &Db, id: &str, attempts: i32, locked_until: DateTime<Utc>) {
    let tx = db.begin_write().await.unwrap();
    job::ActiveModel {
        id: Set(id.into()),
        state: Set("running".into()),
        attempts: Set(attempts),
        locked_until: Set(Some(locked_until)),
        ..Default::default()
    }
    .update(&tx.txn)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn report(succeeded: usize, retried: usize, dead: usize) -> DrainReport {
    DrainReport {
        succeeded,
        retried,
        dead,
        postponed: 0,
    }
}

fn none() -> DrainReport {
    DrainReport::default()
}

fn millis(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

on_both_backends! {
    async fn a_job_enqueued_in_a_rolled_back_transaction_never_exists(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();

        let tx = db.begin_write().await.unwrap();
        let id = enqueue(&tx.txn, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();
        assert!(id.is_some());
        drop(tx); // rolled back, as when the business write fails
        assert_eq!(count(db).await, 0);
        assert_eq!(jobs.drain().await.unwrap(), none());

        let id = add(db, now, &Ping { n: 2 }, EnqueueOptions::default()).await.expect("queued");
        let queued = row(db, &id).await;
        assert_eq!(
            (queued.kind.as_str(), queued.payload.as_str(), queued.state.as_str()),
            ("test.ping", r#"{"n":2}"#, "queued")
        );
        assert_eq!(jobs.drain().await.unwrap(), report(1, 0, 0));
        assert_eq!(jobs.drain().await.unwrap(), none(), "a done job does not run again");
        assert_eq!(runs.counts(), HashMap::from([(2, 1)]));
        let done = row(db, &id).await;
        assert_eq!((done.state.as_str(), done.attempts), ("done", 1));
        assert_eq!((done.finished_at, done.locked_until), (Some(now), None));
    }

    async fn a_job_waits_for_its_run_at(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let later = now + TimeDelta::hours(1);
        add(db, now, &Ping { n: 1 }, at(later)).await.unwrap();

        assert_eq!(jobs.drain().await.unwrap(), none());
        app.clock.set(later - millis(1));
        assert_eq!(jobs.drain().await.unwrap(), none());
        app.clock.set(later);
        assert_eq!(jobs.drain().await.unwrap(), report(1, 0, 0));
        assert_eq!(runs.counts(), HashMap::from([(1, 1)]));
    }

    async fn a_unique_key_holds_while_its_job_is_queued_or_running(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let first = add(db, now, &Ping { n: 1 }, keyed("reminder:s1")).await.expect("first");

        // The skipped insert leaves the caller's transaction usable (PostgreSQL: not aborted).
        let tx = db.begin_write().await.unwrap();
        assert_eq!(enqueue(&tx.txn, now, &Ping { n: 2 }, keyed("reminder:s1")).await.unwrap(), None);
        let other = enqueue(&tx.txn, now, &Ping { n: 3 }, keyed("reminder:s2")).await.unwrap();
        assert!(other.is_some(), "another key is another job");
        tx.commit().await.unwrap();
        assert_eq!(count(db).await, 2);

        // Running (claimed by a worker) holds the key too.
        set_running(db, &first, 1, now + TimeDelta::minutes(1)).await;
        assert_eq!(add(db, now, &Ping { n: 4 }, keyed("reminder:s1")).await, None);

        app.clock.set(now + TimeDelta::minutes(2)); // the lease lapses; the job runs
        assert_eq!(jobs.drain().await.unwrap(), report(2, 0, 0));
        assert_eq!(runs.counts(), HashMap::from([(1, 1), (3, 1)]));
        let again = add(db, now, &Ping { n: 5 }, keyed("reminder:s1")).await;
        assert!(again.is_some() && again.as_ref() != Some(&first), "free again once done");
    }

    async fn a_retried_job_backs_off_further_each_time_then_dies(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let mut now = app.clock.now();
        let id = add(db, now, &Flaky {}, EnqueueOptions::default()).await.unwrap();

        let mut waits = Vec::new();
        for attempt in 1..=2 {
            assert_eq!(jobs.drain().await.unwrap(), report(0, 1, 0), "attempt {attempt}");
            let job = row(db, &id).await;
            assert_eq!((job.state.as_str(), job.attempts), ("queued", attempt));
            assert!(job.last_error.as_deref().unwrap().contains("the provider is down"));
            assert_eq!(job.locked_until, None);
            let wait = (job.run_at - now).to_std().unwrap();
            let ceiling = BACKOFF_BASE * 2u32.pow(attempt as u32 - 1);
            assert!(
                wait + Duration::from_millis(1) >= ceiling / 2 && wait <= ceiling,
                "attempt {attempt}: waited {wait:?}, ceiling {ceiling:?}"
            );
            waits.push(wait);
            app.clock.set(job.run_at - millis(1));
            assert_eq!(jobs.drain().await.unwrap(), none(), "not before its run_at");
            now = job.run_at;
            app.clock.set(now);
        }
        assert!(waits[1] >= waits[0], "{waits:?}");

        assert_eq!(jobs.drain().await.unwrap(), report(0, 0, 1));
        let dead = row(db, &id).await;
        assert_eq!((dead.state.as_str(), dead.attempts), ("dead", 3));
        assert_eq!((dead.finished_at, dead.locked_until), (Some(now), None));
        let error = dead.last_error.unwrap();
        assert!(error.contains("gave up after 3 attempts") && error.contains("the provider is down"), "{error}");
        app.clock.set(now + TimeDelta::days(1));
        assert_eq!(jobs.drain().await.unwrap(), none(), "dead stays dead");
    }

    async fn permanent_failures_and_unreadable_payloads_are_dead_at_once(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let doomed = add(db, now, &Doomed {}, EnqueueOptions::default()).await.unwrap();
        let reshaped = add(db, now, &PingReshaped { number: "one".into() }, EnqueueOptions::default()).await.unwrap();

        assert_eq!(jobs.drain().await.unwrap(), report(0, 0, 2));
        let doomed = row(db, &doomed).await;
        assert_eq!((doomed.state.as_str(), doomed.attempts), ("dead", 1));
        assert!(doomed.last_error.unwrap().contains("the booking no longer exists"));
        let reshaped = row(db, &reshaped).await;
        assert_eq!((reshaped.state.as_str(), reshaped.attempts), ("dead", 1));
        let error = reshaped.last_error.unwrap();
        assert!(error.contains("payload is not a valid \"test.ping\" job") && error.contains("missing field `n`"), "{error}");
        assert!(runs.counts().is_empty());
    }

    async fn a_panicking_handler_is_retried_and_the_runner_carries_on(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let id = add(db, now - millis(1), &Panics {}, at(now - millis(1))).await.unwrap();
        add(db, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();

        assert_eq!(jobs.drain().await.unwrap(), report(1, 1, 0));
        let job = row(db, &id).await;
        assert_eq!((job.state.as_str(), job.attempts), ("queued", 1));
        assert!(job.last_error.unwrap().contains("panicked: boom"));
        app.clock.set(job.run_at);
        assert_eq!(jobs.drain().await.unwrap(), report(0, 0, 1), "MAX_ATTEMPTS is 2");
    }

    async fn jobs_of_an_unregistered_kind_are_left_queued(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let id = add(db, now, &Unknown {}, EnqueueOptions::default()).await.unwrap();

        assert_eq!(jobs.drain().await.unwrap(), none());
        let job = row(db, &id).await;
        assert_eq!((job.state.as_str(), job.attempts, job.last_error), ("queued", 0, None));

        // A runner that knows the kind (a newer release) takes it.
        let mut registry = Registry::new();
        registry.register(|_: Unknown| async { Ok(()) });
        let newer = JobRunner::new(db.clone(), Arc::new(app.clock.clone()), Arc::new(registry), config());
        assert_eq!(newer.drain().await.unwrap(), report(1, 0, 0));
    }

    async fn a_running_job_whose_lease_lapsed_is_claimed_again(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let id = add(db, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();
        let lease_end = now + TimeDelta::minutes(1);
        set_running(db, &id, 1, lease_end).await; // its worker died

        assert_eq!(jobs.drain().await.unwrap(), none(), "a live lease is respected");
        app.clock.set(lease_end);
        assert_eq!(jobs.drain().await.unwrap(), none(), "the lease lasts until its end");
        app.clock.set(lease_end + millis(1));
        // That runner found no lapsed lease a millisecond ago: it looks again a second after.
        assert_eq!(jobs.drain().await.unwrap(), none(), "looked for lapsed leases a moment ago");
        let other = runner(&app, &runs);
        assert_eq!(other.drain().await.unwrap(), report(1, 0, 0), "a runner yet to look takes it");
        let job = row(db, &id).await;
        assert_eq!((job.state.as_str(), job.attempts), ("done", 2));
        assert_eq!(runs.counts(), HashMap::from([(1, 1)]));

        // The first runner's next look, a second after the one that found none.
        let next = add(db, now, &Ping { n: 2 }, EnqueueOptions::default()).await.unwrap();
        set_running(db, &next, 1, lease_end + millis(500)).await;
        app.clock.set(lease_end + millis(999));
        assert_eq!(jobs.drain().await.unwrap(), none(), "not yet a second since its last look");
        app.clock.set(lease_end + millis(1000));
        assert_eq!(jobs.drain().await.unwrap(), report(1, 0, 0), "a second since its last look");
        assert_eq!(row(db, &next).await.state.as_str(), "done");

        // A clock that went back (set by hand, or a node's clock corrected) looks at once.
        let third = add(db, now, &Ping { n: 3 }, EnqueueOptions::default()).await.unwrap();
        set_running(db, &third, 1, lease_end + millis(100)).await;
        app.clock.set(lease_end + millis(200));
        assert_eq!(jobs.drain().await.unwrap(), report(1, 0, 0), "the clock went back");
    }

    async fn a_job_whose_worker_died_on_its_last_attempt_is_dead(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let id = add(db, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();
        set_running(db, &id, Ping::MAX_ATTEMPTS, now - millis(1)).await;

        assert_eq!(jobs.drain().await.unwrap(), report(0, 0, 1));
        let job = row(db, &id).await;
        assert_eq!((job.state.as_str(), job.attempts), ("dead", Ping::MAX_ATTEMPTS + 1));
        assert!(job.last_error.unwrap().contains("stopped renewing the lease"));
        assert!(runs.counts().is_empty(), "not run again");
    }

    async fn a_worker_that_lost_its_claim_does_not_overwrite_the_newer_one(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        let now = app.clock.now();
        let id = add(db, now, &Hijacked {}, EnqueueOptions::default()).await.unwrap();

        // The handler succeeds, but meanwhile another claim (attempt 2) took the job over.
        assert_eq!(jobs.drain().await.unwrap(), none(), "the stale result is not counted");
        let job = row(db, &id).await;
        assert_eq!((job.state.as_str(), job.attempts, job.finished_at), ("running", 2, None));
    }

    async fn what_a_job_finished_with_commits_with_its_completion_or_not_at_all(app) {
        app.user("ckfinishinguser000000001", Role::Student, "UTC").await;
        let db = &app.services.db;
        let runner_with = |finisher: fn(DbBackend, &[String], DateTime<Utc>) -> UpdateStatement| {
            let mut registry = Registry::new();
            registry.register_finishing(|job: Finishing| async move { Ok(Some(job.user_id)) }, finisher);
            JobRunner::new(db.clone(), Arc::new(app.clock.clone()), Arc::new(registry), config())
        };
        let renames = |_: DbBackend, ids: &[String], _: DateTime<Utc>| {
            Query::update().table(user::Entity).value(user::Column::Name, "finished").and_where(user::Column::Id.is_in(ids.iter().cloned())).to_owned()
        };
        let breaks = |_: DbBackend, ids: &[String], _: DateTime<Utc>| {
            Query::update().table(Alias::new("no_such_table")).value(Alias::new("name"), "x").and_where(Expr::col(Alias::new("id")).is_in(ids.iter().cloned())).to_owned()
        };
        let job = Finishing { user_id: "ckfinishinguser000000001".into() };

        // A finisher that fails takes the completion down with it: the job is still running (its
        // lease will lapse and it runs again), nothing is half written.
        let id = add(db, app.clock.now(), &job, EnqueueOptions::default()).await.unwrap();
        assert!(runner_with(breaks).drain().await.is_err());
        assert_eq!(row(db, &id).await.state.as_str(), "running");

        let id = add(db, app.clock.now(), &job, EnqueueOptions::default()).await.unwrap();
        assert_eq!(runner_with(renames).drain().await.unwrap(), report(1, 0, 0));
        assert_eq!(row(db, &id).await.state.as_str(), "done");
        let name = user::Entity::find_by_id("ckfinishinguser000000001").one(db.conn()).await.unwrap().unwrap().name;
        assert_eq!(name, "finished");
    }

    async fn a_job_enqueued_by_a_job_runs_in_the_same_drain(app) {
        let runs = Runs::default();
        let jobs = runner(&app, &runs);
        let db = &app.services.db;
        add(db, app.clock.now(), &FanOut { n: 7 }, EnqueueOptions::default()).await.unwrap();

        assert_eq!(jobs.drain().await.unwrap(), report(2, 0, 0));
        assert_eq!(runs.counts(), HashMap::from([(7, 1)]));
        assert_eq!(count_in(db, "done").await, 2);
    }

    async fn shutdown_lets_the_running_job_finish_and_claims_nothing_more(app) {
        let runs = Runs::default();
        let db = &app.services.db;
        let now = app.clock.now();
        let mut registry = Registry::new();
        register_ping(&mut registry, &runs, 0);
        let (started, release) = register_slow(&mut registry);
        let jobs = JobRunner::new(
            db.clone(),
            Arc::new(app.clock.clone()),
            Arc::new(registry),
            RunnerConfig { workers: 1, ..config() },
        );
        let slow = add(db, now, &Slow {}, at(now - millis(1))).await.unwrap();
        let ping = add(db, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();

        let (stop, stopped) = watch::channel(false);
        let runner = jobs.start(stopped);
        tokio::time::timeout(PATIENCE, started.notified()).await.expect("the slow job starts");
        stop.send(true).unwrap();
        let mut runner = runner;
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut runner).await.is_err(),
            "the runner waits for the job in flight"
        );
        release.notify_one();
        tokio::time::timeout(PATIENCE, runner).await.expect("the runner stops").unwrap();

        assert_eq!(row(db, &slow).await.state, "done", "the job in flight finished");
        let ping = row(db, &ping).await;
        assert_eq!((ping.state.as_str(), ping.attempts), ("queued", 0), "nothing claimed after the signal");
        assert!(runs.counts().is_empty());
    }

    async fn a_runner_stopped_while_it_sweeps_still_records_the_job_in_flight(app) {
        let db = &app.services.db;
        let now = app.clock.now();
        // A thousand jobs finished a month ago, for the idle runner's first sweep to delete (on
        // SQLite, holding the write gate a few milliseconds).
        let tx = db.begin_write().await.unwrap();
        let old: Vec<Ping> = (0..1000).map(|n| Ping { n }).collect();
        let month_ago = now - TimeDelta::days(30);
        enqueue_all(&tx.txn, month_ago, old.iter().map(|job| (job, EnqueueOptions::default()))).await.unwrap();
        job::Entity::update_many()
            .col_expr(job::Column::State, Expr::value("done"))
            .col_expr(job::Column::FinishedAt, Expr::value(month_ago))
            .exec(&tx.txn)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut registry = Registry::new();
        let (started, release) = register_slow(&mut registry);
        let jobs = JobRunner::new(
            db.clone(),
            Arc::new(app.clock.clone()),
            Arc::new(registry),
            RunnerConfig { workers: 1, retention: Some(Duration::from_secs(3600)), ..config() },
        );
        let slow = add(db, now, &Slow {}, EnqueueOptions::default()).await.unwrap();
        // The claim finds fewer jobs than it asked for, so the runner sweeps while the job runs;
        // the stop comes in the middle of that sweep.
        let (stop, stopped) = watch::channel(false);
        let runner = jobs.start(stopped);
        tokio::time::timeout(PATIENCE, started.notified()).await.expect("the slow job starts");
        stop.send(true).unwrap();
        release.notify_one();
        tokio::time::timeout(PATIENCE, runner).await.expect("the runner stops").unwrap();
        assert_eq!(row(db, &slow).await.state, "done", "the job in flight was recorded");
    }

    async fn the_workers_bound_the_handlers_running_at_once(app) {
        const WORKERS: usize = 3;
        const JOBS: usize = 5 * WORKERS;
        let db = &app.services.db;
        let barrier = Arc::new(tokio::sync::Barrier::new(WORKERS));
        let (running, peak, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let all_finished = Arc::new(Notify::new());
        let mut registry = Registry::new();
        {
            let (barrier, running, peak, finished, all_finished) = (barrier.clone(), running.clone(), peak.clone(), finished.clone(), all_finished.clone());
            registry.register(move |_: Gathered| {
                let (barrier, running, peak, finished, all_finished) = (barrier.clone(), running.clone(), peak.clone(), finished.clone(), all_finished.clone());
                async move {
                    peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    // None gets past until every worker runs one: fewer would wait forever.
                    barrier.wait().await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    if finished.fetch_add(1, Ordering::SeqCst) + 1 == JOBS {
                        all_finished.notify_one();
                    }
                    Ok(())
                }
            });
        }
        let jobs = JobRunner::new(db.clone(), Arc::new(app.clock.clone()), Arc::new(registry), RunnerConfig { workers: WORKERS, batch_size: 16, ..config() });
        let tx = db.begin_write().await.unwrap();
        let many: Vec<Gathered> = (0..JOBS).map(|_| Gathered {}).collect();
        enqueue_all(&tx.txn, app.clock.now(), many.iter().map(|job| (job, EnqueueOptions::default()))).await.unwrap();
        tx.commit().await.unwrap();

        let (stop, stopped) = watch::channel(false);
        let runner = jobs.start(stopped);
        tokio::time::timeout(PATIENCE, all_finished.notified()).await.expect("every job runs");
        stop.send(true).unwrap();
        tokio::time::timeout(PATIENCE, runner).await.expect("the runner stops").unwrap();
        assert_eq!(peak.load(Ordering::SeqCst), WORKERS, "never more handlers at once than workers");
        assert_eq!(count_in(db, "done").await, JOBS as u64, "each result recorded before the runner stopped");
    }

    async fn jobs_claimed_together_are_prefetched_together_before_any_of_them_runs(app) {
        const JOBS: u32 = 10;
        let db = &app.services.db;
        let prefetched: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let (ran, ran_unprefetched) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let all_ran = Arc::new(Notify::new());
        let mut registry = Registry::new();
        {
            let prefetched = prefetched.clone();
            registry.prefetch_with(move |jobs: Vec<Ping>| {
                let mut batch: Vec<u32> = jobs.iter().map(|job| job.n).collect();
                batch.sort_unstable();
                prefetched.lock().unwrap().push(batch);
            });
        }
        {
            let (prefetched, ran, ran_unprefetched, all_ran) = (prefetched.clone(), ran.clone(), ran_unprefetched.clone(), all_ran.clone());
            registry.register(move |job: Ping| {
                if !prefetched.lock().unwrap().iter().flatten().any(|n| *n == job.n) {
                    ran_unprefetched.fetch_add(1, Ordering::SeqCst);
                }
                let (ran, all_ran) = (ran.clone(), all_ran.clone());
                async move {
                    if ran.fetch_add(1, Ordering::SeqCst) + 1 == JOBS as usize {
                        all_ran.notify_one();
                    }
                    Ok(())
                }
            });
        }
        let tx = db.begin_write().await.unwrap();
        let pings: Vec<Ping> = (1..=JOBS).map(|n| Ping { n }).collect();
        enqueue_all(&tx.txn, app.clock.now(), pings.iter().map(|job| (job, EnqueueOptions::default()))).await.unwrap();
        tx.commit().await.unwrap();
        // Two workers and eight claimed ahead (at most four a worker): the first claim takes all ten.
        let jobs = JobRunner::new(db.clone(), Arc::new(app.clock.clone()), Arc::new(registry), RunnerConfig { workers: 2, batch_size: 32, ..config() });
        let (stop, stopped) = watch::channel(false);
        let runner = jobs.start(stopped);
        tokio::time::timeout(PATIENCE, all_ran.notified()).await.expect("every job runs");
        stop.send(true).unwrap();
        tokio::time::timeout(PATIENCE, runner).await.expect("the runner stops").unwrap();
        assert_eq!(*prefetched.lock().unwrap(), vec![(1..=JOBS).collect::<Vec<_>>()], "one prefetch for the claim's ten");
        assert_eq!(ran_unprefetched.load(Ordering::SeqCst), 0, "none ran before its prefetch");
        assert_eq!(count_in(db, "done").await, u64::from(JOBS));
    }

    async fn a_payload_that_does_not_parse_is_left_out_of_its_prefetch(app) {
        let db = &app.services.db;
        let now = app.clock.now();
        let prefetched: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let mut registry = Registry::new();
        {
            let prefetched = prefetched.clone();
            registry.prefetch_with(move |jobs: Vec<Ping>| {
                prefetched.lock().unwrap().push(jobs.iter().map(|job| job.n).collect());
            });
        }
        registry.register(|_: Ping| async { Ok(()) });
        let jobs = JobRunner::new(db.clone(), Arc::new(app.clock.clone()), Arc::new(registry), config());
        // Claimed one at a time, the reshaped one first: its claim prefetches nothing at all.
        add(db, now, &PingReshaped { number: "seven".into() }, EnqueueOptions::default()).await.unwrap();
        add(db, now, &Ping { n: 7 }, EnqueueOptions::default()).await.unwrap();
        assert_eq!(jobs.drain().await.unwrap(), report(1, 0, 1), "the unreadable job dies as it runs");
        assert_eq!(*prefetched.lock().unwrap(), vec![vec![7]]);
    }

    async fn a_job_claimed_ahead_whose_lease_lapsed_is_not_run_twice(app) {
        let runs = Runs::default();
        let db = &app.services.db;
        let now = app.clock.now();
        let mut registry = Registry::new();
        register_ping(&mut registry, &runs, 0);
        let (started, release) = register_slow(&mut registry);
        let lease = Duration::from_secs(6);
        let one = JobRunner::new(db.clone(), Arc::new(app.clock.clone()), Arc::new(registry), RunnerConfig { workers: 1, lease, ..config() });
        add(db, now, &Slow {}, at(now - millis(1))).await.unwrap();
        let ping = add(db, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();
        let (stop, stopped) = watch::channel(false);
        let runner = one.start(stopped);
        tokio::time::timeout(PATIENCE, started.notified()).await.expect("the slow job starts");
        // The ping was claimed ahead (one worker, busy). Its lease lapses while it waits, and
        // another runner takes it over and runs it.
        assert_eq!(row(db, &ping).await.state, "running");
        app.clock.set(now + millis(7000));
        let mut other = Registry::new();
        register_ping(&mut other, &runs, 1);
        let two = JobRunner::new(db.clone(), Arc::new(app.clock.clone()), Arc::new(other), RunnerConfig { workers: 1, lease, ..config() });
        assert_eq!(two.drain().await.unwrap().succeeded, 1);
        // The first runner, freed, finds its claim gone and does not run the ping again; it runs
        // the next job (queued behind it, so done only after the ping was dealt with).
        let next = add(db, app.clock.now(), &Ping { n: 2 }, EnqueueOptions::default()).await.unwrap();
        release.notify_one();
        tokio::time::timeout(PATIENCE, async {
            while row(db, &next).await.state != "done" {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }).await.unwrap();
        stop.send(true).unwrap();
        tokio::time::timeout(PATIENCE, runner).await.expect("the runner stops").unwrap();
        assert_eq!(runs.0.lock().unwrap().get(&2).cloned(), Some(vec![0]));
        assert_eq!(runs.0.lock().unwrap().get(&1).cloned(), Some(vec![1]), "run once, by the runner that took it over");
    }

    async fn an_idle_runner_waits_for_the_next_job_due_and_no_longer(app) {
        let runs = Runs::default();
        let db = &app.services.db;
        let now = app.clock.now();
        let jobs = JobRunner::new(
            db.clone(),
            Arc::new(app.clock.clone()),
            Arc::new(test_registry(db, &app.clock, &runs)),
            RunnerConfig { poll_interval: Duration::from_secs(3600), ..config() },
        );
        assert_eq!(jobs.idle_wait().await, Duration::from_secs(3600), "nothing queued: the poll");
        add(db, now, &Ping { n: 1 }, at(now + TimeDelta::seconds(2))).await.unwrap();
        assert_eq!(jobs.idle_wait().await, Duration::from_secs(2), "until the next one is due");
        add(db, now, &Ping { n: 2 }, at(now - TimeDelta::seconds(1))).await.unwrap();
        assert_eq!(jobs.idle_wait().await, Duration::from_millis(1), "one overdue: at once");
    }

    async fn finished_jobs_go_after_their_retention_and_dead_ones_stay(app) {
        let runs = Runs::default();
        let db = &app.services.db;
        let now = app.clock.now();
        let jobs = JobRunner::new(
            db.clone(),
            Arc::new(app.clock.clone()),
            Arc::new(test_registry(db, &app.clock, &runs)),
            RunnerConfig { retention: Some(Duration::from_secs(3600)), ..config() },
        );
        add(db, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();
        add(db, now, &Doomed {}, EnqueueOptions::default()).await.unwrap();
        jobs.drain().await.unwrap();
        app.clock.set(now + TimeDelta::minutes(30));
        add(db, app.clock.now(), &Ping { n: 2 }, EnqueueOptions::default()).await.unwrap();
        jobs.drain().await.unwrap();
        assert_eq!((count_in(db, "done").await, count_in(db, "dead").await), (2, 1));
        // An hour and a half on: the first ping's hour is over, the second's is not.
        app.clock.set(now + TimeDelta::minutes(90));
        assert_eq!(jobs.sweep().await.unwrap(), 1);
        assert_eq!((count_in(db, "done").await, count_in(db, "dead").await), (1, 1), "the dead one stays");
        // Without a retention nothing goes.
        app.clock.set(now + TimeDelta::days(30));
        let keeping = JobRunner::new(
            db.clone(),
            Arc::new(app.clock.clone()),
            Arc::new(test_registry(db, &app.clock, &runs)),
            config(),
        );
        assert_eq!(keeping.sweep().await.unwrap(), 0);
    }

    async fn admins_see_dead_jobs_and_clear_them(app) {
        let runs = Runs::default();
        let db = &app.services.db;
        let now = app.clock.now();
        let doomed = add(db, now, &Doomed {}, EnqueueOptions::default()).await.unwrap();
        let done = add(db, now, &Ping { n: 1 }, EnqueueOptions::default()).await.unwrap();
        runner(&app, &runs).drain().await.unwrap();
        let admin = app.user("cljobsadmin0000000000001", Role::Admin, "UTC").await;
        let listed = app.ok(&admin, "{ deadJobs { id kind attempts lastError finishedAt } }", json!({})).await;
        let dead = listed["deadJobs"].as_array().unwrap();
        assert_eq!(dead.len(), 1, "{listed}");
        assert_eq!((dead[0]["id"].as_str(), dead[0]["kind"].as_str()), (Some(doomed.as_str()), Some(Doomed::KIND)));
        assert!(dead[0]["lastError"].as_str().is_some_and(|e| !e.is_empty()));
        // Others may not look; silly sizes are refused.
        let student = app.user("cljobsstudent00000000001", Role::Student, "UTC").await;
        let refused = app.gql(Some(&student), "{ deadJobs { id } }", json!({})).await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
        let huge = app.gql(Some(&admin), "{ deadJobs(first: 100000) { id } }", json!({})).await;
        assert_eq!(huge["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{huge}");
        // Clearing takes only dead jobs: the done one named with it stays.
        let cleared = app.ok(&admin, "mutation($ids: [ID!]!) { clearDeadJobs(ids: $ids) }", json!({ "ids": [doomed, done] })).await;
        assert_eq!(cleared["clearDeadJobs"], 1);
        assert_eq!((count_in(db, "dead").await, count_in(db, "done").await), (0, 1));
    }

    async fn the_app_runs_no_background_workers_in_tests(app) {
        assert_eq!(app.jobs.config().workers, 0);
        assert_eq!(app.jobs.drain().await.unwrap(), none());
    }
}

/// `runners` race over 200 due jobs until all are done; each must run exactly once.
async fn race(setup: &Db, runners: Vec<Db>) {
    let clock = FixedClock::new(default_now());
    let now = clock.now();
    let tx = setup.begin_write().await.unwrap();
    for n in 0..200 {
        enqueue(&tx.txn, now, &Ping { n }, EnqueueOptions::default())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let runs = Runs::default();
    let (stop, stopped) = watch::channel(false);
    let handles: Vec<_> = runners
        .into_iter()
        .enumerate()
        .map(|(i, db)| {
            let mut registry = Registry::new();
            register_ping(&mut registry, &runs, i);
            let config = RunnerConfig {
                workers: 4,
                ..config()
            };
            JobRunner::new(db, Arc::new(clock.clone()), Arc::new(registry), config)
                .start(stopped.clone())
        })
        .collect();
    let all_done = async {
        while count_in(setup, "done").await < 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(PATIENCE, all_done).await.is_err() {
        panic!(
            "not all done: {} queued, {} running",
            count_in(setup, "queued").await,
            count_in(setup, "running").await
        );
    }
    stop.send(true).unwrap();
    for handle in handles {
        handle.await.unwrap();
    }

    let counts = runs.counts();
    assert_eq!(counts.len(), 200);
    let repeated: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).collect();
    assert!(repeated.is_empty(), "ran more than once: {repeated:?}");
    assert_eq!(count_in(setup, "done").await, count(setup).await);
    assert!(runs.runners().len() > 1, "the runners shared the work");
}

mod several_runners_run_each_job_exactly_once {
    use super::*;

    /// One process: the runners share one pool and the SQLite write gate.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
        let db = app.services.db.clone();
        race(&db, vec![db.clone(); 4]).await;
    }

    /// Like separate processes: each runner has its own connection pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(url) = fresh_postgres_database().await else {
            return say_skipped(concat!(module_path!(), "::postgres"));
        };
        let settings = Settings::from_lookup(|key| match key {
            "DATABASE_URL" => Some(url.clone()),
            "DB_MAX_CONNECTIONS" => Some("4".into()),
            _ => None,
        })
        .unwrap();
        let setup = Db::connect(&settings).await.unwrap();
        setup.migrate().await.unwrap();
        let mut runners = Vec::new();
        for _ in 0..4 {
            runners.push(Db::connect(&settings).await.unwrap());
        }
        race(&setup, runners).await;
    }
}

/// On PostgreSQL, work queued from another connection (another node) rings the listening
/// process's bell, so its idle runners claim it without waiting for their poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_queued_on_another_node_rings_the_bell_on_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        say_skipped("work_queued_on_another_node_rings_the_bell_on_postgres");
        return;
    };
    let db = &app.services.db;
    let bell = JobBell::default();
    let (_stop, stopped) = watch::channel(false);
    let listening = wakeup::listen(db.conn(), bell.clone(), stopped).await;
    assert!(listening.is_some(), "PostgreSQL listens");
    add(
        db,
        app.clock.now(),
        &Ping { n: 1 },
        EnqueueOptions::default(),
    )
    .await
    .unwrap();
    tokio::time::timeout(PATIENCE, bell.rung())
        .await
        .expect("the notification rang the bell");
}

/// A runner with one worker and `lease` over the app's database and clock, running `registry`.
fn one_worker(app: &TestApp, registry: Registry, lease: Duration) -> JobRunner {
    let config = RunnerConfig {
        workers: 1,
        lease,
        ..config()
    };
    JobRunner::new(
        app.services.db.clone(),
        Arc::new(app.clock.clone()),
        Arc::new(registry),
        config,
    )
}

/// Makes every statement that marks jobs done (on this PostgreSQL database) wait until the
/// transaction returned ends. A statement trigger, not a row trigger: PostgreSQL locks a row before
/// its row triggers run, and claims (`SKIP LOCKED`) would then pass over it whatever the runner did.
async fn hold_completions(conn: &sea_orm::DatabaseConnection) -> sea_orm::DatabaseTransaction {
    conn.execute_unprepared(
        "CREATE FUNCTION hold_done() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF current_query() LIKE '%\"finished_at\" =%' THEN PERFORM pg_advisory_xact_lock(4242); \
         END IF; RETURN NULL; END $$; \
         CREATE TRIGGER hold_done BEFORE UPDATE ON jobs FOR EACH STATEMENT \
         EXECUTE FUNCTION hold_done()",
    )
    .await
    .unwrap();
    let holder = conn.begin().await.unwrap();
    holder
        .execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();
    holder
}

/// On PostgreSQL: a worker's turn goes on to the next job when its handler returns, while the
/// result is recorded; a job still being recorded is not claimed again by its own runner, even
/// with its lease lapsed meanwhile. The test holds the recording back ([`hold_completions`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_still_being_recorded_is_not_claimed_again_by_its_runner_on_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        say_skipped("a_job_still_being_recorded_is_not_claimed_again_by_its_runner_on_postgres");
        return;
    };
    let db = &app.services.db;
    let conn = db.conn();
    let holder = hold_completions(conn).await;

    let runs = Runs::default();
    let now = app.clock.now();
    let mut registry = Registry::new();
    register_ping(&mut registry, &runs, 0);
    let (started, release) = register_slow(&mut registry);
    // Long enough that the running job's heartbeat (every third of it) cannot renew it first.
    let runner = one_worker(&app, registry, Duration::from_secs(30));
    let slow = add(db, now, &Slow {}, EnqueueOptions::default())
        .await
        .unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = runner.start(stopped);
    tokio::time::timeout(PATIENCE, started.notified())
        .await
        .expect("the slow job starts");
    // Its lease lapses while it runs; a ping is queued behind it.
    app.clock.set(now + millis(31_000));
    let ping = add(
        db,
        app.clock.now(),
        &Ping { n: 1 },
        EnqueueOptions::default(),
    )
    .await
    .unwrap();
    release.notify_one();
    // The slow job's result waits for the lock (so will the ping's); its worker (the only one)
    // runs the ping meanwhile.
    // Were the slow job claimed again, that worker would be stuck in its second run.
    tokio::time::timeout(PATIENCE, async {
        while !runs.counts().contains_key(&1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the ping ran while the slow job's result was being recorded");
    let held = row(db, &slow).await;
    assert_eq!(
        (held.state.as_str(), held.attempts),
        ("running", 1),
        "claimed once, not yet recorded"
    );
    holder.rollback().await.unwrap();
    tokio::time::timeout(PATIENCE, async {
        while row(db, &slow).await.state != "done" || row(db, &ping).await.state != "done" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("both results recorded once the lock is let go");
    assert_eq!(row(db, &slow).await.attempts, 1, "the slow job ran once");
    stop.send(true).unwrap();
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("the runner stops")
        .unwrap();
    assert_eq!(runs.counts(), HashMap::from([(1, 1)]));
}

/// What a job finished with commits with its completion: until then its worker keeps renewing the
/// lease, so a slow recording never lets another runner take the job over and do it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_being_recorded_keeps_its_lease_on_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        say_skipped("a_job_being_recorded_keeps_its_lease_on_postgres");
        return;
    };
    let db = &app.services.db;
    let conn = db.conn();
    let holder = hold_completions(conn).await;

    let runs = Runs::default();
    let mut registry = Registry::new();
    register_ping(&mut registry, &runs, 0);
    // Renewed every 100 ms of real time, each time to the (fixed) clock's now plus the lease.
    let lease = Duration::from_millis(300);
    let runner = one_worker(&app, registry, lease);
    let ping = add(
        db,
        app.clock.now(),
        &Ping { n: 1 },
        EnqueueOptions::default(),
    )
    .await
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = runner.start(stopped);
    tokio::time::timeout(PATIENCE, async {
        while !runs.counts().contains_key(&1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the ping ran");
    // Its result waits for the lock. Time moves on: the lease is renewed from the new now.
    let later = app.clock.now() + millis(10_000);
    app.clock.set(later);
    let renewed = later + TimeDelta::from_std(lease).unwrap();
    tokio::time::timeout(PATIENCE, async {
        while row(db, &ping).await.locked_until != Some(renewed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the lease renewed while the result waits to be recorded");
    assert_eq!(row(db, &ping).await.state, "running");
    holder.rollback().await.unwrap();
    tokio::time::timeout(PATIENCE, async {
        while row(db, &ping).await.state != "done" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("recorded once the lock is let go");
    stop.send(true).unwrap();
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("the runner stops")
        .unwrap();
    assert_eq!(runs.counts(), HashMap::from([(1, 1)]));
}
