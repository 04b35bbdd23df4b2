//! The connection pool, built here instead of by sea-orm's `Database::connect` for one setting it
//! does not expose: when a pooled connection is checked before use.
//!
//! sqlx checks every connection it hands out with a round trip (`test_before_acquire`), and again
//! when the connection comes back. On PostgreSQL that made a one-statement write (an email marked
//! sent, a job settled) three round trips, each waking the server twice. Here a connection is
//! checked on the way out only when it sat idle for [`CHECK_IDLE_AFTER`]: that is when a server
//! restart or a firewall's idle cut can have broken it unseen. One used a moment ago fails its
//! statement if it broke since; the pool then drops it, and the work fails like on any database
//! error (a request answers `INTERNAL`, a job runs again).

use std::time::Duration;

use sea_orm::sqlx::pool::PoolOptions;
use sea_orm::sqlx::{ConnectOptions as _, Connection, Database, Pool, Postgres, Sqlite};
use sea_orm::{DatabaseConnection, DbErr, SqlxPostgresConnector, SqlxSqliteConnector};

/// A pooled connection idle at least this long is checked (one round trip) before use.
pub const CHECK_IDLE_AFTER: Duration = Duration::from_secs(5);

/// How the pool is sized and bounded.
pub struct PoolSize {
    pub max_connections: u32,
    pub min_connections: u32,
    /// Waiting for a connection (also opening one), at most.
    pub acquire_timeout: Duration,
}

/// Whether a connection taken from the pool is checked first.
fn worth_checking(idle_for: Duration) -> bool {
    idle_for >= CHECK_IDLE_AFTER
}

fn options<DB: Database>(size: &PoolSize) -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .max_connections(size.max_connections)
        .min_connections(size.min_connections)
        .acquire_timeout(size.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if worth_checking(meta.idle_for) {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Connects to `url` (`sqlite:` or `postgres:`), statements unlogged (they may hold secrets).
pub async fn connect(url: &str, size: &PoolSize) -> Result<DatabaseConnection, DbErr> {
    let refused = |e: sea_orm::sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e));
    if url.starts_with("sqlite:") {
        let pool = open::<Sqlite>(url.parse().map_err(refused)?, size).await;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(
            pool.map_err(refused)?,
        ))
    } else {
        let pool = open::<Postgres>(url.parse().map_err(refused)?, size).await;
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(
            pool.map_err(refused)?,
        ))
    }
}

async fn open<DB: Database>(
    connect: <DB::Connection as Connection>::Options,
    size: &PoolSize,
) -> Result<Pool<DB>, sea_orm::sqlx::Error> {
    options::<DB>(size)
        .connect_with(connect.disable_statement_logging())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_connection_idle_a_while_is_checked() {
        assert!(!worth_checking(Duration::ZERO));
        assert!(!worth_checking(Duration::from_millis(4_999)));
        assert!(worth_checking(CHECK_IDLE_AFTER));
        assert!(worth_checking(Duration::from_secs(3600)));
    }
}
