//! What email providers report after sending, in one shape whatever the provider: the providers'
//! payloads are parsed into it in `integrations::email`.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryKind {
    Delivered,
    Bounce {
        permanent: bool,
    },
    Complaint,
    Open,
    Click {
        url: Option<String>,
    },
    /// A known event that changes nothing here (processed, deferred, dropped, unsubscribe, send...).
    Noted,
}

/// One provider report about one recipient of one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub address: String,
    /// Our email id, when the provider echoed it back.
    pub email_id: Option<String>,
    /// Our `Message-ID` (with angle brackets), when the provider echoed it back.
    pub message_id: Option<String>,
    pub kind: DeliveryKind,
    pub at: DateTime<Utc>,
    pub detail: Option<String>,
}
