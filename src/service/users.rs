//! Local copies of platform users, created and refreshed from token claims.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::slots::SlotCache;
use crate::auth::{Principal, Role};
use crate::clock::Clock;
use crate::db::Db;
use crate::domain::time::TimeZone;
use crate::entity::user;
use crate::error::{AppError, AppResult};

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub role: Role,
    pub name: String,
    pub email: String,
    pub time_zone: TimeZone,
}

impl User {
    pub fn from_principal(p: &Principal) -> Self {
        User {
            id: p.user_id.clone(),
            role: p.role,
            name: p.name.clone(),
            email: p.email.clone(),
            time_zone: p.time_zone,
        }
    }
}

impl TryFrom<user::Model> for User {
    type Error = AppError;
    fn try_from(m: user::Model) -> AppResult<Self> {
        let corrupt = |what: String| AppError::Internal(anyhow::anyhow!("user {}: {what}", m.id));
        Ok(User {
            role: m.role.parse().map_err(corrupt)?,
            time_zone: m.time_zone.parse().map_err(corrupt)?,
            id: m.id,
            name: m.name,
            email: m.email,
        })
    }
}

/// Most requests come from a user whose record is already current: remember what was last written
/// so the hot path does no write.
const SYNC_CACHE_LIMIT: usize = 100_000;

pub struct UserService {
    db: Db,
    clock: Arc<dyn Clock>,
    synced: Mutex<HashMap<String, User>>,
    slot_cache: Arc<SlotCache>,
}

impl UserService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, slot_cache: Arc<SlotCache>) -> Self {
        UserService {
            db,
            clock,
            synced: Mutex::new(HashMap::new()),
            slot_cache,
        }
    }

    /// Creates the caller's record on first sight and refreshes role, name, email and zone after.
    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id), err(level = "debug"))]
    pub async fn sync_from_claims(&self, principal: &Principal) -> AppResult<()> {
        let wanted = User::from_principal(principal);
        if self.synced.lock().expect("user cache").get(&wanted.id) == Some(&wanted) {
            return Ok(());
        }
        let now = self.clock.now();
        let row = user::ActiveModel {
            id: Set(wanted.id.clone()),
            role: Set(wanted.role.as_str().into()),
            name: Set(wanted.name.clone()),
            email: Set(wanted.email.clone()),
            time_zone: Set(wanted.time_zone.name().into()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        user::Entity::insert(row)
            .on_conflict(
                OnConflict::column(user::Column::Id)
                    .update_columns([
                        user::Column::Role,
                        user::Column::Name,
                        user::Column::Email,
                        user::Column::TimeZone,
                        user::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        // A mentor's zone (without settings of their own) and role decide their slots.
        self.slot_cache.changed(&wanted.id).await;
        let mut cache = self.synced.lock().expect("user cache");
        if cache.len() >= SYNC_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(wanted.id.clone(), wanted);
        Ok(())
    }

    pub async fn find(&self, id: &str) -> AppResult<Option<User>> {
        user::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?
            .map(User::try_from)
            .transpose()
    }

    /// Users by id, for a data loader; unknown ids are left out.
    pub async fn by_ids(&self, ids: &[String]) -> AppResult<HashMap<String, User>> {
        users_by_id(self.db.conn(), ids).await
    }

    /// The mentor with this id, or `NOT_FOUND` (also for users who are not mentors).
    pub async fn mentor(&self, id: &str) -> AppResult<User> {
        find_mentor(&self.db, id).await
    }
}

/// Users by id on any connection (a transaction included); unknown ids are left out.
pub(crate) async fn users_by_id(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> AppResult<HashMap<String, User>> {
    user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().cloned()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| User::try_from(m).map(|u| (u.id.clone(), u)))
        .collect()
}

pub(crate) async fn find_mentor(db: &Db, id: &str) -> AppResult<User> {
    match find_user(db, id).await {
        Ok(u) if u.role == Role::Mentor => Ok(u),
        Ok(_) | Err(AppError::NotFound(_)) => {
            Err(AppError::NotFound(format!("no mentor with id {id:?}")))
        }
        Err(e) => Err(e),
    }
}

/// Any user with this id, or `NOT_FOUND`.
pub(crate) async fn find_user(db: &Db, id: &str) -> AppResult<User> {
    user::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .map(User::try_from)
        .transpose()?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {id:?}")))
}
