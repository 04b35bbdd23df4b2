//! Sending one email of the outbox: the `email.send` job.
//!
//! `SENT` is written in the transaction that marks the job done (the runner's batch of
//! completions, through [`sent_marks`]), so the worker goes on to its next email at once and one
//! commit records both. At least once, like every job: a worker that dies after the SMTP server
//! took the message but before that commit leaves the job to run again, and the resend carries the
//! same `Message-ID`, which is as far as SMTP lets anyone go (unless the provider reported it
//! delivered meanwhile: it is then `DELIVERED`, see `tracking`, and not sent again). Temporary
//! failures are retried by the job runner (exponential backoff with jitter) until
//! `EMAIL_MAX_ATTEMPTS`, then the email is
//! `FAILED` with the last error; a permanent refusal fails it at once, and a hard bounce also
//! suppresses the address. An email written ahead of its time that is no longer wanted when due is
//! `WITHDRAWN` instead of sent.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, Shared};
use futures::FutureExt as _;
use lettre::message::Mailbox;
use sea_orm::sea_query::{Expr, Query, SimpleExpr, UpdateStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, FromQueryResult,
    IdenStatic, QueryFilter, QueryResult, QuerySelect, QueryTrait, UpdateMany,
};

use super::read_ahead::ReadsAhead;
use super::{digest, tracking, EmailService};
use crate::db::batched::{BatchFailed, Batched};
use crate::db::{among, Db};
use crate::domain::booking::SessionStatus;
use crate::domain::email::{after_failure, EmailStatus, SendFailure, SuppressionReason};
use crate::domain::notification::{is_locked, Channel, NotificationKind};
use crate::email::mime::{self, Parts};
use crate::entity::{
    email_notification as row, email_suppression, notification_preference as pref, session,
};
use crate::error::{AppError, AppResult};
use crate::service::payments::receipt::receipt;

/// What became of a try to send an email.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// The SMTP server took it: its caller writes `SENT` ([`sent_marks`]), with the job's
    /// completion.
    Accepted,
    /// Failed for good, suppressed, withdrawn, or already settled: nothing more to do.
    Settled,
    /// A temporary failure (said here): try again later.
    TryAgain(String),
}

impl EmailService {
    /// Sends `email_id` if it is still to be sent; a no-op for one already settled. A failure to
    /// read or write the database is an error (worth another try). An email the SMTP server took
    /// is `Accepted` and still `PENDING`: the caller records it sent ([`sent_marks`]).
    pub async fn send(&self, email_id: &str) -> AppResult<Sent> {
        let Some(Found {
            row,
            suppressed,
            withdrawn,
        }) = self.ready(email_id).await?
        else {
            return Ok(Sent::Settled);
        };
        if let Some(why) = withdrawn {
            self.settle_alone(&row.id, EmailStatus::Withdrawn, Some(why))
                .await?;
            return Ok(Sent::Settled);
        }
        if suppressed {
            self.settle_alone(&row.id, EmailStatus::Suppressed, None)
                .await?;
            return Ok(Sent::Settled);
        }
        // A receipt carries its invoice's PDF, made now from what the invoice says.
        let pdf = match &row.invoice_id {
            Some(id) => receipt(self.db.conn(), &self.outbox.brand, id)
                .await?
                .map(|file| file.pdf),
            None => None,
        };
        let outcome = match self.message(&row, pdf) {
            Ok(message) => self.mailer.send(&row.id, &message).await,
            Err(failure) => Err(failure),
        };
        match outcome {
            Ok(()) => Ok(Sent::Accepted),
            Err(failure) => self.failed(&row, failure).await,
        }
    }

