//! Push channels (Google's `events.watch`): one row per channel, found by the channel id Google
//! sends back with each push; its secret token is kept only as a SHA-256 hash (a push proves it
//! knows the token; nothing here could forge one). Calendars learn when they were last read whole
//! (a daily whole read heals missed pushes), how many pushes arrived (a push during a running sync
//! asks for another), and when a refused watch may be tried again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CalendarChannels {
    Table,
    Id,
    ConnectionId,
    CalendarId,
    TokenHash,
    ResourceId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ExternalCalendars {
    Table,
    FullReadAt,
    Pushes,
    WatchRetryAt,
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use CalendarChannels as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(
                        ColumnDef::new(C::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(C::ConnectionId).string_len(64).not_null())
                    .col(ColumnDef::new(C::CalendarId).text().not_null())
                    .col(ColumnDef::new(C::TokenHash).string_len(64).not_null())
                    .col(ColumnDef::new(C::ResourceId).text().null())
                    .col(instant(C::CreatedAt, false))
                    .col(instant(C::ExpiresAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calendar_channels_connection")
                    .table(C::Table)
                    .col(C::ConnectionId)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per statement.
        for column in [
            instant(ExternalCalendars::FullReadAt, true),
            ColumnDef::new(ExternalCalendars::Pushes)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
            instant(ExternalCalendars::WatchRetryAt, true),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ExternalCalendars::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ExternalCalendars::FullReadAt.into_iden(),
            ExternalCalendars::Pushes.into_iden(),
            ExternalCalendars::WatchRetryAt.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ExternalCalendars::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(CalendarChannels::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
