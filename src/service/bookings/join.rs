//! Who may go through a session's `/join` link, and whether the room is open.

use super::{no_such, BookingService, Session};
use crate::domain::join::{door, Door};
use crate::domain::time::TimeZone;
use crate::error::AppResult;
use crate::service::store::users::find_user;

/// What a participant finds at the door.
#[derive(Debug, Clone)]
pub struct JoinAnswer {
    pub session: Session,
    pub door: Door,
    /// The participant's zone, for showing times.
    pub zone: TimeZone,
}

impl BookingService {
    /// `NOT_FOUND` for an unknown session, and the same for anyone but its student and mentor (so
    /// session ids cannot be probed).
    pub async fn join(&self, session_id: &str, user_id: &str) -> AppResult<JoinAnswer> {
        let session = self
            .session_unchecked(session_id)
            .await?
            .filter(|s| s.is_participant(user_id))
            .ok_or_else(|| no_such("session"))?;
        let zone = find_user(self.db.conn(), user_id).await?.time_zone;
        let door = door(
            session.status,
            session.start_at,
            session.end_at,
            self.clock.now(),
        );
        Ok(JoinAnswer {
            session,
            door,
            zone,
        })
    }
}
