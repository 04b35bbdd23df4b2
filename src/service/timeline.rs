//! Running a session's timeline phases: reminder emails 24 hours and 1 hour ahead (written a minute
//! before, sent at their time), "starting soon" notifications with each participant's join link,
//! then at the end marking the session (and a finished booking) completed, which asks the student
//! for feedback.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};

use super::after_commit::{AfterCommit, Changes};
use super::email::{self, Outbox};
use super::events::EventLog;
use super::notifications::{deliver_with_texts, Outgoing};
use super::sms::{Draft, SmsOutbox};
use crate::auth::join::JoinLinks;
use crate::clock::Clock;
use crate::db::{for_update, Db};
use crate::domain::booking::{BookingStatus, SessionStatus};
use crate::domain::event::DomainEvent;
use crate::domain::notification::messages;
use crate::domain::timeline::{Ahead, Phase};
use crate::entity::{booking, session};
use crate::error::AppResult;
use crate::jobs::session_timeline::{self, SessionTimeline};
use crate::service::store::cast::Cast;

pub struct TimelineService {
    db: Db,
    clock: Arc<dyn Clock>,
    join_links: Arc<JoinLinks>,
    outbox: Arc<Outbox>,
    texts: Arc<SmsOutbox>,
    events: EventLog,
    after_commit: AfterCommit,
}

impl TimelineService {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        join_links: Arc<JoinLinks>,
        (outbox, texts): (Arc<Outbox>, Arc<SmsOutbox>),
        events: EventLog,
        after_commit: AfterCommit,
    ) -> Self {
        TimelineService {
            db,
            clock,
            join_links,
            outbox,
            texts,
            events,
            after_commit,
        }
    }

    /// Runs one phase and queues the next, in one transaction. Idempotent: a repeated run finds its
    /// notifications written (by their dedupe keys) or the session no longer scheduled.
    pub async fn run(&self, job: &SessionTimeline) -> AppResult<()> {
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let Some(row) = for_update(txn, session::Entity::find_by_id(job.session_id.as_str()))
            .one(txn)
            .await?
        else {
            return Ok(());
        };
        let scheduled = row.status == SessionStatus::Scheduled;
        if row.sequence != job.sequence || !scheduled {
            return Ok(());
        }
        let mut changes = self.after_commit.changes();
        if job.phase.still_useful(row.start_at, now) {
            match job.phase {
                Phase::Reminder24h | Phase::Reminder1h => {
                    self.remind(txn, &row, job.phase, now).await?
                }
                Phase::StartingSoon => self.starting_soon(txn, &row, now, &mut changes).await?,
                Phase::Ended => self.complete(txn, &row, now, &mut changes).await?,
            }
        }
        if let Some(next) = job.phase.next() {
            let next_job = SessionTimeline {
                phase: next,
                ..job.clone()
            };
            session_timeline::queue(txn, now, &next_job, next.run_at(row.start_at, row.end_at))
                .await?;
        }
        write.commit().await?;
        changes.apply().await;
        Ok(())
    }

    /// Writes the reminder emails (keyed by session, sequence and phase, so a repeated run sends
    /// nothing more), and for the 1-hour one the texts, ahead of their time: they wait for the
    /// reminder's due time and go only if the session is then still scheduled as now. Notes the
    /// reminder as written on the session.
    async fn remind(
        &self,
        txn: &impl ConnectionTrait,
        row: &session::Model,
        phase: Phase,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AppResult<()> {
        let ahead = Ahead {
            due: phase.due(row.start_at, row.end_at),
            session_id: row.id.clone(),
            sequence: row.sequence,
        };
        let emails = email::produce::reminders(txn, &self.outbox, row, phase, now).await?;
        email::queue_ahead(txn, &self.outbox, emails, now, &ahead).await?;
        if phase == Phase::Reminder1h {
            // By text too, for those who asked: the same words the app uses ten minutes ahead.
            let cast = Cast::load(txn, &row.booking_id).await?;
            let key = format!("{}:{}:{}", phase.as_str(), row.id, row.sequence);
            let drafts =
                messages::reminder(&cast.facts(), &row.id, row.start_at, "1 hour", |user| {
                    self.join_links.url(&row.id, user, row.end_at)
                })
                .into_iter()
                .map(|(to, message)| Draft {
                    to,
                    message,
                    dedupe_key: Some(key.clone()),
                    notification_id: None,
                })
                .collect();
            self.texts.queue_ahead(txn, drafts, now, &ahead).await?;
        }
        let flag = match phase {
            Phase::Reminder24h => session::Column::Reminder24hSent,
            _ => session::Column::Reminder1hSent,
        };
        session::Entity::update_many()
            .col_expr(flag, Expr::value(true))
            .filter(session::Column::Id.eq(row.id.as_str()))
            .exec(txn)
            .await?;
        Ok(())
    }

    async fn starting_soon(
        &self,
        txn: &impl ConnectionTrait,
        row: &session::Model,
        now: chrono::DateTime<chrono::Utc>,
        changes: &mut Changes,
    ) -> AppResult<()> {
        let cast = Cast::load(txn, &row.booking_id).await?;
        let outgoing = messages::starting_soon(&cast.facts(), &row.id, row.start_at, |user| {
            self.join_links.url(&row.id, user, row.end_at)
        })
        .into_iter()
        .map(|(to, message)| Outgoing {
            to,
            message,
            dedupe_key: Some(format!("starting_soon:{}:{}", row.id, row.sequence)),
        })
        .collect();
        deliver_with_texts(txn, &self.texts, outgoing, now)
            .await?
            .owe(changes);
        Ok(())
    }

    /// Marks the session completed, and its booking too when it has a fixed end and nothing is left
    /// scheduled; records `SESSION_COMPLETED` (which asks the student for feedback).
    async fn complete(
        &self,
        txn: &DatabaseTransaction,
        row: &session::Model,
        now: chrono::DateTime<chrono::Utc>,
        changes: &mut Changes,
    ) -> AppResult<()> {
        mark_completed(txn, row, now).await?;
        let completed = DomainEvent::SessionCompleted {
            booking_id: row.booking_id.clone(),
            session_id: row.id.clone(),
        };
        self.events
            .record(txn, &completed, None, now, changes)
            .await
    }
}

/// Marks the session completed, and its booking too when it has a fixed end and nothing is left
/// scheduled.
async fn mark_completed(
    txn: &impl ConnectionTrait,
    row: &session::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    session::Entity::update_many()
        .col_expr(
            session::Column::Status,
            Expr::value(SessionStatus::Completed),
        )
        .col_expr(session::Column::UpdatedAt, Expr::value(now))
        .filter(session::Column::Id.eq(row.id.as_str()))
        .exec(txn)
        .await?;
    let left = session::Entity::find()
        .filter(session::Column::BookingId.eq(row.booking_id.as_str()))
        .filter(session::Column::Status.eq(SessionStatus::Scheduled))
        .count(txn)
        .await?;
    if left == 0 {
        if let Some(b) = booking::Entity::find_by_id(row.booking_id.as_str())
            .one(txn)
            .await?
        {
            if b.weeks.is_some() && b.status == BookingStatus::Confirmed {
                let mut active: booking::ActiveModel = b.into();
                active.status = Set(BookingStatus::Completed);
                active.updated_at = Set(now);
                booking::Entity::update(active).exec(txn).await?;
            }
        }
    }
    Ok(())
}
