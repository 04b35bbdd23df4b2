//! A text about a session keeps when that session starts: quiet hours let it through within the
//! hour before, and a text tried again later (after a failure) is checked against quiet hours once
//! more when it goes, which needs that instant.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SmsMessages {
    Table,
    SessionStartAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(SmsMessages::SessionStartAt)
            .timestamp_with_time_zone()
            .null()
            .to_owned();
        manager
            .alter_table(
                Table::alter()
                    .table(SmsMessages::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsMessages::Table)
                    .drop_column(SmsMessages::SessionStartAt)
                    .to_owned(),
            )
            .await
    }
}
