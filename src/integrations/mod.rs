//! Adapters to the outside, by kind: email (SMTP, files, provider webhooks), meeting rooms, calendar providers and payments (Stripe). Each sits behind a trait the services use.

pub mod calendar;
pub mod email;
pub mod meeting;
pub mod payments;
pub mod sms;
