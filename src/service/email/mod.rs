//! Email: rendered and written to the outbox in the transaction of what causes it (`outbox`), sent
//! by the `email.send` job with retries (`send`), folded into digests (`digest`), produced from
//! booking events, session reminders and platform notifications (`produce`), and tracked through
//! the open pixel, the click redirect and the providers' webhooks (`tracking`).

mod digest;
mod outbox;
pub(crate) mod produce;
mod read_ahead;
mod receipts;
mod send;
mod tracking;
mod webhooks;

use std::sync::Arc;

use chrono::Duration;
use lettre::message::Mailbox;

pub use outbox::{queue, queue_ahead, NewEmail, Recipient};
pub use produce::ByEmail;
pub use send::{sent_marks, Sent};
pub use tracking::{Click, WebhookOutcome};
pub use webhooks::{SnsAnswer, WebhookRefusal, WebhookTrust};

use crate::auth::email_links::EmailLinks;
use crate::auth::join::JoinLinks;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;
use crate::email::Brand;
use crate::integrations::email::mailer::Mailer;

/// What writing an email needs: the look, the sender, and how links are made.
pub struct Outbox {
    pub brand: Brand,
    pub from: Mailbox,
    /// Names `Message-ID`s and invite `UID`s.
    pub domain: String,
    pub links: EmailLinks,
    pub join_links: Arc<JoinLinks>,
    pub digest_window: Duration,
}

impl Outbox {
    pub fn new(
        settings: &Settings,
        links: EmailLinks,
        join_links: Arc<JoinLinks>,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = settings.email.from.parse().map_err(|e| {
            anyhow::anyhow!("EMAIL_FROM={:?} is not valid: {e}", settings.email.from)
        })?;
        let domain = from.email.domain().to_string();
        Ok(Outbox {
            brand: Brand::from_settings(settings),
            from,
            domain,
            links,
            join_links,
            digest_window: Duration::from_std(settings.email.digest_window)
                .unwrap_or(Duration::MAX),
        })
    }
}

/// Sends what the outbox holds and applies what providers report.
pub struct EmailService {
    db: Db,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
    outbox: Arc<Outbox>,
    max_attempts: i32,
    webhooks: WebhookTrust,
    batches: send::SendBatches,
}

impl EmailService {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        mailer: Arc<dyn Mailer>,
        outbox: Arc<Outbox>,
        max_attempts: i32,
        webhooks: WebhookTrust,
    ) -> Self {
        let batches = send::SendBatches::new(&db);
        EmailService {
            batches,
            db,
            clock,
            mailer,
            outbox,
            max_attempts: max_attempts.max(1),
            webhooks,
        }
    }
}
