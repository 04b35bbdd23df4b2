//! Sending one text of the outbox: the `sms.send` job.
//!
//! Never twice: the row is marked `SENDING` (and its try counted) in a committed write before the
//! provider is called. If a try ends without a clear answer (a 5xx, a cut connection, a worker
//! that died), the row stays `SENDING`, and the next try first asks the provider whether it took
//! the text since then; only if not is it sent again. A refusal that will not change (an invalid
//! number, one that replied STOP) fails it at once; throttling waits out `Retry-After`; other
//! failures are retried with the runner's backoff until `SMS_MAX_ATTEMPTS`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{outbox, phone, SmsService};
use crate::domain::booking::SessionStatus;
use crate::domain::notification::Channel;
use crate::domain::sms::{refusal, Refusal, SmsStatus};
use crate::domain::time::TimeZone;
use crate::entity::{session, sms_message as row, user};
use crate::error::AppResult;
use crate::integrations::sms::{Accepted, OutgoingText, TextError};
use crate::service::store::preferences::opted_in;

/// What became of a try.
#[derive(Debug, PartialEq, Eq)]
pub enum TextSent {
    /// Sent, failed for good, skipped, or already settled.
    Settled,
    /// Try again later (said why).
    TryAgain(String),
    /// The provider asked us to wait.
    Throttled(Option<Duration>),
    /// Tried again in the reader's quiet hours (after a failure): held until they end, at this
    /// instant, the try not counted.
    Held(DateTime<Utc>),
}

impl SmsService {
    pub async fn send(&self, sms_id: &str) -> AppResult<TextSent> {
        let conn = self.db.conn();
        let Some(text) = row::Entity::find_by_id(sms_id).one(conn).await? else {
            return Ok(TextSent::Settled);
        };
        if !matches!(text.status, SmsStatus::Pending | SmsStatus::Sending) {
            return Ok(TextSent::Settled);
        }
        if text.status == SmsStatus::Sending {
            // The last try's outcome is unknown: did the provider take it?
            match self
                .texter
                .find(&text.id, &text.to_number, &text.body, text.updated_at)
                .await
            {
                Ok(Some(accepted)) => {
                    tracing::info!(sms_id, "a text an interrupted try had sent: not sent again");
                    self.sent(&text.id, &accepted).await?;
                    return Ok(TextSent::Settled);
                }
                Ok(None) => {}
                Err(TextError::Throttled { retry_after }) => {
                    return Ok(TextSent::Throttled(retry_after))
                }
                // Asking failed: that counts as a try, so a text whose fate stays unknown ends.
                Err(e) => {
                    let tries = text.attempts + 1;
                    self.count_try(&text.id, tries).await?;
                    if tries >= self.max_attempts {
                        let message = format!(
                            "gave up after {tries} tries: an earlier try's outcome is unknown and Twilio could not be asked ({e})"
                        );
                        self.settle(&text.id, SmsStatus::Failed, None, Some(message), None)
                            .await?;
                        return Ok(TextSent::Settled);
                    }
                    return Ok(TextSent::TryAgain(format!("looking the text up: {e}")));
                }
            }
        }
        // Only now, when it is known not to have gone: a text no longer wanted is skipped.
        // Its owner, read once for both checks below (a code needs neither).
        let owner = match text.kind.as_str() {
            phone::CODE_KIND => None,
            _ => {
                user::Entity::find_by_id(text.user_id.as_str())
                    .one(self.db.conn())
                    .await?
            }
        };
        if let Some(why) = self.unwanted(&text, owner.as_ref()).await? {
            self.settle(&text.id, SmsStatus::Skipped, None, Some(why), None)
                .await?;
            return Ok(TextSent::Settled);
        }
        // Quiet hours held it when it was written; a try after a failure may fall in them too.
        if let Some(until) = self.quiet_until(&text, owner.as_ref()) {
            self.hold(&text.id, until).await?;
            return Ok(TextSent::Held(until));
        }
        let tries = text.attempts + 1;
        if !self.claim(&text.id, tries).await? {
            return Ok(TextSent::Settled); // settled meanwhile (a status callback, another worker)
        }
        let callback = self.outbox.callback_base.as_ref().map(|base| {
            format!(
                "{}/webhooks/sms/status?sms={}",
                base.trim_end_matches('/'),
                text.id
            )
        });
        let outgoing = OutgoingText {
            id: &text.id,
            to: &text.to_number,
            body: &text.body,
            status_callback: callback,
        };
        match self.texter.send(&outgoing).await {
            Ok(accepted) => {
                self.sent(&text.id, &accepted).await?;
                Ok(TextSent::Settled)
            }
            Err(error) => self.failed(&text, tries, error).await,
        }
    }

