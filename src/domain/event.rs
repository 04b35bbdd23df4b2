//! What happened to a booking, as recorded with the change that made it happen (and stored as JSON
//! tagged with its kind). Consumers (payments, in-app notifications, email, calendar writes) decide
//! what each event calls for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::booking::ClashReason;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum DomainEvent {
    /// A booking is confirmed (at once, or when its first week is paid): everyone is told.
    BookingCreated {
        booking_id: String,
        session_ids: Vec<String>,
    },
    /// A regular booking's sessions are held until its first week is paid; nobody is told yet.
    BookingHeld {
        booking_id: String,
        session_ids: Vec<String>,
    },
    /// A hold ended unpaid (expired, abandoned, or dropped by the student or an admin): its
    /// sessions are free again, and since nobody was told of the booking, nobody is told of this.
    HoldReleased {
        booking_id: String,
        session_ids: Vec<String>,
        reason: String,
    },
    /// A week was paid: `invoice_id` is the receipt's invoice. What was paid, when, and for which
    /// period travel with it, so those who tell of it need not read the invoice back.
    PaymentReceived {
        booking_id: String,
        invoice_id: String,
        #[serde(default)]
        amount_minor: i64,
        #[serde(default)]
        currency: String,
        #[serde(default)]
        paid_at: Option<DateTime<Utc>>,
        #[serde(default)]
        period_start: Option<DateTime<Utc>>,
        #[serde(default)]
        period_end: Option<DateTime<Utc>>,
    },
    /// A weekly charge failed (Stripe's invoice and its attempt); `fix_url` is where the student
    /// can update the card.
    PaymentFailed {
        booking_id: String,
        invoice: String,
        attempt: i64,
        fix_url: Option<String>,
    },
    /// Money was given back: a paid session the mentor cancelled (its share), or with no session a
    /// whole invoice paid for a booking already cancelled.
    Refunded {
        booking_id: String,
        /// Our refund's id (`session:…` or `invoice:…`).
        refund: String,
        session_id: Option<String>,
        amount_minor: i64,
        currency: String,
    },
    /// More sessions of an ongoing booking were created by the extension job.
    SessionsAdded {
        booking_id: String,
        session_ids: Vec<String>,
    },
    BookingCancelled {
        booking_id: String,
        cancelled_session_ids: Vec<String>,
        reason: Option<String>,
    },
    SessionCancelled {
        booking_id: String,
        session_id: String,
        reason: Option<String>,
    },
    SessionRescheduled {
        booking_id: String,
        session_id: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        sequence: i32,
    },
    /// A session reached its end while scheduled.
    SessionCompleted {
        booking_id: String,
        session_id: String,
    },
    /// An occurrence of an ongoing booking that could not be created when its week came into view.
    OccurrenceSkipped {
        booking_id: String,
        slot: usize,
        week: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        #[serde(rename = "reasonCode")]
        reason: ClashReason,
    },
}

impl DomainEvent {
    /// The stored name of the event's kind (the JSON payload's `kind` too).
    pub fn kind(&self) -> &'static str {
        self.into()
    }

    pub fn booking_id(&self) -> &str {
        match self {
            DomainEvent::BookingCreated { booking_id, .. }
            | DomainEvent::BookingHeld { booking_id, .. }
            | DomainEvent::HoldReleased { booking_id, .. }
            | DomainEvent::PaymentReceived { booking_id, .. }
            | DomainEvent::PaymentFailed { booking_id, .. }
            | DomainEvent::Refunded { booking_id, .. }
            | DomainEvent::SessionsAdded { booking_id, .. }
            | DomainEvent::BookingCancelled { booking_id, .. }
            | DomainEvent::SessionCancelled { booking_id, .. }
            | DomainEvent::SessionRescheduled { booking_id, .. }
            | DomainEvent::SessionCompleted { booking_id, .. }
            | DomainEvent::OccurrenceSkipped { booking_id, .. } => booking_id,
        }
    }

    pub fn session_id(&self) -> Option<&str> {
        match self {
            DomainEvent::SessionCancelled { session_id, .. }
            | DomainEvent::SessionRescheduled { session_id, .. }
            | DomainEvent::SessionCompleted { session_id, .. } => Some(session_id),
            DomainEvent::Refunded { session_id, .. } => session_id.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_the_payloads_tag() {
        let event = DomainEvent::SessionCancelled {
            booking_id: "b".into(),
            session_id: "s".into(),
            reason: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], event.kind());
        assert_eq!(event.kind(), "SESSION_CANCELLED");
        let event = DomainEvent::OccurrenceSkipped {
            booking_id: "b".into(),
            slot: 0,
            week: 1,
            start: Utc::now(),
            end: Utc::now(),
            reason: ClashReason::SessionTaken,
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap()["kind"],
            "OCCURRENCE_SKIPPED"
        );
        assert_eq!(event.kind(), "OCCURRENCE_SKIPPED");
    }
}
