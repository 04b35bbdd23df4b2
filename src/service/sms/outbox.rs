//! Writing texts into the outbox, inside the caller's transaction, with the `sms.send` job that
//! sends each: they exist exactly when what caused them commits.
//!
//! On the way in, a text is written only for a user who switched SMS on for its kind and has a
//! verified number that has not opted out (STOP); a `dedupe_key` the user already has is skipped
//! (a producer that ran twice); and one written in the recipient's quiet hours waits for their end,
//! unless it is about a session starting within the hour.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::db::new_id;
use crate::domain::notification::{Channel, Message};
use crate::domain::sms::quiet::QuietHours;
use crate::domain::sms::segments::{self, Encoding};
use crate::domain::sms::{is_textable, texts, SmsStatus};
use crate::domain::time::TimeZone;
use crate::domain::timeline::Ahead;
use crate::entity::{sms_message as row, sms_opt_out, user};
use crate::error::AppResult;
use crate::jobs::sms_send::{self, SmsSend};
use crate::service::store::preferences::opted_in;

/// What writing a text needs: who we are, where links point, when not to text.
#[derive(Debug, Clone)]
pub struct SmsOutbox {
    /// `BRAND_NAME`: every text starts with it.
    pub brand: String,
    /// `BRAND_SUPPORT_EMAIL`: the answer to HELP names it.
    pub support: String,
    /// `DASHBOARD_URL`: dashboard paths in texts are made absolute with it.
    pub dashboard_url: String,
    pub quiet_hours: Option<QuietHours>,
    /// `PUBLIC_BASE_URL` when a provider reports back (status callbacks); `None` for files.
    pub callback_base: Option<String>,
}

/// A text to write for `to` about `message` (what the app says of the same happening).
#[derive(Debug, Clone)]
pub struct Draft {
    pub to: String,
    pub message: Message,
    pub dedupe_key: Option<String>,
    /// The in-app notification it accompanies.
    pub notification_id: Option<String>,
}

/// A user's texting details.
struct Reader {
    number: String,
    zone: TimeZone,
}

/// The verified numbers (and zones) of `users`, without those that opted out.
async fn readers(
    conn: &impl ConnectionTrait,
    users: &HashSet<&str>,
) -> AppResult<HashMap<String, Reader>> {
    let rows: Vec<(String, Option<String>, String)> = user::Entity::find()
        .select_only()
        .columns([
            user::Column::Id,
            user::Column::PhoneNumber,
            user::Column::TimeZone,
        ])
        .filter(user::Column::Id.is_in(users.iter().copied()))
        .filter(user::Column::PhoneNumber.is_not_null())
        .filter(user::Column::PhoneVerifiedAt.is_not_null())
        .into_tuple()
        .all(conn)
        .await?;
    let numbers: Vec<String> = rows.iter().filter_map(|r| r.1.clone()).collect();
    let stopped = opted_out(conn, &numbers).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, number, zone)| {
            let number = number?;
            let zone = zone.parse().ok()?;
            (!stopped.contains(&number)).then_some((id, Reader { number, zone }))
        })
        .collect())
}

