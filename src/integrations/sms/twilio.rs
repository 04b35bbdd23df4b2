//! Twilio's Messages API: `POST /2010-04-01/Accounts/{sid}/Messages.json` (form: `To`, `From` or
//! `MessagingServiceSid`, `Body`, `StatusCallback`) with HTTP Basic `sid:token`; and, after a try
//! whose outcome is unknown, `GET …/Messages.json?To=&DateSent>=` to see whether Twilio took it.
//! `TWILIO_API_URL` points it elsewhere (tests use a fake).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Accepted, OutgoingText, TextError, Texter};
use crate::config::Secret;

/// Who sends: a number (or short code, or alphanumeric sender) or a messaging service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    From(String),
    MessagingService(String),
}

pub struct Twilio {
    http: reqwest::Client,
    api: String,
    account: String,
    token: Secret,
    sender: Sender,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("api", &self.api)
            .field("account", &self.account)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Message {
    sid: String,
    status: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    date_created: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Failure {
    code: Option<u32>,
    message: Option<String>,
}

/// Texts in one lookup page (the retry looks only at texts sent since its first try).
const LOOKUP_PAGE: u32 = 50;

impl Twilio {
    pub fn new(api: &str, account: &str, token: Secret, sender: Sender) -> anyhow::Result<Twilio> {
        Ok(Twilio {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(20))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            api: api.trim_end_matches('/').to_string(),
            account: account.to_string(),
            token,
            sender,
        })
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api, self.account
        )
    }

    /// A failed answer as our error: 429 throttled, 5xx unknown (Twilio may have taken it), any
    /// other refusal with Twilio's code.
    async fn failure(response: reqwest::Response) -> TextError {
        let status = response.status();
        let retry_after = crate::integrations::calendar::retry_after(&response);
        let body: Option<Failure> = response.json().await.ok();
        let code = body.as_ref().and_then(|b| b.code).unwrap_or(0);
        let message = body
            .and_then(|b| b.message)
            .unwrap_or_else(|| format!("HTTP {status}"));
        match status.as_u16() {
            429 => TextError::Throttled { retry_after },
            500..=599 => TextError::Unknown(format!("HTTP {status}: {message}")),
            401 | 403 => TextError::NotTaken(format!(
                "Twilio refused the credentials ({code}): {message}"
            )),
            _ => TextError::Refused { code, message },
        }
    }
}

#[async_trait]
impl Texter for Twilio {
    async fn send(&self, text: &OutgoingText<'_>) -> Result<Accepted, TextError> {
        let mut form: Vec<(&str, &str)> = vec![("To", text.to), ("Body", text.body)];
        match &self.sender {
            Sender::From(from) => form.push(("From", from)),
            Sender::MessagingService(sid) => form.push(("MessagingServiceSid", sid)),
        }
        if let Some(callback) = &text.status_callback {
            form.push(("StatusCallback", callback));
        }
        let sent = self
            .http
            .post(self.messages_url())
            .basic_auth(&self.account, Some(self.token.expose()))
            .form(&form)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // Not connected: nothing reached Twilio. Anything later may have.
            Err(e) if e.is_connect() => {
                return Err(TextError::NotTaken(e.without_url().to_string()))
            }
            Err(e) => return Err(TextError::Unknown(e.without_url().to_string())),
        };
        if !response.status().is_success() {
            return Err(Self::failure(response).await);
        }
        let message: Message = response.json().await.map_err(|e| {
            TextError::Unknown(format!("an answer we could not read: {}", e.without_url()))
        })?;
        Ok(Accepted {
            sid: message.sid,
            status: message.status,
        })
    }

    async fn find(
        &self,
        _id: &str,
        to: &str,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Accepted>, TextError> {
        let day = since.format("%Y-%m-%d").to_string();
        let page = LOOKUP_PAGE.to_string();
        let response = self
            .http
            .get(self.messages_url())
            .basic_auth(&self.account, Some(self.token.expose()))
            .query(&[
                ("To", to),
                ("DateSent>", day.as_str()),
                ("PageSize", page.as_str()),
            ])
            .send()
            .await
            .map_err(|e| TextError::NotTaken(e.without_url().to_string()))?;
        if !response.status().is_success() {
            // Whatever the lookup's trouble, the text's fate is still unknown.
            return Err(match Self::failure(response).await {
                TextError::Throttled { retry_after } => TextError::Throttled { retry_after },
                other => TextError::NotTaken(format!("looking the text up: {other}")),
            });
        }
        let page: Page = response.json().await.map_err(|e| {
            TextError::NotTaken(format!("a lookup we could not read: {}", e.without_url()))
        })?;
        let recent = |m: &Message| {
            m.date_created
                .as_deref()
                .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                .is_none_or(|d| d.with_timezone(&Utc) >= since - chrono::Duration::seconds(1))
        };
        Ok(page
            .messages
            .into_iter()
            .find(|m| m.body.as_deref() == Some(body) && recent(m))
            .map(|m| Accepted {
                sid: m.sid,
                status: m.status,
            }))
    }
}
