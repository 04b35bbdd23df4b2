//! Stripe event receipts are forgotten once older than any redelivery (see
//! `service::payments::webhook`); the oldest are found by when they were received.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StripeEvents {
    Table,
    ReceivedAt,
}

const NAME: &str = "stripe_events_received_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(StripeEvents::Table)
                    .col(StripeEvents::ReceivedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(StripeEvents::Table)
                    .to_owned(),
            )
            .await
    }
}
