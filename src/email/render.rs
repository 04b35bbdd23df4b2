//! Filling a template: subject, HTML and plain text, each from its own file under
//! `templates/email/<name>/`, the bodies inside the shared layouts (`templates/email/layout.*`).
//!
//! HTML is escaped by askama (the `.html` extension); links in the HTML go through the click
//! redirect and the layout carries the open pixel, both given by `track`.

use askama::Template;

use super::{Brand, EmailView};
use crate::domain::email::EmailTemplate;

/// A template's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The links of the HTML body, already through the click redirect, and the open pixel.
pub struct Links {
    pub action: Option<String>,
    pub join: Option<String>,
    /// A digest's entries, with their links tracked.
    pub items: Vec<TrackedItem>,
    pub support: String,
    pub pixel: Option<String>,
}

pub struct TrackedItem {
    pub title: String,
    pub body: String,
    pub href: Option<String>,
}

/// How links are tracked: `click(url)` wraps a link, `pixel` is the open image (none in previews).
pub struct Tracking<'a> {
    pub click: &'a dyn Fn(&str) -> String,
    pub pixel: Option<String>,
}

impl Tracking<'_> {
    /// No tracking: links as they are, no pixel.
    pub fn none() -> Tracking<'static> {
        Tracking {
            click: &|url: &str| url.to_string(),
            pixel: None,
        }
    }
}

macro_rules! email_templates {
    ($($variant:ident: $subject:literal, $html:literal, $text:literal;)*) => {
        mod compiled {
            use askama::Template;
            use super::{Brand, EmailView, Links};
            $(
                #[allow(non_snake_case)]
                pub mod $variant {
                    use super::*;
                    #[allow(dead_code)]
                    #[derive(Template)]
                    #[template(path = $subject, escape = "none")]
                    pub struct Subject<'a> { pub v: &'a EmailView, pub b: &'a Brand }
                    #[allow(dead_code)]
                    #[derive(Template)]
                    #[template(path = $html, escape = "html")]
                    pub struct Html<'a> { pub v: &'a EmailView, pub b: &'a Brand, pub l: &'a Links }
                    #[allow(dead_code)]
                    #[derive(Template)]
                    #[template(path = $text, escape = "none")]
                    pub struct Text<'a> { pub v: &'a EmailView, pub b: &'a Brand }
                }
            )*
        }

        fn render_parts(
            template: EmailTemplate,
            v: &EmailView,
            b: &Brand,
            l: &Links,
        ) -> askama::Result<(String, String, String)> {
            match template {
                $(EmailTemplate::$variant => Ok((
                    compiled::$variant::Subject { v, b }.render()?,
                    compiled::$variant::Html { v, b, l }.render()?,
                    compiled::$variant::Text { v, b }.render()?,
                )),)*
            }
        }
    };
}

email_templates! {
    BookingConfirmationStudent: "email/booking_confirmation_student/subject.txt", "email/booking_confirmation_student/body.html", "email/booking_confirmation_student/body.txt";
    BookingConfirmationMentor: "email/booking_confirmation_mentor/subject.txt", "email/booking_confirmation_mentor/body.html", "email/booking_confirmation_mentor/body.txt";
    BookingConfirmationAdmin: "email/booking_confirmation_admin/subject.txt", "email/booking_confirmation_admin/body.html", "email/booking_confirmation_admin/body.txt";
    Reminder24hStudent: "email/reminder_24h_student/subject.txt", "email/reminder_24h_student/body.html", "email/reminder_24h_student/body.txt";
    Reminder24hMentor: "email/reminder_24h_mentor/subject.txt", "email/reminder_24h_mentor/body.html", "email/reminder_24h_mentor/body.txt";
    Reminder1h: "email/reminder_1h/subject.txt", "email/reminder_1h/body.html", "email/reminder_1h/body.txt";
    Cancellation: "email/cancellation/subject.txt", "email/cancellation/body.html", "email/cancellation/body.txt";
    Reschedule: "email/reschedule/subject.txt", "email/reschedule/body.html", "email/reschedule/body.txt";
    TrialBooking: "email/trial_booking/subject.txt", "email/trial_booking/body.html", "email/trial_booking/body.txt";
    DemoCall: "email/demo_call/subject.txt", "email/demo_call/body.html", "email/demo_call/body.txt";
    MentorOnboarding: "email/mentor_onboarding/subject.txt", "email/mentor_onboarding/body.html", "email/mentor_onboarding/body.txt";
    ProfileVerification: "email/profile_verification/subject.txt", "email/profile_verification/body.html", "email/profile_verification/body.txt";
    FeedbackRequest: "email/feedback_request/subject.txt", "email/feedback_request/body.html", "email/feedback_request/body.txt";
    SupportTicket: "email/support_ticket/subject.txt", "email/support_ticket/body.html", "email/support_ticket/body.txt";
    SubscriptionUpdate: "email/subscription_update/subject.txt", "email/subscription_update/body.html", "email/subscription_update/body.txt";
    PaymentReceipt: "email/payment_receipt/subject.txt", "email/payment_receipt/body.html", "email/payment_receipt/body.txt";
    NewMentorMatch: "email/new_mentor_match/subject.txt", "email/new_mentor_match/body.html", "email/new_mentor_match/body.txt";
    SystemUpdate: "email/system_update/subject.txt", "email/system_update/body.html", "email/system_update/body.txt";
    CalendarDisconnected: "email/calendar_disconnected/subject.txt", "email/calendar_disconnected/body.html", "email/calendar_disconnected/body.txt";
    CalendarConflict: "email/calendar_conflict/subject.txt", "email/calendar_conflict/body.html", "email/calendar_conflict/body.txt";
    Digest: "email/digest/subject.txt", "email/digest/body.html", "email/digest/body.txt";
}