/// Which of `numbers` replied STOP.
pub async fn opted_out(
    conn: &impl ConnectionTrait,
    numbers: &[String],
) -> AppResult<HashSet<String>> {
    if numbers.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(sms_opt_out::Entity::find()
        .select_only()
        .column(sms_opt_out::Column::PhoneNumber)
        .filter(sms_opt_out::Column::PhoneNumber.is_in(numbers.iter().cloned()))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

impl SmsOutbox {
    /// Writes the texts `drafts` call for, with the caller's connection (a transaction); returns
    /// how many were queued.
    pub async fn queue(
        &self,
        conn: &impl ConnectionTrait,
        drafts: Vec<Draft>,
        now: DateTime<Utc>,
    ) -> AppResult<usize> {
        self.write_drafts(conn, drafts, now, None).await
    }

    /// Writes texts ahead of their time, as [`SmsOutbox::queue`] does: none goes before
    /// `ahead.due` (nor in quiet hours), and only if their session is then still scheduled at
    /// `ahead.sequence` (checked when sending).
    pub async fn queue_ahead(
        &self,
        conn: &impl ConnectionTrait,
        drafts: Vec<Draft>,
        now: DateTime<Utc>,
        ahead: &Ahead,
    ) -> AppResult<usize> {
        self.write_drafts(conn, drafts, now, Some(ahead)).await
    }

    async fn write_drafts(
        &self,
        conn: &impl ConnectionTrait,
        drafts: Vec<Draft>,
        now: DateTime<Utc>,
        ahead: Option<&Ahead>,
    ) -> AppResult<usize> {
        let drafts: Vec<Draft> = drafts
            .into_iter()
            .filter(|d| is_textable(d.message.kind))
            .collect();
        if drafts.is_empty() {
            return Ok(0);
        }
        let users: HashSet<&str> = drafts.iter().map(|d| d.to.as_str()).collect();
        let wanted = opted_in(conn, users.iter().copied(), Channel::Sms).await?;
        let users: HashSet<&str> = drafts
            .iter()
            .filter(|d| wanted.contains(&(d.to.clone(), d.message.kind.as_str())))
            .map(|d| d.to.as_str())
            .collect();
        if users.is_empty() {
            return Ok(0);
        }
        let readers = readers(conn, &users).await?;
        let mut rows = Vec::new();
        for draft in &drafts {
            if !wanted.contains(&(draft.to.clone(), draft.message.kind.as_str())) {
                continue;
            }
            let Some(reader) = readers.get(&draft.to) else {
                continue;
            };
            let Some(body) = texts::for_message(
                &self.brand,
                &self.dashboard_url,
                &draft.message,
                reader.zone,
            ) else {
                continue;
            };
            let due = ahead.map_or(now, |a| a.due.max(now));
            let session_start_at = texts::session_start(&draft.message);
            let send_after = match &self.quiet_hours {
                Some(quiet) => quiet.send_at(due, reader.zone, session_start_at),
                None => due,
            };
            let mut row = model(NewRow {
                user_id: &draft.to,
                number: &reader.number,
                kind: draft.message.kind.as_str(),
                body,
                dedupe_key: draft.dedupe_key.clone(),
                notification_id: draft.notification_id.clone(),
                send_after,
                session_start_at,
                now,
            });
            if let Some(ahead) = ahead {
                row.guard_session_id = Some(ahead.session_id.clone());
                row.guard_sequence = Some(ahead.sequence);
            }
            rows.push(row);
        }
        write(conn, rows, now).await
    }
}

/// The fields a new text's row is made of.
pub(super) struct NewRow<'a> {
    pub user_id: &'a str,
    pub number: &'a str,
    pub kind: &'a str,
    pub body: String,
    pub dedupe_key: Option<String>,
    pub notification_id: Option<String>,
    pub send_after: DateTime<Utc>,
    pub session_start_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

pub(super) fn model(new: NewRow<'_>) -> row::Model {
    let counted = segments::count(&new.body);
    row::Model {
        id: new_id(),
        user_id: new.user_id.to_string(),
        to_number: new.number.to_string(),
        kind: new.kind.to_string(),
        segments: counted.parts as i32,
        encoding: match counted.encoding {
            Encoding::Gsm7 => "GSM7",
            Encoding::Ucs2 => "UCS2",
        }
        .into(),
        body: new.body,
        status: SmsStatus::Pending,
        notification_id: new.notification_id,
        dedupe_key: new.dedupe_key,
        provider_sid: None,
        error_code: None,
        error_message: None,
        attempts: 0,
        send_after: new.send_after,
        sent_at: None,
        delivered_at: None,
        guard_session_id: None,
        guard_sequence: None,
        session_start_at: new.session_start_at,
        created_at: new.now,
        updated_at: new.now,
    }
}

/// Inserts `rows` (skipping any whose user already has its dedupe key) and their `sms.send` jobs,
/// each due at its `send_after`; returns how many were queued.
pub(super) async fn write(
    conn: &impl ConnectionTrait,
    mut rows: Vec<row::Model>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let keys: Vec<String> = rows.iter().filter_map(|r| r.dedupe_key.clone()).collect();
    if !keys.is_empty() {
        let existing: HashSet<(String, Option<String>)> = row::Entity::find()
            .select_only()
            .columns([row::Column::UserId, row::Column::DedupeKey])
            .filter(row::Column::DedupeKey.is_in(keys))
            .into_tuple::<(String, Option<String>)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        let mut seen = HashSet::new();
        rows.retain(|r| match &r.dedupe_key {
            None => true,
            Some(k) => {
                let key = (r.user_id.clone(), Some(k.clone()));
                !existing.contains(&key) && seen.insert(key)
            }
        });
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let jobs: Vec<(SmsSend, DateTime<Utc>)> = rows
        .iter()
        .map(|r| {
            (
                SmsSend {
                    sms_id: r.id.clone(),
                },
                r.send_after,
            )
        })
        .collect();
    for chunk in rows.chunks(500) {
        row::Entity::insert_many(chunk.iter().cloned().map(row::ActiveModel::from))
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .on_empty_do_nothing()
            .exec_without_returning(conn)
            .await?;
    }
    sms_send::queue(conn, now, &jobs).await?;
    Ok(jobs.len())
}
