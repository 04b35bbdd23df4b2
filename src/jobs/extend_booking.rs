//! `booking.extend`: keeps an ongoing booking's sessions four weeks ahead.
//!
//! Enqueued with the booking for the moment its next week comes within four weeks, and again by
//! each run for the week after. The unique key names the week, so a run can queue its successor
//! while it still holds its own key.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::job::Job;
use super::queue::{enqueue, EnqueueOptions};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtendBooking {
    pub booking_id: String,
}

impl Job for ExtendBooking {
    const KIND: &'static str = "booking.extend";
}

/// Queues the extension of `booking_id` that will create week `week`, to run at `run_at`.
pub async fn schedule(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    booking_id: &str,
    week: u32,
    run_at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    enqueue(
        conn,
        now,
        &ExtendBooking {
            booking_id: booking_id.into(),
        },
        EnqueueOptions {
            run_at: Some(run_at),
            unique_key: Some(format!("{}:{booking_id}:{week}", ExtendBooking::KIND)),
        },
    )
    .await
    .map(|_| ())
}
