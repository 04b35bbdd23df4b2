//! Calendar connections: a mentor connects a provider (OAuth with PKCE, a single-use state bound to
//! them), the tokens are sealed at rest, and the connection's status is read back. Nothing is read
//! from a calendar before its mentor connects it.

mod alerts;
mod channels;
mod conflicts;
mod connect;
mod connect_caldav;
mod controls;
mod push;
mod sessions;
mod status;
mod sync;
mod two_way;
mod write;

use std::sync::Arc;

pub use conflicts::Conflict;
pub use connect::{ConnectFailure, ConnectStart};
pub use connect_caldav::CalDavLogin;
pub use controls::SyncSettings;
pub use push::{GraphNotification, Push};
pub use sessions::CalendarWrites;
pub use status::{CalendarChoice, CalendarStatus};

use crate::auth::join::JoinLinks;
use crate::auth::vault::TokenVault;
use crate::clock::Clock;
use crate::db::Db;
use crate::domain::calendar::CalendarProvider;
use crate::error::{AppError, AppResult};
use crate::integrations::calendar::api::{CalendarApi, CalendarApis};
use crate::integrations::calendar::oauth::OAuthClient;
use crate::jobs::JobBell;
use crate::service::after_commit::AfterCommit;
use crate::service::bookings::BookingService;
use crate::service::email::Outbox;

/// How long a mentor has between asking to connect and coming back from the provider.
pub const STATE_TTL_MINUTES: i64 = 10;

pub struct CalendarService {
    db: Db,
    clock: Arc<dyn Clock>,
    vault: Arc<TokenVault>,
    apis: CalendarApis,
    after_commit: AfterCommit,
    outbox: Arc<Outbox>,
    join_links: Arc<JoinLinks>,
    /// Rung after queueing a read for now (a push, sync now): a worker here takes it at once.
    bell: JobBell,
    bookings: Arc<BookingService>,
    refresh_locks: sync::RefreshLocks,
    write_pace: write::WritePace,
}

/// What the calendar service works with besides the database, the clock and the after-commit hooks.
pub struct CalendarParts {
    pub vault: Arc<TokenVault>,
    /// The providers configured.
    pub apis: CalendarApis,
    pub outbox: Arc<Outbox>,
    pub join_links: Arc<JoinLinks>,
    pub bell: JobBell,
    /// To cancel or move a session as its mentor did on their calendar.
    pub bookings: Arc<BookingService>,
}

impl CalendarService {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        after_commit: AfterCommit,
        parts: CalendarParts,
    ) -> Self {
        let CalendarParts {
            vault,
            apis,
            outbox,
            join_links,
            bell,
            bookings,
        } = parts;
        CalendarService {
            db,
            clock,
            vault,
            apis,
            after_commit,
            outbox,
            join_links,
            bell,
            bookings,
            refresh_locks: Default::default(),
            write_pace: Default::default(),
        }
    }

    /// Tells `calendarStatusChanged` subscribers (on every node) that a connection changed; call it
    /// after the change has committed.
    async fn status_changed(&self, mentor_id: &str, provider: CalendarProvider) {
        let mut changes = self.after_commit.changes();
        changes.ring(
            crate::pubsub::topic::calendar(mentor_id),
            serde_json::json!({ "provider": provider.slug() }),
        );
        changes.apply().await;
    }

    /// The client of `provider`, or why there is none.
    fn api_for(&self, provider: CalendarProvider) -> AppResult<&dyn CalendarApi> {
        self.apis.get(provider).ok_or_else(|| AppError::BadInput {
            field: "provider".into(),
            message: format!(
                "{} is not configured on this server",
                provider.display_name()
            ),
        })
    }
}

impl CalendarService {
    /// The OAuth client of `provider`, or why there is none (not configured, or a provider
    /// connected with a password).
    fn oauth_of(&self, provider: CalendarProvider) -> AppResult<&OAuthClient> {
        self.api_for(provider)?
            .oauth()
            .ok_or_else(|| AppError::BadInput {
                field: "provider".into(),
                message: format!(
                    "{} connects with a server URL, username and password (connectCalDav)",
                    provider.display_name()
                ),
            })
    }
}

/// Where a sealed token is kept: a ciphertext opens only there.
fn token_context(provider: CalendarProvider, mentor_id: &str, which: &str) -> String {
    format!("calendar/{}/{mentor_id}/{which}", provider.slug())
}

/// Whether a calendar is read: its events count as busy, or it receives sessions (whose events are
/// read back for what the mentor did to them).
fn watched(c: &crate::entity::external_calendar::Model) -> bool {
    c.counts_as_busy || c.receives_sessions
}

/// SHA-256 of a secret, in hex: what is kept of states and channel tokens.
fn digest(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 256 random bits, URL-safe: OAuth states, channel tokens.
fn random_secret() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
