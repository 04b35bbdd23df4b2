//! Receipts of signed provider deliveries: recorded in the transaction that applies a delivery, so
//! a replay (an attacker's, or the provider's own redelivery of one we applied) changes nothing.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::db::forget_before;
use crate::entity::webhook_receipt::{self, Column};
use crate::error::AppResult;

/// How long a receipt is kept: longer than the oldest delivery any provider's check accepts (SNS:
/// a day), so a replay is refused as stale or as seen, never applied twice.
const KEPT: Duration = Duration::hours(48);
/// Old receipts deleted with each new one, at most (a steady trickle keeps the table small).
const FORGET_BATCH: u64 = 100;

/// One delivery: which provider's (`sendgrid`, `sns`) and its identity there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub source: &'static str,
    pub id: String,
}

/// Records `receipt`; false when it was recorded before (the delivery is a replay).
pub async fn record(
    conn: &impl ConnectionTrait,
    receipt: &Receipt,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let inserted = webhook_receipt::Entity::insert(webhook_receipt::ActiveModel {
        source: Set(receipt.source.to_string()),
        id: Set(receipt.id.chars().take(255).collect()),
        received_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([Column::Source, Column::Id])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    if inserted == 1 {
        let key = [Column::Source, Column::Id];
        forget_before::<webhook_receipt::Entity>(
            conn,
            &key,
            Column::ReceivedAt,
            now - KEPT,
            FORGET_BATCH,
        )
        .await?;
    }
    Ok(inserted == 1)
}
