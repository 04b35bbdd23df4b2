//! Texts: written to the outbox in the transaction of what causes them (`outbox`), sent by the
//! `sms.send` job with retries and never twice (`send`), each user's number and its one-time code
//! (`phone`), and what Twilio reports: delivery statuses, and replies that opt a number out or in
//! (`webhooks`).

mod outbox;
mod phone;
mod send;
mod webhooks;

use std::sync::Arc;

pub use outbox::{opted_out, Draft, SmsOutbox};
pub use phone::{PhoneStatus, CODE_KIND};
pub use send::TextSent;
pub use webhooks::{SmsRefusal, TwilioRequest};

use crate::clock::Clock;
use crate::config::Secret;
use crate::db::Db;
use crate::integrations::sms::Texter;

/// Sends what the outbox holds, keeps users' numbers, and applies what Twilio reports.
pub struct SmsService {
    db: Db,
    clock: Arc<dyn Clock>,
    texter: Arc<dyn Texter>,
    outbox: Arc<SmsOutbox>,
    /// Keys the hashes of one-time codes.
    code_key: Secret,
    /// `TWILIO_AUTH_TOKEN`: checks Twilio's webhook signatures; `None` turns them off.
    twilio_token: Option<Secret>,
    max_attempts: i32,
}

/// What the SMS service is built with.
pub struct SmsParts {
    pub texter: Arc<dyn Texter>,
    pub outbox: Arc<SmsOutbox>,
    pub code_key: Secret,
    pub twilio_token: Option<Secret>,
    pub max_attempts: i32,
}

impl SmsService {
    pub fn new(db: Db, clock: Arc<dyn Clock>, parts: SmsParts) -> Self {
        SmsService {
            db,
            clock,
            texter: parts.texter,
            outbox: parts.outbox,
            code_key: parts.code_key,
            twilio_token: parts.twilio_token,
            max_attempts: parts.max_attempts.max(1),
        }
    }
}

impl SmsService {
    /// The user's latest texts, newest first (`first` at most 100).
    pub async fn texts_of(
        &self,
        user_id: &str,
        first: u64,
    ) -> crate::error::AppResult<Vec<crate::entity::sms_message::Model>> {
        use crate::entity::sms_message as row;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        Ok(row::Entity::find()
            .filter(row::Column::UserId.eq(user_id))
            .order_by_desc(row::Column::CreatedAt)
            .order_by_desc(row::Column::Id)
            .limit(first.clamp(1, 100))
            .all(self.db.conn())
            .await?)
    }

    /// The texts that went with these notifications, by notification id.
    pub async fn texts_of_notifications(
        &self,
        ids: &[String],
    ) -> crate::error::AppResult<std::collections::HashMap<String, crate::entity::sms_message::Model>>
    {
        use crate::entity::sms_message as row;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        Ok(row::Entity::find()
            .filter(row::Column::NotificationId.is_in(ids.iter().cloned()))
            .all(self.db.conn())
            .await?
            .into_iter()
            .filter_map(|t| Some((t.notification_id.clone()?, t)))
            .collect())
    }
}
