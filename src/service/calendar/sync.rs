//! Reading a connected calendar's busy time into the mentor's busy blocks.
//!
//! Each calendar that counts as busy is read whole the first time (from a day ago to past the booking
//! horizon, every page, recurring events as instances), then incrementally from its sync token; an
//! expired token (Google's 410) means a whole read again, which also drops busy time deleted in the
//! gap. Every page of one read is gathered before anything is written, and one calendar's busy time
//! changes in one transaction: a failed read leaves what was known in force. Access tokens are
//! refreshed before they expire and once after a 401, one refresh at a time per connection (a lock
//! in this process, and the connection's row lock on PostgreSQL for other nodes); a refresh token
//! Google refuses (`invalid_grant`) leaves the connection `RECONNECT_REQUIRED` with the reason, and
//! the busy time already read stays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::LikeExpr;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    QueryFilter, TransactionTrait,
};
use sha2::{Digest, Sha256};

use super::{token_context, CalendarService};
use crate::config::Secret;
use crate::db::{for_update, new_id};
use crate::domain::calendar::{
    busy_time, occurrences_of, CalendarProvider, ExternalEvent, SyncState,
};
use crate::domain::time::TimeZone;
use crate::entity::{busy_block, calendar_connection as conn, external_calendar as cal};
use crate::error::{AppError, AppResult};
use crate::integrations::calendar::api::CalendarApi;
use crate::integrations::calendar::api::{EventsRead, Window};
use crate::integrations::calendar::ProviderError;
use crate::jobs::calendar_sync;
use crate::service::store::calendar as store;
use crate::service::store::settings::rules_for;
use crate::service::store::users::find_mentor;

/// Pages of one calendar read at most (250 events a page).
const MAX_PAGES: usize = 200;
/// An access token this close to its expiry is refreshed first.
const REFRESH_MARGIN_SECONDS: i64 = 60;

/// Serializes refreshes of one connection in this process.
#[derive(Default)]
pub(super) struct RefreshLocks(StdMutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    fn of(&self, connection_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(connection_id.to_string())
            .or_default()
            .clone()
    }
}

/// What one calendar's read found.
struct Read {
    /// Everything was read: what is not here is not busy.
    whole: bool,
    events: Vec<ExternalEvent>,
    /// Objects whose occurrences all go before `events` are written (see `EventsPage::replaced`).
    replaced: Vec<String>,
    sync_token: Option<String>,
}

/// Every page of one read, gathered.
struct Pages {
    events: Vec<ExternalEvent>,
    replaced: Vec<String>,
    sync_token: Option<String>,
}

impl Read {
    fn of(pages: Pages, whole: bool) -> Self {
        Read {
            whole,
            events: pages.events,
            replaced: pages.replaced,
            sync_token: pages.sync_token,
        }
    }
}

/// A refresh that cannot succeed until the mentor reconnects.
pub(super) struct Revoked;

impl CalendarService {
    /// Brings the mentor's busy time from `provider` up to date (a job runs it), and schedules the
    /// next poll. `due`: the `next_sync_at` a poll was scheduled for (a stale poll does nothing).
    /// `only`: the one calendar a push was about, and the push count it was queued at (its read
    /// leaves the polls as they were; a later push's read makes it pointless).
    pub async fn sync(
        &self,
        mentor_id: &str,
        provider: CalendarProvider,
        due: Option<DateTime<Utc>>,
        only: Option<(&str, Option<i64>)>,
    ) -> AppResult<()> {
        let Ok(api) = self.api_for(provider) else {
            tracing::warn!(
                provider = provider.slug(),
                "calendar sync skipped: not configured"
            );
            return Ok(());
        };
        let Some(row) = store::connection(self.db.conn(), mentor_id, provider).await? else {
            return Ok(()); // disconnected since the job was queued
        };
        if !row.sync_enabled || row.state == SyncState::ReconnectRequired {
            return Ok(());
        }
        // Instants compared to the second: PostgreSQL keeps microseconds, a job's payload more.
        if due.is_some() && due.map(|d| d.timestamp()) != row.next_sync_at.map(|d| d.timestamp()) {
            return Ok(()); // a poll a later sync has rescheduled
        }
        // One sync of a connection at a time in this process (a poll and a push may meet).
        let lock = self.refresh_locks.of(&format!("sync:{}", row.id));
        let _one_sync = lock.lock().await;
        if let Some((calendar_id, Some(pushed))) = only {
            let key = (row.id.clone(), calendar_id.to_string());
            let calendar = cal::Entity::find_by_id(key).one(self.db.conn()).await?;
            if calendar.is_none_or(|c| c.pushes > pushed) {
                return Ok(()); // a later push's read comes after this one
            }
        }
        let only = only.map(|(calendar_id, _)| calendar_id);
        let next_poll = |covered| only.is_none().then(|| self.next_poll(&row, covered));
        match self.read_all(api, &row, only).await {
            Ok(Ok(covered)) => self.settle(&row, Ok(()), next_poll(covered)).await,
            // Revoked: the connection says so and waits for the mentor; no more polls.
            Ok(Err(Revoked)) => Ok(()),
            Err(e) => {
                // Whatever failed (Google, a token, the database), the connection says so, the next
                // poll is scheduled, and the runner retries this job.
                self.settle(&row, Err(e.to_string()), next_poll(None))
                    .await?;
                Err(e)
            }
        }
    }

