//! Telling a mentor their calendar stopped syncing: `CALENDAR_DISCONNECTED`, in the app and by email
//! (neither can be switched off), written in the transaction that records it.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{digest, CalendarService};
use crate::domain::notification::messages;
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
        let recipients = users_by_id(db, std::slice::from_ref(&row.mentor_id)).await?;
        let emails = recipients
            .get(&row.mentor_id)
            .and_then(|to| email::produce::platform(to, &message, Some(&key)))
            .into_iter()
            .collect();
        let outgoing = Outgoing {
            to: row.mentor_id.clone(),
            message,
            dedupe_key: Some(key),
        };
        let bells = deliver(db, vec![outgoing], now).await?;
        email::queue(db, &self.outbox, emails, now).await?;
        Ok(bells)
    }
}
