//! Adapters to the outside, by kind: email (SMTP, files, provider webhooks), meeting rooms, and next
//! calendar providers and payments. Each sits behind a trait the services use.

pub mod calendar;
pub mod email;
pub mod meeting;
