//! SendGrid's Event Webhook: a JSON array of events (`email`, `event`, `timestamp`, ...). Our own
//! email id travels as the custom argument `email_id`; `smtp-id` is our `Message-ID`. A payload is
//! parsed whole before anything is applied: one bad event rejects the lot.

use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::payload::{address, malformed, text, WebhookError};
use crate::domain::email::report::{DeliveryKind, DeliveryReport};

/// Parses SendGrid's Event Webhook body.
pub fn parse_sendgrid(body: &[u8]) -> Result<Vec<DeliveryReport>, WebhookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    let events = value
        .as_array()
        .ok_or_else(|| malformed("the body must be a JSON array of events"))?;
    if events.is_empty() {
        return Err(malformed("the array holds no events"));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| sendgrid_event(e, &format!("event {i}")))
        .collect()
}

fn sendgrid_event(e: &Value, at: &str) -> Result<DeliveryReport, WebhookError> {
    if !e.is_object() {
        return Err(malformed(format!("{at}: must be an object")));
    }
    let event = text(e, "event", at)?;
    let seconds = e
        .get("timestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed(format!("{at}: `timestamp` must be an integer")))?;
    let when = Utc
        .timestamp_opt(seconds, 0)
        .single()
        .ok_or_else(|| malformed(format!("{at}: `timestamp` {seconds} is out of range")))?;
    let kind = match event {
        "delivered" => DeliveryKind::Delivered,
        "bounce" => DeliveryKind::Bounce {
            // `blocked` is a refusal that may pass later (reputation, content); `bounce` is final.
            permanent: e.get("type").and_then(Value::as_str) != Some("blocked"),
        },
        "spamreport" => DeliveryKind::Complaint,
        "open" => DeliveryKind::Open,
        "click" => DeliveryKind::Click {
            url: e.get("url").and_then(Value::as_str).map(str::to_string),
        },
        "processed" | "deferred" | "dropped" | "unsubscribe" | "group_unsubscribe"
        | "group_resubscribe" => DeliveryKind::Noted,
        other => return Err(WebhookError::UnknownEvent(other.to_string())),
    };
    let detail = ["reason", "response", "status"]
        .iter()
        .find_map(|k| e.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    Ok(DeliveryReport {
        address: address(text(e, "email", at)?, at)?,
        email_id: e
            .get("email_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        message_id: e.get("smtp-id").and_then(Value::as_str).map(str::to_string),
        kind,
        at: when,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sendgrid_events_of_every_kind_parse() {
        let body = json!([
            {"email": "A@x.com", "timestamp": 1700000000, "event": "delivered", "email_id": "e1", "smtp-id": "<e1@x>"},
            {"email": "a@x.com", "timestamp": 1700000001, "event": "bounce", "type": "bounce", "reason": "550 no such user"},
            {"email": "a@x.com", "timestamp": 1700000002, "event": "bounce", "type": "blocked"},
            {"email": "a@x.com", "timestamp": 1700000003, "event": "spamreport"},
            {"email": "a@x.com", "timestamp": 1700000004, "event": "click", "url": "https://x.com/a"},
            {"email": "a@x.com", "timestamp": 1700000005, "event": "deferred", "response": "451"}
        ]);
        let r = parse_sendgrid(body.to_string().as_bytes()).unwrap();
        assert_eq!(r[0].address, "a@x.com");
        assert_eq!(r[0].email_id.as_deref(), Some("e1"));
        assert_eq!(r[1].kind, DeliveryKind::Bounce { permanent: true });
        assert_eq!(r[1].detail.as_deref(), Some("550 no such user"));
        assert_eq!(r[2].kind, DeliveryKind::Bounce { permanent: false });
        assert_eq!(r[3].kind, DeliveryKind::Complaint);
        assert_eq!(
            r[4].kind,
            DeliveryKind::Click {
                url: Some("https://x.com/a".into())
            }
        );
        assert_eq!(r[5].kind, DeliveryKind::Noted);
    }

    #[test]
    fn bad_sendgrid_bodies_are_refused_whole() {
        let cases: [&[u8]; 7] = [
            b"not json",
            b"{}",
            b"[]",
            br#"[{"email":"a@x.com","timestamp":1,"event":"exploded"}]"#,
            br#"[{"email":"a@x.com","event":"open"}]"#,
            br#"[{"email":"nobody","timestamp":1,"event":"open"}]"#,
            br#"[{"email":"a@x.com","timestamp":1,"event":"open"}, 7]"#,
        ];
        for body in cases {
            assert!(
                parse_sendgrid(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
