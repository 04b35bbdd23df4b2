//! The queue's SQL: enqueue (in the caller's transaction), claim, and settling a claimed job.
//!
//! A claim sets `state = running`, bumps `attempts` and takes a lease (`locked_until`). Every later
//! write about the job names the claim by `(id, attempts)` and checks it is still `running`, so a
//! worker whose lease ran out (and whose job was claimed again) cannot overwrite the newer result.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Cond, Expr, LockBehavior, LockType, OnConflict, Order, Query, SelectStatement, SimpleExpr,
    UpdateStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::job::Job;
use crate::db::{new_id, not_among, pair_among};
use crate::entity::job::{self, Column};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
}

/// When and how uniquely to enqueue.
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    /// Not before this instant (default: now).
    pub run_at: Option<DateTime<Utc>>,
    /// At most one queued or running job with this key; a second enqueue is skipped.
    pub unique_key: Option<String>,
}

/// Queues `job` inside the caller's transaction (or on a plain connection), so it exists exactly
/// when the business write commits. Returns the job's id, or `None` when a queued or running job
/// already holds `opts.unique_key`.
///
/// The insert is `ON CONFLICT DO NOTHING` without a target, which covers the partial unique index
/// and never aborts a PostgreSQL transaction.
pub async fn enqueue<J: Job>(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    job: &J,
    opts: EnqueueOptions,
) -> Result<Option<String>, DbErr> {
    let id = new_id();
    let inserted = enqueue_many(conn, now, std::iter::once((job, opts)), Some(&id)).await?;
    Ok((inserted == 1).then_some(id))
}

/// Queues many jobs of one kind with one statement per 500; returns how many were queued (the
/// rest held unique keys already taken).
pub async fn enqueue_all<'a, J: Job>(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    jobs: impl IntoIterator<Item = (&'a J, EnqueueOptions)>,
) -> Result<u64, DbErr> {
    enqueue_many(conn, now, jobs, None).await
}

async fn enqueue_many<'a, J: Job>(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    jobs: impl IntoIterator<Item = (&'a J, EnqueueOptions)>,
    id: Option<&str>,
) -> Result<u64, DbErr> {
    const CHUNK: usize = 500;
    let mut rows = Vec::new();
    for (job, opts) in jobs {
        let payload = serde_json::to_string(job)
            .map_err(|e| DbErr::Json(format!("serializing job {}: {e}", J::KIND)))?;
        rows.push([
            id.map_or_else(new_id, str::to_string).into(),
            J::KIND.into(),
            payload.into(),
            opts.unique_key.into(),
            JobState::Queued.as_str().into(),
            0.into(),
            J::MAX_ATTEMPTS.max(1).into(),
            opts.run_at.unwrap_or(now).into(),
            now.into(),
            now.into(),
        ]);
    }
    let mut inserted = 0;
    let queued_any = !rows.is_empty();
    for chunk in rows.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(job::Entity).columns([
            Column::Id,
            Column::Kind,
            Column::Payload,
            Column::UniqueKey,
            Column::State,
            Column::Attempts,
            Column::MaxAttempts,
            Column::RunAt,
            Column::CreatedAt,
            Column::UpdatedAt,
        ]);
        for row in chunk {
            insert.values_panic(row.clone());
        }
        insert.on_conflict(OnConflict::new().do_nothing().to_owned());
        inserted += conn
            .execute(conn.get_database_backend().build(&insert))
            .await?
            .rows_affected();
    }
    if queued_any {
        super::wakeup::notify(conn).await?;
    }
    Ok(inserted)
}

