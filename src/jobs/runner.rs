//! Runs queued jobs: a pool of workers in the background until shutdown, or `drain` in the
//! caller's task (tests, one-off commands).

use std::any::Any;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::FutureExt as _;
use sea_orm::{ConnectionTrait, DbErr};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::bell::JobBell;
use super::job::JobError;
use super::registry::{Finish, Registry};
use super::{backoff, queue};
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::batched::Batched;
use crate::db::Db;
use crate::entity::job;
use crate::error::AppError;

/// Longest `last_error` kept, in bytes.
const MAX_ERROR_LEN: usize = 4000;

/// How often an idle runner deletes finished jobs past their retention, and how many at a time.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const SWEEP_BATCH: u64 = 1000;

/// How often a runner's claims look for jobs whose lease lapsed (a dead worker's), once a look
/// found none left: such a job waits at most this much longer once its lease ran out. A look is a
/// statement of its own that, on a busy queue, costs as much as the claim of due jobs beside it.
const LAPSED_LOOK_EVERY: Duration = Duration::from_secs(1);

/// Most jobs marked done in one statement.
const COMPLETIONS_BATCH: usize = 64;

/// Most results waiting to be recorded after their workers went on to other jobs; past this, a
/// worker waits for its own result to be recorded before it takes the next job.
const RECORDING_AHEAD: usize = 2 * COMPLETIONS_BATCH;

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Jobs run at once by `start` (0: no background work; jobs run only through `drain`).
    pub workers: usize,
    /// How long an idle runner waits before looking for due jobs again.
    pub poll_interval: Duration,
    /// How long a claim lasts without news from its worker; a running job renews it every third of
    /// this, so only a dead worker's job lapses and is claimed again.
    pub lease: Duration,
    /// The wait after a first failure; doubles with each further one, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Most jobs a runner keeps claimed ahead of its workers, beyond one each (never more than
    /// four per worker): it claims again when fewer than `workers` wait. Under a backlog one claim,
    /// and one read of what its jobs need, serves this many: with 8 workers, claims of 8 took
    /// twice the database time of claims of 32 (`bench/email-load.sh`). Jobs held ahead wait for
    /// this runner's workers, not another node's.
    pub batch_size: usize,
    /// Finished jobs are deleted this long after they finished (`None`: kept); dead ones are
    /// kept until an admin clears them.
    pub retention: Option<Duration>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            workers: 2,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            batch_size: 32,
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

impl RunnerConfig {
    /// `JOB_WORKERS`, `JOB_POLL_INTERVAL_MS`, `JOB_LEASE_SECONDS` and `JOB_RETENTION_HOURS`; the
    /// rest as in `Default`.
    pub fn from_settings(settings: &Settings) -> Self {
        RunnerConfig {
            workers: settings.jobs.workers,
            poll_interval: settings.jobs.poll_interval.max(Duration::from_millis(1)),
            lease: settings.jobs.lease,
            retention: settings.jobs.retention,
            ..RunnerConfig::default()
        }
    }
}

/// A claim's answer, with how many jobs it asked for.
type Claimed = (u64, Result<Vec<job::Model>, DbErr>);

/// What a `drain` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub succeeded: usize,
    /// Failed and queued again for later.
    pub retried: usize,
    /// Failed for good: permanent error, unreadable payload, or out of attempts.
    pub dead: usize,
    /// Not to be done yet, queued again for its time (no attempt counted).
    pub postponed: usize,
}

impl DrainReport {
    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Succeeded => self.succeeded += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::Dead => self.dead += 1,
            Outcome::Postponed => self.postponed += 1,
            Outcome::Lost => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Retried,
    Dead,
    Postponed,
    /// The lease lapsed and another claim took the job over; this run's result was dropped.
    Lost,
}

enum Failure {
    /// With how long the failure asked to wait at least (a provider's `Retry-After`).
    Retry(String, Option<Duration>),
    Permanent(String),
    /// Not yet: run again at this instant, this attempt not counted.
    Postpone(DateTime<Utc>),
}

