//! Writing sessions as events (`events.insert`, `get`, `patch`, `delete`), each with a Meet link
//! asked for through `conferenceData.createRequest`. Our own invites go by email: Google sends none
//! (`sendUpdates=none`). The event id is ours (derived from the session's), so an insert retried after
//! a lost answer finds the event it made (409) instead of making a second one.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{done_or_gone, read_json, send, GoogleCalendarApi, OURS};
use crate::config::Secret;
use crate::integrations::calendar::api::{Conference, SessionEvent};
use crate::integrations::calendar::ProviderError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    conference_data: Option<ConferenceData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConferenceData {
    create_request: Option<CreateRequest>,
    #[serde(default)]
    entry_points: Vec<EntryPoint>,
}

#[derive(Deserialize)]
struct CreateRequest {
    status: Option<RequestStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestStatus {
    status_code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryPoint {
    entry_point_type: String,
    uri: String,
}

fn conference_of(body: EventBody) -> Conference {
    let Some(data) = body.conference_data else {
        return Conference::None;
    };
    if let Some(video) = data
        .entry_points
        .into_iter()
        .find(|e| e.entry_point_type == "video" && e.uri.starts_with("https://"))
    {
        return Conference::Ready(video.uri);
    }
    match data
        .create_request
        .and_then(|r| r.status)
        .map(|s| s.status_code)
        .as_deref()
    {
        Some("pending") => Conference::Pending,
        Some("failure") => Conference::Failed,
        // `success` without a video entry point: nothing to join.
        _ => Conference::Failed,
    }
}

fn when(at: DateTime<Utc>) -> Value {
    json!({ "dateTime": at.to_rfc3339_opts(SecondsFormat::Secs, true), "timeZone": "UTC" })
}

impl GoogleCalendarApi {
    /// Creates the session's event with a Meet link asked for. `Err(AlreadyExists)`: an earlier try
    /// made it; read it back with [`event`](Self::event).
    pub async fn insert_event(
        &self,
        access: &Secret,
        calendar: &str,
        event: &SessionEvent<'_>,
    ) -> Result<Conference, ProviderError> {
        let mut url = self.url_of(&["calendars", calendar, "events"])?;
        url.query_pairs_mut()
            .append_pair("conferenceDataVersion", "1")
            .append_pair("sendUpdates", "none");
        let attendees: Vec<Value> = event
            .attendees
            .iter()
            .map(|email| json!({ "email": email }))
            .collect();
        let body = json!({
            "id": event.event_id,
            "summary": event.summary,
            "description": event.description,
            "location": event.location,
            "start": when(event.start),
            "end": when(event.end),
            "attendees": attendees,
            "guestsCanModify": false,
            "extendedProperties": { "private": { OURS: event.session_id } },
            "conferenceData": { "createRequest": {
                // One request per session: a retried insert asks for the same conference.
                "requestId": event.session_id,
                "conferenceSolutionKey": { "type": "hangoutsMeet" },
            } },
        });
        let response = send(self.http.post(url).json(&body), access).await?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            return Err(ProviderError::AlreadyExists);
        }
        read_json(response).await.map(conference_of)
    }

    /// The event as it is now (its Meet link, once made).
    pub async fn event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
    ) -> Result<Conference, ProviderError> {
        let mut url = self.url_of(&["calendars", calendar, "events", event_id])?;
        url.query_pairs_mut()
            .append_pair("conferenceDataVersion", "1");
        let response = send(self.http.get(url), access).await?;
        read_json(response).await.map(conference_of)
    }

    /// Moves the event (the same event, so the same Meet link); one the mentor deleted comes back.
    pub async fn move_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Conference, ProviderError> {
        let mut url = self.url_of(&["calendars", calendar, "events", event_id])?;
        url.query_pairs_mut()
            .append_pair("conferenceDataVersion", "1")
            .append_pair("sendUpdates", "none");
        let response = send(
            self.http
                .patch(url)
                .json(&json!({ "start": when(start), "end": when(end), "status": "confirmed" })),
            access,
        )
        .await?;
        read_json(response).await.map(conference_of)
    }

    /// Deletes the event; one already gone is deleted too.
    pub async fn delete_event(
        &self,
        access: &Secret,
        calendar: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let mut url = self.url_of(&["calendars", calendar, "events", event_id])?;
        url.query_pairs_mut().append_pair("sendUpdates", "none");
        let response = send(self.http.delete(url), access).await?;
        done_or_gone(response).await
    }
}

/// The event id for a session: Google takes 5 to 1024 characters of base32hex (`0-9a-v`); a
/// session id's hex digits are all in it.
pub fn event_id_for(session_id: &str) -> String {
    let digits: String = session_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("ms{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_base32hex_and_follow_the_session() {
        let id = event_id_for("019abc12-3DEF-7000-8000-00000000000a");
        assert_eq!(id, "ms019abc123def7000800000000000000a");
        assert!(id.len() >= 5 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v')));
        assert_ne!(id, event_id_for("019abc12-3def-7000-8000-00000000000b"));
    }

    #[test]
    fn the_meet_link_is_read_when_google_has_made_it() {
        let read = |v: Value| conference_of(serde_json::from_value(v).unwrap());
        assert_eq!(read(json!({})), Conference::None);
        assert_eq!(
            read(
                json!({"conferenceData": {"createRequest": {"status": {"statusCode": "pending"}}}})
            ),
            Conference::Pending
        );
        assert_eq!(
            read(
                json!({"conferenceData": {"createRequest": {"status": {"statusCode": "failure"}}}})
            ),
            Conference::Failed
        );
        assert_eq!(
            read(json!({"conferenceData": {
            "createRequest": {"status": {"statusCode": "success"}},
            "entryPoints": [
                {"entryPointType": "phone", "uri": "tel:+1-555-0100"},
                {"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}
            ]}})),
            Conference::Ready("https://meet.google.com/abc-defg-hij".into())
        );
    }
}
