//! Connecting to SQLite or PostgreSQL, migrating, and the write path.
//!
//! SQLite allows one writer at a time and answers `database is locked` when two deferred transactions
//! both try to upgrade to writing, so on SQLite every write transaction first takes a process-wide
//! gate; PostgreSQL relies on row locks taken inside the transaction instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QuerySelect, Select, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit};

use crate::config::Settings;

mod among;
pub mod batched;
mod pool;
mod statements;

pub use among::{among, not_among, pair_among};
use statements::StatementLog;

#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// Connections that subscriptions may hold at once (`DB_LIVE_CONNECTIONS`).
    live: Arc<Semaphore>,
    /// Live turns held now, and the most ever held at once (tests prove the bound with it).
    live_held: Arc<AtomicU64>,
    live_peak: Arc<AtomicU64>,
    write_gate: Option<Arc<Mutex<()>>>,
    statements: Arc<StatementLog>,
}

/// A write transaction, holding the SQLite gate until it is dropped.
pub struct WriteTxn<'a> {
    pub txn: DatabaseTransaction,
    _gate: Option<MutexGuard<'a, ()>>,
}

impl WriteTxn<'_> {
    pub async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }
}

/// One write statement run on its own (autocommit), holding the SQLite gate while it runs.
pub struct WriteAlone<'a> {
    conn: &'a DatabaseConnection,
    _gate: Option<MutexGuard<'a, ()>>,
}

impl WriteAlone<'_> {
    pub fn conn(&self) -> &DatabaseConnection {
        self.conn
    }
}

/// One read's turn on the live connections; dropping it hands the turn on.
pub struct LiveTurn<'a> {
    _permit: SemaphorePermit<'a>,
    held: &'a AtomicU64,
}

impl Drop for LiveTurn<'_> {
    fn drop(&mut self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Db {
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let data_dir = &settings.server.data_dir;
        if settings.database.is_sqlite() {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        }
        let size = pool::PoolSize {
            max_connections: settings.database.max_connections,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(10),
        };
        let mut conn = pool::connect(settings.database.url.expose(), &size)
            .await
            .context("connecting to the database")?;
        let statements = Arc::new(StatementLog::default());
        let log = statements.clone();
        conn.set_metric_callback(move |info| log.saw(&info.statement.sql));
        let sqlite = conn.get_database_backend() == DatabaseBackend::Sqlite;
        if sqlite {
            conn.execute_unprepared("PRAGMA journal_mode=WAL;")
                .await
                .context("enabling WAL")?;
        }
        Ok(Db {
            conn,
            live: Arc::new(Semaphore::new(settings.database.live_connections as usize)),
            live_held: Default::default(),
            live_peak: Default::default(),
            write_gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            statements,
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.conn, None)
            .await
            .context("applying migrations")
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// A turn for one read on behalf of a subscription: subscriptions share `DB_LIVE_CONNECTIONS`
    /// connections, so that a burst of them waits here instead of taking the pool from queries and
    /// mutations. Hold it across one read, not across a stream's life.
    pub async fn live_turn(&self) -> LiveTurn<'_> {
        // Never closed, so acquiring cannot fail.
        let permit = self
            .live
            .acquire()
            .await
            .expect("the live-read semaphore is never closed");
        let held = self.live_held.fetch_add(1, Ordering::Relaxed) + 1;
        self.live_peak.fetch_max(held, Ordering::Relaxed);
        LiveTurn {
            _permit: permit,
            held: &self.live_held,
        }
    }

    /// The most live turns ever held at once.
    pub fn live_peak(&self) -> u64 {
        self.live_peak.load(Ordering::Relaxed)
    }

    /// Begins a transaction for a business write (see the module docs).
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>, sea_orm::DbErr> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let txn = self.conn.begin().await?;
        Ok(WriteTxn { txn, _gate: gate })
    }

    /// For a write that is one statement (settling a job, marking an email sent): it commits on
    /// its own, one round trip instead of three (`BEGIN`, the statement, `COMMIT`). On SQLite it
    /// takes the write gate like [`Db::begin_write`].
    pub async fn write_alone(&self) -> WriteAlone<'_> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        WriteAlone {
            conn: &self.conn,
            _gate: gate,
        }
    }

    /// Statements run since start-up (tests use it to prove a response takes a fixed number of
    /// queries however many rows it has).
    pub fn statements_run(&self) -> u64 {
        self.statements.run()
    }

    /// Keeps the text of every statement run from now on, for [`recorded_statements`] (tests
    /// count with it the statements of one kind that a piece of work runs). Called again, it
    /// starts afresh.
    ///
    /// [`recorded_statements`]: Self::recorded_statements
    pub fn record_statements(&self) {
        self.statements.start_recording();
    }

    /// The statements run since [`record_statements`](Self::record_statements), in the order
    /// they ran (recording goes on).
    pub fn recorded_statements(&self) -> Vec<String> {
        self.statements.recorded()
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sea_orm::DbErr> {
        self.conn.ping().await
    }
}

/// Deletes up to `limit` rows of `E` whose `at` is before `before` (rows named by their `key`
/// columns): receipts kept only as long as a replay can come are forgotten a few at a time as new
/// ones arrive, so the table stays small without a sweeper of its own. Rows another transaction
/// is deleting meanwhile are passed over (`SKIP LOCKED` on PostgreSQL), so concurrent deliveries
/// do not queue behind each other over the same old receipts.
pub async fn forget_before<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    key: &[E::Column],
    at: E::Column,
    before: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
    let oldest = Query::select()
        .columns(key.iter().copied())
        .from(E::default())
        .and_where(Expr::col(at).lt(before))
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let delete = Query::delete()
        .from_table(E::default())
        .and_where(Expr::tuple(key.iter().map(|c| Expr::col(*c).into())).in_subquery(oldest))
        .to_owned();
    Ok(conn
        .execute(conn.get_database_backend().build(&delete))
        .await?
        .rows_affected())
}

/// A new opaque row id: time-ordered, so listings sorted by id follow creation.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `query` with `FOR UPDATE` on PostgreSQL. SQLite has no row locks; its writes are serialized by the
/// write gate of [`Db::begin_write`] instead.
pub fn for_update<E: EntityTrait>(conn: &impl ConnectionTrait, query: Select<E>) -> Select<E> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        query.lock_exclusive()
    } else {
        query
    }
}
