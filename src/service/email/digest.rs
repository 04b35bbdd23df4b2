//! Digests: non-urgent emails (new matches, system updates) for one user wait in a `COLLECTING`
//! digest until its window closes, then go out as one email.
//!
//! A user has at most one collecting digest (a partial unique index), so two producers racing for
//! the same user join the same digest. Sealing turns it `PENDING` under a row lock: an item joins
//! before the seal (and is in the email) or finds no collecting digest and starts a new one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::outbox::{model, render_tracked, NewEmail, Recipient};
use super::Outbox;
use crate::db::for_update;
use crate::db::new_id;
use crate::domain::email::{EmailStatus, EmailTemplate};
use crate::email::{DigestItem, EmailView};
use crate::entity::email_notification as row;
use crate::error::{AppError, AppResult};
use crate::jobs::email_send::{self, EmailSend};

async fn collecting(conn: &impl ConnectionTrait, user_id: &str) -> AppResult<Option<row::Model>> {
    Ok(for_update(
        conn,
        row::Entity::find()
            .filter(row::Column::UserId.eq(user_id))
            .filter(row::Column::Status.eq(EmailStatus::Collecting)),
    )
    .one(conn)
    .await?)
}

/// The id of `to`'s collecting digest, started (with its send at the window's end) if none is.
pub(super) async fn join(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    to: &Recipient,
    now: DateTime<Utc>,
) -> AppResult<String> {
    if let Some(digest) = collecting(conn, &to.user_id).await? {
        return Ok(digest.id);
    }
    let id = new_id();
    let due = now + outbox.digest_window;
    let mut digest = model(
        outbox,
        id.clone(),
        NewEmail {
            to: to.clone(),
            template: EmailTemplate::Digest,
            view: EmailView {
                recipient_name: to.name.clone(),
                ..EmailView::default()
            },
            invite: None,
            dedupe_key: None,
            invoice_id: None,
        },
        EmailStatus::Collecting,
        None,
        now,
    )?;
    digest.scheduled_for = due;
    // A concurrent producer may have started one meanwhile: then this insert does nothing (after
    // waiting for it to commit, on PostgreSQL) and the lookup below finds theirs.
    row::Entity::insert(row::ActiveModel::from(digest))
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    let digest = collecting(conn, &to.user_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no collecting digest after insert")))?;
    email_send::queue(
        conn,
        now,
        &[(
            EmailSend {
                email_id: digest.id.clone(),
            },
            digest.scheduled_for,
        )],
    )
    .await?;
    Ok(digest.id)
}

/// Seals a collecting digest: renders it from its items and makes it `PENDING`. With a single item
/// the email is that item's own (with this email's tracking). Returns the sealed row; `None` when
/// it was not collecting any more.
pub(super) async fn seal(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    digest_id: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<row::Model>> {
    let Some(digest) = for_update(conn, row::Entity::find_by_id(digest_id))
        .one(conn)
        .await?
        .filter(|d| d.status == EmailStatus::Collecting)
    else {
        return Ok(None);
    };
    let items = row::Entity::find()
        .filter(row::Column::DigestId.eq(digest_id))
        .order_by_asc(row::Column::Id)
        .all(conn)
        .await?;
    let views: Vec<(EmailTemplate, EmailView)> = items
        .iter()
        .filter_map(|i| {
            let template = i.template.parse().ok()?;
            let view = serde_json::from_str(&i.variables).ok()?;
            Some((template, view))
        })
        .collect();
    let mut own: EmailView = serde_json::from_str(&digest.variables).unwrap_or_default();
    let (template, view) = match views.as_slice() {
        [] => {
            // Nothing joined (cannot happen: a digest starts with its first item); nothing to send.
            let mut active: row::ActiveModel = digest.clone().into();
            active.status = Set(EmailStatus::Failed);
            active.error_message = Set(Some("empty digest".into()));
            active.updated_at = Set(now);
            row::Entity::update(active).exec(conn).await?;
            return Ok(None);
        }
        [(template, view)] => (*template, view.clone()),
        many => {
            own.items = many
                .iter()
                .map(|(_, v)| DigestItem {
                    title: v.title.clone().unwrap_or_default(),
                    body: v.body.clone().unwrap_or_default(),
                    url: v.action_url.clone(),
                })
                .collect();
            own.action_url = Some("/notifications".into());
            own.action_label = Some("See all notifications".into());
            (EmailTemplate::Digest, own)
        }
    };
    let rendered = render_tracked(outbox, digest_id, template, &view)?;
    let mut active: row::ActiveModel = digest.into();
    active.status = Set(EmailStatus::Pending);
    active.template = Set(template.as_str().into());
    active.kind = Set(template.kind().as_str().into());
    active.variables =
        Set(serde_json::to_string(&view).map_err(|e| AppError::Internal(anyhow::Error::new(e)))?);
    active.subject = Set(rendered.subject);
    active.body_html = Set(Some(rendered.html));
    active.body_text = Set(Some(rendered.text));
    active.updated_at = Set(now);
    Ok(Some(row::Entity::update(active).exec(conn).await?))
}
