//! The mentor's calendar conflicts: listed newest first, and settled by the mentor: keep the session,
//! cancel it, move it, or put its event back.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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
        // Settled here first, so two settlements racing cannot both act; undone if the action fails.
        let now = self.clock.now();
        if !self.mark_settled(id, Some(action), now).await? {
            return Err(AppError::Conflict("the conflict is already settled".into()));
        }
        if let Err(e) = self.act(p, &found, live, action, start).await {
            self.mark_open(id).await?;
            return Err(e);
        }
        let settled = conflict::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| AppError::NotFound("there is no such conflict".into()))?;
        Ok(Conflict(settled))
    }

    /// Does what settling `found` with `action` asks.
    async fn act(
        &self,
        p: &Principal,
        found: &conflict::Model,
        live: Option<&session::Model>,
        action: ConflictResolution,
        start: Option<DateTime<Utc>>,
    ) -> AppResult<()> {
        match action {
            ConflictResolution::KeepSession => {
                if let (ConflictKind::SessionEventDeleted, Some(s)) = (found.kind, live) {
                    // The session goes on without an event: a later read of the deletion is not
                    // the mentor's doing again, and a later change to the session writes a new one.
                    let txn = self.db.begin_write().await?;
                    calendar_event::Entity::update_many()
                        .col_expr(
                            calendar_event::Column::WrittenSequence,
                            Expr::value(Option::<i32>::None),
                        )
                        .filter(calendar_event::Column::SessionId.eq(&s.id))
                        .exec(&txn.txn)
                        .await?;
                    txn.commit().await?;
                }
            }
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
                    .one(self.db.conn())
                    .await?
                {
                    self.restore_event(&event, self.clock.now()).await?;
                }
            }
        }
        Ok(())
    }

    /// Marks an open conflict settled (`resolution` none: its cause went away); false when it was
    /// settled already.
    pub(super) async fn mark_settled(
        &self,
        id: &str,
        resolution: Option<ConflictResolution>,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        let txn = self.db.begin_write().await?;
        let done = conflict::Entity::update_many()
            .col_expr(conflict::Column::ResolvedAt, Expr::value(now))
            .col_expr(conflict::Column::Resolution, Expr::value(resolution))
            .filter(conflict::Column::Id.eq(id))
            .filter(conflict::Column::ResolvedAt.is_null())
            .exec(&txn.txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(done == 1)
    }

    async fn mark_open(&self, id: &str) -> AppResult<()> {
        let txn = self.db.begin_write().await?;
        conflict::Entity::update_many()
            .col_expr(
                conflict::Column::ResolvedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                conflict::Column::Resolution,
                Expr::value(Option::<ConflictResolution>::None),
            )
            .filter(conflict::Column::Id.eq(id))
            .exec(&txn.txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
