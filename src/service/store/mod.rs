//! The store: every query, row lock and row-to-domain conversion of the use cases. Use cases call
//! it and never reach into one another; it knows rows and the domain, nothing of the services.

pub mod availability;
pub mod calendar;
pub mod cast;
pub mod preferences;
pub mod prices;
pub mod schedule;
pub mod settings;
pub mod users;
