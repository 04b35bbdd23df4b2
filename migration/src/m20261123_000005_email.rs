//! The email outbox (`email_notifications`, the spec's EmailNotification record) and the addresses
//! no email may go to any more (`email_suppressions`).
//!
//! An email row is written in the transaction of what causes it, together with the job that sends
//! it; the job queue provides the claim, the lease and the backoff, and the row keeps the story:
//! status, tries, the last error, and what the provider later said (delivered, bounced, opened).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmailNotifications {
    Table,
    Id,
    UserId,
    ToAddress,
    Kind,
    Template,
    Variables,
    Status,
    MessageId,
    Subject,
    BodyHtml,
    BodyText,
    IcsFile,
    IcsMethod,
    ErrorMessage,
    RetryCount,
    ScheduledFor,
    SentAt,
    DeliveredAt,
    OpenedAt,
    ClickedAt,
    BouncedAt,
    ComplainedAt,
    DedupeKey,
    DigestId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EmailSuppressions {
    Table,
    Address,
    Reason,
    Detail,
    CreatedAt,
}

fn instant(col: EmailNotifications) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use EmailNotifications as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(
                        ColumnDef::new(E::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(E::UserId).string_len(128).not_null())
                    .col(ColumnDef::new(E::ToAddress).text().not_null())
                    .col(ColumnDef::new(E::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(E::Template).string_len(48).not_null())
                    .col(ColumnDef::new(E::Variables).text().not_null())
                    .col(ColumnDef::new(E::Status).string_len(16).not_null())
                    .col(ColumnDef::new(E::MessageId).text().not_null())
                    .col(ColumnDef::new(E::Subject).text().not_null())
                    .col(ColumnDef::new(E::BodyHtml).text().null())
                    .col(ColumnDef::new(E::BodyText).text().null())
                    .col(ColumnDef::new(E::IcsFile).text().null())
                    .col(ColumnDef::new(E::IcsMethod).string_len(16).null())
                    .col(ColumnDef::new(E::ErrorMessage).text().null())
                    .col(
                        ColumnDef::new(E::RetryCount)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(E::ScheduledFor)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(instant(E::SentAt))
                    .col(instant(E::DeliveredAt))
                    .col(instant(E::OpenedAt))
                    .col(instant(E::ClickedAt))
                    .col(instant(E::BouncedAt))
                    .col(instant(E::ComplainedAt))
                    .col(ColumnDef::new(E::DedupeKey).text().null())
                    .col(ColumnDef::new(E::DigestId).string_len(64).null())
                    .col(
                        ColumnDef::new(E::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(E::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            (
                "idx_email_status_scheduled",
                vec![E::Status, E::ScheduledFor],
            ),
            ("idx_email_user_kind", vec![E::UserId, E::Kind]),
            ("idx_email_message_id", vec![E::MessageId]),
            ("idx_email_digest", vec![E::DigestId]),
        ];
        for (name, cols) in indexes {
            let mut index = Index::create().name(name).table(E::Table).to_owned();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index).await?;
        }
        // A producer that may run twice (a retried job, two workers) names its email; NULL keys
        // never collide.
        manager
            .create_index(
                Index::create()
                    .name("uq_email_user_dedupe")
                    .table(E::Table)
                    .col(E::UserId)
                    .col(E::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // At most one digest gathers items per user at a time.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_email_collecting_digest ON email_notifications (user_id) \
                 WHERE status = 'COLLECTING'",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EmailSuppressions::Table)
                    .col(
                        ColumnDef::new(EmailSuppressions::Address)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EmailSuppressions::Reason)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(EmailSuppressions::Detail).text().null())
                    .col(
                        ColumnDef::new(EmailSuppressions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["email_suppressions", "email_notifications"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
