//! Telling a mentor about their calendar, in the app and by email, in the transaction that records
//! what happened: it stopped syncing (`CALENDAR_DISCONNECTED`, which cannot be switched off), or it
//! and their sessions disagree (`CALENDAR_CONFLICT`).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{digest, CalendarService};
use crate::domain::notification::{messages, Message};
use crate::entity::calendar_connection as conn;
use crate::error::AppResult;
use crate::service::email;
use crate::service::notifications::{deliver, Bells, Outgoing};
use crate::service::store::users::users_by_id;

impl CalendarService {
    /// Writes the notification and the email; ring the bells once the transaction commits.
    pub(super) async fn tell_disconnected(
        &self,
        db: &impl ConnectionTrait,
        row: &conn::Model,
        reason: &str,
        now: DateTime<Utc>,
    ) -> AppResult<Bells> {
        let provider = row.provider;
        let message =
            messages::calendar_disconnected(provider.display_name(), provider.slug(), reason);
        // Once per grant that was revoked, however many jobs find it gone.
        let grant = row.refresh_token.as_deref().map(digest).unwrap_or_default();
        let key = format!(
            "calendar-disconnected:{}:{}",
            row.id,
            &grant[..grant.len().min(16)]
        );
        self.tell(db, &row.mentor_id, message, key, now).await
    }

    /// Tells `mentor_id` in the app and by email (once per `key`).
    pub(super) async fn tell(
        &self,
        db: &impl ConnectionTrait,
        mentor_id: &str,
        message: Message,
        key: String,
        now: DateTime<Utc>,
    ) -> AppResult<Bells> {
        let recipients = users_by_id(db, &[mentor_id.to_string()]).await?;
        let emails = recipients
            .get(mentor_id)
            .and_then(|to| email::produce::platform(to, &message, Some(&key)))
            .into_iter()
            .collect();
        let outgoing = Outgoing {
            to: mentor_id.to_string(),
            message,
            dedupe_key: Some(key),
        };
        let bells = deliver(db, vec![outgoing], now).await?;
        email::queue(db, &self.outbox, emails, now).await?;
        Ok(bells)
    }
}
