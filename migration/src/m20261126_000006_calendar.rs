//! Calendar connections (one per mentor and provider, tokens sealed), the OAuth `state`s waiting for
//! Google's redirect (single use, short-lived, stored by hash with their sealed PKCE verifier), and the
//! calendars of each connected account with the mentor's choices for them and where their sync
//! stands. Busy time read from a calendar names it (`busy_blocks.calendar_id`), so one calendar's
//! busy time can be replaced without touching the rest.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CalendarConnections {
    Table,
    Id,
    MentorId,
    Provider,
    State,
    SyncEnabled,
    FrequencyMinutes,
    AccountEmail,
    AccessToken,
    RefreshToken,
    AccessExpiresAt,
    GrantedScopes,
    LastSyncedAt,
    NextSyncAt,
    LastError,
    OnEventDeleted,
    OnEventMoved,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CalendarOauthStates {
    Table,
    StateHash,
    MentorId,
    Provider,
    Verifier,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExternalCalendars {
    Table,
    ConnectionId,
    CalendarId,
    Name,
    IsPrimary,
    CountsAsBusy,
    ReceivesSessions,
    SyncToken,
}

#[derive(DeriveIden)]
enum BusyBlocks {
    Table,
    CalendarId,
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
        use CalendarConnections as C;
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
                    .col(ColumnDef::new(C::MentorId).string_len(128).not_null())
                    .col(ColumnDef::new(C::Provider).string_len(16).not_null())
                    .col(ColumnDef::new(C::State).string_len(24).not_null())
                    .col(
                        ColumnDef::new(C::SyncEnabled)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(C::FrequencyMinutes)
                            .integer()
                            .not_null()
                            .default(15),
                    )
                    .col(ColumnDef::new(C::AccountEmail).text().null())
                    .col(ColumnDef::new(C::AccessToken).text().null())
                    .col(ColumnDef::new(C::RefreshToken).text().null())
                    .col(instant(C::AccessExpiresAt, true))
                    .col(
                        ColumnDef::new(C::GrantedScopes)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(instant(C::LastSyncedAt, true))
                    .col(instant(C::NextSyncAt, true))
                    .col(ColumnDef::new(C::LastError).text().null())
                    .col(
                        ColumnDef::new(C::OnEventDeleted)
                            .string_len(16)
                            .not_null()
                            .default("FOLLOW_CALENDAR"),
                    )
                    .col(
                        ColumnDef::new(C::OnEventMoved)
                            .string_len(16)
                            .not_null()
                            .default("FOLLOW_CALENDAR"),
                    )
                    .col(instant(C::CreatedAt, false))
                    .col(instant(C::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calendar_connections_mentor_provider")
                    .table(C::Table)
                    .col(C::MentorId)
                    .col(C::Provider)
                    .unique()
                    .to_owned(),
            )
            .await?;

        use CalendarOauthStates as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(
                        ColumnDef::new(S::StateHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(S::MentorId).string_len(128).not_null())
                    .col(ColumnDef::new(S::Provider).string_len(16).not_null())
                    .col(ColumnDef::new(S::Verifier).text().not_null())
                    .col(instant(S::ExpiresAt, false))
                    .col(instant(S::CreatedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calendar_oauth_states_expires")
                    .table(S::Table)
                    .col(S::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        use ExternalCalendars as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(ColumnDef::new(E::ConnectionId).string_len(64).not_null())
                    .col(ColumnDef::new(E::CalendarId).string_len(512).not_null())
                    .col(ColumnDef::new(E::Name).text().not_null())
                    .col(ColumnDef::new(E::IsPrimary).boolean().not_null())
                    .col(ColumnDef::new(E::CountsAsBusy).boolean().not_null())
                    .col(ColumnDef::new(E::ReceivesSessions).boolean().not_null())
                    .col(ColumnDef::new(E::SyncToken).text().null())
                    .primary_key(Index::create().col(E::ConnectionId).col(E::CalendarId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BusyBlocks::Table)
                    .add_column(
                        ColumnDef::new(BusyBlocks::CalendarId)
                            .string_len(512)
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BusyBlocks::Table)
                    .drop_column(BusyBlocks::CalendarId)
                    .to_owned(),
            )
            .await?;
        for table in [
            ExternalCalendars::Table.into_iden(),
            CalendarOauthStates::Table.into_iden(),
            CalendarConnections::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