    /// When to poll next: at the mentor's frequency while some busy calendar has no live push
    /// channel; with channels on all of them, when one is due for replacement, and at least daily
    /// (the whole read that heals missed pushes).
    fn next_poll(&self, row: &conn::Model, covered: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let now = self.clock.now();
        let poll = now + Duration::minutes(i64::from(row.frequency_minutes));
        let next = match covered {
            None => poll,
            Some(renew) => renew.max(poll).min(now + Duration::days(1)),
        };
        next.trunc_subsecs(0)
    }

    /// Reads every busy calendar of the connection (or `only` that one) and applies what it found.
    /// A whole sync first keeps the push channels; it returns when they need looking at again
    /// (`None`: some busy calendar is polled).
    async fn read_all(
        &self,
        api: &dyn CalendarApi,
        row: &conn::Model,
        only: Option<&str>,
    ) -> AppResult<Result<Option<DateTime<Utc>>, Revoked>> {
        let provider = row.provider;
        let mentor = find_mentor(self.db.conn(), &row.mentor_id).await?;
        let (zone, rules) = rules_for(self.db.conn(), &mentor).await?;
        let now = self.clock.now();
        let window = Window {
            from: now - Duration::days(1),
            to: now + rules.horizon() + Duration::days(3),
            zone,
        };
        let mut access = match self.access(api, row, false).await? {
            Ok(access) => access,
            Err(Revoked) => return Ok(Err(Revoked)),
        };
        let calendars = store::calendars_of(self.db.conn(), &row.id).await?;
        let covered = match only {
            None if api.pushes() => self.keep_channels(api, &access, row, &calendars).await?,
            _ => None,
        };
        let busy_calendars = calendars
            .into_iter()
            .filter(|c| super::watched(c) && only.is_none_or(|id| id == c.calendar_id));
        let mut changed = false;
        for calendar in busy_calendars {
            let started = self.clock.now();
            let read = match self.read(api, &access, &calendar, &window).await {
                Err(ProviderError::AccessExpired) => {
                    access = match self.access(api, row, true).await? {
                        Ok(access) => access,
                        Err(Revoked) => return Ok(Err(Revoked)),
                    };
                    self.read(api, &access, &calendar, &window).await
                }
                other => other,
            };
            let read = read.map_err(|e| e.into_app(provider.display_name()))?;
            changed |= read.whole || !read.events.is_empty() || !read.replaced.is_empty();
            // What the mentor did to session events first: if that fails, the sync fails before
            // the token moves on, and the same changes are read again.
            if read.whole {
                let missing = self
                    .missing_session_events(
                        row,
                        &calendar.calendar_id,
                        &read.events,
                        (window.from, window.to),
                        started,
                    )
                    .await?;
                let mut seen = read.events.clone();
                seen.extend(missing);
                self.follow_session_events(row, &seen).await?;
            } else {
                self.follow_session_events(row, &read.events).await?;
            }
            // Nothing changed since the token (most polls): nothing to write.
            let unchanged = !read.whole
                && read.events.is_empty()
                && read.replaced.is_empty()
                && read.sync_token == calendar.sync_token;
            if !unchanged {
                self.apply(row, &calendar, zone, read).await?;
            }
        }
        // Overlaps change only with busy time (sessions moving or going are seen by their writes).
        if changed {
            self.busy_over_sessions(row).await?;
        }
        Ok(Ok(covered))
    }