/// Renders `template` with `view` for one recipient.
pub fn render(
    template: EmailTemplate,
    view: &EmailView,
    brand: &Brand,
    tracking: &Tracking,
) -> askama::Result<Rendered> {
    let track = |url: &Option<String>| url.as_deref().map(|u| (tracking.click)(&brand.link(u)));
    let links = Links {
        action: track(&view.action_url),
        join: track(&view.join_url),
        items: view
            .items
            .iter()
            .map(|i| TrackedItem {
                title: i.title.clone(),
                body: i.body.clone(),
                href: track(&i.url),
            })
            .collect(),
        support: format!("mailto:{}", brand.support_email),
        pixel: tracking.pixel.clone(),
    };
    let (subject, html, text) = render_parts(template, view, brand, &links)?;
    Ok(Rendered {
        // One line, whatever the template's whitespace: a header cannot hold a line break.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        html,
        text: tidy_text(&text),
    })
}

/// At most one blank line in a row, no trailing spaces: templates with conditionals leave gaps.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::sample::sample;

    fn brand() -> Brand {
        Brand {
            name: "Acme <Learning>".into(),
            primary_color: "#112233".into(),
            accent_color: "#445566".into(),
            logo_url: None,
            footer: "Footer".into(),
            support_email: "help@acme.example".into(),
            dashboard_url: "https://dash.acme.example".into(),
        }
    }

    #[test]
    fn every_template_renders_with_the_brand_and_a_one_line_subject() {
        for &template in EmailTemplate::ALL {
            let r = render(template, &sample(template), &brand(), &Tracking::none()).unwrap();
            assert!(
                !r.subject.is_empty() && !r.subject.contains('\n'),
                "{template:?}"
            );
            assert!(
                r.html.contains("#112233") && r.html.contains("Acme &#60;Learning&#62;"),
                "{template:?}"
            );
            assert!(
                r.text.contains("Hi ") && r.text.contains("help@acme.example"),
                "{template:?}"
            );
            assert!(
                !r.html.contains("{{") && !r.text.contains("{%"),
                "{template:?}"
            );
        }
    }

    #[test]
    fn user_values_are_escaped_in_html_and_links_are_tracked() {
        let mut view = sample(EmailTemplate::Cancellation);
        view.reason = Some("<script>alert(1)</script>".into());
        view.other_name = "Bob \"the\" <b>".into();
        let click = |url: &str| format!("https://t.example/c?u={url}");
        let tracking = Tracking {
            click: &click,
            pixel: Some("https://t.example/open".into()),
        };
        let r = render(EmailTemplate::Cancellation, &view, &brand(), &tracking).unwrap();
        assert!(!r.html.contains("<script>") && r.html.contains("&#60;script&#62;"));
        assert!(!r.html.contains("<b>"));
        assert!(r
            .html
            .contains("https://t.example/c?u=https://dash.acme.example/bookings/b1"));
        assert!(r.html.contains("src=\"https://t.example/open\""));
        // Plain text is not HTML: shown as typed.
        assert!(r.text.contains("Reason: <script>alert(1)</script>"));
        assert!(r.subject.contains("Bob \"the\" <b>"));
    }
}
