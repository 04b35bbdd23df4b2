//! Bookings waiting for payment: a regular booking made while payments are on holds its sessions
//! (they count as taken) until its first week is paid or the hold ends. Confirming starts what a
//! booking made at once starts (session timelines, and through `BookingCreated` the confirmations,
//! invites and calendar writes); releasing frees the sessions without telling anyone, since nobody
//! was told of the booking.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::{BookingService, HoldTerms, Session};
use crate::db::for_update;
use crate::domain::booking::{
    comes_into_view, BookingStatus, Frequency, PaymentStatus, SessionStatus,
};
use crate::domain::event::DomainEvent;
use crate::domain::money::Money;
use crate::domain::recurrence::WeeklySlot;
use crate::domain::time::TimeZone;
use crate::entity::{booking, payment, session};
use crate::error::{AppError, AppResult};
use crate::jobs::extend_booking;
use crate::jobs::payment::{queue, PaymentTask};
use crate::jobs::session_timeline;
use crate::service::after_commit::Changes;
use crate::service::store::prices::price_of;

/// Writes the payment of a booking being held (the weekly charge at the mentor's price) and queues
/// the end of its hold.
pub(super) async fn hold(
    txn: &impl ConnectionTrait,
    terms: &HoldTerms,
    row: &booking::Model,
    frequency: Frequency,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let price = price_of(txn, &row.mentor_id, &terms.default_price).await?;
    let weekly = Money::weekly(&price, frequency.per_week());
    let ends = now + terms.hold;
    payment::Entity::insert(payment::ActiveModel::from(payment::Model {
        booking_id: row.id.clone(),
        status: PaymentStatus::Pending,
        amount_minor: weekly.amount_minor,
        currency: weekly.currency.as_str().into(),
        interval: "week".into(),
        hold_expires_at: Some(ends),
        checkout_attempt: 0,
        checkout_session_id: None,
        checkout_url: None,
        customer_id: None,
        subscription_id: None,
        next_billing_at: None,
        created_at: now,
        updated_at: now,
    }))
    .exec_without_returning(txn)
    .await?;
    let end = PaymentTask::EndHold {
        booking_id: row.id.clone(),
    };
    queue(txn, now, &end, Some(ends)).await?;
    Ok(())
}

/// Queues the first phase still ahead of each session (reminders, "starting soon", the end).
pub(super) async fn start_timelines(
    txn: &impl ConnectionTrait,
    sessions: &[Session],
    now: DateTime<Utc>,
) -> AppResult<()> {
    session_timeline::start(
        txn,
        now,
        sessions
            .iter()
            .map(|s| (s.id.as_str(), s.sequence, s.start_at, s.end_at)),
    )
    .await?;
    Ok(())
}

async fn scheduled(txn: &impl ConnectionTrait, booking_id: &str) -> AppResult<Vec<Session>> {
    session::Entity::find()
        .filter(session::Column::BookingId.eq(booking_id))
        .filter(session::Column::Status.eq(SessionStatus::Scheduled))
        .all(txn)
        .await?
        .into_iter()
        .map(Session::try_from)
        .collect()
}

impl BookingService {
    /// Confirms a held booking (in the caller's transaction): `false` when it was not waiting.
    pub async fn confirm_held(
        &self,
        txn: &DatabaseTransaction,
        booking_id: &str,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        let Some(row) = for_update(txn, booking::Entity::find_by_id(booking_id))
            .one(txn)
            .await?
        else {
            return Ok(false);
        };
        if row.status != BookingStatus::Pending {
            return Ok(false);
        }
        let sessions = scheduled(txn, booking_id).await?;
        start_timelines(txn, &sessions, now).await?;
        if row.weeks.is_none() {
            // An ongoing booking's extension waits for it to be confirmed (a run during the hold
            // found it pending and stopped): queue it again.
            let bad =
                |why: String| AppError::Internal(anyhow::anyhow!("booking {booking_id}: {why}"));
            let zone: TimeZone = row.time_zone.parse().map_err(bad)?;
            let slots: Vec<WeeklySlot> =
                serde_json::from_str(&row.weekly_slots).map_err(|e| bad(e.to_string()))?;
            let weeks = row.weeks_created.max(0) as u32;
            if let Some(at) = comes_into_view(zone, &slots, weeks) {
                extend_booking::schedule(txn, now, booking_id, weeks, at.max(now)).await?;
            }
        }
        let student = row.student_id.clone();
        let mut active: booking::ActiveModel = row.into();
        active.status = Set(BookingStatus::Confirmed);
        active.updated_at = Set(now);
        booking::Entity::update(active).exec(txn).await?;
        let event = DomainEvent::BookingCreated {
            booking_id: booking_id.into(),
            session_ids: sessions.into_iter().map(|s| s.id).collect(),
        };
        self.events
            .record(txn, &event, Some(&student), now, changes)
            .await?;
        Ok(true)
    }

    /// Releases a held booking (in the caller's transaction): its sessions are cancelled and free
    /// again, nobody is told. `false` when it was not waiting.
    pub async fn release_held(
        &self,
        txn: &DatabaseTransaction,
        booking_id: &str,
        reason: &str,
        actor: Option<&str>,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> AppResult<bool> {
        let Some(row) = for_update(txn, booking::Entity::find_by_id(booking_id))
            .one(txn)
            .await?
        else {
            return Ok(false);
        };
        if row.status != BookingStatus::Pending {
            return Ok(false);
        }
        let ids: Vec<String> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::BookingId.eq(booking_id))
            .filter(session::Column::Status.eq(SessionStatus::Scheduled))
            .into_tuple()
            .all(txn)
            .await?;
        session::Entity::update_many()
            .col_expr(
                session::Column::Status,
                Expr::value(SessionStatus::Cancelled),
            )
            .col_expr(session::Column::CancelReason, Expr::value(reason))
            .col_expr(session::Column::CancelledBy, Expr::value(actor))
            .col_expr(session::Column::CancelledAt, Expr::value(now))
            .col_expr(session::Column::UpdatedAt, Expr::value(now))
            .filter(session::Column::Id.is_in(ids.clone()))
            .exec(txn)
            .await?;
        changes.slots_of(&row.mentor_id);
        let mut active: booking::ActiveModel = row.into();
        active.status = Set(BookingStatus::Cancelled);
        active.payment_status = Set(PaymentStatus::Cancelled);
        active.cancel_reason = Set(Some(reason.into()));
        active.cancelled_by = Set(actor.map(Into::into));
        active.cancelled_at = Set(Some(now));
        active.updated_at = Set(now);
        booking::Entity::update(active).exec(txn).await?;
        let event = DomainEvent::HoldReleased {
            booking_id: booking_id.into(),
            session_ids: ids,
            reason: reason.into(),
        };
        self.events.record(txn, &event, actor, now, changes).await?;
        Ok(true)
    }
}