    /// Records how a sync ended (`IDLE`, or `ERROR` with the reason; busy time already read stays)
    /// and schedules the `next` poll, in one transaction.
    async fn settle(
        &self,
        row: &conn::Model,
        outcome: Result<(), String>,
        next: Option<DateTime<Utc>>,
    ) -> AppResult<()> {
        let now = self.clock.now();
        let mut done: conn::ActiveModel = row.clone().into();
        match outcome {
            Ok(()) => {
                done.state = Set(SyncState::Idle);
                done.last_synced_at = Set(Some(now));
                done.last_error = Set(None);
            }
            Err(e) => {
                done.state = Set(SyncState::Error);
                done.last_error = Set(Some(e));
            }
        }
        done.updated_at = Set(now);
        let txn = self.db.begin_write().await?;
        if let Some(next) = next {
            done.next_sync_at = Set(Some(next));
            calendar_sync::schedule_poll(&txn.txn, now, &row.mentor_id, row.provider, next).await?;
        }
        done.update(&txn.txn).await?;
        txn.commit().await?;
        self.status_changed(&row.mentor_id, row.provider).await;
        Ok(())
    }

    /// Every page of one calendar: what changed since its sync token, or everything when the token
    /// has expired or the last whole read is a day old.
    async fn read(
        &self,
        api: &dyn CalendarApi,
        access: &Secret,
        calendar: &cal::Model,
        window: &Window,
    ) -> Result<Read, ProviderError> {
        let whole_due = calendar
            .full_read_at
            .is_none_or(|at| self.clock.now() - at >= Duration::days(1));
        if let (Some(token), false) = (&calendar.sync_token, whole_due) {
            let since = EventsRead::Since { sync_token: token };
            match self
                .pages(api, access, &calendar.calendar_id, since, window)
                .await
            {
                Err(ProviderError::SyncTokenExpired) => {
                    tracing::info!(calendar = %calendar.calendar_id, "sync token expired: reading everything again");
                }
                other => return other.map(|pages| Read::of(pages, false)),
            }
        }
        let pages = self
            .pages(api, access, &calendar.calendar_id, EventsRead::Full, window)
            .await?;
        Ok(Read::of(pages, true))
    }

