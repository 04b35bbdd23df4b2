//! Payments (Stripe): one row per paid booking with its weekly amount, the hold on its sessions,
//! the checkout the student is sent to, and the customer and subscription Stripe made for it; one
//! row per paid invoice (the receipt trail, with what was refunded of it); one row per refund (a
//! session's share, or a whole invoice paid for a booking already cancelled); the ids of every Stripe event applied (each is applied once); mentors' prices.
//! Emails can name the invoice whose PDF they carry.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Payments {
    Table,
    BookingId,
    Status,
    AmountMinor,
    Currency,
    Interval,
    HoldExpiresAt,
    CheckoutAttempt,
    CheckoutSessionId,
    CheckoutUrl,
    CustomerId,
    SubscriptionId,
    NextBillingAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    BookingId,
    StripeInvoiceId,
    Number,
    AmountMinor,
    AmountRefundedMinor,
    Currency,
    Status,
    PeriodStart,
    PeriodEnd,
    PaidAt,
    HostedUrl,
    PaidBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PaymentRefunds {
    Table,
    Id,
    SessionId,
    BookingId,
    InvoiceId,
    AmountMinor,
    Currency,
    StripeRefundId,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StripeEvents {
    Table,
    Id,
    Kind,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum MentorPrices {
    Table,
    MentorId,
    AmountMinor,
    Currency,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EmailNotifications {
    Table,
    InvoiceId,
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

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string_len(64).not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Payments as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(id(P::BookingId).primary_key())
                    .col(ColumnDef::new(P::Status).string_len(16).not_null())
                    .col(ColumnDef::new(P::AmountMinor).big_integer().not_null())
                    .col(ColumnDef::new(P::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(P::Interval).string_len(8).not_null())
                    .col(instant(P::HoldExpiresAt, true))
                    .col(
                        ColumnDef::new(P::CheckoutAttempt)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(P::CheckoutSessionId).string_len(255).null())
                    .col(ColumnDef::new(P::CheckoutUrl).text().null())
                    .col(ColumnDef::new(P::CustomerId).string_len(255).null())
                    .col(ColumnDef::new(P::SubscriptionId).string_len(255).null())
                    .col(instant(P::NextBillingAt, true))
                    .col(instant(P::CreatedAt, false))
                    .col(instant(P::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("payments_checkout", P::CheckoutSessionId),
            ("payments_subscription", P::SubscriptionId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(P::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        use Invoices as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(id(I::Id).primary_key())
                    .col(id(I::BookingId))
                    .col(
                        ColumnDef::new(I::StripeInvoiceId)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(I::Number).string_len(255).null())
                    .col(ColumnDef::new(I::AmountMinor).big_integer().not_null())
                    .col(
                        ColumnDef::new(I::AmountRefundedMinor)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(I::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(I::Status).string_len(24).not_null())
                    .col(instant(I::PeriodStart, true))
                    .col(instant(I::PeriodEnd, true))
                    .col(instant(I::PaidAt, true))
                    .col(ColumnDef::new(I::HostedUrl).text().null())
                    .col(ColumnDef::new(I::PaidBy).string_len(255).null())
                    .col(instant(I::CreatedAt, false))
                    .col(instant(I::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invoices_stripe_id")
                    .table(I::Table)
                    .col(I::StripeInvoiceId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invoices_paid_by")
                    .table(I::Table)
                    .col(I::PaidBy)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invoices_booking")
                    .table(I::Table)
                    .col(I::BookingId)
                    .col(I::PeriodStart)
                    .to_owned(),
            )
            .await?;
        use PaymentRefunds as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(
                        ColumnDef::new(R::Id)
                            .string_len(80)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(R::SessionId).string_len(64).null())
                    .col(id(R::BookingId))
                    .col(ColumnDef::new(R::InvoiceId).string_len(64).null())
                    .col(ColumnDef::new(R::AmountMinor).big_integer().not_null())
                    .col(ColumnDef::new(R::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(R::StripeRefundId).string_len(255).null())
                    .col(ColumnDef::new(R::Status).string_len(16).not_null())
                    .col(instant(R::CreatedAt, false))
                    .col(instant(R::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("payment_refunds_invoice", R::InvoiceId),
            ("payment_refunds_booking", R::BookingId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(R::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        use StripeEvents as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(
                        ColumnDef::new(S::Id)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(S::Kind).string_len(128).not_null())
                    .col(instant(S::ReceivedAt, false))
                    .to_owned(),
            )
            .await?;
        use MentorPrices as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .col(
                        ColumnDef::new(M::MentorId)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(M::AmountMinor).big_integer().not_null())
                    .col(ColumnDef::new(M::Currency).string_len(3).not_null())
                    .col(instant(M::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EmailNotifications::Table)
                    .add_column(
                        ColumnDef::new(EmailNotifications::InvoiceId)
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(EmailNotifications::Table)
                    .drop_column(EmailNotifications::InvoiceId)
                    .to_owned(),
            )
            .await?;
        for table in [
            MentorPrices::Table.into_iden(),
            StripeEvents::Table.into_iden(),
            PaymentRefunds::Table.into_iden(),
            Invoices::Table.into_iden(),
            Payments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
