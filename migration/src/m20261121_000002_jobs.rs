//! The background job queue (`src/jobs/`): one row per job, claimed by workers with a lease.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    UniqueKey,
    State,
    Attempts,
    MaxAttempts,
    RunAt,
    LockedUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(
                        ColumnDef::new(Jobs::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Jobs::Kind).text().not_null())
                    .col(ColumnDef::new(Jobs::Payload).text().not_null())
                    .col(ColumnDef::new(Jobs::UniqueKey).text().null())
                    .col(ColumnDef::new(Jobs::State).string_len(16).not_null())
                    .col(ColumnDef::new(Jobs::Attempts).integer().not_null())
                    .col(ColumnDef::new(Jobs::MaxAttempts).integer().not_null())
                    .col(
                        ColumnDef::new(Jobs::RunAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Jobs::LockedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Jobs::LastError).text().null())
                    .col(
                        ColumnDef::new(Jobs::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Jobs::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Jobs::FinishedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .check(Expr::col(Jobs::State).is_in(["queued", "running", "done", "dead"]))
                    .check(Expr::col(Jobs::Attempts).gte(0))
                    .check(Expr::col(Jobs::MaxAttempts).gte(1))
                    .to_owned(),
            )
            .await?;
        // What workers scan: due queued jobs and running ones whose lease ran out.
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_state_run_at")
                    .table(Jobs::Table)
                    .col(Jobs::State)
                    .col(Jobs::RunAt)
                    .to_owned(),
            )
            .await?;
        // A unique key holds only while its job is pending, so the same work can be queued again once
        // it is done or dead. sea-query cannot express a partial index; this SQL is the same on
        // SQLite and PostgreSQL, and `INSERT ... ON CONFLICT DO NOTHING` (no target) honours it.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_jobs_unique_key_pending ON jobs (unique_key) \
                 WHERE state IN ('queued', 'running')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}
