//! Amazon SES through SNS: an SNS envelope whose `Message` is a JSON string with
//! `notificationType` (or `eventType`, with configuration sets) and the `mail` it concerns; and the
//! envelope's own subscription handshake.

use chrono::{DateTime, Utc};
use serde_json::Value;

use regex::Regex;

use super::payload::{address, malformed, text, WebhookError};
use super::sns_signature::trusted_url;
use crate::domain::email::report::{DeliveryKind, DeliveryReport};

/// What an SNS envelope held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnsMessage {
    Reports(Vec<DeliveryReport>),
    /// The topic asks to confirm the subscription at this URL (done by an operator).
    SubscriptionConfirmation {
        subscribe_url: String,
    },
    UnsubscribeConfirmation,
}

/// Reads an SNS envelope (its signature already checked) carrying SES notifications; a
/// subscription link must match `hosts` as the signing certificate's URL did.
pub fn interpret_sns(envelope: &Value, hosts: &Regex) -> Result<SnsMessage, WebhookError> {
    match text(envelope, "Type", "envelope")? {
        "Notification" => {
            let raw = text(envelope, "Message", "envelope")?;
            let message: Value = serde_json::from_str(raw)
                .map_err(|e| malformed(format!("envelope: `Message` is not JSON: {e}")))?;
            ses_notification(&message).map(SnsMessage::Reports)
        }
        "SubscriptionConfirmation" => {
            let raw = text(envelope, "SubscribeURL", "envelope")?;
            // Only an https URL of Amazon SNS is shown to an operator as the link to open, in its
            // normalized form: not another host, a link-local address, or a forged log line.
            let url = trusted_url(raw, hosts, false).ok_or_else(|| {
                malformed("envelope: `SubscribeURL` is not an https URL of Amazon SNS")
            })?;
            Ok(SnsMessage::SubscriptionConfirmation {
                subscribe_url: url.to_string(),
            })
        }
        "UnsubscribeConfirmation" => Ok(SnsMessage::UnsubscribeConfirmation),
        other => Err(WebhookError::UnknownEvent(other.to_string())),
    }
}

