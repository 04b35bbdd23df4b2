//! In-app notifications, each user's delivery counter, and notification preferences.
//!
//! `seq` numbers a user's notifications in commit order: the counter row is bumped (and so locked)
//! in the transaction that writes the notification, so a reader that has seen `seq = n` has seen
//! everything below it. Subscribers catch up by `seq > last`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    Seq,
    Kind,
    Title,
    Body,
    Link,
    Data,
    DedupeKey,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum NotificationCounters {
    Table,
    UserId,
    LastSeq,
}

#[derive(DeriveIden)]
enum NotificationPreferences {
    Table,
    UserId,
    Kind,
    Channel,
    Enabled,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(
                        ColumnDef::new(Notifications::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Notifications::UserId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::Seq).big_integer().not_null())
                    .col(
                        ColumnDef::new(Notifications::Kind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::Title).text().not_null())
                    .col(ColumnDef::new(Notifications::Body).text().not_null())
                    .col(ColumnDef::new(Notifications::Link).text().null())
                    .col(ColumnDef::new(Notifications::Data).text().not_null())
                    .col(ColumnDef::new(Notifications::DedupeKey).text().null())
                    .col(
                        ColumnDef::new(Notifications::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::ReadAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_notifications_user_seq")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A producer that may run twice (a retried job, a repeated request) names its notification;
        // NULL keys never collide.
        manager
            .create_index(
                Index::create()
                    .name("uq_notifications_user_dedupe")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The unread badge counts these.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_notifications_unread ON notifications (user_id, seq) \
                 WHERE read_at IS NULL",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationCounters::Table)
                    .col(
                        ColumnDef::new(NotificationCounters::UserId)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NotificationCounters::LastSeq)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationPreferences::Table)
                    .col(
                        ColumnDef::new(NotificationPreferences::UserId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationPreferences::Kind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationPreferences::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationPreferences::Enabled)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationPreferences::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(NotificationPreferences::UserId)
                            .col(NotificationPreferences::Kind)
                            .col(NotificationPreferences::Channel),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "notification_preferences",
            "notification_counters",
            "notifications",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
