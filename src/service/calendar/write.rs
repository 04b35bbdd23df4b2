//! Writing one session to its mentor's calendar (the `calendar.write` job): whatever the session's
//! event owes it now. A live session without an event is inserted (an insert Google already made,
//! its answer lost, comes back as 409 and is read back); one that moved is patched (the same event,
//! so the same Meet link); a cancelled one is deleted. A Meet link Google is still making is looked
//! for again with growing pauses, a few times; once there it becomes the session's room (the `/join`
//! link opens it); if it never comes, the built-in room stays and the session's meeting says
//! `FAILED`. Google's 5xx and rate limits fail the job, which the runner retries with backoff (no
//! sooner than a `Retry-After`); a revoked grant leaves the built-in room.

use std::future::Future;
use std::num::NonZeroU32;

use chrono::Duration;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, EntityTrait};

use super::sessions::write_state;
use super::CalendarService;
use crate::config::Secret;
use crate::db::for_update;
use crate::domain::booking::SessionStatus;
use crate::domain::calendar::{CalendarProvider, SyncState};
use crate::domain::meeting::{MeetingProvider, MeetingStatus};
use crate::entity::{calendar_connection as conn, calendar_event, session};
use crate::error::AppResult;
use crate::integrations::calendar::api::{CalendarApi, Conference, SessionEvent, Written};
use crate::integrations::calendar::ProviderError;
use crate::jobs::calendar_write;
use crate::service::store::cast::Cast;

/// Looks for a Meet link Google is still making at most this many times (after 2, 4, 8, ... s).
const MAX_CONFERENCE_CHECKS: i32 = 6;
/// Rounds one job goes when the session changed while it wrote.
const ROUNDS: usize = 3;
/// Writes per second to one connection, well under Google's per-user quota.
const WRITES_PER_SECOND: u32 = 5;

/// Paces writes per connection in this process.
pub(super) struct WritePace(DefaultKeyedRateLimiter<String>);

impl Default for WritePace {
    fn default() -> Self {
        let rate = NonZeroU32::new(WRITES_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        WritePace(RateLimiter::keyed(Quota::per_second(rate)))
    }
}

/// Why a session's event cannot be written now.
enum Stop {
    /// The grant is gone: writes are queued again when the mentor reconnects.
    Revoked,
    /// The provider refused for good (a calendar gone or read-only, a bad attendee), with why.
    Refused(String),
    /// The event is not there (the mentor deleted it, and the provider forgets deleted events).
    Gone,
}

/// A failure Google answers the same way however often it is asked: not found, or a 4xx other than
/// a timeout or a rate limit.
fn lasting(e: &ProviderError) -> bool {
    match e {
        ProviderError::NotFound => true,
        ProviderError::Upstream {
            status: Some(code), ..
        } => (400..500).contains(code) && !matches!(code, 408 | 429),
        _ => false,
    }
}

/// How one round ended.
#[derive(PartialEq, Eq)]
enum Round {
    Done,
    /// The session changed while it was written: write again.
    Again,
}

impl CalendarService {
    /// Brings the session's event in line with the session.
    pub async fn write_session(&self, session_id: &str) -> AppResult<()> {
        // Two jobs of one session may run at once (queued for different states); each ends by
        // checking the session did not change under it, and goes round again if it did.
        for _ in 0..ROUNDS {
            if self.write_round(session_id).await? == Round::Done {
                break;
            }
        }
        // A session that moved or went may have left (or met) busy time on the calendar.
        let db = self.db.conn();
        let changed = session::Entity::find_by_id(session_id)
            .one(db)
            .await?
            .is_some_and(|s| s.sequence > 0 || s.status != SessionStatus::Scheduled);
        let event = calendar_event::Entity::find_by_id(session_id)
            .one(db)
            .await?;
        if let (true, Some(event)) = (changed, event) {
            if let Some(connection) = conn::Entity::find_by_id(event.connection_id)
                .one(db)
                .await?
            {
                self.busy_over_sessions(&connection).await?;
            }
        }
        Ok(())
    }

