//! Jobs are claimed in `(run_at, id)` order; an index in that order (after `state`) lets a claim
//! read just the jobs it takes, where `(state, run_at)` made it sort every due job first (a backlog
//! of thousands cost milliseconds of database time per claim).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    State,
    RunAt,
    Id,
}

const OLD: &str = "idx_jobs_state_run_at";
const NEW: &str = "idx_jobs_state_run_at_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let index = Index::create()
            .name(NEW)
            .table(Jobs::Table)
            .col(Jobs::State)
            .col(Jobs::RunAt)
            .col(Jobs::Id)
            .to_owned();
        manager.create_index(index).await?;
        drop_index(manager, OLD).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let index = Index::create()
            .name(OLD)
            .table(Jobs::Table)
            .col(Jobs::State)
            .col(Jobs::RunAt)
            .to_owned();
        manager.create_index(index).await?;
        drop_index(manager, NEW).await
    }
}

async fn drop_index(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(Jobs::Table).to_owned())
        .await
}
