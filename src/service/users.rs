//! Local copies of platform users, created and refreshed from token claims.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::auth::Principal;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppResult;
use crate::service::after_commit::AfterCommit;
pub use crate::service::store::users::User;
use crate::service::store::users::{self, find_mentor, users_by_id};

/// Most requests come from a user whose record is already current: remember what was last written
/// so the hot path does no write.
const SYNC_CACHE_LIMIT: usize = 100_000;

pub struct UserService {
    db: Db,
    clock: Arc<dyn Clock>,
    /// What was last written for each user: their record, and the number their token vouched for.
    synced: Mutex<HashMap<String, (User, Option<String>)>>,
    after_commit: AfterCommit,
}

impl UserService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, after_commit: AfterCommit) -> Self {
        UserService {
            db,
            clock,
            synced: Mutex::new(HashMap::new()),
            after_commit,
        }
    }

    /// Creates the caller's record on first sight and refreshes role, name, email and zone after;
    /// a phone number the token vouches for (verified by the platform) becomes their number.
    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id), err(level = "debug"))]
    pub async fn sync_from_claims(&self, principal: &Principal) -> AppResult<()> {
        let wanted = (User::from_principal(principal), principal.phone.clone());
        if self.cache().get(&wanted.0.id) == Some(&wanted) {
            return Ok(());
        }
        let now = self.clock.now();
        users::upsert(self.db.conn(), &wanted.0, now).await?;
        if let Some(phone) = &wanted.1 {
            users::set_verified_phone(self.db.conn(), &wanted.0.id, phone, now).await?;
        }
        let (wanted, phone) = wanted;
        // A mentor's zone (without settings of their own) and role decide their slots.
        let mut changes = self.after_commit.changes();
        changes.slots_of(&wanted.id);
        changes.apply().await;
        let mut cache = self.cache();
        if cache.len() >= SYNC_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(wanted.id.clone(), (wanted, phone));
        Ok(())
    }

    pub async fn find(&self, id: &str) -> AppResult<Option<User>> {
        let found = users_by_id(self.db.conn(), &[id.to_string()]).await?;
        Ok(found.into_values().next())
    }

    /// Users by id, for a data loader; unknown ids are left out.
    pub async fn by_ids(&self, ids: &[String]) -> AppResult<HashMap<String, User>> {
        users_by_id(self.db.conn(), ids).await
    }

    /// The mentor with this id, or `NOT_FOUND` (also for users who are not mentors).
    pub async fn mentor(&self, id: &str) -> AppResult<User> {
        find_mentor(self.db.conn(), id).await
    }

    /// Every change is one call under the lock, so a poisoned lock still holds whole entries.
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (User, Option<String>)>> {
        self.synced.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
