//! SeaORM entities, one file per table. Never exposed through GraphQL directly.

pub mod availability_block;
pub mod availability_override;
pub mod availability_settings;
pub mod availability_template;
pub mod booking;
pub mod busy_block;
pub mod calendar_channel;
pub mod calendar_conflict;
pub mod calendar_connection;
pub mod calendar_event;
pub mod calendar_oauth_state;
pub mod domain_event;
pub mod email_notification;
pub mod email_suppression;
pub mod external_calendar;
pub mod invoice;
pub mod job;
pub mod mentor_price;
pub mod notification;
pub mod notification_counter;
pub mod notification_preference;
pub mod payment;
pub mod payment_refund;
pub mod session;
pub mod stripe_event;
mod text_enum;
pub mod user;
