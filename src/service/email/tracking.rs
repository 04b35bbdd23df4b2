//! What happens to an email after it left: opened (the pixel), clicked (the redirect), and what the
//! providers report (delivered, bounced, complained, opened, clicked).
//!
//! A permanent bounce or a complaint suppresses the address (nothing more is sent to it); a
//! transient bounce sends the email again later, until the tries run out.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::receipts::{self, Receipt};
use super::EmailService;
use crate::domain::email::report::{DeliveryKind, DeliveryReport};
use crate::domain::email::{normalize_address, EmailStatus, SuppressionReason};
use crate::entity::{email_notification as row, email_suppression};
use crate::error::{AppError, AppResult};
use crate::jobs::backoff;
use crate::jobs::email_send::{self, EmailSend};

/// Where a valid click goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub target: String,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookOutcome {
    /// Reports applied to one of our emails.
    pub applied: usize,
    /// Reports naming no email of ours (bounces and complaints still suppress their address).
    pub unmatched: usize,
    /// Addresses newly suppressed.
    pub suppressed: usize,
    /// The delivery was applied before: nothing changed.
    pub replayed: bool,
}

/// Stops all further email to `address`; true when it was not suppressed already.
pub async fn suppress(
    conn: &impl ConnectionTrait,
    address: &str,
    reason: SuppressionReason,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let result = email_suppression::Entity::insert(email_suppression::ActiveModel {
        address: Set(normalize_address(address)),
        reason: Set(reason.as_str().into()),
        detail: Set(detail.map(str::to_string)),
        created_at: Set(now),
    })
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .exec_without_returning(conn)
    .await?;
    Ok(result == 1)
}

/// A mailbox that bounced for now (full, busy) is tried again after this, doubling each time.
const TRANSIENT_BOUNCE_BASE: std::time::Duration = std::time::Duration::from_secs(15 * 60);
const TRANSIENT_BOUNCE_MAX: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The emails a batch of reports names, by our id and by `Message-ID`.
struct Named {
    by_id: HashMap<String, row::Model>,
    by_message_id: HashMap<String, String>,
}

impl Named {
    /// The email `report` is about: by our id, else by `Message-ID`, and only if it went to the
    /// reported address.
    fn about(&self, report: &DeliveryReport) -> Option<&row::Model> {
        let id = match (&report.email_id, &report.message_id) {
            (Some(id), _) => Some(id),
            (None, Some(message_id)) => self.by_message_id.get(&bracketed(message_id)),
            (None, None) => None,
        }?;
        self.by_id
            .get(id)
            .filter(|e| normalize_address(&e.to_address) == report.address)
    }
}

/// `<id@host>`, whether or not the provider kept the angle brackets.
fn bracketed(message_id: &str) -> String {
    if message_id.starts_with('<') {
        message_id.to_string()
    } else {
        format!("<{message_id}>")
    }
}

async fn named_emails(conn: &impl ConnectionTrait, reports: &[DeliveryReport]) -> AppResult<Named> {
    let ids: HashSet<&str> = reports
        .iter()
        .filter_map(|r| r.email_id.as_deref())
        .collect();
    let message_ids: HashSet<String> = reports
        .iter()
        .filter(|r| r.email_id.is_none())
        .filter_map(|r| r.message_id.as_deref().map(bracketed))
        .collect();
    if ids.is_empty() && message_ids.is_empty() {
        return Ok(Named {
            by_id: HashMap::new(),
            by_message_id: HashMap::new(),
        });
    }
    let rows = row::Entity::find()
        .filter(
            Condition::any()
                .add(row::Column::Id.is_in(ids))
                .add(row::Column::MessageId.is_in(message_ids)),
        )
        .all(conn)
        .await?;
    Ok(Named {
        by_message_id: rows
            .iter()
            .map(|r| (r.message_id.clone(), r.id.clone()))
            .collect(),
        by_id: rows.into_iter().map(|r| (r.id.clone(), r)).collect(),
    })
}

/// First time only: a later open or click keeps the first instant.
fn first(column: row::Column, at: DateTime<Utc>) -> sea_orm::sea_query::SimpleExpr {
    Expr::col(column).if_null(at)
}

impl EmailService {
    /// The open pixel was loaded; false when the signature does not match.
    pub async fn opened(&self, email_id: &str, signature: &str) -> AppResult<bool> {
        if !self.outbox.links.verify_open(email_id, signature) {
            return Ok(false);
        }
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        row::Entity::update_many()
            .col_expr(row::Column::OpenedAt, first(row::Column::OpenedAt, now))
            .filter(row::Column::Id.eq(email_id))
            .exec(&write.txn)
            .await?;
        write.commit().await?;
        Ok(true)
    }

    /// A tracked link was followed: records the click (and the open it implies) and returns where
    /// to send the browser. `None` when the signature does not cover this email and target, or the
    /// target is not a web address.
    pub async fn clicked(
        &self,
        email_id: &str,
        target: &str,
        signature: &str,
    ) -> AppResult<Option<Click>> {
        let web = target.starts_with("https://") || target.starts_with("http://");
        if !web || !self.outbox.links.verify_click(email_id, target, signature) {
            return Ok(None);
        }
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        row::Entity::update_many()
            .col_expr(row::Column::ClickedAt, first(row::Column::ClickedAt, now))
            .col_expr(row::Column::OpenedAt, first(row::Column::OpenedAt, now))
            .filter(row::Column::Id.eq(email_id))
            .exec(&write.txn)
            .await?;
        write.commit().await?;
        Ok(Some(Click {
            target: target.to_string(),
        }))
    }

