//! Reminders are written a little before they are due and sent at their time. Until then what they
//! are about may change, so an email or a text written ahead names the session (and the session's
//! `sequence`) it holds for: when it is due, it goes only if that session is still scheduled at that
//! sequence.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmailNotifications {
    Table,
}

#[derive(DeriveIden)]
enum SmsMessages {
    Table,
}

#[derive(DeriveIden)]
enum Guard {
    GuardSessionId,
    GuardSequence,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            // SQLite adds one column per statement.
            for column in [
                ColumnDef::new(Guard::GuardSessionId)
                    .string()
                    .null()
                    .to_owned(),
                ColumnDef::new(Guard::GuardSequence)
                    .integer()
                    .null()
                    .to_owned(),
            ] {
                let mut alter = Table::alter();
                alter.table(table.clone()).add_column(column);
                manager.alter_table(alter.to_owned()).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            for column in [Guard::GuardSessionId, Guard::GuardSequence] {
                let mut alter = Table::alter();
                alter.table(table.clone()).drop_column(column);
                manager.alter_table(alter.to_owned()).await?;
            }
        }
        Ok(())
    }
}

fn tables() -> [DynIden; 2] {
    [
        EmailNotifications::Table.into_iden(),
        SmsMessages::Table.into_iden(),
    ]
}