    async fn pages(
        &self,
        api: &dyn CalendarApi,
        access: &Secret,
        calendar_id: &str,
        read: EventsRead<'_>,
        window: &Window,
    ) -> Result<Pages, ProviderError> {
        let mut events = Vec::new();
        let mut replaced = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let answer = api
                .events(access, calendar_id, read, window, page.as_deref())
                .await?;
            events.extend(answer.events);
            replaced.extend(answer.replaced);
            match answer.next_page {
                Some(next) => page = Some(next),
                None => {
                    return Ok(Pages {
                        events,
                        replaced,
                        sync_token: answer.sync_token,
                    })
                }
            }
        }
        Err(ProviderError::Upstream {
            status: None,
            message: format!("the calendar ran past {MAX_PAGES} pages"),
        })
    }

    /// Writes one calendar's read: its busy blocks and its sync token, in one transaction; then drops
    /// the mentor's cached slots on every node.
    async fn apply(
        &self,
        row: &conn::Model,
        calendar: &cal::Model,
        zone: TimeZone,
        read: Read,
    ) -> AppResult<()> {
        let now = self.clock.now();
        let txn = self.db.begin_write().await?;
        // The mentor may have stopped counting this calendar (or disconnected) while it was read.
        let still = for_update(
            &txn.txn,
            cal::Entity::find_by_id((calendar.connection_id.clone(), calendar.calendar_id.clone())),
        )
        .one(&txn.txn)
        .await?;
        // A calendar read only for session events (it receives sessions, but does not count as
        // busy) keeps its place in the calendar, and no busy time.
        let Some(still) = still.filter(super::watched) else {
            return Ok(());
        };
        let busy = still.counts_as_busy;
        if busy {
            write_busy(&txn.txn, row, calendar, zone, &read, now).await?;
        }
        let mut kept: cal::ActiveModel = calendar.clone().into();
        kept.sync_token = Set(read.sync_token);
        if read.whole {
            kept.full_read_at = Set(Some(now));
        }
        kept.update(&txn.txn).await?;
        txn.commit().await?;
        if busy {
            let mut changes = self.after_commit.changes();
            changes.slots_of(&row.mentor_id);
            changes.apply().await;
        }
        Ok(())
    }

    /// A valid access token: the kept one while it is fresh (and not `refused`), else a refreshed one.
    pub(super) async fn access(
        &self,
        api: &dyn CalendarApi,
        row: &conn::Model,
        refused: bool,
    ) -> AppResult<Result<Secret, Revoked>> {
        self.access_as(api, row, refused, true).await
    }

    /// [`access`](Self::access); `record`: whether a refused refresh marks the connection
    /// `RECONNECT_REQUIRED` and tells the mentor (not while they are disconnecting anyway).
    pub(super) async fn access_as(
        &self,
        api: &dyn CalendarApi,
        row: &conn::Model,
        refused: bool,
        record: bool,
    ) -> AppResult<Result<Secret, Revoked>> {
        let access_context = token_context(row.provider, &row.mentor_id, "access");
        // A password (CalDAV) does not expire: it holds until the server refuses it.
        let password = api.oauth().is_none();
        let fresh = |r: &conn::Model| match r.access_expires_at {
            Some(at) => at > self.clock.now() + Duration::seconds(REFRESH_MARGIN_SECONDS),
            None => password,
        };
        if !refused && fresh(row) {
            if let Some(sealed) = &row.access_token {
                return Ok(Ok(self.open(&access_context, sealed)?));
            }
        }
        let lock = self.refresh_locks.of(&row.id);
        let _one_at_a_time = lock.lock().await;
        let txn = self.db.conn().begin().await?;
        let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
        // Another node (or task) may have refreshed while this one waited.
        let current = for_update(&txn, conn::Entity::find_by_id(row.id.clone()))
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::NotFound("the calendar was disconnected".into()))?;
        if current.access_token != row.access_token && fresh(&current) {
            if let Some(sealed) = &current.access_token {
                return Ok(Ok(self.open(&access_context, sealed)?));
            }
        }
        // Another job found the grant gone while this one waited: it said so already.
        if current.state == SyncState::ReconnectRequired {
            return Ok(Err(Revoked));
        }
        let refresh_context = token_context(row.provider, &row.mentor_id, "refresh");
        let refreshed = match (api.oauth(), &current.refresh_token) {
            (Some(oauth), Some(sealed)) => {
                oauth.refresh(&self.open(&refresh_context, sealed)?).await
            }
            (Some(_), None) => return Ok(Err(Revoked)),
            // The server refused the password: only the mentor can give a new one.
            (None, _) => Err(ProviderError::GrantRevoked {
                reason: "the server refused the username or password".into(),
            }),
        };
        let now = self.clock.now();
        let mut update: conn::ActiveModel = current.clone().into();
        let mut revoked_because = None;
        let outcome = match refreshed {
            Ok(grant) => {
                update.access_token = Set(Some(
                    self.vault
                        .seal(&access_context, grant.access_token.expose()),
                ));
                update.access_expires_at = Set(grant
                    .expires_in
                    .and_then(|d| Duration::from_std(d).ok())
                    .map(|d| now + d));
                if let Some(new_refresh) = &grant.refresh_token {
                    update.refresh_token = Set(Some(
                        self.vault.seal(&refresh_context, new_refresh.expose()),
                    ));
                }
                Ok(grant.access_token)
            }
            Err(ProviderError::GrantRevoked { .. }) if !record => return Ok(Err(Revoked)),
            Err(ProviderError::GrantRevoked { reason }) => {
                tracing::warn!(mentor = %row.mentor_id, provider = row.provider.slug(), %reason, "calendar access revoked: reconnect required");
                update.state = Set(SyncState::ReconnectRequired);
                update.last_error = Set(Some(format!(
                    "access was revoked ({reason}): reconnect the calendar"
                )));
                revoked_because = Some(reason);
                Err(Revoked)
            }
            Err(other) => return Err(other.into_app(row.provider.display_name())),
        };
        update.updated_at = Set(now);
        // The mentor is told in the transaction that records it.
        let bells = if postgres {
            update.update(&txn).await?;
            let bells = match &revoked_because {
                Some(reason) => Some(self.tell_disconnected(&txn, row, reason, now).await?),
                None => None,
            };
            txn.commit().await?;
            bells
        } else {
            // SQLite: the in-process lock kept other refreshes out; writes go through the write gate.
            txn.commit().await?;
            let gated = self.db.begin_write().await?;
            update.update(&gated.txn).await?;
            let bells = match &revoked_because {
                Some(reason) => Some(self.tell_disconnected(&gated.txn, row, reason, now).await?),
                None => None,
            };
            gated.commit().await?;
            bells
        };
        if let Some(bells) = bells {
            let mut changes = self.after_commit.changes();
            bells.owe(&mut changes);
            changes.apply().await;
            self.status_changed(&row.mentor_id, row.provider).await;
        }
        Ok(outcome)
    }

    fn open(&self, context: &str, sealed: &str) -> AppResult<Secret> {
        self.vault.open(context, sealed).map_err(|e| {
            AppError::Internal(anyhow::Error::new(e).context("opening a calendar token"))
        })
    }
}

