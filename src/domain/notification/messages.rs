//! What each booking event tells each person involved, in their own time zone.
//!
//! Links are paths in the dashboard (`/bookings/{id}`), except the "starting soon" message, whose
//! link is the reader's own `/join` link.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{local_time, Message, NotificationKind};
use crate::domain::booking::ClashReason;
use crate::domain::time::TimeZone;

/// Someone a message is about or for.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub zone: TimeZone,
}

/// What every booking message needs to know about the booking.
#[derive(Debug, Clone, Copy)]
pub struct BookingFacts<'a> {
    pub booking_id: &'a str,
    pub subject: &'a str,
    pub trial: bool,
    pub mentor: Party<'a>,
    pub student: Party<'a>,
}

/// A message and who gets it.
pub type Addressed = (String, Message);

fn booking_link(b: &BookingFacts) -> Option<String> {
    Some(format!("/bookings/{}", b.booking_id))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The participants other than `actor`; both when someone else (an admin, a job) acted.
fn others<'a>(b: &BookingFacts<'a>, actor: Option<&str>) -> Vec<Party<'a>> {
    [b.student, b.mentor]
        .into_iter()
        .filter(|p| Some(p.id) != actor)
        .collect()
}

/// A new booking: a confirmation to the student, the news to the mentor and to every admin.
pub fn booking_created(
    b: &BookingFacts,
    first_start: DateTime<Utc>,
    sessions: usize,
    admins: &[Party],
) -> Vec<Addressed> {
    let kind = if b.trial {
        NotificationKind::TrialBooking
    } else {
        NotificationKind::SessionConfirmation
    };
    let what = if b.trial { "Trial session" } else { "Booking" };
    let data = json!({
        "bookingId": b.booking_id,
        "firstStart": first_start,
        "sessions": sessions,
        "trial": b.trial,
    });
    let count = plural(sessions, "session", "sessions");
    let mut out = vec![
        (
            b.student.id.to_string(),
            Message {
                kind,
                title: format!("{what} confirmed with {}", b.mentor.name),
                body: format!(
                    "\"{}\": {count}, the first on {}.",
                    b.subject,
                    local_time(first_start, b.student.zone)
                ),
                link: booking_link(b),
                data: data.clone(),
            },
        ),
        (
            b.mentor.id.to_string(),
            Message {
                kind,
                title: format!("New {} from {}", what.to_lowercase(), b.student.name),
                body: format!(
                    "\"{}\": {count}, the first on {}.",
                    b.subject,
                    local_time(first_start, b.mentor.zone)
                ),
                link: booking_link(b),
                data: data.clone(),
            },
        ),
    ];
    for admin in admins
        .iter()
        .filter(|a| a.id != b.mentor.id && a.id != b.student.id)
    {
        out.push((
            admin.id.to_string(),
            Message {
                kind,
                title: format!(
                    "{} booked {} with {}",
                    b.student.name,
                    what.to_lowercase(),
                    b.mentor.name
                ),
                body: format!(
                    "\"{}\": {count}, the first on {}.",
                    b.subject,
                    local_time(first_start, admin.zone)
                ),
                link: booking_link(b),
                data: data.clone(),
            },
        ));
    }
    out
}

/// Sessions cancelled, one or a whole booking's, told to the participants who did not cancel.
pub fn cancelled(
    b: &BookingFacts,
    starts: &[DateTime<Utc>],
    whole_booking: bool,
    actor: Option<&str>,
    reason: Option<&str>,
) -> Vec<Addressed> {
    let Some(first) = starts.iter().min().copied() else {
        return Vec::new();
    };
    let reason_text = reason.map(|r| format!(" Reason: {r}")).unwrap_or_default();
    others(b, actor)
        .into_iter()
        .map(|to| {
            let (title, body) = if whole_booking {
                (
                    format!("Booking \"{}\" cancelled", b.subject),
                    format!(
                        "{} cancelled, from {}.{reason_text}",
                        plural(starts.len(), "session is", "sessions are"),
                        local_time(first, to.zone)
                    ),
                )
            } else {
                (
                    format!("Session of \"{}\" cancelled", b.subject),
                    format!(
                        "The session on {} is cancelled.{reason_text}",
                        local_time(first, to.zone)
                    ),
                )
            };
            (
                to.id.to_string(),
                Message {
                    kind: NotificationKind::SessionCancelled,
                    title,
                    body,
                    link: booking_link(b),
                    data: json!({
                        "bookingId": b.booking_id,
                        "starts": starts,
                        "wholeBooking": whole_booking,
                        "reason": reason,
                    }),
                },
            )
        })
        .collect()
}