    /// The row to send (a pending email, or a collecting digest sealed now) with what stands in its
    /// way. `None` when there is nothing (left) to send.
    async fn ready(&self, email_id: &str) -> AppResult<Option<Found>> {
        let found = match self.batches.prefetched(email_id, self.clock.now()) {
            Some(reading) => reading
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("reading emails to send: {e}")))?,
            None => self
                .batches
                .reads
                .call(email_id.to_string())
                .await
                .map_err(|e| batch_failed("reading emails to send", &e))?,
        };
        let Some(found) = found else {
            return Ok(None);
        };
        match found.row.status {
            EmailStatus::Pending => Ok(Some(found)),
            EmailStatus::Collecting => {
                let write = self.db.begin_write().await?;
                let sealed =
                    digest::seal(&write.txn, &self.outbox, email_id, self.clock.now()).await?;
                write.commit().await?;
                Ok(sealed.map(|row| Found { row, ..found }))
            }
            _ => Ok(None),
        }
    }

    fn message(
        &self,
        row: &row::Model,
        pdf: Option<Vec<u8>>,
    ) -> Result<lettre::Message, SendFailure> {
        let permanent = |message: String| SendFailure::Permanent {
            code: None,
            message,
        };
        let to: Mailbox = row
            .to_address
            .parse()
            .map_err(|e| permanent(format!("{:?} is not an address: {e}", row.to_address)))?;
        mime::build(Parts {
            email_id: &row.id,
            message_id: &row.message_id,
            from: &self.outbox.from,
            to,
            subject: &row.subject,
            html: row.body_html.as_deref().unwrap_or_default(),
            text: row.body_text.as_deref().unwrap_or_default(),
            invite: row.ics_file.as_deref().zip(row.ics_method.as_deref()),
            pdf,
        })
        .map_err(|e| permanent(format!("building the message: {e}")))
    }

    async fn failed(&self, row: &row::Model, failure: SendFailure) -> AppResult<Sent> {
        let tries = row.retry_count + 1;
        let status = after_failure(&failure, tries, self.max_attempts);
        tracing::warn!(email_id = %row.id, tries, status = status.as_str(), error = failure.message(), "sending an email failed");
        // The email's new state and, for a hard bounce, the suppression: together or not at all.
        let settled = async {
            let write = self.db.begin_write().await?;
            let now = self.clock.now();
            settle(
                &write.txn,
                &[row.id.as_str()],
                status,
                Some(failure.message()),
                Some(tries),
                now,
            )
            .await?;
            if failure.is_hard_bounce() {
                let reason = SuppressionReason::Bounce;
                let detail = Some(failure.message());
                tracking::suppress(&write.txn, &row.to_address, reason, detail, now).await?;
            }
            write.commit().await?;
            AppResult::Ok(())
        };
        settled.await?;
        match status {
            EmailStatus::Pending => Ok(Sent::TryAgain(failure.message().to_string())),
            _ => Ok(Sent::Settled),
        }
    }

    /// Starts reading the emails of `email_ids`, whose `email.send` jobs were just claimed, for
    /// their sends to take: one statement for all, where each send would read alone. The row a
    /// send then uses was read when its job was claimed, milliseconds before it runs (at most
    /// [`FRESH`](super::read_ahead::FRESH) or it reads again): a session cancelled in between
    /// is still sent, as it would be between the read and the SMTP server's answer anyway.
    pub fn prefetch(&self, email_ids: Vec<String>) {
        self.batches.prefetch(email_ids, self.clock.now());
    }

    /// [`settle`] as a statement of its own (it commits alone), saying `why`.
    async fn settle_alone(
        &self,
        email_id: &str,
        status: EmailStatus,
        why: Option<&str>,
    ) -> AppResult<()> {
        let write = self.db.write_alone().await;
        settle(
            write.conn(),
            &[email_id],
            status,
            why,
            None,
            self.clock.now(),
        )
        .await?;
        Ok(())
    }
}

/// What sending shares between workers: reads batched while the database is busy, and the reads
/// started when their jobs were claimed.
pub(super) struct SendBatches {
    reads: Batched<String, Option<Found>, DbErr>,
    ahead: Mutex<ReadsAhead<Reading>>,
}

/// A read started ahead, which its send awaits (its error said).
type Reading = Shared<BoxFuture<'static, Result<Option<Found>, String>>>;

/// Most emails read in one statement.
const BATCH: usize = 64;

