//! Writing notifications inside the caller's transaction, and ringing their owners after it commits.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};

use super::Notification;
use crate::db::new_id;
use crate::domain::notification::{Channel, Message};
use crate::entity::notification;
use crate::error::{AppError, AppResult};
use crate::pubsub::{topic, EventBus};
use crate::service::after_commit::Changes;
use crate::service::store::preferences::muted;

/// A notification to write for `to`, unless they switched its kind off in the app. `dedupe_key`
/// names it for producers that may run twice: a second write with the same key is skipped.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub message: Message,
    pub dedupe_key: Option<String>,
}

/// What a user's topic carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum UserRing {
    /// A notification was written (and committed).
    New { notification: Box<Notification> },
    /// Some notifications were marked read: counts changed.
    Read,
}

/// Rings owed after a transaction commits. Dropping them only delays live delivery (subscribers
/// catch up on their next ring), but every commit should be followed by [`Bells::ring`].
#[must_use = "ring the bells after the transaction commits"]
#[derive(Debug, Default)]
pub struct Bells {
    rings: Vec<(String, UserRing)>,
}

impl Bells {
    pub fn new_notifications(&self) -> impl Iterator<Item = &Notification> {
        self.rings.iter().filter_map(|(_, r)| match r {
            UserRing::New { notification } => Some(notification.as_ref()),
            UserRing::Read => None,
        })
    }

    pub fn read(user_id: &str) -> Self {
        Bells {
            rings: vec![(user_id.to_string(), UserRing::Read)],
        }
    }

    pub fn merge(&mut self, other: Bells) {
        self.rings.extend(other.rings);
    }

    /// Leaves the rings with the rest of a transaction's changes, to go out after its commit.
    pub fn owe(self, changes: &mut Changes) {
        for (user_id, ring) in self.rings {
            match serde_json::to_value(&ring) {
                Ok(payload) => changes.ring(topic::user(&user_id), payload),
                Err(e) => tracing::error!(error = %e, "cannot encode a notification ring"),
            }
        }
    }

    pub async fn ring(self, bus: &dyn EventBus) {
        for (user_id, ring) in self.rings {
            match serde_json::to_value(&ring) {
                Ok(payload) => bus.publish(&topic::user(&user_id), payload).await,
                Err(e) => tracing::error!(error = %e, "cannot encode a notification ring"),
            }
        }
    }
}

/// Writes each outgoing notification its recipient has not switched off, numbering each user's in
/// order under a lock on their counter row (taken in user id order, so concurrent writers to the same
/// users cannot deadlock). Costs one statement per recipient plus one insert for all.
pub async fn deliver(
    conn: &impl ConnectionTrait,
    outgoing: Vec<Outgoing>,
    now: DateTime<Utc>,
) -> AppResult<Bells> {
    if outgoing.is_empty() {
        return Ok(Bells::default());
    }
    let muted = muted(conn, outgoing.iter().map(|o| o.to.as_str()), Channel::InApp).await?;
    let mut by_user: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
    for o in outgoing {
        if !muted.contains(&(o.to.clone(), o.message.kind.as_str())) {
            by_user.entry(o.to.clone()).or_default().push(o);
        }
    }
    let mut rows = Vec::new();
    for (user_id, mut items) in by_user {
        let wanted = items.len();
        let last = reserve_seqs(conn, &user_id, wanted as i64).await?;
        drop_already_delivered(conn, &user_id, &mut items).await?;
        if items.len() < wanted {
            // Give back what was reserved for duplicates: numbers stay gap-free.
            set_counter(conn, &user_id, last + items.len() as i64).await?;
        }
        rows.extend(
            items
                .into_iter()
                .zip(last + 1..)
                .map(|(o, seq)| notification::Model {
                    id: new_id(),
                    user_id: user_id.clone(),
                    seq,
                    kind: o.message.kind,
                    title: o.message.title,
                    body: o.message.body,
                    link: o.message.link,
                    data: o.message.data.to_string(),
                    dedupe_key: o.dedupe_key,
                    created_at: now,
                    read_at: None,
                }),
        );
    }
    // One statement per thousand rows, whatever the number of recipients.
    for chunk in rows.chunks(1000) {
        notification::Entity::insert_many(
            chunk.iter().cloned().map(notification::ActiveModel::from),
        )
        .exec_without_returning(conn)
        .await?;
    }
    let mut bells = Bells::default();
    for row in rows {
        let user_id = row.user_id.clone();
        bells.rings.push((
            user_id,
            UserRing::New {
                notification: Box::new(Notification::try_from(row)?),
            },
        ));
    }
    Ok(bells)
}

/// Reserves `count` numbers for the user: bumps their counter row (creating it), which locks it until
/// the transaction ends, and returns the last number given out before this reservation.
async fn reserve_seqs(conn: &impl ConnectionTrait, user_id: &str, count: i64) -> AppResult<i64> {
    use crate::entity::notification_counter::{Column, Entity};
    let upsert = Query::insert()
        .into_table(Entity)
        .columns([Column::UserId, Column::LastSeq])
        .values_panic([user_id.into(), count.into()])
        .on_conflict(
            OnConflict::column(Column::UserId)
                .value(
                    Column::LastSeq,
                    Expr::col((Entity, Column::LastSeq)).add(count),
                )
                .to_owned(),
        )
        .returning_col(Column::LastSeq)
        .to_owned();
    let row = conn
        .query_one(conn.get_database_backend().build(&upsert))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("counter upsert returned no row")))?;
    Ok(row.try_get_by_index::<i64>(0)? - count)
}

async fn set_counter(conn: &impl ConnectionTrait, user_id: &str, last: i64) -> AppResult<()> {
    use crate::entity::notification_counter::{Column, Entity};
    Entity::update_many()
        .col_expr(Column::LastSeq, Expr::value(last))
        .filter(Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Drops items whose dedupe key this user already has (checked under the counter lock, so two
/// producers with one key cannot both pass).
async fn drop_already_delivered(
    conn: &impl ConnectionTrait,
    user_id: &str,
    items: &mut Vec<Outgoing>,
) -> AppResult<()> {
    let keys: Vec<String> = items.iter().filter_map(|o| o.dedupe_key.clone()).collect();
    if keys.is_empty() {
        return Ok(());
    }
    let existing: HashSet<String> = notification::Entity::find()
        .select_only()
        .column(notification::Column::DedupeKey)
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::DedupeKey.is_in(keys))
        .into_tuple::<Option<String>>()
        .all(conn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let mut seen = HashSet::new();
    items.retain(|o| match &o.dedupe_key {
        None => true,
        Some(k) => !existing.contains(k) && seen.insert(k.clone()),
    });
    Ok(())
}
