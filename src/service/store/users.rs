//! Users' local records: reading them, and writing what a token says.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::auth::{Principal, Role};
use crate::domain::time::TimeZone;
use crate::entity::user;
use crate::error::{AppError, AppResult};

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub role: Role,
    pub name: String,
    pub email: String,
    pub time_zone: TimeZone,
}

impl User {
    pub fn from_principal(p: &Principal) -> Self {
        User {
            id: p.user_id.clone(),
            role: p.role,
            name: p.name.clone(),
            email: p.email.clone(),
            time_zone: p.time_zone,
        }
    }
}

impl TryFrom<user::Model> for User {
    type Error = AppError;
    fn try_from(m: user::Model) -> AppResult<Self> {
        let corrupt = |what: String| AppError::Internal(anyhow::anyhow!("user {}: {what}", m.id));
        Ok(User {
            role: m.role,
            time_zone: m.time_zone.parse().map_err(corrupt)?,
            id: m.id,
            name: m.name,
            email: m.email,
        })
    }
}

/// Users by id on any connection (a transaction included); unknown ids are left out.
pub async fn users_by_id(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> AppResult<HashMap<String, User>> {
    user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().cloned()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| User::try_from(m).map(|u| (u.id.clone(), u)))
        .collect()
}

pub async fn find_mentor(conn: &impl ConnectionTrait, id: &str) -> AppResult<User> {
    match find_user(conn, id).await {
        Ok(u) if u.role == Role::Mentor => Ok(u),
        Ok(_) | Err(AppError::NotFound(_)) => {
            Err(AppError::NotFound(format!("no mentor with id {id:?}")))
        }
        Err(e) => Err(e),
    }
}

/// Any user with this id, or `NOT_FOUND`.
pub async fn find_user(conn: &impl ConnectionTrait, id: &str) -> AppResult<User> {
    user::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(User::try_from)
        .transpose()?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {id:?}")))
}

/// Every admin (they are told of new bookings).
pub async fn admins(conn: &impl ConnectionTrait) -> AppResult<Vec<User>> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin))
        .all(conn)
        .await?
        .into_iter()
        .map(User::try_from)
        .collect()
}

/// Creates `user`'s record, or brings it up to date.
pub async fn upsert(conn: &impl ConnectionTrait, user: &User, now: DateTime<Utc>) -> AppResult<()> {
    let row = user::ActiveModel {
        id: Set(user.id.clone()),
        role: Set(user.role),
        name: Set(user.name.clone()),
        email: Set(user.email.clone()),
        time_zone: Set(user.time_zone.name().into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    user::Entity::insert(row)
        .on_conflict(
            OnConflict::column(user::Column::Id)
                .update_columns([
                    user::Column::Role,
                    user::Column::Name,
                    user::Column::Email,
                    user::Column::TimeZone,
                    user::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Makes `phone` (E.164, verified elsewhere) the user's number, unless it already is.
pub async fn set_verified_phone(
    conn: &impl ConnectionTrait,
    user_id: &str,
    phone: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use sea_orm::sea_query::{Condition, Expr};
    user::Entity::update_many()
        .col_expr(user::Column::PhoneNumber, Expr::value(phone))
        .col_expr(user::Column::PhoneVerifiedAt, Expr::value(now))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .filter(
            Condition::any()
                .add(user::Column::PhoneNumber.is_null())
                .add(user::Column::PhoneNumber.ne(phone))
                .add(user::Column::PhoneVerifiedAt.is_null()),
        )
        .exec(conn)
        .await?;
    Ok(())
}