/// A provider's event id as kept in `busy_blocks.external_id` (255 characters at most; Google's may
/// be longer: those are kept by their SHA-256).
fn external_id(id: &str) -> String {
    if id.len() <= 200 {
        id.to_string()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(id.as_bytes())))
    }
}

/// `text` as a literal inside a `LIKE` pattern escaped with `\\`.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Replaces what `read` changed of one calendar's busy blocks (all of them after a whole read).
async fn write_busy(
    txn: &impl ConnectionTrait,
    row: &conn::Model,
    calendar: &cal::Model,
    zone: TimeZone,
    read: &Read,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mine = busy_block::Entity::delete_many()
        .filter(busy_block::Column::MentorId.eq(&row.mentor_id))
        .filter(busy_block::Column::Source.eq(row.provider.slug()))
        .filter(busy_block::Column::CalendarId.eq(&calendar.calendar_id));
    if read.whole {
        mine.clone().exec(txn).await?;
    } else if !read.events.is_empty() {
        let ids: Vec<String> = read.events.iter().map(|e| external_id(&e.id)).collect();
        for chunk in ids.chunks(500) {
            mine.clone()
                .filter(busy_block::Column::ExternalId.is_in(chunk.to_vec()))
                .exec(txn)
                .await?;
        }
    }
    if !read.whole {
        // An object read again or removed: all its occurrences go (they may have moved or gone).
        for object in &read.replaced {
            let occurrences =
                LikeExpr::new(format!("{}%", like_escaped(&occurrences_of(object)))).escape('\\');
            mine.clone()
                .filter(
                    Condition::any()
                        .add(busy_block::Column::ExternalId.eq(object))
                        .add(busy_block::Column::ExternalId.like(occurrences)),
                )
                .exec(txn)
                .await?;
        }
    }
    let rows: Vec<busy_block::ActiveModel> = read
        .events
        .iter()
        .filter_map(|e| busy_time(e, zone).map(|busy| (e, busy)))
        .map(|(e, busy)| busy_block::ActiveModel {
            id: Set(new_id()),
            mentor_id: Set(row.mentor_id.clone()),
            start_at: Set(busy.start),
            end_at: Set(busy.end),
            // Busy blocks name their source: the provider.
            source: Set(row.provider.slug().into()),
            external_id: Set(Some(external_id(&e.id))),
            calendar_id: Set(Some(calendar.calendar_id.clone())),
            created_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(500) {
        busy_block::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_ids_literally() {
        assert_eq!(like_escaped("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_escaped("0f3a#"), "0f3a#");
    }
}
