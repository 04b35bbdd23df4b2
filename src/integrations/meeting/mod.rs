//! Meeting rooms: one per session, behind [`MeetingProvider`]: built in ([`built_in`]), and next
//! Google Meet and Microsoft Teams. Clients never see a room's URL directly; they get the service's
//! time-limited `/join/{sessionId}` link, which redirects to it.

mod built_in;

use chrono::{DateTime, Utc};

pub use built_in::BuiltInRooms;

/// What a provider may need to set up a room.
pub struct RoomRequest<'a> {
    pub session_id: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub title: &'a str,
}

#[async_trait::async_trait]
pub trait MeetingProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// The room URL for one session; every session gets its own.
    async fn create_room(&self, request: &RoomRequest<'_>) -> anyhow::Result<String>;
}
