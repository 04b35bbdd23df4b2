//! Email providers: sending (SMTP, or `.eml` files) and what their webhooks report (SendGrid's Event
//! Webhook, Amazon SES through SNS), parsed into the domain's `DeliveryReport`.

pub mod mailer;
mod payload;
pub mod sendgrid;
pub mod ses;
pub mod smtp_pool;

pub use payload::WebhookError;