impl SendBatches {
    /// Needs a Tokio runtime (each batch has a task).
    pub(super) fn new(db: &Db) -> Self {
        let db = db.clone();
        let reads = Batched::new(BATCH, move |ids: Vec<String>| {
            let db = db.clone();
            async move { read_all(db.conn(), &ids).await }
        });
        SendBatches {
            reads,
            ahead: Mutex::default(),
        }
    }

    fn prefetch(&self, email_ids: Vec<String>, now: DateTime<Utc>) {
        let started: Vec<(String, Reading)> = email_ids
            .into_iter()
            .map(|id| {
                let read = self.reads.submit(id.clone());
                let reading = async move { read.await.map_err(|e| e.to_string()) };
                (id, reading.boxed().shared())
            })
            .collect();
        self.lock().add(started, now);
    }

    /// The read started ahead for `email_id`, if one was and is fresh at `now`.
    fn prefetched(&self, email_id: &str, now: DateTime<Utc>) -> Option<Reading> {
        self.lock().take(email_id, now)
    }

    fn lock(&self) -> MutexGuard<'_, ReadsAhead<Reading>> {
        self.ahead.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The statement that records `email_ids`, which the SMTP server took, as `SENT` at `now` (only
/// those still `PENDING`). The `email.send` job runs it with its completion.
pub fn sent_marks(backend: DbBackend, email_ids: &[String], now: DateTime<Utc>) -> UpdateStatement {
    settling(backend, email_ids, EmailStatus::Sent, None, None, now).into_query()
}

/// Each email of `ids` (`None` if there is none) with what stands in its way, in one statement
/// however many.
async fn read_all(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<Option<Found>>, DbErr> {
    let rows = row::Entity::find()
        .filter(among(
            conn.get_database_backend(),
            &column(row::Column::Id),
            ids,
        ))
        .column_as(is_suppressed(conn.get_database_backend()), "suppressed")
        .column_as(session_changed(), "session_changed")
        .column_as(switched_off(), "switched_off")
        .into_model::<Found>()
        .all(conn)
        .await?;
    let mut by_id: HashMap<String, Found> =
        rows.into_iter().map(|r| (r.row.id.clone(), r)).collect();
    Ok(ids.iter().map(|id| by_id.remove(id.as_str())).collect())
}

/// Whether the email's address is suppressed, as SQL. Suppressions are kept under
/// [`normalize_address`](crate::domain::email::normalize_address), which lower-cases ASCII
/// letters only. SQLite's `lower()` does exactly that; PostgreSQL's follows the database's locale
/// (where `Ä` lowers too, and in a Turkish one `I` lowers to `ı`) unless told to use the C
/// locale's rules, ASCII only.
fn is_suppressed(backend: DbBackend) -> SimpleExpr {
    let to = column(row::Column::ToAddress);
    let lowered = match backend {
        DbBackend::Postgres => format!("lower({to} COLLATE \"C\")"),
        _ => format!("lower({to})"),
    };
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(email_suppression::Entity)
            .and_where(
                Expr::col((
                    email_suppression::Entity,
                    email_suppression::Column::Address,
                ))
                .eq(Expr::cust(lowered)),
            )
            .to_owned(),
    )
}

/// Whether an email written ahead of its time is about a session no longer scheduled at the
/// sequence it was written for (cancelled, completed, moved or gone), as SQL.
fn session_changed() -> SimpleExpr {
    let scheduled = Query::select()
        .expr(Expr::val(1))
        .from(session::Entity)
        .and_where(
            Expr::col((session::Entity, session::Column::Id))
                .equals((row::Entity, row::Column::GuardSessionId)),
        )
        .and_where(
            Expr::col((session::Entity, session::Column::Sequence))
                .equals((row::Entity, row::Column::GuardSequence)),
        )
        .and_where(
            Expr::col((session::Entity, session::Column::Status)).eq(SessionStatus::Scheduled),
        )
        .to_owned();
    Expr::col((row::Entity, row::Column::GuardSessionId))
        .is_not_null()
        .and(Expr::exists(scheduled).not())
}

/// Whether the recipient of an email written ahead of its time has since switched its kind off
/// by email (unless the kind cannot be switched off), as SQL.
fn switched_off() -> SimpleExpr {
    let locked = NotificationKind::ALL
        .iter()
        .filter(|kind| is_locked(**kind, Channel::Email))
        .map(|kind| kind.as_str());
    let muted = Query::select()
        .expr(Expr::val(1))
        .from(pref::Entity)
        .and_where(
            Expr::col((pref::Entity, pref::Column::UserId))
                .equals((row::Entity, row::Column::UserId)),
        )
        .and_where(
            Expr::col((pref::Entity, pref::Column::Kind)).equals((row::Entity, row::Column::Kind)),
        )
        .and_where(Expr::col((pref::Entity, pref::Column::Channel)).eq(Channel::Email.as_str()))
        .and_where(Expr::col((pref::Entity, pref::Column::Enabled)).eq(false))
        .and_where(Expr::col((pref::Entity, pref::Column::Kind)).is_not_in(locked))
        .to_owned();
    Expr::col((row::Entity, row::Column::GuardSessionId))
        .is_not_null()
        .and(Expr::exists(muted))
}

/// An email column as SQL, named with its table (the statements it goes in have subqueries).
fn column(column: row::Column) -> String {
    format!("\"{}\".\"{}\"", row::Entity.table_name(), column.as_str())
}

/// An email row read to be sent, with what stands in its way.
#[derive(Clone)]
struct Found {
    row: row::Model,
    /// Its address bounced for good or complained.
    suppressed: bool,
    /// Written ahead of its time and no longer wanted: why ([`session_changed`],
    /// [`switched_off`]).
    withdrawn: Option<&'static str>,
}

impl FromQueryResult for Found {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Found {
            row: row::Model::from_query_result(res, pre)?,
            suppressed: res.try_get(pre, "suppressed")?,
            withdrawn: if res.try_get(pre, "session_changed")? {
                Some("its session was cancelled or moved")
            } else if res.try_get(pre, "switched_off")? {
                Some("the recipient switched these emails off")
            } else {
                None
            },
        })
    }
}

