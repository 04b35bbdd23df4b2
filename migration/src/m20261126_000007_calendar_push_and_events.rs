//! Push channels (Google's `events.watch`): one row per channel, found by the channel id Google
//! sends back with each push; its secret token is kept only as a SHA-256 hash (a push proves it
//! knows the token; nothing here could forge one). Calendars learn when they were last read whole
//! (a daily whole read heals missed pushes), how many pushes arrived (a push during a running sync
//! asks for another), and when a refused watch may be tried again.
//!
//! Sessions written to the mentor's calendar: one row per session (the event's id at the provider is
//! derived from the session's, so a retried insert finds the one it made), the session sequence last
//! written (a reschedule writes again), and how the Meet link is coming along. Sessions say which
//! kind of room they have and whether it is ready.
//!
//! Conflicts between a mentor's calendar and their sessions (an event of theirs deleted or moved
//! there, outside busy time over a session), open until resolved or until their cause goes away.

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
enum CalendarEvents {
    Table,
    SessionId,
    ConnectionId,
    CalendarId,
    EventId,
    WrittenSequence,
    ConferenceChecks,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CalendarConflicts {
    Table,
    Id,
    MentorId,
    Provider,
    Kind,
    SessionId,
    ExternalEventId,
    ExternalStart,
    ExternalEnd,
    ExternalTitle,
    DetectedAt,
    ResolvedAt,
    Resolution,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    MeetingProvider,
    MeetingStatus,
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
        use CalendarEvents as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(
                        ColumnDef::new(E::SessionId)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(E::ConnectionId).string_len(64).not_null())
                    .col(ColumnDef::new(E::CalendarId).text().not_null())
                    .col(ColumnDef::new(E::EventId).string_len(128).not_null())
                    .col(ColumnDef::new(E::WrittenSequence).integer().null())
                    .col(
                        ColumnDef::new(E::ConferenceChecks)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(E::LastError).text().null())
                    .col(instant(E::CreatedAt, false))
                    .col(instant(E::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calendar_events_connection")
                    .table(E::Table)
                    .col(E::ConnectionId)
                    .to_owned(),
            )
            .await?;
        use CalendarConflicts as K;
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .col(
                        ColumnDef::new(K::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(K::MentorId).string_len(128).not_null())
                    .col(ColumnDef::new(K::Provider).string_len(16).not_null())
                    .col(ColumnDef::new(K::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(K::SessionId).string_len(64).null())
                    .col(ColumnDef::new(K::ExternalEventId).text().null())
                    .col(instant(K::ExternalStart, true))
                    .col(instant(K::ExternalEnd, true))
                    .col(ColumnDef::new(K::ExternalTitle).text().null())
                    .col(instant(K::DetectedAt, false))
                    .col(instant(K::ResolvedAt, true))
                    .col(ColumnDef::new(K::Resolution).string_len(32).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calendar_conflicts_mentor")
                    .table(K::Table)
                    .col(K::MentorId)
                    .col(K::DetectedAt)
                    .to_owned(),
            )
            .await?;
        // One open conflict per session, kind and event, whichever node sees it first (a partial
        // index: sea-query cannot express it; the SQL is the same on SQLite and PostgreSQL).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX calendar_conflicts_open ON calendar_conflicts \
                 (session_id, kind, external_event_id) WHERE resolved_at IS NULL",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calendar_events_event")
                    .table(E::Table)
                    .col(E::EventId)
                    .to_owned(),
            )
            .await?;
        for column in [
            ColumnDef::new(Sessions::MeetingProvider)
                .string_len(24)
                .not_null()
                .default("BUILT_IN")
                .to_owned(),
            ColumnDef::new(Sessions::MeetingStatus)
                .string_len(16)
                .not_null()
                .default("READY")
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
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
            Sessions::MeetingProvider.into_iden(),
            Sessions::MeetingStatus.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            CalendarConflicts::Table.into_iden(),
            CalendarEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
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
