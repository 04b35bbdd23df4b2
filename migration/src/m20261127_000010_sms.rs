//! SMS: each user's phone number (E.164) and when it was verified; the one-time code that verifies a
//! number the user set; the text outbox (one row per text, with what Twilio said of it); and the
//! numbers that replied STOP.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    PhoneNumber,
    PhoneVerifiedAt,
}

#[derive(DeriveIden)]
enum PhoneVerifications {
    Table,
    UserId,
    PhoneNumber,
    CodeHash,
    ExpiresAt,
    Attempts,
    Sends,
    WindowStartedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SmsMessages {
    Table,
    Id,
    UserId,
    ToNumber,
    Kind,
    Body,
    Segments,
    Encoding,
    Status,
    NotificationId,
    DedupeKey,
    ProviderSid,
    ErrorCode,
    ErrorMessage,
    Attempts,
    SendAfter,
    SentAt,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SmsOptOuts {
    Table,
    PhoneNumber,
    OptedOutAt,
}

fn instant<T: IntoIden>(col: T, null: bool) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.timestamp_with_time_zone();
    if null {
        def.null();
    } else {
        def.not_null();
    }
    def.to_owned()
}

fn text<T: IntoIden>(col: T, len: u32, null: bool) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.string_len(len);
    if null {
        def.null();
    } else {
        def.not_null();
    }
    def.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER.
        for column in [
            text(Users::PhoneNumber, 16, true),
            instant(Users::PhoneVerifiedAt, true),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        use PhoneVerifications as V;
        manager
            .create_table(
                Table::create()
                    .table(V::Table)
                    .col(text(V::UserId, 128, false).primary_key())
                    .col(text(V::PhoneNumber, 16, false))
                    .col(text(V::CodeHash, 64, false))
                    .col(instant(V::ExpiresAt, false))
                    .col(ColumnDef::new(V::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(V::Sends).integer().not_null().default(0))
                    .col(instant(V::WindowStartedAt, false))
                    .col(instant(V::CreatedAt, false))
                    .to_owned(),
            )
            .await?;
        use SmsMessages as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(text(S::Id, 64, false).primary_key())
                    .col(text(S::UserId, 128, false))
                    .col(text(S::ToNumber, 16, false))
                    .col(text(S::Kind, 64, false))
                    .col(ColumnDef::new(S::Body).text().not_null())
                    .col(ColumnDef::new(S::Segments).integer().not_null())
                    .col(text(S::Encoding, 8, false))
                    .col(text(S::Status, 16, false))
                    .col(text(S::NotificationId, 64, true))
                    .col(text(S::DedupeKey, 255, true))
                    .col(text(S::ProviderSid, 64, true))
                    .col(text(S::ErrorCode, 16, true))
                    .col(ColumnDef::new(S::ErrorMessage).text().null())
                    .col(ColumnDef::new(S::Attempts).integer().not_null().default(0))
                    .col(instant(S::SendAfter, false))
                    .col(instant(S::SentAt, true))
                    .col(instant(S::DeliveredAt, true))
                    .col(instant(S::CreatedAt, false))
                    .col(instant(S::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "sms_messages_user_dedupe",
                vec![S::UserId, S::DedupeKey],
                true,
            ),
            (
                "sms_messages_user_created",
                vec![S::UserId, S::CreatedAt],
                false,
            ),
            ("sms_messages_provider_sid", vec![S::ProviderSid], false),
            ("sms_messages_notification", vec![S::NotificationId], false),
        ] {
            let mut index = Index::create();
            index.name(name).table(S::Table);
            for col in cols {
                index.col(col);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        use SmsOptOuts as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .col(text(O::PhoneNumber, 16, false).primary_key())
                    .col(instant(O::OptedOutAt, false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SmsOptOuts::Table.into_iden(),
            SmsMessages::Table.into_iden(),
            PhoneVerifications::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [Users::PhoneVerifiedAt, Users::PhoneNumber] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