    /// Applies a provider's reports, all in one transaction; the emails they name are read in one
    /// query whatever the batch size.
    /// Applies one provider delivery's `reports`, once: a delivery whose `receipt` was recorded
    /// before changes nothing and answers `replayed`.
    pub async fn apply_reports(
        &self,
        reports: &[DeliveryReport],
        receipt: &Receipt,
    ) -> AppResult<WebhookOutcome> {
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        if !receipts::record(&write.txn, receipt, now).await? {
            tracing::info!(source = receipt.source, "a provider delivery seen before");
            return Ok(WebhookOutcome {
                replayed: true,
                ..WebhookOutcome::default()
            });
        }
        let known = named_emails(&write.txn, reports).await?;
        let mut outcome = WebhookOutcome::default();
        for report in reports {
            let reason = match report.kind {
                DeliveryKind::Bounce { permanent: true } => Some(SuppressionReason::Bounce),
                DeliveryKind::Complaint => Some(SuppressionReason::Complaint),
                _ => None,
            };
            if let Some(reason) = reason {
                if suppress(
                    &write.txn,
                    &report.address,
                    reason,
                    report.detail.as_deref(),
                    now,
                )
                .await?
                {
                    outcome.suppressed += 1;
                }
            }
            match known.about(report) {
                Some(email) => {
                    self.apply(&write.txn, email, report, now).await?;
                    outcome.applied += 1;
                }
                None => outcome.unmatched += 1,
            }
        }
        write.commit().await?;
        Ok(outcome)
    }

    async fn apply(
        &self,
        conn: &impl ConnectionTrait,
        email: &row::Model,
        report: &DeliveryReport,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        use row::Column as C;
        let at = report.at;
        let status = email.status;
        let was_sent = matches!(status, EmailStatus::Sent | EmailStatus::Delivered);
        let mut changes: Vec<(C, sea_orm::sea_query::SimpleExpr)> = Vec::new();
        match &report.kind {
            DeliveryKind::Delivered => {
                changes.push((C::DeliveredAt, first(C::DeliveredAt, at)));
                match status {
                    EmailStatus::Sent => {
                        changes.push((C::Status, Expr::value(EmailStatus::Delivered)));
                    }
                    // Reported before the commit that marks it sent (it comes just after the SMTP
                    // server's answer), or that commit never came (its worker died): it went.
                    // Its completion then finds it no longer `PENDING`, and a job run again finds
                    // nothing to send.
                    EmailStatus::Pending => {
                        changes.push((C::Status, Expr::value(EmailStatus::Delivered)));
                        changes.push((C::SentAt, first(C::SentAt, now)));
                    }
                    _ => {}
                }
            }
            DeliveryKind::Bounce { permanent: true } => {
                changes.push((C::BouncedAt, Expr::value(at)));
                changes.push((C::Status, Expr::value(EmailStatus::Bounced)));
                changes.push((C::ErrorMessage, Expr::value(report.detail.clone())));
            }
            DeliveryKind::Bounce { permanent: false } if was_sent => {
                // Accepted, then bounced for now (a full mailbox, a busy server): send it again
                // later, while tries are left.
                let tries = email.retry_count + 1;
                let detail = report
                    .detail
                    .clone()
                    .unwrap_or_else(|| "transient bounce".into());
                if tries < self.max_attempts {
                    let wait = backoff(
                        tries,
                        TRANSIENT_BOUNCE_BASE,
                        TRANSIENT_BOUNCE_MAX,
                        &mut rand::thread_rng(),
                    );
                    let again = now + Duration::from_std(wait).unwrap_or(Duration::hours(6));
                    changes.push((C::Status, Expr::value(EmailStatus::Pending)));
                    email_send::queue(
                        conn,
                        now,
                        &[(
                            EmailSend {
                                email_id: email.id.clone(),
                            },
                            again,
                        )],
                    )
                    .await
                    .map_err(AppError::from)?;
                } else {
                    changes.push((C::Status, Expr::value(EmailStatus::Failed)));
                }
                changes.push((C::RetryCount, Expr::value(tries)));
                changes.push((C::ErrorMessage, Expr::value(detail)));
            }
            DeliveryKind::Bounce { permanent: false } => {}
            DeliveryKind::Complaint => {
                changes.push((C::ComplainedAt, Expr::value(at)));
                changes.push((C::Status, Expr::value(EmailStatus::Complained)));
            }
            DeliveryKind::Open => changes.push((C::OpenedAt, first(C::OpenedAt, at))),
            DeliveryKind::Click { .. } => {
                changes.push((C::ClickedAt, first(C::ClickedAt, at)));
                changes.push((C::OpenedAt, first(C::OpenedAt, at)));
            }
            DeliveryKind::Noted => {}
        }
        if changes.is_empty() {
            return Ok(());
        }
        let mut update = row::Entity::update_many().col_expr(C::UpdatedAt, Expr::value(now));
        for (column, value) in changes {
            update = update.col_expr(column, value);
        }
        update
            .filter(C::Id.eq(email.id.as_str()))
            .exec(conn)
            .await?;
        Ok(())
    }
}
