//! What each text says: short (one segment where the names allow), in the recipient's zone, with
//! the `/join` link where there is a session to join. Texts follow the in-app message of the same
//! happening (its title, and the instants and links in its data), so the channels never disagree.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::notification::{Message, NotificationKind};
use crate::domain::time::TimeZone;

/// "Mon 7 Dec 09:00 GMT": an instant as the reader's wall clock, short.
pub fn short_time(at: DateTime<Utc>, zone: TimeZone) -> String {
    at.with_timezone(&zone.tz())
        .format("%a %-d %b %H:%M %Z")
        .to_string()
}

fn instant(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A link as the reader can open it: dashboard paths under `dashboard`.
fn absolute(link: &str, dashboard: &str) -> String {
    if link.starts_with('/') {
        format!("{}{link}", dashboard.trim_end_matches('/'))
    } else {
        link.to_string()
    }
}

/// The text for `message` to a reader in `zone`, if its kind is texted at all.
pub fn for_message(
    brand: &str,
    dashboard: &str,
    message: &Message,
    zone: TimeZone,
) -> Option<String> {
    let data = &message.data;
    let title = message.title.trim_end_matches('.');
    match message.kind {
        NotificationKind::SessionReminder => {
            let url = data.get("joinUrl").and_then(Value::as_str)?;
            let when = instant(data.get("start"))
                .map(|t| format!(" ({})", short_time(t, zone)))
                .unwrap_or_default();
            Some(format!("{brand}: {title}{when}. Join: {url}"))
        }
        NotificationKind::SessionCancelled => {
            let first = data
                .get("starts")
                .and_then(Value::as_array)
                .and_then(|starts| starts.iter().filter_map(|s| instant(Some(s))).min())
                .or_else(|| instant(data.get("start")))?;
            Some(format!("{brand}: {title}: {}.", short_time(first, zone)))
        }
        NotificationKind::SessionRescheduled => {
            let to = instant(data.get("to"))?;
            Some(format!("{brand}: {title}, now {}.", short_time(to, zone)))
        }
        NotificationKind::SubscriptionUpdate if data.get("fixUrl").is_some() => {
            let link = data
                .get("fixUrl")
                .and_then(Value::as_str)
                .or(message.link.as_deref())?;
            Some(format!(
                "{brand}: {title}. Update your card: {}",
                absolute(link, dashboard)
            ))
        }
        _ => None,
    }
}

/// The earliest session instant `message` names (`start`, `starts`, `from`, `to`): a text about a
/// session starting within the hour goes even in quiet hours.
pub fn session_start(message: &Message) -> Option<DateTime<Utc>> {
    let data = &message.data;
    let mut found: Vec<DateTime<Utc>> = ["start", "from", "to"]
        .iter()
        .filter_map(|k| instant(data.get(*k)))
        .collect();
    if let Some(starts) = data.get("starts").and_then(Value::as_array) {
        found.extend(starts.iter().filter_map(|s| instant(Some(s))));
    }
    found.into_iter().min()
}

/// The one-time code that verifies a number.
pub fn verification(brand: &str, code: &str, minutes: i64) -> String {
    format!("{brand}: your code is {code}. It expires in {minutes} minutes. Do not share it.")
}

/// The answer to HELP.
pub fn help(brand: &str, support: &str) -> String {
    format!("{brand}: session reminders and updates. Help: {support}. Reply STOP to opt out, START to opt back in.")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::sms::segments::{count, Encoding};

    fn zone(name: &str) -> TimeZone {
        name.parse().unwrap()
    }

    fn message(kind: NotificationKind, title: &str, data: Value) -> Message {
        Message {
            kind,
            title: title.into(),
            body: String::new(),
            link: Some("/bookings/b1".into()),
            data,
        }
    }

    #[test]
    fn reminders_carry_the_readers_time_and_join_link_in_one_segment() {
        let m = message(
            NotificationKind::SessionReminder,
            "Your session with Ana starts in 10 minutes",
            json!({"start": "2026-07-06T08:00:00Z", "joinUrl": "https://mentor.example/join/s1?t=abc"}),
        );
        let london = for_message(
            "EmpowerEd",
            "https://app.example",
            &m,
            zone("Europe/London"),
        )
        .unwrap();
        assert_eq!(london, "EmpowerEd: Your session with Ana starts in 10 minutes (Mon 6 Jul 09:00 BST). Join: https://mentor.example/join/s1?t=abc");
        let kolkata =
            for_message("EmpowerEd", "https://app.example", &m, zone("Asia/Kolkata")).unwrap();
        assert!(kolkata.contains("(Mon 6 Jul 13:30 IST)"), "{kolkata}");
        let segments = count(&london);
        assert_eq!((segments.encoding, segments.parts), (Encoding::Gsm7, 1));
    }

    #[test]
    fn cancellations_moves_and_failed_payments_say_when_and_where() {
        let cancelled = message(
            NotificationKind::SessionCancelled,
            "Session of \"Algebra\" cancelled",
            json!({"starts": ["2026-12-08T09:00:00Z", "2026-12-07T09:00:00Z"]}),
        );
        assert_eq!(
            for_message(
                "B",
                "https://app.example",
                &cancelled,
                zone("America/New_York")
            )
            .unwrap(),
            "B: Session of \"Algebra\" cancelled: Mon 7 Dec 04:00 EST."
        );
        let moved = message(
            NotificationKind::SessionRescheduled,
            "Session of \"Algebra\" moved",
            json!({"from": "2026-12-07T09:00:00Z", "to": "2026-12-09T10:30:00Z"}),
        );
        assert_eq!(
            for_message("B", "https://app.example", &moved, zone("Australia/Sydney")).unwrap(),
            "B: Session of \"Algebra\" moved, now Wed 9 Dec 21:30 AEDT."
        );
        let failed = message(
            NotificationKind::SubscriptionUpdate,
            "Your weekly payment did not go through",
            json!({"bookingId": "b1", "fixUrl": null}),
        );
        assert_eq!(for_message("B", "https://app.example/", &failed, zone("UTC")).unwrap(),
            "B: Your weekly payment did not go through. Update your card: https://app.example/bookings/b1");
        let refunded = message(
            NotificationKind::SubscriptionUpdate,
            "Refunded",
            json!({"bookingId": "b1"}),
        );
        assert_eq!(
            for_message("B", "https://app.example", &refunded, zone("UTC")),
            None,
            "only failures are texted"
        );
        let news = message(NotificationKind::SystemUpdate, "News", json!({}));
        assert_eq!(
            for_message("B", "https://app.example", &news, zone("UTC")),
            None
        );
    }

    #[test]
    fn the_code_and_help_texts_fit_one_segment() {
        assert_eq!(
            count(&verification("EmpowerEd Learnings", "123456", 10)).parts,
            1
        );
        assert_eq!(
            count(&help(
                "EmpowerEd Learnings",
                "support@empoweredlearnings.example"
            ))
            .parts,
            1
        );
    }
}