/// A session moved, told to the participants who did not move it.
pub fn rescheduled(
    b: &BookingFacts,
    session_id: &str,
    from: DateTime<Utc>,
    to_start: DateTime<Utc>,
    actor: Option<&str>,
) -> Vec<Addressed> {
    others(b, actor)
        .into_iter()
        .map(|to| {
            (
                to.id.to_string(),
                Message {
                    kind: NotificationKind::SessionRescheduled,
                    title: format!("Session of \"{}\" moved", b.subject),
                    body: format!(
                        "From {} to {}.",
                        local_time(from, to.zone),
                        local_time(to_start, to.zone)
                    ),
                    link: booking_link(b),
                    data: json!({
                        "bookingId": b.booking_id,
                        "sessionId": session_id,
                        "from": from,
                        "to": to_start,
                    }),
                },
            )
        })
        .collect()
}

/// An occurrence of an ongoing booking that could not be created, told to both participants.
pub fn occurrence_skipped(
    b: &BookingFacts,
    start: DateTime<Utc>,
    reason: ClashReason,
) -> Vec<Addressed> {
    let why = match reason {
        ClashReason::OutsideAvailability => "the mentor is no longer available at that time",
        ClashReason::MentorBusy => "the mentor's calendar is busy then",
        ClashReason::SessionTaken => "the time is taken by another session",
        ClashReason::TooSoon | ClashReason::BeyondHorizon => "the time can no longer be booked",
    };
    [b.student, b.mentor]
        .into_iter()
        .map(|to| {
            (
                to.id.to_string(),
                Message {
                    kind: NotificationKind::SessionCancelled,
                    title: format!("A session of \"{}\" could not be scheduled", b.subject),
                    body: format!(
                        "The session on {} was not booked: {why}.",
                        local_time(start, to.zone)
                    ),
                    link: booking_link(b),
                    data: json!({
                        "bookingId": b.booking_id,
                        "start": start,
                        "reason": reason,
                    }),
                },
            )
        })
        .collect()
}

/// Ten minutes before a session: each participant with their own join link.
pub fn starting_soon(
    b: &BookingFacts,
    session_id: &str,
    start: DateTime<Utc>,
    join_url: impl Fn(&str) -> String,
) -> Vec<Addressed> {
    reminder(b, session_id, start, "10 minutes", join_url)
}

/// A session starting in `lead` ("10 minutes", "1 hour"): each participant with their own join link.
pub fn reminder(
    b: &BookingFacts,
    session_id: &str,
    start: DateTime<Utc>,
    lead: &str,
    join_url: impl Fn(&str) -> String,
) -> Vec<Addressed> {
    [(b.student, b.mentor), (b.mentor, b.student)]
        .into_iter()
        .map(|(to, with)| {
            let url = join_url(to.id);
            (
                to.id.to_string(),
                Message {
                    kind: NotificationKind::SessionReminder,
                    title: format!("Your session with {} starts in {lead}", with.name),
                    body: format!(
                        "\"{}\" at {}. Join: {url}",
                        b.subject,
                        local_time(start, to.zone)
                    ),
                    link: Some(url.clone()),
                    data: json!({
                        "bookingId": b.booking_id,
                        "sessionId": session_id,
                        "start": start,
                        "joinUrl": url,
                    }),
                },
            )
        })
        .collect()
}

/// After a session: the student is asked how it went.
pub fn feedback_request(b: &BookingFacts, session_id: &str, start: DateTime<Utc>) -> Addressed {
    (
        b.student.id.to_string(),
        Message {
            kind: NotificationKind::FeedbackRequest,
            title: format!("How was your session with {}?", b.mentor.name),
            body: format!(
                "Tell us about \"{}\" on {}.",
                b.subject,
                local_time(start, b.student.zone)
            ),
            link: Some(format!("/sessions/{session_id}/feedback")),
            data: json!({ "bookingId": b.booking_id, "sessionId": session_id }),
        },
    )
}

