//! What operators see of the machinery: the dead jobs (failed for good, kept with their last error
//! for inspection), and clearing them once looked at. Admins only.

use crate::auth::{Principal, Role};
use crate::db::Db;
use crate::entity::job;
use crate::error::{AppError, AppResult};
use crate::jobs;

/// Dead jobs listed at most at once, and cleared at most at once.
pub const MAX_DEAD_LISTED: u64 = 200;
pub const MAX_CLEARED: usize = 500;

pub struct OperationsService {
    db: Db,
}

impl OperationsService {
    pub fn new(db: Db) -> Self {
        OperationsService { db }
    }

    /// The latest dead jobs, `first` of them (at most [`MAX_DEAD_LISTED`]).
    pub async fn dead_jobs(&self, p: &Principal, first: i32) -> AppResult<Vec<job::Model>> {
        p.require_role(Role::Admin)?;
        if !(1..=MAX_DEAD_LISTED as i32).contains(&first) {
            return Err(AppError::BadInput {
                field: "first".into(),
                message: format!("must be from 1 to {MAX_DEAD_LISTED}"),
            });
        }
        Ok(jobs::dead(self.db.conn(), first as u64).await?)
    }

    /// Deletes the dead jobs among `ids` (others are left alone); how many went.
    pub async fn clear_dead_jobs(&self, p: &Principal, ids: Vec<String>) -> AppResult<u64> {
        p.require_role(Role::Admin)?;
        if ids.len() > MAX_CLEARED {
            return Err(AppError::BadInput {
                field: "ids".into(),
                message: format!("at most {MAX_CLEARED} at once"),
            });
        }
        let txn = self.db.begin_write().await?;
        let cleared = jobs::clear_dead(&txn.txn, &ids).await?;
        txn.commit().await?;
        Ok(cleared)
    }
}