/// Claims and runs jobs. Cheap to clone; clones share the registry and configuration.
#[derive(Clone)]
pub struct JobRunner {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    registry: Arc<Registry>,
    kinds: Vec<&'static str>,
    config: RunnerConfig,
    /// Rung when a job was queued to run now: an idle worker stops waiting for its poll.
    bell: Option<JobBell>,
    /// Jobs that succeeded, marked done together (one statement for all the workers that finished
    /// while the last one ran), with what their kinds' finishers write, in one transaction.
    completions: Batched<Completion, bool, DbErr>,
    /// Jobs this runner claimed and is not done with (waiting, running, or being recorded); its
    /// claims pass them over, even once a lease lapsed: another runner may take such a job over,
    /// this one must not run it twice.
    held: Mutex<HashSet<String>>,
    /// Bounds the results being recorded after their workers went on (see [`RECORDING_AHEAD`]).
    recording_slots: Arc<Semaphore>,
    /// When a claim last took every job whose lease had lapsed (see [`LAPSED_LOOK_EVERY`]).
    lapsed_cleared_at: Mutex<Option<DateTime<Utc>>>,
}

impl JobRunner {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        registry: Arc<Registry>,
        config: RunnerConfig,
    ) -> Self {
        let kinds = registry.kinds();
        let completions = {
            let (db, clock, registry) = (db.clone(), clock.clone(), registry.clone());
            Batched::new(COMPLETIONS_BATCH, move |done: Vec<Completion>| {
                let (db, clock, registry) = (db.clone(), clock.clone(), registry.clone());
                async move { complete(&db, &registry, done, clock.now()).await }
            })
        };
        JobRunner {
            inner: Arc::new(Inner {
                db,
                clock,
                registry,
                kinds,
                config,
                bell: None,
                completions,
                held: Mutex::default(),
                recording_slots: Arc::new(Semaphore::new(RECORDING_AHEAD)),
                lapsed_cleared_at: Mutex::default(),
            }),
        }
    }

    /// Idle workers also wake when `bell` rings. Call it on a runner just built.
    pub fn with_bell(mut self, bell: JobBell) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.bell = Some(bell);
        }
        self
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    /// Runs jobs in the background with `config.workers` at once until `shutdown` turns true (or
    /// its sender is dropped); then claims nothing more and waits for the jobs in flight. With
    /// zero workers the task ends at once. On PostgreSQL, work queued on any node rings the bell
    /// (see [`wakeup`](super::wakeup)); an idle runner otherwise waits for the next job due, at
    /// most the poll interval.
    pub fn start(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let runner = self.clone();
        tokio::spawn(async move { runner.work(shutdown).await })
    }

    /// Runs, in this task, every job due at `clock.now()` (including jobs that become due because
    /// of jobs run meanwhile) until none is due. Retries are scheduled in the future, so they wait
    /// for the clock to move.
    pub async fn drain(&self) -> anyhow::Result<DrainReport> {
        let mut report = DrainReport::default();
        while let Some(outcome) = self.run_next().await? {
            report.record(outcome);
        }
        Ok(report)
    }

    /// Runs one due job, if any; true when one ran.
    pub async fn run_one(&self) -> anyhow::Result<bool> {
        Ok(self.run_next().await?.is_some())
    }

    async fn run_next(&self) -> anyhow::Result<Option<Outcome>> {
        let Some(job) = self.claim(1).await.context("claiming a job")?.pop() else {
            return Ok(None);
        };
        let outcome = self
            .run_claimed(job, None)
            .await
            .context("recording a job's result")?;
        Ok(Some(outcome))
    }

    async fn work(self, mut shutdown: watch::Receiver<bool>) {
        let config = &self.inner.config;
        if config.workers == 0 {
            return;
        }
        tracing::info!(workers = config.workers, kinds = ?self.inner.kinds, "job runner started");
        if let Some(bell) = &self.inner.bell {
            super::wakeup::listen(self.inner.db.conn(), bell.clone(), shutdown.clone()).await;
        }
        let free = Arc::new(Semaphore::new(config.workers));
        let mut last_sweep: Option<std::time::Instant> = None;
        let mut running = JoinSet::new();
        // Jobs claimed ahead of free workers, topped up by a claim running beside them: a worker
        // that frees up starts the next job at once instead of waiting for a claim (a write, with
        // its commit), and under load one claim serves many jobs.
        let mut ahead: VecDeque<job::Model> = VecDeque::new();
        let low = config.workers;
        let high = config.workers + config.batch_size.max(1).min(4 * config.workers);
        let mut claiming: Option<BoxFuture<'static, Claimed>> = None;
        // The last claim found fewer due jobs than it asked for: claim again only after the idle
        // wait (the next job due, the poll interval, or the bell).
        let mut idle = false;
        let mut waiting: Option<BoxFuture<'static, ()>> = None;
        loop {
            while running.try_join_next().is_some() {}
            if claiming.is_none() && !idle && ahead.len() < low {
                let (runner, limit) = (self.clone(), (high - ahead.len()) as u64);
                claiming = Some(async move { (limit, runner.claim(limit).await) }.boxed());
            }
            if idle && waiting.is_none() && ahead.is_empty() && claiming.is_none() {
                let sweep = last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
                if sweep {
                    last_sweep = Some(std::time::Instant::now());
                }
                let runner = self.clone();
                waiting = Some(async move { runner.wait_idle(sweep).await }.boxed());
            }
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break,
                (asked, claimed) = some(&mut claiming) => {
                    claiming = None;
                    match claimed {
                        Ok(jobs) => {
                            idle = (jobs.len() as u64) < asked;
                            ahead.extend(jobs);
                        }
                        Err(error) => {
                            tracing::error!(%error, "claiming jobs failed");
                            idle = true;
                        }
                    }
                }
                permit = free.clone().acquire_owned(), if !ahead.is_empty() => {
                    let permit = permit.expect("the semaphore is never closed");
                    let job = ahead.pop_front().expect("not empty");
                    let runner = self.clone();
                    running.spawn(async move {
                        if let Err(error) = runner.run_fresh(job, permit).await {
                            tracing::error!(%error, "recording a job's result failed; it runs again when its lease lapses");
                        }
                    });
                }
                () = some(&mut waiting) => {
                    waiting = None;
                    idle = false;
                }
                () = rung(self.inner.bell.as_ref()) => {
                    waiting = None;
                    idle = false;
                }
            }
        }
        // An idle wait cut short may hold SQLite's write gate (a sweep deleting) or be queued for
        // it, and would then get it: unpolled from here on, it would keep it from every write below
        // and from the jobs in flight, and the runner would never stop. Dropped, it lets go (a
        // sweep's transaction rolls back; the next runner sweeps again).
        drop(waiting);
        // Jobs claimed ahead and never started go back to the queue now, not when their leases lapse.
        if let Some(claim) = claiming {
            if let (_, Ok(jobs)) = claim.await {
                ahead.extend(jobs);
            }
        }
        for job in ahead {
            if let Err(error) = self.release(&job).await {
                tracing::warn!(%error, job = %job.id, "giving back an unstarted job failed; it runs when its lease lapses");
            }
        }
        tracing::info!(
            in_flight = running.len(),
            "job runner stopping; waiting for jobs in flight"
        );
        while let Some(result) = running.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a job task failed");
            }
        }
        tracing::info!("job runner stopped");
    }

    /// An idle runner's wait: deletes finished jobs past their retention first when `sweep`, then
    /// waits for [`idle_wait`](Self::idle_wait).
    async fn wait_idle(&self, sweep: bool) {
        if sweep {
            if let Err(error) = self.sweep().await {
                tracing::warn!(%error, "deleting finished jobs failed");
            }
        }
        tokio::time::sleep(self.idle_wait().await).await;
    }

    /// Deletes one batch of finished jobs past their retention; returns how many went.
    pub async fn sweep(&self) -> Result<u64, DbErr> {
        let inner = &self.inner;
        let Some(retention) = inner.config.retention else {
            return Ok(0);
        };
        let before = chrono::Duration::from_std(retention)
            .ok()
            .and_then(|kept| inner.clock.now().checked_sub_signed(kept));
        let Some(before) = before else {
            return Ok(0); // kept longer than time has run
        };
        let tx = inner.db.begin_write().await?;
        let gone = queue::forget_finished(&tx.txn, before, SWEEP_BATCH).await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// How long an idle runner waits: until the next queued job is due, at most the poll
    /// interval (which also finds leases that ran out), at least a millisecond.
    pub async fn idle_wait(&self) -> Duration {
        let inner = &self.inner;
        let poll = inner.config.poll_interval;
        let next = match queue::next_due(inner.db.conn(), &inner.kinds).await {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(%error, "reading when the next job is due failed");
                None
            }
        };
        next.map(|at| (at - inner.clock.now()).to_std().unwrap_or(Duration::ZERO))
            .map_or(poll, |until| until.min(poll))
            .max(Duration::from_millis(1))
    }

    /// See [`queue::claim`]; each statement commits alone. Jobs whose lease lapsed are looked for
    /// at most every [`LAPSED_LOOK_EVERY`] once a look left none. The jobs this runner holds
    /// already are passed over, and the ones claimed are held from now until [`Held`] lets them
    /// go. Their kinds' prefetchers hear of them at once.
    async fn claim(&self, limit: u64) -> Result<Vec<job::Model>, DbErr> {
        let inner = &self.inner;
        let except: Vec<String> = self.held_ids().iter().cloned().collect();
        let now = inner.clock.now();
        let with_lapsed = self.worth_looking_for_lapsed(now);
        let write = inner.db.write_alone().await;
        let lease = self.lease_from(now);
        let conn = write.conn();
        let taken =
            queue::claim(conn, now, lease, limit, &inner.kinds, &except, with_lapsed).await?;
        drop(write);
        if taken.lapsed_cleared {
            *lock(&inner.lapsed_cleared_at) = Some(now);
        }
        let claimed = taken.jobs;
        self.held_ids()
            .extend(claimed.iter().map(|job| job.id.clone()));
        inner.registry.prefetch(&claimed);
        Ok(claimed)
    }

    /// Whether a claim at `now` looks for lapsed leases: not within [`LAPSED_LOOK_EVERY`] after a
    /// look that left none (none can lapse before the clock moves), unless the clock went back.
    fn worth_looking_for_lapsed(&self, now: DateTime<Utc>) -> bool {
        let every = chrono::Duration::from_std(LAPSED_LOOK_EVERY).unwrap_or_default();
        lock(&self.inner.lapsed_cleared_at).is_none_or(|at| now < at || now - at >= every)
    }

    fn held_ids(&self) -> MutexGuard<'_, HashSet<String>> {
        lock(&self.inner.held)
    }

    /// Lets go of a claimed job when dropped.
    fn held(&self, job_id: &str) -> Held {
        Held {
            inner: self.inner.clone(),
            job_id: job_id.to_string(),
        }
    }

    fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        add(now, self.inner.config.lease)
    }

    /// Runs a job claimed ahead: one that waited past a third of its lease has it renewed first, and
    /// one whose claim was lost meanwhile (its lease lapsed and another worker took it) is dropped.
    async fn run_fresh(
        &self,
        job: job::Model,
        worker: OwnedSemaphorePermit,
    ) -> Result<Outcome, DbErr> {
        let _held = self.held(&job.id);
        let now = self.inner.clock.now();
        let renew_after = job.locked_until.map(|until| {
            until - chrono::Duration::from_std(self.inner.config.lease * 2 / 3).unwrap_or_default()
        });
        if renew_after.is_some_and(|at| now >= at) && !self.extend_lease(&job).await? {
            tracing::warn!(job = %job.id, "a job claimed ahead was taken over before it started");
            return Ok(Outcome::Lost);
        }
        self.run_claimed(job, Some(worker)).await
    }

    async fn release(&self, job: &job::Model) -> Result<bool, DbErr> {
        let _held = self.held(&job.id);
        let write = self.inner.db.write_alone().await;
        queue::release(write.conn(), job, self.inner.clock.now()).await
    }

    /// Runs a claimed job and records the result, unless the claim was lost meanwhile. `worker`, the
    /// turn the job runs in, goes on to the next job as soon as the handler returns, while the
    /// result is recorded (batched with the others finishing then). Until it is recorded the job
    /// is still `running` in the queue, and were its lease to lapse meanwhile, this runner's next
    /// claim could take it again and run it twice: so claims pass over the jobs this runner holds.
    #[tracing::instrument(name = "job", skip_all, fields(kind = %job.kind, id = %job.id, attempt = job.attempts))]
    async fn run_claimed(
        &self,
        job: job::Model,
        worker: Option<OwnedSemaphorePermit>,
    ) -> Result<Outcome, DbErr> {
        let _held = self.held(&job.id);
        let result = match self.inner.registry.handler(&job.kind) {
            // Only a lapsed lease claims a job past its last attempt: its worker died (or hung) on
            // that attempt. Running it again could crash workers forever.
            _ if job.attempts > job.max_attempts => Err(Failure::Permanent(format!(
                "its worker stopped renewing the lease on the last of {} attempts",
                job.max_attempts
            ))),
            // Unreachable in practice: claims are limited to registered kinds.
            None => Err(Failure::Permanent(format!(
                "no handler is registered for job kind {:?}",
                job.kind
            ))),
            Some(handler) => match handler(&job.payload) {
                Err(error) => Err(Failure::Permanent(format!(
                    "the payload is not a valid {:?} job: {error}",
                    job.kind
                ))),
                Ok(run) => {
                    match self
                        .renewing_lease(&job, AssertUnwindSafe(run).catch_unwind())
                        .await
                    {
                        Ok(Ok(finish)) => Ok(finish),
                        Ok(Err(JobError::Retry(error))) => {
                            let asked = error
                                .chain()
                                .find_map(|e| e.downcast_ref::<AppError>())
                                .and_then(AppError::retry_after);
                            Err(Failure::Retry(format!("{error:#}"), asked))
                        }
                        Ok(Err(JobError::Permanent(error))) => {
                            Err(Failure::Permanent(format!("{error:#}")))
                        }
                        Ok(Err(JobError::Postpone(at))) => Err(Failure::Postpone(at)),
                        Err(panic) => Err(Failure::Retry(
                            format!("the handler panicked: {}", panic_message(panic.as_ref())),
                            None,
                        )),
                    }
                }
            },
        };
        let recording = match worker {
            Some(worker) => Some(self.hand_on(worker).await),
            None => None,
        };
        // The lease is renewed until the result is recorded too: what a job finished with (an
        // email's `SENT`) commits with its completion, and until then another runner must not take
        // the job over and do it again.
        let recorded = self.renewing_lease(&job, self.record(&job, result)).await;
        drop(recording);
        recorded
    }

    /// Frees a worker's turn once there is room among the results being recorded; the slot
    /// returned is that room.
    async fn hand_on(&self, worker: OwnedSemaphorePermit) -> OwnedSemaphorePermit {
        let slot = self.inner.recording_slots.clone().acquire_owned().await;
        drop(worker);
        slot.expect("the semaphore is never closed")
    }

    /// Polls `work` while renewing the job's lease every third of it. Both run in this task, so a
    /// renewal waiting for the SQLite write gate never blocks the handler that holds it.
    async fn renewing_lease<T>(&self, job: &job::Model, work: impl Future<Output = T>) -> T {
        let every = (self.inner.config.lease / 3).max(Duration::from_millis(1));
        let heartbeat = async {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticks.tick().await;
                match self.extend_lease(job).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("lease lost: the job was claimed again"),
                    Err(error) => tracing::warn!(%error, "renewing the lease failed"),
                }
            }
        };
        tokio::select! {
            out = work => out,
            () = heartbeat => unreachable!("the heartbeat never ends"),
        }
    }

    async fn extend_lease(&self, job: &job::Model) -> Result<bool, DbErr> {
        let now = self.inner.clock.now();
        let write = self.inner.db.write_alone().await;
        queue::extend_lease(write.conn(), job, now, self.lease_from(now)).await
    }

    async fn record(
        &self,
        job: &job::Model,
        result: Result<Finish, Failure>,
    ) -> Result<Outcome, DbErr> {
        let inner = &self.inner;
        let failure = match result {
            Ok(finish) => {
                let done = Completion {
                    claim: (job.id.clone(), job.attempts),
                    finish: finish.map(|key| (job.kind.clone(), key)),
                };
                let held = inner
                    .completions
                    .call(done)
                    .await
                    .map_err(|error| DbErr::Custom(format!("marking jobs done: {error}")))?;
                return Ok(self.kept(held, Outcome::Succeeded));
            }
            Err(failure) => failure,
        };
        let now = inner.clock.now();
        // A failure is one statement, committing alone.
        let write = inner.db.write_alone().await;
        let conn = write.conn();
        let (held, outcome) = match failure {
            Failure::Retry(error, asked) if job.attempts < job.max_attempts => {
                // The backoff, or longer when the provider asked for longer.
                let wait = backoff(
                    job.attempts,
                    inner.config.backoff_base,
                    inner.config.backoff_max,
                    &mut rand::thread_rng(),
                )
                .max(asked.unwrap_or_default())
                .as_millis();
                // Whole milliseconds (every engine stores them exactly), and at least one, so a
                // retry is never due again within the same drain.
                let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(u64::MAX).max(1));
                let run_at = add(now, wait);
                tracing::warn!(%error, %run_at, max_attempts = job.max_attempts, "job failed; will retry");
                let error = truncated(error);
                (
                    queue::requeue(conn, job, now, run_at, &error).await?,
                    Outcome::Retried,
                )
            }
            Failure::Retry(error, _) => {
                tracing::error!(%error, "job failed on its last attempt; dead");
                let error = truncated(format!("gave up after {} attempts: {error}", job.attempts));
                (queue::bury(conn, job, now, &error).await?, Outcome::Dead)
            }
            Failure::Permanent(error) => {
                tracing::error!(%error, "job failed permanently; dead");
                let error = truncated(error);
                (queue::bury(conn, job, now, &error).await?, Outcome::Dead)
            }
            Failure::Postpone(at) => {
                // At least a moment on, so a postponed job is never due again in the same drain.
                let at = at.max(add(now, Duration::from_millis(1)));
                tracing::info!(run_at = %at, "job postponed");
                (
                    queue::postpone(conn, job, now, at).await?,
                    Outcome::Postponed,
                )
            }
        };
        drop(write);
        Ok(self.kept(held, outcome))
    }

    /// `outcome`, or `Lost` when the claim no longer `held` the job.
    fn kept(&self, held: bool, outcome: Outcome) -> Outcome {
        if held {
            outcome
        } else {
            tracing::warn!(
                "the job's lease lapsed and it was claimed again; this run's result is dropped"
            );
            Outcome::Lost
        }
    }
}