/// A week was paid: the receipt, to the student (it cannot be switched off).
pub fn payment_received(
    b: &BookingFacts,
    invoice_id: &str,
    amount: &crate::domain::money::Money,
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Addressed {
    let covers = period
        .map(|(from, to)| {
            format!(
                " It covers {} to {}.",
                local_time(from, b.student.zone),
                local_time(to, b.student.zone)
            )
        })
        .unwrap_or_default();
    (
        b.student.id.to_string(),
        Message {
            kind: NotificationKind::PaymentReceipt,
            title: format!("Payment received: {amount}"),
            body: format!(
                "Thank you: your weekly payment for \"{}\" with {} went through.{covers}",
                b.subject, b.mentor.name
            ),
            link: booking_link(b),
            data: json!({ "bookingId": b.booking_id, "invoiceId": invoice_id, "amountMinor": amount.amount_minor, "currency": amount.currency.as_str().to_ascii_uppercase() }),
        },
    )
}

/// A weekly charge failed: the student is asked to fix the card (at `fix_url` when Stripe gave one).
pub fn payment_failed(b: &BookingFacts, fix_url: Option<&str>) -> Addressed {
    (
        b.student.id.to_string(),
        Message {
            kind: NotificationKind::SubscriptionUpdate,
            title: "Your weekly payment did not go through".into(),
            body: format!(
                "We could not charge your card for \"{}\" with {}. Update your card to keep your sessions.",
                b.subject, b.mentor.name
            ),
            link: fix_url.map(str::to_string).or_else(|| booking_link(b)),
            data: json!({ "bookingId": b.booking_id, "fixUrl": fix_url }),
        },
    )
}

/// Money given back: a paid session the mentor cancelled (`start` is when it was), or with no
/// session a payment that arrived after the booking was cancelled.
pub fn refunded(
    b: &BookingFacts,
    session_id: Option<&str>,
    start: Option<DateTime<Utc>>,
    amount: &crate::domain::money::Money,
) -> Addressed {
    let body = match session_id {
        Some(_) => {
            let when = start
                .map(|at| format!(" on {}", local_time(at, b.student.zone)))
                .unwrap_or_default();
            format!(
                "{} cancelled the session{when}; {amount} is on its way back to your card.",
                b.mentor.name
            )
        }
        None => format!(
            "Your payment for \"{}\" arrived after the booking was cancelled; {amount} is on its way back to your card.",
            b.subject
        ),
    };
    (
        b.student.id.to_string(),
        Message {
            kind: NotificationKind::SubscriptionUpdate,
            title: format!("Refunded {amount}"),
            body,
            link: booking_link(b),
            data: json!({ "bookingId": b.booking_id, "sessionId": session_id, "amountMinor": amount.amount_minor }),
        },
    )
}

/// A mentor's calendar stopped syncing (the provider revoked access): what to do about it.
pub fn calendar_disconnected(provider: &str, provider_slug: &str, reason: &str) -> Message {
    Message {
        kind: NotificationKind::CalendarDisconnected,
        title: format!("{provider} stopped syncing"),
        body: format!(
            "{provider} no longer lets us read your calendar ({reason}). Busy time already read \
             still hides your slots, but new events will not until you reconnect it."
        ),
        link: Some(format!("/settings/calendar?provider={provider_slug}")),
        data: json!({ "provider": provider, "reason": reason }),
    }
}

/// A `CALENDAR_CONFLICT` about the session starting at `start`, read in the mentor's zone.
fn conflict(provider: &str, title: String, body: String, start: DateTime<Utc>) -> Message {
    Message {
        kind: NotificationKind::CalendarConflict,
        title,
        body,
        link: Some("/settings/calendar/conflicts".into()),
        data: json!({ "provider": provider, "at": start.to_rfc3339() }),
    }
}

/// A session's event the mentor deleted on their calendar, with the session kept until they decide.
pub fn session_event_deleted(
    provider: &str,
    subject: &str,
    start: DateTime<Utc>,
    zone: TimeZone,
) -> Message {
    let body = format!(
        "Your session on {} ({subject}) is no longer on your calendar. It still takes place: keep \
         it, cancel it, or put the event back.",
        local_time(start, zone)
    );
    let title = format!("A session's event was deleted from {provider}");
    conflict(provider, title, body, start)
}

/// A session's event the mentor moved on their calendar, to a time the session could not follow (or
/// with a policy that asks): the session stays where it was until they decide.
pub fn session_event_moved(
    provider: &str,
    subject: &str,
    start: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    zone: TimeZone,
) -> Message {
    let moved = to.map_or_else(String::new, |to| format!(" to {}", local_time(to, zone)));
    let body = format!(
        "Your session on {} ({subject}) was moved{moved} on your calendar. The session has not \
         moved: keep it, move it, cancel it, or put the event back.",
        local_time(start, zone)
    );
    let title = format!("A session's event was moved on {provider}");
    conflict(provider, title, body, start)
}

/// Something on the mentor's calendar overlaps one of their sessions.
pub fn busy_over_session(
    provider: &str,
    subject: &str,
    start: DateTime<Utc>,
    zone: TimeZone,
) -> Message {
    let body = format!(
        "An event on your calendar overlaps your session on {} ({subject}). The session still \
         takes place: keep it, move it, or cancel it.",
        local_time(start, zone)
    );
    let title = format!("Your {provider} is busy during a session");
    conflict(provider, title, body, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn facts<'a>() -> BookingFacts<'a> {
        BookingFacts {
            booking_id: "b1",
            subject: "Algebra",
            trial: false,
            mentor: Party {
                id: "m",
                name: "Maya",
                zone: "Australia/Sydney".parse().unwrap(),
            },
            student: Party {
                id: "s",
                name: "Sam",
                zone: "America/New_York".parse().unwrap(),
            },
        }
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).unwrap()
    }

    #[test]
    fn a_new_booking_reaches_student_mentor_and_admins_each_in_their_zone() {
        let admin = Party {
            id: "a",
            name: "Ada",
            zone: "Asia/Kolkata".parse().unwrap(),
        };
        let out = booking_created(&facts(), at(14), 4, &[admin]);
        let to: Vec<_> = out.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(to, ["s", "m", "a"]);
        assert!(
            out[0].1.body.contains("09:00 EST (America/New_York)"),
            "{}",
            out[0].1.body
        );
        assert!(
            out[1]
                .1
                .body
                .contains("Tuesday 8 December 2026, 01:00 AEDT"),
            "{}",
            out[1].1.body
        );
        assert!(out[2].1.body.contains("19:30 IST"), "{}", out[2].1.body);
        assert!(out
            .iter()
            .all(|(_, m)| m.kind == NotificationKind::SessionConfirmation));
    }

    #[test]
    fn an_admin_who_is_a_participant_is_told_once() {
        let mentor_admin = Party {
            id: "m",
            name: "Maya",
            zone: "UTC".parse().unwrap(),
        };
        assert_eq!(
            booking_created(&facts(), at(14), 1, &[mentor_admin]).len(),
            2
        );
    }

    #[test]
    fn trials_are_their_own_kind() {
        let mut f = facts();
        f.trial = true;
        let out = booking_created(&f, at(14), 1, &[]);
        assert!(out
            .iter()
            .all(|(_, m)| m.kind == NotificationKind::TrialBooking));
        assert!(out[0].1.title.starts_with("Trial session confirmed"));
    }

    #[test]
    fn the_one_who_cancels_or_moves_is_not_told_but_an_admin_action_tells_both() {
        let f = facts();
        let by_student = cancelled(&f, &[at(14)], false, Some("s"), Some("ill"));
        assert_eq!(by_student.len(), 1);
        assert_eq!(by_student[0].0, "m");
        assert!(by_student[0].1.body.ends_with("Reason: ill"));
        assert_eq!(
            cancelled(&f, &[at(14), at(15)], true, Some("admin"), None).len(),
            2
        );
        assert!(cancelled(&f, &[], true, None, None).is_empty());
        let moved = rescheduled(&f, "x", at(14), at(16), Some("m"));
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].0, "s");
        assert_eq!(moved[0].1.kind, NotificationKind::SessionRescheduled);
    }

    #[test]
    fn starting_soon_gives_each_reader_their_own_link() {
        let out = starting_soon(&facts(), "x", at(14), |who| format!("https://j/{who}"));
        assert_eq!(out[0].1.link.as_deref(), Some("https://j/s"));
        assert_eq!(out[1].1.link.as_deref(), Some("https://j/m"));
        assert!(out[0].1.title.contains("Maya"));
    }
}