fn ses_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn ses_notification(n: &Value) -> Result<Vec<DeliveryReport>, WebhookError> {
    let kind = n
        .get("notificationType")
        .or_else(|| n.get("eventType"))
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("message: `notificationType` (or `eventType`) is missing"))?;
    let mail = n
        .get("mail")
        .filter(|m| m.is_object())
        .ok_or_else(|| malformed("message: `mail` must be an object"))?;
    let mail_at = ses_time(mail.get("timestamp"))
        .ok_or_else(|| malformed("mail: `timestamp` must be an RFC 3339 time"))?;
    let header = |name: &str| -> Option<String> {
        mail.get("headers")?
            .as_array()?
            .iter()
            .find(|h| {
                h.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })?
            .get("value")?
            .as_str()
            .map(str::to_string)
    };
    let email_id = header("X-Mentor-Email-Id");
    let message_id = mail
        .get("commonHeaders")
        .and_then(|h| h.get("messageId"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| header("Message-ID"));
    let section = |key: &str| {
        n.get(key)
            .filter(|v| v.is_object())
            .ok_or_else(|| malformed(format!("message: `{key}` must be an object")))
    };
    let recipients = |list: &Value, key: &str, field: Option<&str>| {
        let items = list
            .get(key)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| malformed(format!("`{key}` must be a non-empty array")))?;
        items
            .iter()
            .map(|r| {
                let raw = match field {
                    Some(f) => r.get(f).and_then(Value::as_str),
                    None => r.as_str(),
                };
                raw.ok_or_else(|| malformed(format!("`{key}` holds an entry without an address")))
                    .and_then(|a| address(a, key))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let (kind, addresses, at, detail) = match kind {
        "Bounce" => {
            let b = section("bounce")?;
            let permanent = match b.get("bounceType").and_then(Value::as_str) {
                Some("Permanent") => true,
                Some("Transient" | "Undetermined") => false,
                other => return Err(malformed(format!("bounce: unknown `bounceType` {other:?}"))),
            };
            let sub = b.get("bounceSubType").and_then(Value::as_str);
            (
                DeliveryKind::Bounce { permanent },
                recipients(b, "bouncedRecipients", Some("emailAddress"))?,
                ses_time(b.get("timestamp")),
                sub.map(str::to_string),
            )
        }
        "Complaint" => {
            let c = section("complaint")?;
            (
                DeliveryKind::Complaint,
                recipients(c, "complainedRecipients", Some("emailAddress"))?,
                ses_time(c.get("timestamp")),
                c.get("complaintFeedbackType")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        }
        "Delivery" => {
            let d = section("delivery")?;
            (
                DeliveryKind::Delivered,
                recipients(d, "recipients", None)?,
                ses_time(d.get("timestamp")),
                d.get("smtpResponse")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        }
        "Open" => {
            let o = section("open")?;
            (
                DeliveryKind::Open,
                recipients(mail, "destination", None)?,
                ses_time(o.get("timestamp")),
                None,
            )
        }
        "Click" => {
            let c = section("click")?;
            (
                DeliveryKind::Click {
                    url: c.get("link").and_then(Value::as_str).map(str::to_string),
                },
                recipients(mail, "destination", None)?,
                ses_time(c.get("timestamp")),
                None,
            )
        }
        "Send" | "Reject" | "DeliveryDelay" | "Rendering Failure" | "Subscription" => (
            DeliveryKind::Noted,
            recipients(mail, "destination", None)?,
            None,
            None,
        ),
        other => return Err(WebhookError::UnknownEvent(other.to_string())),
    };
    Ok(addresses
        .into_iter()
        .map(|address| DeliveryReport {
            address,
            email_id: email_id.clone(),
            message_id: message_id.clone(),
            kind: kind.clone(),
            at: at.unwrap_or(mail_at),
            detail: detail.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sns(message: Value) -> Vec<u8> {
        json!({"Type": "Notification", "MessageId": "m", "Message": message.to_string()})
            .to_string()
            .into_bytes()
    }

    fn parse_sns(body: &[u8]) -> Result<SnsMessage, WebhookError> {
        let envelope: Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
        interpret_sns(&envelope, &aws())
    }

    fn aws() -> Regex {
        Regex::new(crate::integrations::email::sns_signature::AWS_HOST_PATTERN).unwrap()
    }

    fn sns_url(raw: &str) -> Result<String, WebhookError> {
        let body = json!({"Type": "SubscriptionConfirmation", "SubscribeURL": raw});
        match parse_sns(body.to_string().as_bytes())? {
            SnsMessage::SubscriptionConfirmation { subscribe_url } => Ok(subscribe_url),
            other => panic!("{other:?}"),
        }
    }

    fn mail() -> Value {
        json!({
            "timestamp": "2026-11-21T10:00:00.000Z",
            "messageId": "ses-1",
            "destination": ["jane@example.com"],
            "headers": [{"name": "X-Mentor-Email-Id", "value": "e9"}],
            "commonHeaders": {"messageId": "<e9@mentors.example>"}
        })
    }

    #[test]
    fn ses_bounces_complaints_and_deliveries_parse() {
        let bounce = sns(json!({
            "notificationType": "Bounce", "mail": mail(),
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                       "bouncedRecipients": [{"emailAddress": "Jane@Example.com"}],
                       "timestamp": "2026-11-21T10:00:05.000Z"}
        }));
        let SnsMessage::Reports(r) = parse_sns(&bounce).unwrap() else {
            panic!()
        };
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, DeliveryKind::Bounce { permanent: true });
        assert_eq!(r[0].address, "jane@example.com");
        assert_eq!(r[0].email_id.as_deref(), Some("e9"));
        assert_eq!(r[0].message_id.as_deref(), Some("<e9@mentors.example>"));
        assert_eq!(r[0].at.to_rfc3339(), "2026-11-21T10:00:05+00:00");

        let complaint = sns(json!({
            "eventType": "Complaint", "mail": mail(),
            "complaint": {"complainedRecipients": [{"emailAddress": "jane@example.com"}]}
        }));
        let SnsMessage::Reports(r) = parse_sns(&complaint).unwrap() else {
            panic!()
        };
        assert_eq!(r[0].kind, DeliveryKind::Complaint);

        let transient = sns(json!({
            "notificationType": "Bounce", "mail": mail(),
            "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "jane@example.com"}]}
        }));
        let SnsMessage::Reports(r) = parse_sns(&transient).unwrap() else {
            panic!()
        };
        assert_eq!(r[0].kind, DeliveryKind::Bounce { permanent: false });
    }

    #[test]
    fn bad_sns_bodies_are_refused() {
        let cases = vec![
            b"nope".to_vec(),
            json!({"Type": "Weird"}).to_string().into_bytes(),
            json!({"Type": "Notification", "Message": "not json"})
                .to_string()
                .into_bytes(),
            sns(json!({"notificationType": "Bounce", "mail": mail()})),
            sns(json!({"notificationType": "Bounce", "mail": mail(),
                "bounce": {"bounceType": "Sideways", "bouncedRecipients": [{"emailAddress": "a@x.com"}]}})),
            sns(json!({"notificationType": "Bounce", "mail": mail(),
                "bounce": {"bounceType": "Permanent", "bouncedRecipients": []}})),
            sns(json!({"notificationType": "Explosion", "mail": mail()})),
            sns(json!({"notificationType": "Delivery"})),
        ];
        for body in cases {
            assert!(
                parse_sns(&body).is_err(),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
        let url = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37";
        let confirm = json!({"Type": "SubscriptionConfirmation", "SubscribeURL": url});
        assert_eq!(
            parse_sns(confirm.to_string().as_bytes()).unwrap(),
            SnsMessage::SubscriptionConfirmation {
                subscribe_url: url.into()
            }
        );
    }

    #[test]
    fn only_amazon_sns_urls_are_offered_for_confirmation() {
        assert!(
            sns_url("https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription").is_ok()
        );
        for bad in [
            "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://sns.us-east-1.amazonaws.com.evil.net/",
            "https://evil.net/sns.us-east-1.amazonaws.com/",
            "https://sns..amazonaws.com/",
            "https://sns.us-east-1.amazonaws.com:8443/",
            "https://user:pw@sns.us-east-1.amazonaws.com/",
            "https://169.254.169.254/latest/meta-data/",
            "https://sns.us-east-1.amazonaws.com/\nINFO forged log line",
            "https://sns.us-east-1.amazonaws.com/?a=1\r\nX: y",
            "https://SNS.us-east-1.amazonaws.com@10.0.0.1/",
            "javascript:alert(1)",
            "",
        ] {
            assert!(sns_url(bad).is_err(), "{bad:?}");
        }
    }
}
