//! The built-in provider needs no account: it names a room with 128 random bits under a base URL
//! (Jitsi Meet by default, which opens a room on first visit).

use rand::RngCore;

use super::{MeetingProvider, RoomRequest};

pub struct BuiltInRooms {
    base_url: String,
}

impl BuiltInRooms {
    pub fn new(base_url: &str) -> Self {
        BuiltInRooms {
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }
}

#[async_trait::async_trait]
impl MeetingProvider for BuiltInRooms {
    fn name(&self) -> &'static str {
        "built-in"
    }

    async fn create_room(&self, _request: &RoomRequest<'_>) -> anyhow::Result<String> {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Ok(format!("{}/mentor-{}", self.base_url, hex::encode(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[tokio::test]
    async fn every_room_is_new_and_unguessable() {
        let rooms = BuiltInRooms::new("https://meet.example.org/");
        let request = RoomRequest {
            session_id: "s",
            start: Utc::now(),
            end: Utc::now(),
            title: "t",
        };
        let a = rooms.create_room(&request).await.unwrap();
        let b = rooms.create_room(&request).await.unwrap();
        assert_ne!(a, b);
        let name = a.strip_prefix("https://meet.example.org/mentor-").unwrap();
        assert_eq!(name.len(), 32);
        assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