    /// Why `text` should no longer go: its number opted out; or, for anything but a code, it is no
    /// longer the user's verified number, the user switched its kind off, or (written ahead of its
    /// time) its session is no longer scheduled as it was.
    /// `owner` is the text's user, read for anything but a code.
    async fn unwanted(
        &self,
        text: &row::Model,
        owner: Option<&user::Model>,
    ) -> AppResult<Option<String>> {
        let conn = self.db.conn();
        let stopped = outbox::opted_out(conn, std::slice::from_ref(&text.to_number)).await?;
        if !stopped.is_empty() {
            return Ok(Some("the number replied STOP".into()));
        }
        if text.kind == phone::CODE_KIND {
            return Ok(None);
        }
        let current = owner
            .filter(|u| u.phone_verified_at.is_some())
            .and_then(|u| u.phone_number.as_deref());
        if current != Some(text.to_number.as_str()) {
            return Ok(Some("no longer the user's verified number".into()));
        }
        let wanted = opted_in(conn, [text.user_id.as_str()], Channel::Sms).await?;
        if !wanted.contains(&(text.user_id.clone(), text.kind.as_str())) {
            return Ok(Some("the user switched these texts off".into()));
        }
        if let Some(session_id) = &text.guard_session_id {
            let still = session::Entity::find_by_id(session_id.as_str())
                .filter(session::Column::Status.eq(SessionStatus::Scheduled))
                .filter(session::Column::Sequence.eq(text.guard_sequence))
                .one(conn)
                .await?;
            if text.guard_sequence.is_none() || still.is_none() {
                return Ok(Some("its session was cancelled or moved".into()));
            }
        }
        Ok(None)
    }

    /// When the reader's quiet hours end, if `text` would go in them now: never for a code, nor
    /// for a text about a session starting within the hour.
    fn quiet_until(&self, text: &row::Model, owner: Option<&user::Model>) -> Option<DateTime<Utc>> {
        let quiet = self.outbox.quiet_hours.as_ref()?;
        if text.kind == phone::CODE_KIND {
            return None;
        }
        let zone: TimeZone = owner?.time_zone.parse().ok()?;
        let now = self.clock.now();
        let until = quiet.send_at(now, zone, text.session_start_at);
        (until > now).then_some(until)
    }

