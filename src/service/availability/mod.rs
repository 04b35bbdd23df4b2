//! A mentor's availability: weekly blocks ([`blocks`]), date overrides ([`overrides`]), saved
//! templates ([`templates`]) and booking rules.
//!
//! Every edit runs in one write transaction that first locks the mentor's settings row (PostgreSQL) or
//! holds the SQLite write gate, so two concurrent drags on the same day cannot leave overlapping
//! blocks. Slot caches and subscribers of the mentor's availability topic are told after each commit.

mod blocks;
mod overrides;
mod templates;

use std::sync::Arc;

use crate::auth::{Principal, Role};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppResult;
use crate::pubsub::topic;
use crate::service::after_commit::AfterCommit;
use crate::service::store::availability::all_blocks;
pub use crate::service::store::availability::{Availability, Block, Template};
use crate::service::store::settings::rules_for;
use crate::service::store::users::{find_mentor, User};
pub use blocks::WeeklyScheduleInput;

pub struct AvailabilityService {
    db: Db,
    clock: Arc<dyn Clock>,
    after_commit: AfterCommit,
}

impl AvailabilityService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, after_commit: AfterCommit) -> Self {
        AvailabilityService {
            db,
            clock,
            after_commit,
        }
    }

    /// Anyone signed in may read a mentor's availability (students need it to book).
    pub async fn get(&self, mentor_id: &str) -> AppResult<Availability> {
        let conn = self.db.conn();
        let mentor = find_mentor(conn, mentor_id).await?;
        let (zone, rules) = rules_for(conn, &mentor).await?;
        let today = self.clock.now().with_timezone(&zone.tz()).date_naive();
        let blocks = all_blocks(conn, mentor_id).await?;
        let overrides =
            crate::service::store::availability::upcoming_overrides(conn, mentor_id, today).await?;
        Ok(Availability {
            mentor_id: mentor.id,
            zone,
            rules,
            blocks,
            overrides,
        })
    }

    /// The caller, who must be a mentor editing their own schedule.
    async fn acting_mentor(&self, p: &Principal) -> AppResult<User> {
        p.require_role(Role::Mentor)?;
        find_mentor(self.db.conn(), &p.user_id).await
    }

    /// After a commit: tells slot caches and live subscribers, then returns the new state.
    async fn changed(&self, mentor_id: &str) -> AppResult<Availability> {
        let mut changes = self.after_commit.changes();
        changes.slots_of(mentor_id);
        changes.ring(topic::availability(mentor_id), serde_json::Value::Null);
        changes.apply().await;
        self.get(mentor_id).await
    }
}
