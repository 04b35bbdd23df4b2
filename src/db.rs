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
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QuerySelect, Select, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::config::Settings;

#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    write_gate: Option<Arc<Mutex<()>>>,
    statements: Arc<AtomicU64>,
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

impl Db {
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        if settings.is_sqlite() {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!("creating data directory {}", settings.data_dir.display())
            })?;
        }
        let mut options = ConnectOptions::new(settings.database_url.expose().to_string());
        options
            .max_connections(settings.db_max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let mut conn = Database::connect(options)
            .await
            .context("connecting to the database")?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        conn.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let sqlite = conn.get_database_backend() == DatabaseBackend::Sqlite;
        if sqlite {
            conn.execute_unprepared("PRAGMA journal_mode=WAL;")
                .await
                .context("enabling WAL")?;
        }
        Ok(Db {
            conn,
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

    /// Begins a transaction for a business write (see the module docs).
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>, sea_orm::DbErr> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let txn = self.conn.begin().await?;
        Ok(WriteTxn { txn, _gate: gate })
    }

    /// Statements run since start-up (tests use it to prove a response takes a fixed number of
    /// queries however many rows it has).
    pub fn statements_run(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sea_orm::DbErr> {
        self.conn.ping().await
    }
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
