//! Provider webhook receipts: one row per signed delivery applied (SendGrid's signature, SNS's
//! `MessageId`), written in the transaction that applies it, so a replayed or redelivered one
//! changes nothing. Kept a little longer than the oldest delivery accepted, then deleted.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookReceipts {
    Table,
    Source,
    Id,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookReceipts as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(ColumnDef::new(R::Source).string_len(32).not_null())
                    .col(ColumnDef::new(R::Id).string_len(255).not_null())
                    .col(
                        ColumnDef::new(R::ReceivedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(R::Source).col(R::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_receipts_received_at")
                    .table(R::Table)
                    .col(R::ReceivedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookReceipts::Table).to_owned())
            .await
    }
}
