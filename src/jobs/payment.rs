//! `payment.stripe`: what the service owes Stripe after a commit, each retried until done:
//! ending a hold (expire its checkout, then release the sessions unless it was paid), expiring a
//! checkout nobody will pay, cancelling a subscription (at once, or at the end of the period that
//! pays a fixed booking's last week), refunding, and learning what paid an invoice.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::job::Job;
use super::queue::{enqueue, EnqueueOptions};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PaymentTask {
    /// The hold on a booking's sessions runs out.
    EndHold { booking_id: String },
    /// A checkout that must not be paid any more (its booking was released or given a new one).
    ExpireCheckout {
        booking_id: String,
        checkout_id: String,
    },
    CancelSubscription {
        booking_id: String,
        subscription_id: String,
    },
    /// A fixed booking's last week is paid: no charge after the current period.
    EndSubscription {
        booking_id: String,
        subscription_id: String,
    },
    /// Give back what a `payment_refunds` row says.
    Refund { refund_id: String },
    /// Learn what paid an invoice (refunds made anywhere are then matched to it).
    ReadInvoicePayment { invoice_id: String },
}

impl Job for PaymentTask {
    const KIND: &'static str = "payment.stripe";
    /// Stripe's outages and rate limits pass; a day of backoff covers them.
    const MAX_ATTEMPTS: i32 = 16;
}

impl PaymentTask {
    fn key(&self) -> String {
        match self {
            PaymentTask::EndHold { booking_id } => format!("end_hold:{booking_id}"),
            PaymentTask::ExpireCheckout { checkout_id, .. } => format!("expire:{checkout_id}"),
            PaymentTask::CancelSubscription {
                subscription_id, ..
            } => format!("cancel:{subscription_id}"),
            PaymentTask::EndSubscription {
                subscription_id, ..
            } => format!("end:{subscription_id}"),
            PaymentTask::Refund { refund_id } => format!("refund:{refund_id}"),
            PaymentTask::ReadInvoicePayment { invoice_id } => format!("read:{invoice_id}"),
        }
    }
}

/// Queues `task` (once: a second queueing while it waits is skipped) at `run_at` (default now).
pub async fn queue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    task: &PaymentTask,
    run_at: Option<DateTime<Utc>>,
) -> Result<(), sea_orm::DbErr> {
    let opts = EnqueueOptions {
        run_at,
        unique_key: Some(format!("{}:{}", PaymentTask::KIND, task.key())),
    };
    enqueue(conn, now, task, opts).await.map(|_| ())
}
