//! Sample data for every template, so designers can see each one rendered (`email-preview`) and
//! tests can render them all.

use super::{DigestItem, EmailView};
use crate::domain::email::EmailTemplate;

/// A plausible `EmailView` for `template`.
pub fn sample(template: EmailTemplate) -> EmailView {
    use EmailTemplate::*;
    let sessions = vec![
        "Tuesday 1 December 2026, 17:00 GMT (Europe/London)".to_string(),
        "Thursday 3 December 2026, 17:00 GMT (Europe/London)".to_string(),
        "Tuesday 8 December 2026, 17:00 GMT (Europe/London)".to_string(),
    ];
    let base = EmailView {
        recipient_name: "Jane Doe".into(),
        mentor_name: "Ana Souza".into(),
        student_name: "Jane Doe".into(),
        other_name: "Ana Souza".into(),
        topic: "Algebra & geometry".into(),
        frequency: Some("twice a week".into()),
        when: Some(sessions[0].clone()),
        sessions: sessions.clone(),
        join_url: Some("https://api.example/join/s1?token=sample".into()),
        action_url: Some("/bookings/b1".into()),
        action_label: Some("View your booking".into()),
        ..EmailView::default()
    };
    let platform = |title: &str, body: &str, details: &[(&str, &str)], action: &str| EmailView {
        title: Some(title.into()),
        body: Some(body.into()),
        details: details
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        action_url: Some(action.into()),
        action_label: Some("Open the dashboard".into()),
        sessions: Vec::new(),
        join_url: None,
        when: None,
        ..base.clone()
    };
    match template {
        BookingConfirmationStudent | TrialBooking | FeedbackRequest | Reminder24hStudent => base,
        BookingConfirmationMentor | Reminder24hMentor => EmailView {
            recipient_name: "Ana Souza".into(),
            other_name: "Jane Doe".into(),
            ..base
        },
        BookingConfirmationAdmin => EmailView {
            recipient_name: "Admin".into(),
            join_url: None,
            details: vec![("Booking".into(), "b1".into())],
            ..base
        },
        Reminder1h => base,
        Cancellation => EmailView {
            sessions: sessions[..1].to_vec(),
            reason: Some("Mentor is unwell".into()),
            join_url: None,
            ..base
        },
        Reschedule => EmailView {
            previous_when: Some(sessions[0].clone()),
            when: Some("Wednesday 2 December 2026, 18:00 GMT (Europe/London)".into()),
            ..base
        },
        DemoCall => EmailView {
            when: Some("Monday 30 November 2026, 15:00 GMT (Europe/London)".into()),
            ..platform(
                "Your demo call",
                "We will show you around the platform and answer your questions.",
                &[("With", "Sam from the team")],
                "/demo",
            )
        },
        MentorOnboarding => platform(
            "Let's get you ready to teach",
            "Complete your profile, set your weekly availability and connect your calendar.",
            &[
                ("Step 1", "Profile"),
                ("Step 2", "Availability"),
                ("Step 3", "Calendar"),
            ],
            "/onboarding",
        ),
        ProfileVerification => platform(
            "Verified",
            "Your profile is verified: students can now find and book you.",
            &[("Status", "Verified")],
            "/profile",
        ),
        SupportTicket => platform(
            "Ticket #4821 answered",
            "Our team replied to your ticket about rescheduling.",
            &[("Ticket", "#4821"), ("Status", "Awaiting your reply")],
            "/support/4821",
        ),
        SubscriptionUpdate => platform(
            "Plan changed",
            "You moved from once a week to twice a week.",
            &[("Plan", "Twice a week"), ("From", "1 December 2026")],
            "/billing",
        ),
        PaymentReceipt => platform(
            "Thank you for your payment",
            "Here is your receipt.",
            &[
                ("Amount", "USD 240.00"),
                ("Date", "21 November 2026"),
                ("Next billing date", "21 December 2026"),
            ],
            "/billing/receipts/r1",
        ),
        NewMentorMatch => platform(
            "Ana Souza matches your goals",
            "Ana teaches algebra and geometry and has evening availability in your time zone.",
            &[("Subjects", "Algebra, Geometry")],
            "/mentors/ana",
        ),
        CalendarDisconnected => platform(
            "Google Calendar stopped syncing",
            "Google no longer lets us read your calendar. Until you reconnect it, students may be offered times you are busy.",
            &[("Calendar", "Google Calendar"), ("Reason", "access was revoked")],
            "/settings/calendar?provider=google",
        ),
        CalendarConflict => platform(
            "A session's event was deleted from Google Calendar",
            "Your session on Tuesday 6 January 2026, 10:00 GMT (Algebra with Sam) is no longer on your calendar. Keep the session, cancel it, or put the event back.",
            &[("Calendar", "Google Calendar")],
            "/settings/calendar/conflicts",
        ),
        SystemUpdate => platform(
            "New: shared notes",
            "You and your mentor can now keep notes together for each session.",
            &[],
            "/whats-new",
        ),
        Digest => EmailView {
            items: vec![
                DigestItem {
                    title: "Ana Souza matches your goals".into(),
                    body: "Algebra and geometry, evenings.".into(),
                    url: Some("/mentors/ana".into()),
                },
                DigestItem {
                    title: "New: shared notes".into(),
                    body: "Keep notes together for each session.".into(),
                    url: None,
                },
            ],
            action_url: Some("/notifications".into()),
            action_label: Some("See all notifications".into()),
            sessions: Vec::new(),
            join_url: None,
            when: None,
            ..base
        },
    }
}