    /// Records that the text waits for `until` (its `send_after`), if it is still to be sent. It
    /// is known not to have gone (a `SENDING` one was just looked up), so it is `PENDING` again.
    async fn hold(&self, sms_id: &str, until: DateTime<Utc>) -> AppResult<()> {
        let write = self.db.write_alone().await;
        row::Entity::update_many()
            .col_expr(row::Column::Status, Expr::value(SmsStatus::Pending))
            .col_expr(row::Column::SendAfter, Expr::value(until))
            .col_expr(row::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(row::Column::Id.eq(sms_id))
            .filter(row::Column::Status.is_in([SmsStatus::Pending, SmsStatus::Sending]))
            .exec(write.conn())
            .await?;
        tracing::info!(sms_id, %until, "a text tried again in quiet hours waits for their end");
        Ok(())
    }

    /// Marks the text `SENDING` with its try counted, if it is still to be sent.
    async fn claim(&self, sms_id: &str, tries: i32) -> AppResult<bool> {
        let write = self.db.begin_write().await?;
        let claimed = row::Entity::update_many()
            .col_expr(row::Column::Status, Expr::value(SmsStatus::Sending))
            .col_expr(row::Column::Attempts, Expr::value(tries))
            .col_expr(row::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(row::Column::Id.eq(sms_id))
            .filter(row::Column::Status.is_in([SmsStatus::Pending, SmsStatus::Sending]))
            .exec(&write.txn)
            .await?
            .rows_affected
            == 1;
        write.commit().await?;
        Ok(claimed)
    }

    async fn sent(&self, sms_id: &str, accepted: &Accepted) -> AppResult<()> {
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        // The sid always; the status only if no callback moved it further already.
        row::Entity::update_many()
            .col_expr(row::Column::ProviderSid, Expr::value(accepted.sid.clone()))
            .col_expr(row::Column::SentAt, Expr::value(now))
            .col_expr(row::Column::UpdatedAt, Expr::value(now))
            .filter(row::Column::Id.eq(sms_id))
            .exec(&write.txn)
            .await?;
        transition(&write.txn, sms_id, SmsStatus::Sent, now).await?;
        write.commit().await?;
        tracing::info!(sms_id, sid = %accepted.sid, status = %accepted.status, "text sent");
        Ok(())
    }

    async fn failed(&self, text: &row::Model, tries: i32, error: TextError) -> AppResult<TextSent> {
        let out_of_tries = tries >= self.max_attempts;
        tracing::warn!(sms_id = %text.id, tries, error = %error, "sending a text failed");
        match error {
            TextError::Refused { code, message } => {
                if refusal(code) == Some(Refusal::OptedOut) {
                    let write = self.db.begin_write().await?;
                    super::webhooks::opt_out(&write.txn, &text.to_number, self.clock.now()).await?;
                    write.commit().await?;
                }
                let code = (code != 0).then(|| code.to_string());
                self.settle(&text.id, SmsStatus::Failed, code, Some(message), None)
                    .await?;
                Ok(TextSent::Settled)
            }
            // Nothing reached the provider: the text is simply still to be sent.
            TextError::Throttled { .. } | TextError::NotTaken(_) if out_of_tries => {
                self.settle(
                    &text.id,
                    SmsStatus::Failed,
                    None,
                    Some(error.to_string()),
                    Some(SmsStatus::Sending),
                )
                .await?;
                Ok(TextSent::Settled)
            }
            TextError::Throttled { retry_after } => {
                self.back_to_pending(&text.id).await?;
                Ok(TextSent::Throttled(retry_after))
            }
            TextError::NotTaken(why) => {
                self.back_to_pending(&text.id).await?;
                Ok(TextSent::TryAgain(why))
            }
            // It may have gone: it stays SENDING, and the next try asks first.
            TextError::Unknown(why) if out_of_tries => {
                let message = format!(
                    "gave up after {tries} tries; the last one's outcome is unknown: {why}"
                );
                self.settle(
                    &text.id,
                    SmsStatus::Failed,
                    None,
                    Some(message),
                    Some(SmsStatus::Sending),
                )
                .await?;
                Ok(TextSent::Settled)
            }
            TextError::Unknown(why) => Ok(TextSent::TryAgain(why)),
        }
    }

    /// Counts a try that could not send (the text stays `SENDING`).
    async fn count_try(&self, sms_id: &str, tries: i32) -> AppResult<()> {
        let write = self.db.write_alone().await;
        row::Entity::update_many()
            .col_expr(row::Column::Attempts, Expr::value(tries))
            .filter(row::Column::Id.eq(sms_id))
            .filter(row::Column::Status.eq(SmsStatus::Sending))
            .exec(write.conn())
            .await?;
        Ok(())
    }

    async fn back_to_pending(&self, sms_id: &str) -> AppResult<()> {
        let write = self.db.begin_write().await?;
        row::Entity::update_many()
            .col_expr(row::Column::Status, Expr::value(SmsStatus::Pending))
            .col_expr(row::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(row::Column::Id.eq(sms_id))
            .filter(row::Column::Status.eq(SmsStatus::Sending))
            .exec(&write.txn)
            .await?;
        write.commit().await?;
        Ok(())
    }

    /// Settles a text still to be sent (`PENDING`, or `from` when given) as `status`.
    async fn settle(
        &self,
        sms_id: &str,
        status: SmsStatus,
        code: Option<String>,
        message: Option<String>,
        from: Option<SmsStatus>,
    ) -> AppResult<()> {
        let write = self.db.begin_write().await?;
        let mut states = vec![SmsStatus::Pending, SmsStatus::Sending];
        states.extend(from);
        row::Entity::update_many()
            .col_expr(row::Column::Status, Expr::value(status))
            .col_expr(row::Column::ErrorCode, Expr::value(code))
            .col_expr(row::Column::ErrorMessage, Expr::value(message))
            .col_expr(row::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(row::Column::Id.eq(sms_id))
            .filter(row::Column::Status.is_in(states))
            .exec(&write.txn)
            .await?;
        write.commit().await?;
        Ok(())
    }
}

/// Moves a text to `status` if that is further along its life than where it is (callbacks arrive
/// out of order, and after our own write of `SENT`).
pub(super) async fn transition(
    conn: &impl ConnectionTrait,
    sms_id: &str,
    status: SmsStatus,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let earlier: Vec<SmsStatus> = crate::domain::sms::SmsStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.moves_to(status))
        .collect();
    let mut update = row::Entity::update_many()
        .col_expr(row::Column::Status, Expr::value(status))
        .col_expr(row::Column::UpdatedAt, Expr::value(now));
    if status == SmsStatus::Delivered {
        update = update.col_expr(row::Column::DeliveredAt, Expr::value(now));
    }
    Ok(update
        .filter(row::Column::Id.eq(sms_id))
        .filter(row::Column::Status.is_in(earlier))
        .exec(conn)
        .await?
        .rows_affected
        == 1)
}
