//! A mentor's booking rules and zone (the settings row), and its lock: every change to a mentor's
//! schedule or bookings takes it first, so that two of them cannot interleave.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::users::User;
use crate::db::for_update;
use crate::domain::settings::BookingRules;
use crate::domain::time::TimeZone;
use crate::entity::availability_settings as settings;
use crate::error::{AppError, AppResult};

/// Makes sure the mentor has a settings row and locks it for the rest of the transaction.
pub async fn lock_mentor(
    txn: &impl ConnectionTrait,
    mentor: &User,
    now: DateTime<Utc>,
) -> AppResult<settings::Model> {
    let defaults = BookingRules::default();
    settings::Entity::insert(settings::ActiveModel {
        mentor_id: Set(mentor.id.clone()),
        time_zone: Set(mentor.time_zone.name().into()),
        buffer_minutes: Set(defaults.buffer_minutes()),
        minimum_notice_minutes: Set(defaults.minimum_notice_minutes()),
        horizon_days: Set(defaults.horizon_days()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::MentorId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let query = for_update(txn, settings::Entity::find_by_id(mentor.id.clone()));
    query.one(txn).await?.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("settings row vanished for {}", mentor.id))
    })
}

/// The zone and rules of a mentor: the settings row, or the mentor's own zone and the defaults.
pub fn rules_of(
    row: Option<&settings::Model>,
    mentor: &User,
) -> AppResult<(TimeZone, BookingRules)> {
    match row {
        None => Ok((mentor.time_zone, BookingRules::default())),
        Some(s) => {
            let zone = s
                .time_zone
                .parse::<TimeZone>()
                .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            let rules = BookingRules::new(
                s.buffer_minutes,
                s.minimum_notice_minutes,
                s.horizon_days,
                "",
            )?;
            Ok((zone, rules))
        }
    }
}

/// The mentor's zone and rules as stored (or the defaults).
pub async fn rules_for(
    conn: &impl ConnectionTrait,
    mentor: &User,
) -> AppResult<(TimeZone, BookingRules)> {
    let row = settings::Entity::find_by_id(mentor.id.clone())
        .one(conn)
        .await?;
    rules_of(row.as_ref(), mentor)
}

/// Sets the mentor's zone and rules (the row exists: [`lock_mentor`] made it).
pub async fn update(
    txn: &impl ConnectionTrait,
    mentor_id: &str,
    zone: TimeZone,
    rules: &BookingRules,
    now: DateTime<Utc>,
) -> AppResult<()> {
    settings::Entity::update(settings::ActiveModel {
        mentor_id: Set(mentor_id.to_string()),
        time_zone: Set(zone.name().into()),
        buffer_minutes: Set(rules.buffer_minutes()),
        minimum_notice_minutes: Set(rules.minimum_notice_minutes()),
        horizon_days: Set(rules.horizon_days()),
        updated_at: Set(now),
    })
    .exec(txn)
    .await?;
    Ok(())
}
