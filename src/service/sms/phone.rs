//! Each user's number: set by the user and verified by a one-time code sent to it before anything
//! else is, or cleared. Codes are six digits, live ten minutes, allow five wrong tries, and at most
//! five are sent per user an hour; only an HMAC of each is stored.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::outbox::{self, NewRow};
use super::SmsService;
use crate::domain::sms::phone::PhoneNumber;
use crate::domain::sms::texts;
use crate::entity::{phone_verification as pending, user};
use crate::error::{AppError, AppResult};

/// The kind stored on code texts.
pub const CODE_KIND: &str = "PHONE_VERIFICATION";
const CODE_LIFETIME: Duration = Duration::minutes(10);
const MAX_WRONG: i32 = 5;
const MAX_SENDS: i32 = 5;
const SEND_WINDOW: Duration = Duration::hours(1);

/// A user's number as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneStatus {
    /// The verified number texts go to.
    pub number: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    /// A number set and waiting for its code.
    pub pending: Option<String>,
    pub code_expires_at: Option<DateTime<Utc>>,
}

fn field(message: impl Into<String>) -> AppError {
    AppError::bad_input("phoneNumber", message)
}

impl SmsService {
    pub async fn phone_status(&self, user_id: &str) -> AppResult<PhoneStatus> {
        let conn = self.db.conn();
        let me = user::Entity::find_by_id(user_id).one(conn).await?;
        let waiting = pending::Entity::find_by_id(user_id).one(conn).await?;
        let (number, verified_at) = match me {
            Some(u) if u.phone_verified_at.is_some() => (u.phone_number, u.phone_verified_at),
            _ => (None, None),
        };
        Ok(PhoneStatus {
            number,
            verified_at,
            pending: waiting.as_ref().map(|p| p.phone_number.clone()),
            code_expires_at: waiting.map(|p| p.expires_at),
        })
    }

    /// Sets the user's number (sending a code to it) or, with `None`, removes it.
    pub async fn update_phone_number(
        &self,
        user_id: &str,
        raw: Option<&str>,
    ) -> AppResult<PhoneStatus> {
        let now = self.clock.now();
        let raw = raw.map(str::trim).filter(|r| !r.is_empty());
        let Some(raw) = raw else {
            let write = self.db.begin_write().await?;
            clear(&write.txn, user_id, now).await?;
            pending::Entity::delete_by_id(user_id)
                .exec(&write.txn)
                .await?;
            write.commit().await?;
            return self.phone_status(user_id).await;
        };
        let number = PhoneNumber::parse(raw).map_err(|e| field(e.to_string()))?;
        let status = self.phone_status(user_id).await?;
        if status.number.as_deref() == Some(number.as_str()) {
            return Ok(status); // already theirs and verified
        }
        let stopped = outbox::opted_out(self.db.conn(), &[number.to_string()]).await?;
        if !stopped.is_empty() {
            return Err(field(
                "this number replied STOP: reply START to one of our texts first",
            ));
        }
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let before = pending::Entity::find_by_id(user_id).one(txn).await?;
        let (sends, window) = match &before {
            Some(p) if now - p.window_started_at < SEND_WINDOW => (p.sends, p.window_started_at),
            _ => (0, now),
        };
        if sends >= MAX_SENDS {
            let wait = (window + SEND_WINDOW - now).to_std().unwrap_or_default();
            return Err(AppError::RateLimited {
                message: format!("at most {MAX_SENDS} codes are sent an hour; try again later"),
                retry_after: Some(wait),
            });
        }
        let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
        let row = pending::ActiveModel {
            user_id: Set(user_id.to_string()),
            phone_number: Set(number.to_string()),
            code_hash: Set(self.code_hash(user_id, number.as_str(), &code)),
            expires_at: Set(now + CODE_LIFETIME),
            attempts: Set(0),
            sends: Set(sends + 1),
            window_started_at: Set(window),
            created_at: Set(now),
        };
        pending::Entity::insert(row)
            .on_conflict(
                OnConflict::column(pending::Column::UserId)
                    .update_columns([
                        pending::Column::PhoneNumber,
                        pending::Column::CodeHash,
                        pending::Column::ExpiresAt,
                        pending::Column::Attempts,
                        pending::Column::Sends,
                        pending::Column::WindowStartedAt,
                        pending::Column::CreatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        // The code goes at once, quiet hours or not: the user is waiting for it.
        let body = texts::verification(&self.outbox.brand, &code, CODE_LIFETIME.num_minutes());
        let text = outbox::model(NewRow {
            user_id,
            number: number.as_str(),
            kind: CODE_KIND,
            body,
            dedupe_key: None,
            notification_id: None,
            send_after: now,
            session_start_at: None,
            now,
        });
        outbox::write(txn, vec![text], now).await?;
        write.commit().await?;
        tracing::info!(user_id, number = ?number, "a phone verification code was queued");
        self.phone_status(user_id).await
    }

    /// Checks `code` against the one sent; right, the number becomes the user's verified number.
    pub async fn verify_phone_number(&self, user_id: &str, code: &str) -> AppResult<PhoneStatus> {
        let now = self.clock.now();
        let wrong = |m: &str| AppError::bad_input("code", m);
        let write = self.db.begin_write().await?;
        let txn = &write.txn;
        let Some(waiting) = pending::Entity::find_by_id(user_id).one(txn).await? else {
            return Err(wrong("no code was sent: set a phone number first"));
        };
        if waiting.expires_at <= now {
            return Err(wrong(
                "the code expired: set the number again for a new one",
            ));
        }
        if waiting.attempts >= MAX_WRONG {
            return Err(wrong(
                "too many wrong codes: set the number again for a new one",
            ));
        }
        let code = code.trim();
        let given = self.code_hash(user_id, &waiting.phone_number, code);
        let right =
            code.len() == 6 && bool::from(given.as_bytes().ct_eq(waiting.code_hash.as_bytes()));
        if !right {
            pending::Entity::update_many()
                .col_expr(
                    pending::Column::Attempts,
                    Expr::col(pending::Column::Attempts).add(1),
                )
                .filter(pending::Column::UserId.eq(user_id))
                .exec(txn)
                .await?;
            write.commit().await?;
            let left = MAX_WRONG - waiting.attempts - 1;
            return Err(wrong(&format!("wrong code ({left} tries left)")));
        }
        user::Entity::update_many()
            .col_expr(
                user::Column::PhoneNumber,
                Expr::value(waiting.phone_number.clone()),
            )
            .col_expr(user::Column::PhoneVerifiedAt, Expr::value(now))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .exec(txn)
            .await?;
        pending::Entity::delete_by_id(user_id).exec(txn).await?;
        write.commit().await?;
        self.phone_status(user_id).await
    }

    fn code_hash(&self, user_id: &str, number: &str, code: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.code_key.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"phone-code\0");
        mac.update(user_id.as_bytes());
        mac.update(b"\0");
        mac.update(number.as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

async fn clear(
    conn: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    user::Entity::update_many()
        .col_expr(
            user::Column::PhoneNumber,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            user::Column::PhoneVerifiedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}
