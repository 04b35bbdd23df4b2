//! The MIME message for one email: `multipart/alternative` (plain text, HTML, and with an invite the
//! `text/calendar; method=...` part mail clients turn into an invite card) inside `multipart/mixed`
//! with the invite again as an `invite.ics` attachment, or a receipt's `invoice.pdf`.
//!
//! The `Message-ID` is the email's own, so a retry after a worker died mid-send carries the same id
//! and receiving systems can tell the copies apart. `X-Mentor-Email-Id` (and SendGrid's
//! `X-SMTPAPI` unique argument) let delivery reports name the email.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// What goes into one message.
pub struct Parts<'a> {
    pub email_id: &'a str,
    pub message_id: &'a str,
    pub from: &'a Mailbox,
    pub to: Mailbox,
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
    /// The `.ics` text and its `METHOD`.
    pub invite: Option<(&'a str, &'a str)>,
    /// A receipt's `invoice.pdf`.
    pub pdf: Option<Vec<u8>>,
}

fn header(name: &str, value: String) -> HeaderValue {
    HeaderValue::new(
        HeaderName::new_from_ascii(name.to_string()).expect("a constant ASCII header name"),
        value,
    )
}

pub fn build(p: Parts) -> Result<Message, lettre::error::Error> {
    let builder = Message::builder()
        .from(p.from.clone())
        .to(p.to)
        .subject(p.subject)
        .message_id(Some(p.message_id.to_string()))
        .raw_header(header("X-Mentor-Email-Id", p.email_id.to_string()))
        .raw_header(header(
            "X-SMTPAPI",
            serde_json::json!({"unique_args": {"email_id": p.email_id}}).to_string(),
        ));
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(p.text.to_string()))
        .singlepart(SinglePart::html(p.html.to_string()));
    match (p.invite, p.pdf) {
        (None, None) => builder.multipart(alternative),
        (None, Some(pdf)) => {
            let attachment = Attachment::new("invoice.pdf".to_string()).body(
                pdf,
                ContentType::parse("application/pdf").expect("a well-formed content type"),
            );
            builder.multipart(
                MultiPart::mixed()
                    .multipart(alternative)
                    .singlepart(attachment),
            )
        }
        (Some((ics, method)), _) => {
            let calendar_type = |base: &str| {
                ContentType::parse(&format!("{base}; charset=utf-8; method={method}"))
                    .expect("a well-formed content type")
            };
            let card = SinglePart::builder()
                .content_type(calendar_type("text/calendar"))
                .body(ics.to_string());
            let attachment = Attachment::new("invite.ics".to_string())
                .body(ics.to_string(), calendar_type("application/ics"));
            builder.multipart(
                MultiPart::mixed()
                    .multipart(alternative.singlepart(card))
                    .singlepart(attachment),
            )
        }
    }
}
