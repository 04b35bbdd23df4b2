//! Database migrations, shared by SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_foundation;
mod m20261121_000002_jobs;
mod m20261121_000003_bookings;
mod m20261122_000004_notifications;
mod m20261123_000005_email;
mod m20261126_000006_calendar;
mod m20261126_000007_calendar_push_and_events;
mod m20261127_000008_payments;
mod m20261127_000009_webhook_receipts;
mod m20261127_000010_sms;
mod m20261127_000011_jobs_claim_order;
mod m20261128_000012_written_ahead;
mod m20261129_000013_text_session_start;
mod m20261129_000014_stripe_events_received_at;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_foundation::Migration),
            Box::new(m20261121_000002_jobs::Migration),
            Box::new(m20261121_000003_bookings::Migration),
            Box::new(m20261122_000004_notifications::Migration),
            Box::new(m20261123_000005_email::Migration),
            Box::new(m20261126_000006_calendar::Migration),
            Box::new(m20261126_000007_calendar_push_and_events::Migration),
            Box::new(m20261127_000008_payments::Migration),
            Box::new(m20261127_000009_webhook_receipts::Migration),
            Box::new(m20261127_000010_sms::Migration),
            Box::new(m20261127_000011_jobs_claim_order::Migration),
            Box::new(m20261128_000012_written_ahead::Migration),
            Box::new(m20261129_000013_text_session_start::Migration),
            Box::new(m20261129_000014_stripe_events_received_at::Migration),
        ]
    }
}
