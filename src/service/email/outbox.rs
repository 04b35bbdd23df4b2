//! Writing emails into the outbox, inside the caller's transaction: rendered, with their invite, and
//! with the `email.send` job that will send them, so they exist exactly when what caused them
//! commits.
//!
//! On the way in: a kind the recipient switched off by email is skipped; an address that bounced for
//! good or complained is recorded as `SUPPRESSED` and not sent; a `dedupe_key` the recipient already
//! has is skipped (a producer that ran twice); non-urgent kinds join the recipient's digest.
//! Reminders are written ahead of their time (`queue_ahead`) and checked again when due.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::{digest, Outbox};
use crate::db::new_id;
use crate::domain::email::invite::Invite;
use crate::domain::email::{is_digestible, normalize_address, EmailStatus, EmailTemplate};
use crate::domain::notification::Channel;
use crate::domain::timeline::Ahead;
use crate::email::render::{render, Tracking};
use crate::email::EmailView;
use crate::entity::{email_notification as row, email_suppression};
use crate::error::{AppError, AppResult};
use crate::jobs::email_send::{self, EmailSend};
use crate::service::store::preferences::muted;

/// Who an email goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

/// An email to write.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub to: Recipient,
    pub template: EmailTemplate,
    pub view: EmailView,
    pub invite: Option<Invite>,
    /// Names the email for producers that may run twice: a second one with the key is skipped.
    pub dedupe_key: Option<String>,
    /// The invoice whose PDF is attached (a receipt), made when the email is sent.
    pub invoice_id: Option<String>,
}

/// Writes `emails` with the caller's connection (a transaction); returns how many were queued to
/// send (suppressed, muted and duplicate ones are not counted).
pub async fn queue(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    emails: Vec<NewEmail>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    write(conn, outbox, emails, now, None).await
}

/// Writes `emails` ahead of their time, as [`queue`] does: they are sent at `ahead.due`, and only
/// if their session is then still scheduled at `ahead.sequence` and their kind still wanted by
/// email (checked when sending).
pub async fn queue_ahead(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    emails: Vec<NewEmail>,
    now: DateTime<Utc>,
    ahead: &Ahead,
) -> AppResult<usize> {
    write(conn, outbox, emails, now, Some(ahead)).await
}

async fn write(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    emails: Vec<NewEmail>,
    now: DateTime<Utc>,
    ahead: Option<&Ahead>,
) -> AppResult<usize> {
    if emails.is_empty() {
        return Ok(0);
    }
    let muted = muted(
        conn,
        emails.iter().map(|e| e.to.user_id.as_str()),
        Channel::Email,
    )
    .await?;
    let mut emails: Vec<NewEmail> = emails
        .into_iter()
        .filter(|e| !e.to.email.trim().is_empty())
        .filter(|e| !muted.contains(&(e.to.user_id.clone(), e.template.kind().as_str())))
        .collect();
    drop_duplicates(conn, &mut emails).await?;
    let suppressed = suppressed(conn, emails.iter().map(|e| e.to.email.as_str())).await?;

    let mut rows = Vec::with_capacity(emails.len());
    let mut jobs = Vec::new();
    for email in emails {
        let id = new_id();
        let blocked = suppressed.contains(&normalize_address(&email.to.email));
        let (status, digest_id) = if blocked {
            (EmailStatus::Suppressed, None)
        } else if is_digestible(email.template.kind()) {
            let digest = digest::join(conn, outbox, &email.to, now).await?;
            (EmailStatus::Batched, Some(digest))
        } else {
            (EmailStatus::Pending, None)
        };
        let mut row = model(outbox, id.clone(), email, status, digest_id, now)?;
        if let Some(ahead) = ahead {
            row.scheduled_for = ahead.due.max(now);
            row.guard_session_id = Some(ahead.session_id.clone());
            row.guard_sequence = Some(ahead.sequence);
        }
        if status == EmailStatus::Pending {
            let send = EmailSend { email_id: id };
            jobs.push((send, row.scheduled_for));
        }
        rows.push(row);
    }
    let queued = jobs.len();
    for chunk in rows.chunks(500) {
        row::Entity::insert_many(chunk.iter().cloned().map(row::ActiveModel::from))
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .on_empty_do_nothing()
            .exec_without_returning(conn)
            .await?;
    }
    email_send::queue(conn, now, &jobs).await?;
    Ok(queued)
}

/// The row for `email`, rendered with its tracking links.
pub(super) fn model(
    outbox: &Outbox,
    id: String,
    email: NewEmail,
    status: EmailStatus,
    digest_id: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<row::Model> {
    let rendered = render_tracked(outbox, &id, email.template, &email.view)?;
    let variables = serde_json::to_string(&email.view)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    Ok(row::Model {
        message_id: format!("<{id}@{}>", outbox.domain),
        user_id: email.to.user_id,
        to_address: email.to.email.trim().to_string(),
        kind: email.template.kind().as_str().into(),
        template: email.template.as_str().into(),
        variables,
        status,
        subject: rendered.subject,
        body_html: Some(rendered.html),
        body_text: Some(rendered.text),
        ics_method: email.invite.as_ref().map(|i| i.method.as_str().into()),
        ics_file: email.invite.as_ref().map(Invite::to_ics),
        error_message: None,
        retry_count: 0,
        scheduled_for: now,
        sent_at: None,
        delivered_at: None,
        opened_at: None,
        clicked_at: None,
        bounced_at: None,
        complained_at: None,
        dedupe_key: email.dedupe_key,
        invoice_id: email.invoice_id,
        digest_id,
        guard_session_id: None,
        guard_sequence: None,
        created_at: now,
        updated_at: now,
        id,
    })
}

/// Renders with links through the click redirect and the open pixel, both naming `email_id`.
pub(super) fn render_tracked(
    outbox: &Outbox,
    email_id: &str,
    template: EmailTemplate,
    view: &EmailView,
) -> AppResult<crate::email::Rendered> {
    let click = |url: &str| outbox.links.click_url(email_id, url);
    let tracking = Tracking {
        click: &click,
        pixel: Some(outbox.links.open_url(email_id)),
    };
    render(template, view, &outbox.brand, &tracking)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {}: {e}", template.as_str())))
}

/// The lower-cased addresses among `addresses` that may not be mailed.
async fn suppressed<'a>(
    conn: &impl ConnectionTrait,
    addresses: impl IntoIterator<Item = &'a str>,
) -> Result<HashSet<String>, DbErr> {
    let wanted: HashSet<String> = addresses.into_iter().map(normalize_address).collect();
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(email_suppression::Entity::find()
        .select_only()
        .column(email_suppression::Column::Address)
        .filter(email_suppression::Column::Address.is_in(wanted))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// Drops emails whose (recipient, dedupe key) exists already, or repeats within `emails`.
async fn drop_duplicates(conn: &impl ConnectionTrait, emails: &mut Vec<NewEmail>) -> AppResult<()> {
    let keys: Vec<String> = emails.iter().filter_map(|e| e.dedupe_key.clone()).collect();
    if keys.is_empty() {
        return Ok(());
    }
    let existing: HashSet<(String, Option<String>)> = row::Entity::find()
        .select_only()
        .column(row::Column::UserId)
        .column(row::Column::DedupeKey)
        .filter(row::Column::DedupeKey.is_in(keys))
        .into_tuple::<(String, Option<String>)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let mut seen = HashSet::new();
    emails.retain(|e| match &e.dedupe_key {
        None => true,
        Some(k) => {
            let key = (e.to.user_id.clone(), Some(k.clone()));
            !existing.contains(&key) && seen.insert(key)
        }
    });
    Ok(())
}
