//! Push channels (`events.watch`, `channels.stop`): Google posts to our webhook whenever a watched
//! calendar's events change. A channel is never renewed in place: a new one (new id) is opened
//! before the old one is stopped.

use chrono::DateTime;
use serde::{Deserialize, Deserializer, Serialize};

use super::api::{done_or_gone, read_json, send, GoogleCalendarApi};
use crate::config::Secret;
use crate::integrations::calendar::api::{WatchRequest, Watched};
use crate::integrations::calendar::ProviderError;

#[derive(Serialize)]
struct WatchBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    address: &'a str,
    token: &'a str,
    expiration: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelBody {
    resource_id: String,
    /// Unix milliseconds, as a string (an int64 in Google's JSON) or a number.
    #[serde(default, deserialize_with = "millis")]
    expiration: Option<i64>,
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(i64),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        Some(Either::Number(n)) => Some(n),
        Some(Either::Text(t)) => t.parse().ok(),
        None => None,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StopBody<'a> {
    id: &'a str,
    resource_id: &'a str,
}

impl GoogleCalendarApi {
    /// Opens a push channel on `calendar`'s events, posting to `address`.
    pub async fn watch(
        &self,
        access: &Secret,
        calendar: &str,
        address: &str,
        request: WatchRequest<'_>,
    ) -> Result<Watched, ProviderError> {
        let url = self.url_of(&["calendars", calendar, "events", "watch"])?;
        let body = WatchBody {
            id: request.channel_id,
            kind: "web_hook",
            address,
            token: request.token.expose(),
            expiration: request.expires_at.timestamp_millis(),
        };
        let response = send(self.http.post(url).json(&body), access).await?;
        let channel: ChannelBody = read_json(response).await?;
        Ok(Watched {
            resource_id: channel.resource_id,
            expires_at: channel
                .expiration
                .and_then(DateTime::from_timestamp_millis)
                .unwrap_or(request.expires_at),
        })
    }

    /// Stops a channel. One Google no longer knows (expired, already stopped) is stopped too.
    pub async fn stop(
        &self,
        access: &Secret,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        let url = self.url_of(&["channels", "stop"])?;
        let response = send(
            self.http.post(url).json(&StopBody {
                id: channel_id,
                resource_id,
            }),
            access,
        )
        .await?;
        done_or_gone(response).await
    }
}