/// A batch's error as this request's.
fn batch_failed(what: &str, error: &BatchFailed<DbErr>) -> AppError {
    AppError::Internal(anyhow::anyhow!("{what}: {error}"))
}

/// Moves pending emails to `status` (only from `PENDING`, so a late duplicate run cannot undo a
/// result).
async fn settle(
    conn: &impl ConnectionTrait,
    email_ids: &[&str],
    status: EmailStatus,
    error: Option<&str>,
    tries: Option<i32>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    settling(backend, email_ids, status, error, tries, now)
        .exec(conn)
        .await?;
    Ok(())
}

/// The update [`settle`] runs: one statement text however many emails (see `db::among`).
fn settling<S: AsRef<str>>(
    backend: DbBackend,
    email_ids: &[S],
    status: EmailStatus,
    error: Option<&str>,
    tries: Option<i32>,
    now: DateTime<Utc>,
) -> UpdateMany<row::Entity> {
    let mut update = row::Entity::update_many()
        .col_expr(row::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            row::Column::ErrorMessage,
            Expr::value(error.map(str::to_string)),
        )
        .col_expr(row::Column::UpdatedAt, Expr::value(now));
    if status == EmailStatus::Sent {
        update = update.col_expr(row::Column::SentAt, Expr::value(now));
    }
    if let Some(tries) = tries {
        update = update.col_expr(row::Column::RetryCount, Expr::value(tries));
    }
    update
        .filter(among(backend, &column(row::Column::Id), email_ids))
        .filter(row::Column::Status.eq(EmailStatus::Pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_of_any_number_of_emails_are_one_statement_text() {
        let now = Utc::now();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let text = |ids: &[&str]| {
                let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                backend.build(&sent_marks(backend, &ids, now)).sql
            };
            let one = text(&["a"]);
            assert_eq!(one, text(&["a", "b", "c"]), "{backend:?}");
            assert!(
                one.contains(r#""email_notifications"."id" IN (SELECT"#),
                "{one}"
            );
        }
    }
}