/// When the next queued job of `kinds` is due, if any is queued.
pub(crate) async fn next_due(
    conn: &impl ConnectionTrait,
    kinds: &[&'static str],
) -> Result<Option<DateTime<Utc>>, DbErr> {
    if kinds.is_empty() {
        return Ok(None);
    }
    Ok(job::Entity::find()
        .filter(Column::State.eq(JobState::Queued.as_str()))
        .filter(Column::Kind.is_in(kinds.iter().copied()))
        .order_by_asc(Column::RunAt)
        .one(conn)
        .await?
        .map(|j| j.run_at))
}

/// What a claim took.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub jobs: Vec<job::Model>,
    /// The claim looked for jobs whose lease lapsed and took every one it found (fewer than it
    /// asked for): none is left at its `now` but the jobs `except` named.
    pub lapsed_cleared: bool,
}

/// Claims up to `limit` jobs of the given kinds that are due at `now` (running with a lapsed
/// lease first when `with_lapsed`, then queued with `run_at <= now`), leasing them until
/// `lease_until`. Jobs named in `except` are passed over.
///
/// Two statements, each reading the `(state, run_at, id)` index in order and stopping at its limit:
/// one query for both kinds of due job (an `OR`) made the database sort every due job on each
/// claim, milliseconds with a backlog of thousands. On PostgreSQL the inner
/// `FOR UPDATE SKIP LOCKED` lets concurrent workers pass over each other's rows; SQLite has no row
/// locks (sea-query leaves the clause out) and relies on the caller holding the write gate.
pub(crate) async fn claim(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
    kinds: &[&'static str],
    except: &[String],
    with_lapsed: bool,
) -> Result<Taken, DbErr> {
    if limit == 0 || kinds.is_empty() {
        return Ok(Taken::default());
    }
    let mut taken = Taken::default();
    if with_lapsed {
        taken.jobs =
            claim_where(conn, lapsed(now), (now, lease_until), limit, kinds, except).await?;
        taken.lapsed_cleared = (taken.jobs.len() as u64) < limit;
    }
    let left = limit.saturating_sub(taken.jobs.len() as u64);
    if left > 0 {
        let queued = queued_due(now);
        let jobs = claim_where(conn, queued, (now, lease_until), left, kinds, except).await?;
        taken.jobs.extend(jobs);
    }
    Ok(taken)
}

/// Running jobs whose lease ran out before `now`.
fn lapsed(now: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(Expr::col(Column::State).eq(JobState::Running.as_str()))
        .add(Expr::col(Column::LockedUntil).lt(now))
}

/// Queued jobs due at `now`.
fn queued_due(now: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(Expr::col(Column::State).eq(JobState::Queued.as_str()))
        .add(Expr::col(Column::RunAt).lte(now))
}

/// The ids of up to `limit` jobs matching `due`, earliest first, locked (on PostgreSQL).
fn pick(
    backend: DbBackend,
    due: Cond,
    limit: u64,
    kinds: &[&'static str],
    except: &[String],
) -> SelectStatement {
    Query::select()
        .column(Column::Id)
        .from(job::Entity)
        .cond_where(due)
        .and_where(Expr::col(Column::Kind).is_in(kinds.iter().copied()))
        .and_where(not_among(backend, r#""id""#, except))
        .order_by(Column::RunAt, Order::Asc)
        .order_by(Column::Id, Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned()
}

/// Claims up to `limit` jobs matching `due`, earliest first.
async fn claim_where(
    conn: &impl ConnectionTrait,
    due: Cond,
    (now, lease_until): (DateTime<Utc>, DateTime<Utc>),
    limit: u64,
    kinds: &[&'static str],
    except: &[String],
) -> Result<Vec<job::Model>, DbErr> {
    let pick = pick(conn.get_database_backend(), due, limit, kinds, except);
    let update = Query::update()
        .table(job::Entity)
        .value(Column::State, JobState::Running.as_str())
        .value(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .value(Column::LockedUntil, lease_until)
        .value(Column::UpdatedAt, now)
        .and_where(Expr::col(Column::Id).in_subquery(pick))
        .returning_all()
        .to_owned();
    let mut claimed = job::Entity::find()
        .from_raw_sql(conn.get_database_backend().build(&update))
        .all(conn)
        .await?;
    // `RETURNING` gives rows in no particular order: the earliest due runs first.
    claimed.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    Ok(claimed)
}

/// A claim: the job and the attempt number its claim set.
fn held(claimed: &job::Model) -> Cond {
    Cond::all()
        .add(Column::Id.eq(claimed.id.as_str()))
        .add(Column::Attempts.eq(claimed.attempts))
        .add(Column::State.eq(JobState::Running.as_str()))
}

/// Applies `changes` to the job if this claim still holds it; false when it does not any more.
async fn settle(
    conn: &impl ConnectionTrait,
    claimed: &job::Model,
    now: DateTime<Utc>,
    changes: Vec<(Column, SimpleExpr)>,
) -> Result<bool, DbErr> {
    let mut update = job::Entity::update_many().col_expr(Column::UpdatedAt, Expr::value(now));
    for (column, value) in changes {
        update = update.col_expr(column, value);
    }
    let result = update.filter(held(claimed)).exec(conn).await?;
    Ok(result.rows_affected == 1)
}

/// A claim as later writes name it: the job and the attempt its claim counted.
pub(crate) type Claim = (String, i32);

/// Marks done, in one statement, each job its claim still holds; answers, claim by claim,
/// whether it held.
pub(crate) async fn complete_all(
    conn: &impl ConnectionTrait,
    claims: &[Claim],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, DbErr> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let done: HashSet<Claim> = conn
        .query_all(backend.build(&completing(backend, claims, now)))
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "attempts")?)))
        .collect::<Result<_, DbErr>>()?;
    Ok(claims.iter().map(|claim| done.contains(claim)).collect())
}

/// The statement [`complete_all`] runs: one text however many claims (see `db::among`).
fn completing(backend: DbBackend, claims: &[Claim], now: DateTime<Utc>) -> UpdateStatement {
    let which = pair_among(backend, (r#""id""#, r#""attempts""#), claims);
    Query::update()
        .table(job::Entity)
        .value(Column::State, JobState::Done.as_str())
        .value(Column::LockedUntil, None::<DateTime<Utc>>)
        .value(Column::FinishedAt, now)
        .value(Column::UpdatedAt, now)
        .cond_where(
            Cond::all()
                .add(Column::State.eq(JobState::Running.as_str()))
                .add(which),
        )
        .returning(Query::returning().columns([Column::Id, Column::Attempts]))
        .to_owned()
}

pub(crate) async fn requeue(
    conn: &impl ConnectionTrait,
    claimed: &job::Model,
    now: DateTime<Utc>,
    run_at: DateTime<Utc>,
    error: &str,
) -> Result<bool, DbErr> {
    settle(
        conn,
        claimed,
        now,
        vec![
            (Column::State, Expr::value(JobState::Queued.as_str())),
            (Column::LockedUntil, Expr::value(None::<DateTime<Utc>>)),
            (Column::RunAt, Expr::value(run_at)),
            (Column::LastError, Expr::value(error)),
        ],
    )
    .await
}

pub(crate) async fn bury(
    conn: &impl ConnectionTrait,
    claimed: &job::Model,
    now: DateTime<Utc>,
    error: &str,
) -> Result<bool, DbErr> {
    settle(
        conn,
        claimed,
        now,
        vec![
            (Column::State, Expr::value(JobState::Dead.as_str())),
            (Column::LockedUntil, Expr::value(None::<DateTime<Utc>>)),
            (Column::FinishedAt, Expr::value(now)),
            (Column::LastError, Expr::value(error)),
        ],
    )
    .await
}

/// Gives back a job claimed but never started (a worker shutting down with it still waiting): it is
/// queued again as it was, its claim not counted as an attempt.
pub(crate) async fn release(
    conn: &impl ConnectionTrait,
    claimed: &job::Model,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    settle(conn, claimed, now, unclaimed()).await
}

/// Queues a claimed job again to run at `at`, giving back the attempt its claim counted.
pub(crate) async fn postpone(
    conn: &impl ConnectionTrait,
    claimed: &job::Model,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut changes = unclaimed();
    changes.push((Column::RunAt, Expr::value(at)));
    settle(conn, claimed, now, changes).await
}

/// What makes a claimed job queued as if unclaimed: no lease, and the attempt its claim counted
/// given back.
fn unclaimed() -> Vec<(Column, SimpleExpr)> {
    vec![
        (Column::State, Expr::value(JobState::Queued.as_str())),
        (Column::LockedUntil, Expr::value(None::<DateTime<Utc>>)),
        (Column::Attempts, Expr::col(Column::Attempts).sub(1)),
    ]
}

/// Pushes the lease of a job still running under this claim to `until`.
pub(crate) async fn extend_lease(
    conn: &impl ConnectionTrait,
    claimed: &job::Model,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    settle(
        conn,
        claimed,
        now,
        vec![(Column::LockedUntil, Expr::value(until))],
    )
    .await
}

/// Deletes up to `limit` finished (`done`) jobs that finished before `before`; returns how many.
/// Dead jobs are kept for inspection.
pub(crate) async fn forget_finished(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    let oldest = Query::select()
        .column(Column::Id)
        .from(job::Entity)
        .and_where(Expr::col(Column::State).eq(JobState::Done.as_str()))
        .and_where(Expr::col(Column::FinishedAt).lt(before))
        .limit(limit)
        .to_owned();
    let delete = Query::delete()
        .from_table(job::Entity)
        .and_where(Expr::col(Column::Id).in_subquery(oldest))
        .to_owned();
    Ok(conn
        .execute(conn.get_database_backend().build(&delete))
        .await?
        .rows_affected())
}

/// The dead jobs, the latest first, `limit` at most.
pub async fn dead(conn: &impl ConnectionTrait, limit: u64) -> Result<Vec<job::Model>, DbErr> {
    use sea_orm::QuerySelect;
    job::Entity::find()
        .filter(Column::State.eq(JobState::Dead.as_str()))
        .order_by_desc(Column::FinishedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Deletes the dead jobs among `ids`; returns how many.
pub async fn clear_dead(conn: &impl ConnectionTrait, ids: &[String]) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(job::Entity::delete_many()
        .filter(Column::State.eq(JobState::Dead.as_str()))
        .filter(Column::Id.is_in(ids.iter().cloned()))
        .exec(conn)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::TransactionTrait;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::config::Settings;
    use crate::db::Db;

    #[derive(Serialize, Deserialize)]
    struct Noop {}
    impl Job for Noop {
        const KIND: &'static str = "test.noop";
    }

    /// A migrated SQLite database in a directory of its own (kept while the first is held), and
    /// the instant the test starts at.
    async fn sqlite_queue() -> (tempfile::TempDir, Db, DateTime<Utc>) {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap().to_string();
        let settings =
            Settings::from_lookup(|key| (key == "DATA_DIR").then(|| data_dir.clone())).unwrap();
        let db = Db::connect(&settings).await.unwrap();
        db.migrate().await.unwrap();
        let now = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z").unwrap();
        (dir, db, now.to_utc())
    }

    /// Each claim statement reads the index in the claim's order and stops at its limit: no sort
    /// of every due job (SQLite's plan names a temporary B-tree where it sorts; PostgreSQL's
    /// planner makes the same choice with the same index).
    #[tokio::test]
    async fn claims_read_the_queue_in_order_without_sorting_it() {
        let (_dir, db, now) = sqlite_queue().await;
        let conn = db.conn();
        let except = ["a".to_string(), "b".to_string()];
        for due in [lapsed(now), queued_due(now)] {
            let backend = conn.get_database_backend();
            let select = pick(backend, due, 16, &[Noop::KIND, "test.other"], &except);
            let mut explain = conn.get_database_backend().build(&select);
            explain.sql = format!("EXPLAIN QUERY PLAN {}", explain.sql);
            // `EXPLAIN` plans with the schema the connection has in memory, which a pooled
            // connection opened before the migrations may not have reloaded yet; a real read on
            // the same connection (one transaction) reloads it.
            let txn = conn.begin().await.unwrap();
            txn.execute_unprepared("SELECT count(*) FROM jobs")
                .await
                .unwrap();
            let plan: Vec<String> = txn
                .query_all(explain)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect();
            txn.commit().await.unwrap();
            let plan = plan.join("; ");
            assert!(plan.contains("idx_jobs_state_run_at_id"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }

    #[test]
    fn completions_of_any_number_of_jobs_are_one_statement_text() {
        let now = Utc::now();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let text = |claims: &[Claim]| backend.build(&completing(backend, claims, now)).sql;
            let one = text(&[("a".into(), 1)]);
            assert_eq!(
                one,
                text(&[("a".into(), 1), ("b".into(), 2), ("c".into(), 1)])
            );
            assert!(one.contains(r#"("id", "attempts") IN"#), "{one}");
        }
    }

    #[tokio::test]
    async fn jobs_completed_together_are_each_told_whether_their_claim_still_held() {
        let (_dir, db, now) = sqlite_queue().await;
        let conn = db.conn();
        let kinds = [Noop::KIND];
        let jobs = [&Noop {}, &Noop {}, &Noop {}];
        enqueue_all(conn, now, jobs.map(|job| (job, EnqueueOptions::default())))
            .await
            .unwrap();
        let lease = now + chrono::Duration::seconds(30);
        let first = claim(conn, now, lease, 3, &kinds, &[], true)
            .await
            .unwrap()
            .jobs;
        assert_eq!(first.len(), 3);
        // The first job's lease lapses and it is claimed again (its second attempt).
        let late = lease + chrono::Duration::seconds(1);
        let only_first = Cond::all().add(Column::Id.ne(first[0].id.as_str()));
        job::Entity::update_many()
            .col_expr(
                Column::LockedUntil,
                Expr::value(late + chrono::Duration::hours(1)),
            )
            .filter(only_first)
            .exec(conn)
            .await
            .unwrap();
        let lease_again = late + chrono::Duration::seconds(30);
        // Not while its first run is still being recorded by the runner that claimed it.
        let recording = [first[0].id.clone()];
        let skipped = claim(conn, late, lease_again, 3, &kinds, &recording, true)
            .await
            .unwrap();
        assert!(skipped.jobs.is_empty(), "{skipped:?}");
        assert!(skipped.lapsed_cleared);
        let unlooked = claim(conn, late, lease_again, 3, &kinds, &[], false)
            .await
            .unwrap();
        assert!(
            unlooked.jobs.is_empty() && !unlooked.lapsed_cleared,
            "{unlooked:?}"
        );
        let again = claim(conn, late, lease_again, 3, &kinds, &[], true)
            .await
            .unwrap()
            .jobs;
        assert_eq!((again.len(), again[0].attempts), (1, 2));

        let claims: Vec<Claim> = [&first[0], &again[0], &first[1], &first[2]]
            .iter()
            .map(|job| (job.id.clone(), job.attempts))
            .collect();
        // The third job was already marked done by a duplicate run.
        let held = complete_all(conn, &claims[3..], late).await.unwrap();
        assert_eq!(held, [true]);
        let held = complete_all(conn, &claims, late).await.unwrap();
        assert_eq!(held, [false, true, true, false]);
        let states: Vec<(String, i32)> = job::Entity::find()
            .order_by_asc(Column::Id)
            .all(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|job| (job.state, job.attempts))
            .collect();
        assert!(
            states.iter().all(|(state, _)| state == "done"),
            "{states:?}"
        );
        assert_eq!(
            complete_all(conn, &[], late).await.unwrap(),
            Vec::<bool>::new()
        );
    }
}