    async fn write_round(&self, session_id: &str) -> AppResult<Round> {
        let db = self.db.conn();
        let Some(row) = calendar_event::Entity::find_by_id(session_id)
            .one(db)
            .await?
        else {
            return Ok(Round::Done);
        };
        let Some(found) = session::Entity::find_by_id(session_id).one(db).await? else {
            let txn = self.db.begin_write().await?;
            calendar_event::Entity::delete_by_id(session_id)
                .exec(&txn.txn)
                .await?;
            txn.commit().await?;
            return Ok(Round::Done);
        };
        let connection = conn::Entity::find_by_id(row.connection_id.clone())
            .one(db)
            .await?;
        let usable = connection.filter(|c| {
            c.state != SyncState::ReconnectRequired && self.api_for(c.provider).is_ok()
        });
        let Some(connection) = usable else {
            // Disconnected, access revoked, or Google switched off: the built-in room stays.
            self.keep_built_in(&found).await?;
            return Ok(Round::Done);
        };
        let api = self.api_for(connection.provider)?;
        self.pace(&connection).await;
        let calendar = row.calendar_id.as_str();
        let event_id = row.event_id.as_str();
        match found.status {
            SessionStatus::Scheduled => {}
            // A session that took place keeps its event.
            SessionStatus::Completed | SessionStatus::NoShow => return Ok(Round::Done),
            SessionStatus::Cancelled => {
                // Whatever the row says: an insert whose answer was lost, or one still on its way
                // in another job, may have made the event (a job that was writing it goes round
                // again and comes here). Deleting what is not there is a success.
                let deleted = self
                    .with_access(api, &connection, |access| async move {
                        api.delete_event(&access, calendar, event_id).await
                    })
                    .await?;
                if let Err(stop) = deleted {
                    self.stopped(&row, &found, stop).await?;
                }
                return Ok(Round::Done);
            }
        }
        let mut moving = false;
        let written = match row.written_sequence {
            None => {
                let cast = Cast::load(db, &found.booking_id).await?;
                let join = self
                    .join_links
                    .url(&found.id, &found.mentor_id, found.end_at);
                let summary = format!("{} with {}", cast.booking.subject, cast.student.name);
                let description = format!(
                    "Mentoring session: {}\nStudent: {}\nJoin: {join}",
                    cast.booking.subject, cast.student.name
                );
                let attendees = [cast.student.email.as_str()];
                let event = SessionEvent {
                    event_id,
                    session_id,
                    summary: &summary,
                    description: &description,
                    location: &join,
                    start: found.start_at,
                    end: found.end_at,
                    attendees: &attendees,
                };
                let event = &event;
                let (start, end) = (found.start_at, found.end_at);
                self.with_access(api, &connection, |access| async move {
                    match api.insert_event(&access, calendar, event).await {
                        // Made by an earlier try whose answer was lost, maybe at the session's
                        // old time: put it where the session is now.
                        Err(ProviderError::AlreadyExists) => api
                            .move_event(&access, calendar, event_id, start, end)
                            .await
                            .map(|conference| kept(event_id, conference)),
                        other => other,
                    }
                })
                .await?
            }
            Some(sequence) if sequence != found.sequence => {
                moving = true;
                let (start, end) = (found.start_at, found.end_at);
                self.with_access(api, &connection, |access| async move {
                    api.move_event(&access, calendar, event_id, start, end)
                        .await
                        .map(|conference| kept(event_id, conference))
                })
                .await?
            }
            Some(_) if found.meeting_status == MeetingStatus::Pending => {
                self.with_access(api, &connection, |access| async move {
                    api.event(&access, calendar, event_id)
                        .await
                        .map(|conference| kept(event_id, conference))
                })
                .await?
            }
            Some(_) => return Ok(Round::Done),
        };
        match written {
            Ok(written) => {
                self.settle_write(row, &found, written, connection.provider)
                    .await
            }
            // Moving (or restoring) an event the provider no longer has (Graph forgets deleted
            // events; Google keeps them, cancelled): it is written anew, once.
            Err(Stop::Gone) if moving => {
                let txn = self.db.begin_write().await?;
                let mut anew: calendar_event::ActiveModel = row.into();
                anew.written_sequence = Set(None);
                anew.updated_at = Set(self.clock.now());
                anew.update(&txn.txn).await?;
                txn.commit().await?;
                Ok(Round::Again)
            }
            Err(stop) => {
                self.stopped(&row, &found, stop).await?;
                Ok(Round::Done)
            }
        }
    }

    /// A write that cannot go on: the built-in room stays, and the event's row says why. (A revoked
    /// grant's writes are queued again when the mentor reconnects.)
    async fn stopped(
        &self,
        row: &calendar_event::Model,
        s: &session::Model,
        stop: Stop,
    ) -> AppResult<()> {
        let refused = match stop {
            Stop::Refused(why) => Some(why),
            Stop::Gone => Some(ProviderError::NotFound.to_string()),
            Stop::Revoked => None,
        };
        if let Some(why) = refused {
            tracing::warn!(session = %s.id, error = %why, "the calendar refused a session's event");
            let txn = self.db.begin_write().await?;
            let mut noted: calendar_event::ActiveModel = row.clone().into();
            noted.last_error = Set(Some(why));
            noted.updated_at = Set(self.clock.now());
            noted.update(&txn.txn).await?;
            txn.commit().await?;
        }
        self.keep_built_in(s).await
    }

