//! Sessions as Outlook events, and subscriptions (Graph's push).
//!
//! An event is created on the chosen calendar with a Teams meeting asked for
//! (`isOnlineMeeting`, `onlineMeetingProvider: teamsForBusiness`): accounts with Teams get a join
//! link (sometimes only on a later read); others (personal accounts) keep `isOnlineMeeting` false,
//! and the built-in room serves. The create carries a `transactionId` derived from the session, so a
//! create retried after a lost answer gives back the event the first one made instead of a second
//! one; that event is then moved to where the session is now. No attendees are put on the event:
//! Outlook would mail invitations of its own, and the student already gets ours.
//!
//! A subscription watches one calendar's events (created, updated, deleted) and posts to
//! `{webhook}/{channel id}`; Graph first checks that address with its validation handshake. It
//! lives at most [`LONGEST_SUBSCRIPTION_MINUTES`], under the three days Graph long allowed for
//! events, so it is renewed well before Graph would end it.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::graph::{done, read_json, send, Graph};
use super::read::instant_of;
use super::SESSION_KEY_PREFIX;
use crate::config::Secret;
use crate::integrations::calendar::api::{
    Conference, SessionEvent, WatchRequest, Watched, Written,
};
use crate::integrations::calendar::ProviderError;

/// The longest a subscription is asked to live.
pub const LONGEST_SUBSCRIPTION_MINUTES: i64 = 4_200;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    id: String,
    #[serde(default)]
    is_online_meeting: bool,
    online_meeting: Option<OnlineMeeting>,
    start: Option<Value>,
    end: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnlineMeeting {
    join_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionBody {
    id: String,
    expiration_date_time: DateTime<Utc>,
}

fn conference_of(e: &EventBody) -> Conference {
    if !e.is_online_meeting {
        return Conference::None;
    }
    match e
        .online_meeting
        .as_ref()
        .and_then(|m| m.join_url.as_deref())
    {
        Some(url) if url.starts_with("https://") => Conference::Ready(url.to_string()),
        Some(_) => Conference::Failed,
        None => Conference::Pending,
    }
}

fn when(at: DateTime<Utc>) -> Value {
    json!({ "dateTime": at.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" })
}

/// Where an event stands, as Graph gave it.
fn placed(e: &EventBody) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let read = |v: &Option<Value>| v.as_ref().and_then(instant_of);
    Some((read(&e.start)?, read(&e.end)?))
}

/// The `transactionId` of a session's event.
pub fn session_key(session_id: &str) -> String {
    format!("{SESSION_KEY_PREFIX}{session_id}")
}

impl Graph {
    pub async fn insert_event(
        &self,
        access: &Secret,
        calendar: &str,
        event: &SessionEvent<'_>,
    ) -> Result<Written, ProviderError> {
        let url = self.url_of(&["me", "calendars", calendar, "events"])?;
        let body = json!({
            "subject": event.summary,
            "body": { "contentType": "text", "content": event.description },
            "start": when(event.start),
            "end": when(event.end),
            "location": { "displayName": event.location },
            "showAs": "busy",
            "isOnlineMeeting": true,
            "onlineMeetingProvider": "teamsForBusiness",
            "transactionId": session_key(event.session_id),
        });
        let made: EventBody =
            read_json(send(self.http.post(url).json(&body), access).await?).await?;
        // A retried create gives back the event an earlier try made, where that try put it.
        if placed(&made).is_some_and(|at| at != (event.start, event.end)) {
            let conference = self
                .move_event(access, &made.id, event.start, event.end)
                .await?;
            return Ok(Written {
                event_id: made.id,
                conference,
            });
        }
        Ok(Written {
            conference: conference_of(&made),
            event_id: made.id,
        })
    }

    /// A session's event read back (for its Teams link).
    pub async fn event(
        &self,
        access: &Secret,
        event_id: &str,
    ) -> Result<Conference, ProviderError> {
        let mut url = self.url_of(&["me", "events", event_id])?;
        url.query_pairs_mut()
            .append_pair("$select", "id,isOnlineMeeting,onlineMeeting,start,end");
        let found: EventBody = read_json(send(self.http.get(url), access).await?).await?;
        Ok(conference_of(&found))
    }

    pub async fn move_event(
        &self,
        access: &Secret,
        event_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Conference, ProviderError> {
        let url = self.url_of(&["me", "events", event_id])?;
        let body = json!({ "start": when(start), "end": when(end) });
        let moved: EventBody =
            read_json(send(self.http.patch(url).json(&body), access).await?).await?;
        Ok(conference_of(&moved))
    }

    /// Deleting an event that is not there is done.
    pub async fn delete_event(&self, access: &Secret, event_id: &str) -> Result<(), ProviderError> {
        let url = self.url_of(&["me", "events", event_id])?;
        done(send(self.http.delete(url), access).await?, true).await
    }

    /// Subscribes to `calendar`'s events; Graph validates `notify_to` before it answers.
    pub async fn subscribe(
        &self,
        access: &Secret,
        calendar: &str,
        notify_to: &str,
        request: WatchRequest<'_>,
    ) -> Result<Watched, ProviderError> {
        let url = self.url_of(&["subscriptions"])?;
        let longest = request.asked_at + Duration::minutes(LONGEST_SUBSCRIPTION_MINUTES);
        let until = request.expires_at.min(longest);
        let body = json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": notify_to,
            "lifecycleNotificationUrl": notify_to,
            "resource": format!("me/calendars/{calendar}/events"),
            "expirationDateTime": until.to_rfc3339_opts(SecondsFormat::Secs, true),
            "clientState": request.token.expose(),
        });
        let made: SubscriptionBody =
            read_json(send(self.http.post(url).json(&body), access).await?).await?;
        Ok(Watched {
            resource_id: made.id,
            expires_at: made.expiration_date_time,
        })
    }

    /// Ends a subscription; one Graph no longer has is ended.
    pub async fn unsubscribe(
        &self,
        access: &Secret,
        subscription_id: &str,
    ) -> Result<(), ProviderError> {
        let url = self.url_of(&["subscriptions", subscription_id])?;
        done(send(self.http.delete(url), access).await?, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(v: Value) -> EventBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_teams_link_is_read_where_there_is_one() {
        assert_eq!(
            conference_of(&event(
                json!({"id": "e", "isOnlineMeeting": false, "onlineMeeting": null})
            )),
            Conference::None
        );
        assert_eq!(
            conference_of(&event(
                json!({"id": "e", "isOnlineMeeting": true, "onlineMeeting": null})
            )),
            Conference::Pending
        );
        assert_eq!(
            conference_of(&event(json!({"id": "e", "isOnlineMeeting": true,
                "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/x"}}))),
            Conference::Ready("https://teams.microsoft.com/l/meetup-join/x".into())
        );
        assert_eq!(
            conference_of(&event(json!({"id": "e", "isOnlineMeeting": true,
                "onlineMeeting": {"joinUrl": "javascript:alert(1)"}}))),
            Conference::Failed
        );
    }

    #[test]
    fn times_go_out_in_utc_and_come_back_read() {
        let at: DateTime<Utc> = "2026-01-05T09:00:00Z".parse().unwrap();
        let sent = when(at);
        assert_eq!(sent["dateTime"], "2026-01-05T09:00:00");
        assert_eq!(sent["timeZone"], "UTC");
        let back = event(json!({"id": "e",
            "start": {"dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-05T10:00:00.0000000", "timeZone": "UTC"}}));
        assert_eq!(placed(&back), Some((at, at + Duration::hours(1))));
    }
}
