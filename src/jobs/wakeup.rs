//! Runners on PostgreSQL wake when work is queued, on any node: queueing a job sends
//! `NOTIFY mentor_jobs` in the queueing transaction (PostgreSQL delivers it at commit, once however
//! many jobs the transaction queued), and each process listens on its own connection and rings its
//! runner's bell. The poll stays as the net under it (a notification lost while the listener
//! reconnects). SQLite is one process: its bell is rung where work is queued for now.

use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::bell::JobBell;

/// The channel runners listen on.
pub const CHANNEL: &str = "mentor_jobs";
/// The wait before listening again after the connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// Tells every listening runner that jobs were queued (on PostgreSQL; nothing elsewhere).
pub(super) async fn notify(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_unprepared(&format!("NOTIFY {CHANNEL}"))
            .await?;
    }
    Ok(())
}

/// Listens for queued work and rings `bell` for each notification, until `shutdown`; `None` off
/// PostgreSQL. Returns once listening (or once the first try failed: it tries again meanwhile).
pub async fn listen(
    db: &DatabaseConnection,
    bell: JobBell,
    mut shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return None;
    }
    let pool = db.get_postgres_connection_pool().clone();
    let mut first = Some(listening(&pool).await);
    Some(tokio::spawn(async move {
        loop {
            let attempt = match first.take() {
                Some(attempt) => attempt,
                None => listening(&pool).await,
            };
            let mut listener = match attempt {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "job wake-ups: not listening; polling meanwhile");
                    tokio::select! {
                        _ = shutdown.wait_for(|stop| *stop) => return,
                        _ = tokio::time::sleep(RELISTEN_AFTER) => continue,
                    }
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    received = listener.recv() => match received {
                        Ok(_) => bell.ring(),
                        Err(error) => {
                            tracing::warn!(%error, "job wake-ups: the listening connection failed");
                            break;
                        }
                    },
                }
            }
        }
    }))
}

/// A connection listening on [`CHANNEL`].
async fn listening(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
