//! Email providers: sending (SMTP, or `.eml` files) and what their webhooks report (SendGrid's Event
//! Webhook, Amazon SES through SNS), parsed into the domain's `DeliveryReport`.

pub mod mailer;
mod payload;
mod pipelining;
pub mod sendgrid;
pub mod sendgrid_signature;
pub mod ses;
mod signature_error;
pub mod smtp_pool;
pub mod sns_signature;
pub mod sns_verifier;

pub use payload::WebhookError;
pub use signature_error::SignatureError;
