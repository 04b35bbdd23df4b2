//! The payment rows: finding and locking a booking's payment, and changing its status on both the
//! payment and the booking (`Booking.paymentStatus` reads the booking's copy).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::db::for_update;
use crate::domain::booking::PaymentStatus;
use crate::entity::{booking, payment};
use crate::error::AppResult;

/// A booking's payment, locked for the rest of the transaction. The booking is locked first, as
/// every change to a booking does (a cancellation locks its booking, then its consumers touch the
/// payment): one order everywhere, so a webhook and a cancellation cannot deadlock.
pub(super) async fn lock(
    conn: &impl ConnectionTrait,
    booking_id: &str,
) -> AppResult<Option<payment::Model>> {
    Ok(lock_with_booking(conn, booking_id)
        .await?
        .map(|(_, payment)| payment))
}

/// [`lock`], keeping the booking read on the way (as it was when locked).
pub(super) async fn lock_with_booking(
    conn: &impl ConnectionTrait,
    booking_id: &str,
) -> AppResult<Option<(booking::Model, payment::Model)>> {
    let Some(booking) = for_update(conn, booking::Entity::find_by_id(booking_id))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(for_update(conn, payment::Entity::find_by_id(booking_id))
        .one(conn)
        .await?
        .map(|payment| (booking, payment)))
}

/// The booking paying through `subscription_id`.
pub(super) async fn booking_of_subscription(
    conn: &impl ConnectionTrait,
    subscription_id: &str,
) -> AppResult<Option<String>> {
    Ok(payment::Entity::find()
        .filter(payment::Column::SubscriptionId.eq(subscription_id))
        .one(conn)
        .await?
        .map(|p| p.booking_id))
}

/// Sets the status of `booking_id`'s payment (and the booking's copy).
pub(super) async fn set_status(
    conn: &impl ConnectionTrait,
    booking_id: &str,
    status: PaymentStatus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(status))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::BookingId.eq(booking_id))
        .exec(conn)
        .await?;
    set_booking_status(conn, booking_id, status, now).await
}

/// Sets the booking's copy of its payment status, for a caller that changed the payment's status
/// in an update of its own.
pub(super) async fn set_booking_status(
    conn: &impl ConnectionTrait,
    booking_id: &str,
    status: PaymentStatus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    booking::Entity::update_many()
        .col_expr(booking::Column::PaymentStatus, Expr::value(status))
        .col_expr(booking::Column::UpdatedAt, Expr::value(now))
        .filter(booking::Column::Id.eq(booking_id))
        .exec(conn)
        .await?;
    Ok(())
}
