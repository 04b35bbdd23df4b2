//! Bookings, their sessions, and the domain events written with them.
//!
//! On PostgreSQL an exclusion constraint also forbids two non-cancelled sessions of one mentor from
//! overlapping. It needs the `btree_gist` extension (for the `mentor_id WITH =` part); where the
//! database role may not create it, the migration goes on without the constraint and the service's
//! per-mentor lock remains the guarantee.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Bookings {
    Table,
    Id,
    MentorId,
    StudentId,
    Kind,
    Frequency,
    Subject,
    Goals,
    DurationMinutes,
    TimeZone,
    WeeklySlots,
    Weeks,
    WeeksCreated,
    RecurrenceRule,
    StartAt,
    EndAt,
    Status,
    PaymentStatus,
    CalendarLink,
    CancelReason,
    CancelledBy,
    CancelledAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    BookingId,
    MentorId,
    StudentId,
    SlotIndex,
    WeekIndex,
    StartAt,
    EndAt,
    ActualStartAt,
    ActualEndAt,
    MeetingUrl,
    RecordingUrl,
    Status,
    Attended,
    Sequence,
    Reminder24hSent,
    Reminder1hSent,
    CancelReason,
    CancelledBy,
    CancelledAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DomainEvents {
    Table,
    Id,
    Kind,
    BookingId,
    SessionId,
    ActorId,
    Payload,
    OccurredAt,
}

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .string_len(64)
        .not_null()
        .primary_key()
        .to_owned()
}

fn user_ref(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(191).not_null().to_owned()
}

fn instant(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn maybe_instant(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn word(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(32).not_null().to_owned()
}

fn user_fk(
    table: impl IntoIden + 'static,
    col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

fn index(name: &str, table: impl IntoIden + 'static, cols: Vec<Sessions>) -> IndexCreateStatement {
    let mut i = Index::create().name(name).table(table).to_owned();
    for c in cols {
        i.col(c);
    }
    i
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Bookings::Table)
                    .col(id(Bookings::Id))
                    .col(user_ref(Bookings::MentorId))
                    .col(user_ref(Bookings::StudentId))
                    .col(word(Bookings::Kind))
                    .col(word(Bookings::Frequency))
                    .col(ColumnDef::new(Bookings::Subject).string().not_null())
                    .col(ColumnDef::new(Bookings::Goals).text().not_null())
                    .col(
                        ColumnDef::new(Bookings::DurationMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Bookings::TimeZone).string_len(64).not_null())
                    .col(ColumnDef::new(Bookings::WeeklySlots).text().not_null())
                    .col(ColumnDef::new(Bookings::Weeks).integer().null())
                    .col(ColumnDef::new(Bookings::WeeksCreated).integer().not_null())
                    .col(ColumnDef::new(Bookings::RecurrenceRule).text().null())
                    .col(instant(Bookings::StartAt))
                    .col(maybe_instant(Bookings::EndAt))
                    .col(word(Bookings::Status))
                    .col(word(Bookings::PaymentStatus))
                    .col(ColumnDef::new(Bookings::CalendarLink).text().null())
                    .col(ColumnDef::new(Bookings::CancelReason).text().null())
                    .col(ColumnDef::new(Bookings::CancelledBy).string_len(191).null())
                    .col(maybe_instant(Bookings::CancelledAt))
                    .col(instant(Bookings::CreatedAt))
                    .col(instant(Bookings::UpdatedAt))
                    .foreign_key(&mut user_fk(Bookings::Table, Bookings::MentorId))
                    .foreign_key(&mut user_fk(Bookings::Table, Bookings::StudentId))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_bookings_mentor", Bookings::MentorId),
            ("idx_bookings_student", Bookings::StudentId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Bookings::Table)
                        .col(col)
                        .col(Bookings::Id)
                        .to_owned(),
                )
                .await?;
        }
        // At most one live trial per student and mentor; a cancelled one does not count.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_bookings_one_trial ON bookings (student_id, mentor_id) \
                 WHERE kind = 'TRIAL' AND status <> 'CANCELLED'",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(id(Sessions::Id))
                    .col(
                        ColumnDef::new(Sessions::BookingId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(user_ref(Sessions::MentorId))
                    .col(user_ref(Sessions::StudentId))
                    .col(ColumnDef::new(Sessions::SlotIndex).integer().not_null())
                    .col(ColumnDef::new(Sessions::WeekIndex).integer().not_null())
                    .col(instant(Sessions::StartAt))
                    .col(instant(Sessions::EndAt))
                    .col(maybe_instant(Sessions::ActualStartAt))
                    .col(maybe_instant(Sessions::ActualEndAt))
                    .col(ColumnDef::new(Sessions::MeetingUrl).text().not_null())
                    .col(ColumnDef::new(Sessions::RecordingUrl).text().null())
                    .col(word(Sessions::Status))
                    .col(
                        ColumnDef::new(Sessions::Attended)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Sessions::Sequence)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Sessions::Reminder24hSent)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Sessions::Reminder1hSent)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Sessions::CancelReason).text().null())
                    .col(ColumnDef::new(Sessions::CancelledBy).string_len(191).null())
                    .col(maybe_instant(Sessions::CancelledAt))
                    .col(instant(Sessions::CreatedAt))
                    .col(instant(Sessions::UpdatedAt))
                    .check(Expr::col(Sessions::StartAt).lt(Expr::col(Sessions::EndAt)))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::BookingId)
                            .to(Bookings::Table, Bookings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for statement in [
            index(
                "idx_sessions_mentor_start",
                Sessions::Table,
                vec![Sessions::MentorId, Sessions::StartAt],
            ),
            index(
                "idx_sessions_student_start",
                Sessions::Table,
                vec![Sessions::StudentId, Sessions::StartAt],
            ),
            index(
                "idx_sessions_booking",
                Sessions::Table,
                vec![Sessions::BookingId, Sessions::StartAt],
            ),
            index(
                "uq_sessions_occurrence",
                Sessions::Table,
                vec![
                    Sessions::BookingId,
                    Sessions::SlotIndex,
                    Sessions::WeekIndex,
                ],
            )
            .unique()
            .to_owned(),
        ] {
            manager.create_index(statement).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(DomainEvents::Table)
                    .col(id(DomainEvents::Id))
                    .col(word(DomainEvents::Kind))
                    .col(
                        ColumnDef::new(DomainEvents::BookingId)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(DomainEvents::SessionId)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(DomainEvents::ActorId).string_len(191).null())
                    .col(ColumnDef::new(DomainEvents::Payload).text().not_null())
                    .col(instant(DomainEvents::OccurredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_domain_events_booking")
                    .table(DomainEvents::Table)
                    .col(DomainEvents::BookingId)
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let conn = manager.get_connection();
            conn.execute_unprepared(
                "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS btree_gist; \
                 EXCEPTION WHEN insufficient_privilege THEN \
                 RAISE NOTICE 'btree_gist unavailable: sessions rely on the service lock alone'; END $$",
            )
            .await?;
            conn.execute_unprepared(
                "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gist') THEN \
                 ALTER TABLE sessions ADD CONSTRAINT sessions_no_overlap EXCLUDE USING gist \
                 (mentor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) \
                 WHERE (status <> 'CANCELLED'); END IF; END $$",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["domain_events", "sessions", "bookings"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