/// A job this runner claimed: claimable again by it (were its claim not settled) once dropped.
struct Held {
    inner: Arc<Inner>,
    job_id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        lock(&self.inner.held).remove(&self.job_id);
    }
}

/// The mutex's value (kept by a panicking holder: every write to it is a single step).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A job that succeeded: its claim, and what its kind's finisher is to write (kind, key).
struct Completion {
    claim: queue::Claim,
    finish: Option<(String, String)>,
}

/// Marks `done` jobs done and writes what they finished with, together; says for each whether its
/// claim still held. What a job finished with is written even when its claim was lost: it did the
/// work (the email was sent), and saying so keeps whoever took it over from doing it again.
async fn complete(
    db: &Db,
    registry: &Registry,
    done: Vec<Completion>,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, DbErr> {
    let claims: Vec<queue::Claim> = done.iter().map(|d| d.claim.clone()).collect();
    let mut finishes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (kind, key) in done.into_iter().filter_map(|d| d.finish) {
        finishes.entry(kind).or_default().push(key);
    }
    if finishes.is_empty() {
        let write = db.write_alone().await;
        return queue::complete_all(write.conn(), &claims, now).await;
    }
    let write = db.begin_write().await?;
    let held = queue::complete_all(&write.txn, &claims, now).await?;
    let backend = write.txn.get_database_backend();
    for (kind, keys) in finishes {
        if let Some(finisher) = registry.finisher(&kind) {
            write
                .txn
                .execute(backend.build(&finisher(backend, &keys, now)))
                .await?;
        }
    }
    write.commit().await?;
    Ok(held)
}

/// Waits for `future` (forever without one).
async fn some<T>(future: &mut Option<BoxFuture<'static, T>>) -> T {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Waits for `bell` (forever without one).
async fn rung(bell: Option<&JobBell>) {
    match bell {
        Some(bell) => bell.rung().await,
        None => std::future::pending().await,
    }
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // A dropped sender means nobody can ask any more: stop as well.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn add(at: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|wait| at.checked_add_signed(wait))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn truncated(mut error: String) -> String {
    if error.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error.truncate(end);
        error.push('…');
    }
    error
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}
