//! The mentor's calendar conflicts: listed newest first, and settled by the mentor: keep the session,
//! cancel it, move it, or put its event back.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::CalendarService;
use crate::auth::{Principal, Role};
use crate::domain::booking::SessionStatus;
use crate::domain::calendar::{ConflictKind, ConflictResolution};
use crate::entity::{calendar_conflict as conflict, calendar_event, session};
use crate::error::{AppError, AppResult};
use crate::service::page::{decode_cursor, page_of, page_size, Page};

/// A conflict as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict(pub conflict::Model);

impl TryFrom<conflict::Model> for Conflict {
    type Error = AppError;
    fn try_from(m: conflict::Model) -> AppResult<Self> {
        Ok(Conflict(m))
    }
}

impl CalendarService {
    /// The mentor's conflicts, newest first (`open_only`: those not yet settled).
    pub async fn conflicts(
        &self,
        p: &Principal,
        first: i32,
        after: Option<&str>,
        open_only: bool,
    ) -> AppResult<Page<Conflict>> {
        p.require_role(Role::Mentor)?;
        let size = page_size(first)?;
        let mut query = conflict::Entity::find().filter(conflict::Column::MentorId.eq(&p.user_id));
        if open_only {
            query = query.filter(conflict::Column::ResolvedAt.is_null());
        }
        if let Some(after) = after {
            query = query.filter(conflict::Column::Id.lt(decode_cursor(after)?));
        }
        let rows = query
            .order_by_desc(conflict::Column::Id)
            .limit(size + 1)
            .all(self.db.conn())
            .await?;
        page_of(rows, size, |m| m.id.clone())
    }

    /// Settles an open conflict of the mentor's. `start`: where to move the session
    /// (`RESCHEDULE_SESSION` only; checked like any move).
    pub async fn resolve_conflict(
        &self,
        p: &Principal,
        id: &str,
        action: ConflictResolution,
        start: Option<DateTime<Utc>>,
    ) -> AppResult<Conflict> {
        p.require_role(Role::Mentor)?;
        let db = self.db.conn();
        let found = conflict::Entity::find_by_id(id)
            .filter(conflict::Column::MentorId.eq(&p.user_id))
            .one(db)
            .await?
            .ok_or_else(|| AppError::NotFound("there is no such conflict".into()))?;
        if found.resolved_at.is_some() {
            return Err(AppError::Conflict("the conflict is already settled".into()));
        }
        let s = match &found.session_id {
            Some(id) => session::Entity::find_by_id(id.clone()).one(db).await?,
            None => None,
        };
        let live = s.as_ref().filter(|s| s.status == SessionStatus::Scheduled);
        if start.is_some() && action != ConflictResolution::RescheduleSession {
            return Err(AppError::bad_input("start", "only for RESCHEDULE_SESSION"));
        }
        match action {
            ConflictResolution::KeepSession => {}
            ConflictResolution::CancelSession => {
                if let Some(s) = live {
                    self.bookings
                        .cancel_session(
                            p,
                            &s.id,
                            Some("conflict with the mentor's calendar".into()),
                        )
                        .await?;
                }
            }
            ConflictResolution::RescheduleSession => {
                let start = start.ok_or_else(|| {
                    AppError::bad_input("start", "RESCHEDULE_SESSION needs the new start")
                })?;
                let s = live.ok_or_else(|| {
                    AppError::bad_input("action", "the session is no longer scheduled")
                })?;
                self.bookings.reschedule_session(p, &s.id, start).await?;
            }
            ConflictResolution::RestoreEvent => {
                if found.kind == ConflictKind::BusyOverSession {
                    return Err(AppError::bad_input(
                        "action",
                        "RESTORE_EVENT settles a deleted or moved session event",
                    ));
                }
                let s = live.ok_or_else(|| {
                    AppError::bad_input("action", "the session is no longer scheduled")
                })?;
                if let Some(event) = calendar_event::Entity::find_by_id(s.id.clone())
                    .one(db)
                    .await?
                {
                    self.restore_event(&event, self.clock.now()).await?;
                }
            }
        }
        let txn = self.db.begin_write().await?;
        let mut settled: conflict::ActiveModel = found.into();
        settled.resolved_at = Set(Some(self.clock.now()));
        settled.resolution = Set(Some(action));
        let settled = settled.update(&txn.txn).await?;
        txn.commit().await?;
        Ok(Conflict(settled))
    }
}
