//! Users, availability (settings, weekly blocks, date overrides, templates) and busy time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Role,
    Name,
    Email,
    TimeZone,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AvailabilitySettings {
    Table,
    MentorId,
    TimeZone,
    BufferMinutes,
    MinimumNoticeMinutes,
    HorizonDays,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AvailabilityBlocks {
    Table,
    Id,
    MentorId,
    Weekday,
    StartMinute,
    EndMinute,
}

#[derive(DeriveIden)]
enum AvailabilityOverrides {
    Table,
    MentorId,
    Date,
    Ranges,
}

#[derive(DeriveIden)]
enum AvailabilityTemplates {
    Table,
    Id,
    MentorId,
    Name,
    Blocks,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BusyBlocks {
    Table,
    Id,
    MentorId,
    StartAt,
    EndAt,
    Source,
    ExternalId,
    CreatedAt,
}

fn mentor_fk(
    from: (impl IntoIden + 'static, impl IntoIden + 'static),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(
                        ColumnDef::new(Users::Id)
                            .string_len(191)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                    .col(ColumnDef::new(Users::Name).string().not_null())
                    .col(ColumnDef::new(Users::Email).string().not_null())
                    .col(ColumnDef::new(Users::TimeZone).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Users::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Users::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AvailabilitySettings::Table)
                    .col(
                        ColumnDef::new(AvailabilitySettings::MentorId)
                            .string_len(191)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AvailabilitySettings::TimeZone)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilitySettings::BufferMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilitySettings::MinimumNoticeMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilitySettings::HorizonDays)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilitySettings::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut mentor_fk((
                        AvailabilitySettings::Table,
                        AvailabilitySettings::MentorId,
                    )))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AvailabilityBlocks::Table)
                    .col(
                        ColumnDef::new(AvailabilityBlocks::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityBlocks::MentorId)
                            .string_len(191)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityBlocks::Weekday)
                            .small_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityBlocks::StartMinute)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityBlocks::EndMinute)
                            .integer()
                            .not_null(),
                    )
                    .check(Expr::col(AvailabilityBlocks::Weekday).between(0, 6))
                    .check(Expr::col(AvailabilityBlocks::StartMinute).gte(0))
                    .check(Expr::col(AvailabilityBlocks::EndMinute).lte(1440))
                    .check(
                        Expr::col(AvailabilityBlocks::StartMinute)
                            .lt(Expr::col(AvailabilityBlocks::EndMinute)),
                    )
                    .foreign_key(&mut mentor_fk((
                        AvailabilityBlocks::Table,
                        AvailabilityBlocks::MentorId,
                    )))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_availability_blocks_mentor_weekday")
                    .table(AvailabilityBlocks::Table)
                    .col(AvailabilityBlocks::MentorId)
                    .col(AvailabilityBlocks::Weekday)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AvailabilityOverrides::Table)
                    .col(
                        ColumnDef::new(AvailabilityOverrides::MentorId)
                            .string_len(191)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityOverrides::Date)
                            .date()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityOverrides::Ranges)
                            .text()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(AvailabilityOverrides::MentorId)
                            .col(AvailabilityOverrides::Date),
                    )
                    .foreign_key(&mut mentor_fk((
                        AvailabilityOverrides::Table,
                        AvailabilityOverrides::MentorId,
                    )))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AvailabilityTemplates::Table)
                    .col(
                        ColumnDef::new(AvailabilityTemplates::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityTemplates::MentorId)
                            .string_len(191)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityTemplates::Name)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityTemplates::Blocks)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityTemplates::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AvailabilityTemplates::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut mentor_fk((
                        AvailabilityTemplates::Table,
                        AvailabilityTemplates::MentorId,
                    )))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_availability_templates_mentor_name")
                    .table(AvailabilityTemplates::Table)
                    .col(AvailabilityTemplates::MentorId)
                    .col(AvailabilityTemplates::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BusyBlocks::Table)
                    .col(
                        ColumnDef::new(BusyBlocks::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BusyBlocks::MentorId)
                            .string_len(191)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BusyBlocks::StartAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BusyBlocks::EndAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(BusyBlocks::Source).string_len(32).not_null())
                    .col(
                        ColumnDef::new(BusyBlocks::ExternalId)
                            .string_len(255)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(BusyBlocks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .check(Expr::col(BusyBlocks::StartAt).lt(Expr::col(BusyBlocks::EndAt)))
                    .foreign_key(&mut mentor_fk((BusyBlocks::Table, BusyBlocks::MentorId)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_busy_blocks_mentor_start")
                    .table(BusyBlocks::Table)
                    .col(BusyBlocks::MentorId)
                    .col(BusyBlocks::StartAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BusyBlocks::Table.into_iden(),
            AvailabilityTemplates::Table.into_iden(),
            AvailabilityOverrides::Table.into_iden(),
            AvailabilityBlocks::Table.into_iden(),
            AvailabilitySettings::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
