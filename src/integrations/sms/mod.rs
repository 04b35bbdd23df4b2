//! Sending texts: Twilio's Messages API when configured, else files under `DATA_DIR/sms/` (the
//! embedded default, like the `.eml` outbox); and Twilio's webhook signature.

pub mod file;
pub mod signature;
pub mod twilio;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// One text to hand over.
#[derive(Debug, Clone)]
pub struct OutgoingText<'a> {
    /// Our id of the text.
    pub id: &'a str,
    /// E.164.
    pub to: &'a str,
    pub body: &'a str,
    /// Where the provider reports what became of it.
    pub status_callback: Option<String>,
}

/// What the provider said when it took a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub sid: String,
    /// The provider's status word (`queued`, `accepted`, `sent`).
    pub status: String,
}

/// Why a text was not (known to be) taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A refusal with the provider's error code: see `domain::sms::refusal` for which last.
    #[error("refused ({code}): {message}")]
    Refused { code: u32, message: String },
    /// Too many requests: try again after `retry_after` (the provider's `Retry-After`).
    #[error("throttled by the provider")]
    Throttled { retry_after: Option<Duration> },
    /// Not taken, for a reason that may pass (credentials, an unreachable provider).
    #[error("not sent: {0}")]
    NotTaken(String),
    /// The provider may or may not have taken it (a 5xx, a cut connection, a timeout): ask before
    /// sending again.
    #[error("unclear whether it was sent: {0}")]
    Unknown(String),
}

#[async_trait]
pub trait Texter: Send + Sync {
    async fn send(&self, text: &OutgoingText<'_>) -> Result<Accepted, TextError>;

    /// The text to `to` saying `body` that the provider took at or after `since`, if any: asked
    /// after a try whose outcome is unknown, so a text is never sent twice.
    async fn find(
        &self,
        id: &str,
        to: &str,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Accepted>, TextError>;
}
