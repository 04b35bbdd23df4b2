//! In-app notifications: written in the transaction of what causes them, rung on the bus after it
//! commits, read and marked by their owner, and streamed live without gaps or duplicates.
//!
//! The database row is the record and the bus only a doorbell. Each user's notifications carry a
//! `seq` given under a lock on the user's counter row, so they become visible in `seq` order and a
//! reader that has seen `n` has seen everything below it: catching up is `seq > last`.

mod deliver;
mod fan_out;
mod live;
mod preferences;
mod read;
mod send;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use deliver::{deliver, Bells, Outgoing};
pub use fan_out::{deliver_with_texts, InApp};
pub use preferences::PreferenceChange;
pub use send::{SendNotification, Sent};

use crate::clock::Clock;
use crate::db::Db;
use crate::domain::notification::NotificationKind;
use crate::entity::notification;
use crate::error::{AppError, AppResult};
use crate::pubsub::EventBus;
use crate::service::email::Outbox;

pub struct NotificationService {
    db: Db,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    outbox: Arc<Outbox>,
}

impl NotificationService {
    pub fn new(db: Db, bus: Arc<dyn EventBus>, clock: Arc<dyn Clock>, outbox: Arc<Outbox>) -> Self {
        NotificationService {
            db,
            bus,
            clock,
            outbox,
        }
    }
}

/// One notification as its owner sees it. Also the bus payload of a new notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub seq: i64,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl Notification {
    /// The cursor of this notification in listings and for `notificationReceived(after)`.
    pub fn cursor(&self) -> String {
        crate::service::page::encode_cursor(&self.seq.to_string())
    }
}

/// The `seq` a cursor stands for.
pub fn seq_of_cursor(cursor: &str, field: &str) -> AppResult<i64> {
    crate::service::page::decode_cursor(cursor)
        .ok()
        .and_then(|key| key.parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| AppError::bad_input(field, "not a notification cursor this API gave out"))
}

impl TryFrom<notification::Model> for Notification {
    type Error = AppError;
    fn try_from(m: notification::Model) -> AppResult<Self> {
        let corrupt =
            |why: String| AppError::Internal(anyhow::anyhow!("notification {}: {why}", m.id));
        Ok(Notification {
            kind: m.kind,
            data: serde_json::from_str(&m.data).map_err(|e| corrupt(e.to_string()))?,
            id: m.id,
            user_id: m.user_id,
            seq: m.seq,
            title: m.title,
            body: m.body,
            link: m.link,
            created_at: m.created_at,
            read_at: m.read_at,
        })
    }
}
