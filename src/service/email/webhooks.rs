//! Provider webhooks proven authentic before anything is read from them: SendGrid's ECDSA
//! signature (with the URL token the transport checks), and SNS's RSA signature under Amazon's
//! certificate. Each delivery applies once (`receipts`).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::receipts::Receipt;
use super::{EmailService, WebhookOutcome};
use crate::error::AppError;
use crate::integrations::email::sendgrid::parse_sendgrid;
use crate::integrations::email::sendgrid_signature::SendgridKey;
use crate::integrations::email::ses::{interpret_sns, SnsMessage};
use crate::integrations::email::sns_verifier::SnsVerifier;
use crate::integrations::email::{SignatureError, WebhookError};

/// What proves a delivery authentic.
pub struct WebhookTrust {
    /// `SENDGRID_WEBHOOK_PUBLIC_KEY`; `None` turns SendGrid's webhook off.
    pub sendgrid: Option<SendgridKey>,
    pub sns: SnsVerifier,
}

/// Why a delivery was not applied.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefusal {
    #[error("{0}")]
    Off(&'static str),
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Payload(#[from] WebhookError),
    #[error(transparent)]
    App(#[from] AppError),
}

/// What an SNS delivery asked of us.
#[derive(Debug)]
pub enum SnsAnswer {
    Applied(WebhookOutcome),
    /// Confirming is left to an operator (see the transport).
    Confirm {
        subscribe_url: String,
    },
}

impl EmailService {
    /// SendGrid's Event Webhook: signed over `timestamp + body`, a JSON array of events.
    pub async fn receive_sendgrid(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookRefusal> {
        let key = self.webhooks.sendgrid.as_ref().ok_or(WebhookRefusal::Off(
            "SendGrid's webhook is off: SENDGRID_WEBHOOK_PUBLIC_KEY is not set",
        ))?;
        key.verify(signature, timestamp, body, self.clock.now().timestamp())?;
        let reports = parse_sendgrid(body)?;
        // The identity of a signed delivery is what was signed: another encoding of the same
        // signature (ECDSA's `s` and `n - s` both verify) is the same delivery.
        let mut signed = Sha256::new();
        signed.update(timestamp.unwrap_or_default().as_bytes());
        signed.update(body);
        let receipt = Receipt {
            source: "sendgrid",
            id: hex::encode(signed.finalize()),
        };
        Ok(self.apply_reports(&reports, &receipt).await?)
    }

    /// An SNS delivery carrying SES notifications, or SNS's own subscription messages.
    pub async fn receive_sns(&self, body: &[u8]) -> Result<SnsAnswer, WebhookRefusal> {
        let envelope: Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
        if !envelope.is_object() {
            return Err(WebhookError::Malformed(
                "the body must be an SNS message (a JSON object)".into(),
            )
            .into());
        }
        self.webhooks
            .sns
            .verify(&envelope, self.clock.now())
            .await?;
        match interpret_sns(&envelope, self.webhooks.sns.hosts())? {
            SnsMessage::Reports(reports) => {
                let id = envelope
                    .get("MessageId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let receipt = Receipt {
                    source: "sns",
                    id: id.to_string(),
                };
                Ok(SnsAnswer::Applied(
                    self.apply_reports(&reports, &receipt).await?,
                ))
            }
            SnsMessage::SubscriptionConfirmation { subscribe_url } => {
                Ok(SnsAnswer::Confirm { subscribe_url })
            }
            SnsMessage::UnsubscribeConfirmation => {
                Ok(SnsAnswer::Applied(WebhookOutcome::default()))
            }
        }
    }
}