    /// Records what was written and the Meet link's progress; `Again` when the session changed
    /// meanwhile.
    async fn settle_write(
        &self,
        row: calendar_event::Model,
        written: &session::Model,
        event_written: Written,
        provider: CalendarProvider,
    ) -> AppResult<Round> {
        let Written {
            event_id,
            conference,
        } = event_written;
        let now = self.clock.now();
        let txn = self.db.begin_write().await?;
        let Some(current) = for_update(&txn.txn, session::Entity::find_by_id(written.id.clone()))
            .one(&txn.txn)
            .await?
        else {
            return Ok(Round::Done);
        };
        let mut event: calendar_event::ActiveModel = row.clone().into();
        // The provider's name for the event, where it chose one (Graph does).
        if event_id != row.event_id {
            event.event_id = Set(event_id);
        }
        event.written_sequence = Set(Some(written.sequence));
        event.last_error = Set(None);
        event.updated_at = Set(now);
        let mut room: session::ActiveModel = current.clone().into();
        let mut changed_room = true;
        match conference {
            Conference::Ready(uri) => {
                room.meeting_url = Set(uri);
                room.meeting_provider = Set(meeting_provider(provider));
                room.meeting_status = Set(MeetingStatus::Ready);
            }
            Conference::Pending if row.conference_checks < MAX_CONFERENCE_CHECKS => {
                let checks = row.conference_checks + 1;
                event.conference_checks = Set(checks);
                let wait = Duration::seconds(1 << checks);
                let state = format!("meet{checks}");
                calendar_write::queue(&txn.txn, now, &written.id, &state, Some(now + wait)).await?;
                changed_room = false;
            }
            Conference::Pending | Conference::Failed | Conference::None => {
                if current.meeting_status == MeetingStatus::Pending {
                    room.meeting_status = Set(MeetingStatus::Failed);
                    event.last_error = Set(Some(format!(
                        "{} could not make a video link",
                        provider.display_name()
                    )));
                } else {
                    changed_room = false;
                }
            }
        }
        event.update(&txn.txn).await?;
        if changed_room {
            room.updated_at = Set(now);
            room.update(&txn.txn).await?;
        }
        txn.commit().await?;
        let moved_on = write_state(current.sequence, current.status)
            != write_state(written.sequence, written.status);
        Ok(if moved_on { Round::Again } else { Round::Done })
    }

    /// A session whose event cannot be written keeps the built-in room: a Meet link that was on
    /// its way is `FAILED`.
    async fn keep_built_in(&self, s: &session::Model) -> AppResult<()> {
        if s.meeting_status != MeetingStatus::Pending {
            return Ok(());
        }
        let txn = self.db.begin_write().await?;
        let mut room: session::ActiveModel = s.clone().into();
        room.meeting_status = Set(MeetingStatus::Failed);
        room.updated_at = Set(self.clock.now());
        room.update(&txn.txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Waits for the connection's turn under [`WRITES_PER_SECOND`].
    async fn pace(&self, connection: &conn::Model) {
        self.write_pace.0.until_key_ready(&connection.id).await;
    }

    /// Runs `call` with a valid access token, refreshing once after a 401. `Err(Stop)`: the grant
    /// is gone, or Google refused in a way asking again will not change. Passing failures (5xx,
    /// rate limits) are the job's, which tries again later.
    async fn with_access<T, F, Fut>(
        &self,
        api: &dyn CalendarApi,
        connection: &conn::Model,
        call: F,
    ) -> AppResult<Result<T, Stop>>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let provider = connection.provider.display_name();
        let Ok(access) = self.access(api, connection, false).await? else {
            return Ok(Err(Stop::Revoked));
        };
        let answer = match call(access).await {
            Err(ProviderError::AccessExpired) => {
                let Ok(access) = self.access(api, connection, true).await? else {
                    return Ok(Err(Stop::Revoked));
                };
                call(access).await
            }
            other => other,
        };
        match answer {
            Ok(value) => Ok(Ok(value)),
            Err(ProviderError::NotFound) => Ok(Err(Stop::Gone)),
            Err(e) if lasting(&e) => Ok(Err(Stop::Refused(e.to_string()))),
            Err(e) => Err(e.into_app(provider)),
        }
    }
}

/// An event written under the id it already had.
fn kept(event_id: &str, conference: Conference) -> Written {
    Written {
        event_id: event_id.to_string(),
        conference,
    }
}

/// The video room a provider's event carries.
pub(super) fn meeting_provider(provider: CalendarProvider) -> MeetingProvider {
    match provider {
        CalendarProvider::Google => MeetingProvider::GoogleMeet,
        CalendarProvider::Outlook => MeetingProvider::MicrosoftTeams,
        // CalDAV has no video rooms: the built-in one stays.
        CalendarProvider::Caldav => MeetingProvider::BuiltIn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_one_connection_are_paced_and_others_are_not_held_up() {
        let pace = WritePace::default();
        let one = "connection-1".to_string();
        for _ in 0..WRITES_PER_SECOND {
            assert!(pace.0.check_key(&one).is_ok());
        }
        assert!(
            pace.0.check_key(&one).is_err(),
            "the next write waits its turn"
        );
        assert!(pace.0.check_key(&"connection-2".to_string()).is_ok());
    }
}
