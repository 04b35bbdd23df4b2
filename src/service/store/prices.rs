//! Mentors' prices per session (their own, or the configured default), and amounts as rows keep
//! them (minor units and a currency code) read back as `Money`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::domain::money::{Currency, Money};
use crate::entity::mentor_price;
use crate::error::{AppError, AppResult};

/// What `mentor_id` charges per session.
pub async fn price_of(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    default: &Money,
) -> AppResult<Money> {
    match mentor_price::Entity::find_by_id(mentor_id)
        .one(conn)
        .await?
    {
        None => Ok(default.clone()),
        Some(row) => stored_money(row.amount_minor, &row.currency),
    }
}

/// An amount as a row keeps it; a currency code that no longer parses is an internal error.
pub fn stored_money(amount_minor: i64, currency: &str) -> AppResult<Money> {
    Ok(Money {
        amount_minor,
        currency: Currency::parse(currency).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("stored currency {currency:?}: {e}"))
        })?,
    })
}

pub async fn set_price(
    conn: &impl ConnectionTrait,
    mentor_id: &str,
    price: &Money,
    now: DateTime<Utc>,
) -> AppResult<()> {
    mentor_price::Entity::insert(mentor_price::ActiveModel {
        mentor_id: Set(mentor_id.into()),
        amount_minor: Set(price.amount_minor),
        currency: Set(price.currency.as_str().into()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(mentor_price::Column::MentorId)
            .update_columns([
                mentor_price::Column::AmountMinor,
                mentor_price::Column::Currency,
                mentor_price::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
