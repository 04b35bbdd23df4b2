//! Adapters to the outside world, each behind a trait: meeting rooms and mail; calendars later.

pub mod mailer;
pub mod meeting;
