//! What Twilio posts back, each request checked with `X-Twilio-Signature` first:
//! - status callbacks (`MessageStatus`, `ErrorCode`): a text's status moves forward only, however
//!   late or repeated the callback;
//! - inbound messages: STOP (and Twilio's other opt-out words) opts the number out of everything,
//!   START opts it back in, HELP is answered with who we are and where to get help. A number's
//!   choice is kept per number, whoever holds it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::send::transition;
use super::SmsService;
use crate::domain::sms::keywords::{keyword, Keyword};
use crate::domain::sms::phone::PhoneNumber;
use crate::domain::sms::{refusal, texts, Refusal, SmsStatus};
use crate::entity::{sms_message as row, sms_opt_out};
use crate::error::AppError;
use crate::integrations::sms::signature;

/// A request as Twilio made it: the full URL it asked for, its form, its signature header.
#[derive(Debug, Clone)]
pub struct TwilioRequest {
    pub url: String,
    pub params: Vec<(String, String)>,
    pub signature: Option<String>,
}

impl TwilioRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request from Twilio was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SmsRefusal {
    #[error("Twilio's webhooks are off: TWILIO_ACCOUNT_SID is not set")]
    Off,
    #[error("the X-Twilio-Signature header is missing or does not match")]
    Forged,
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    App(#[from] AppError),
}

/// Opts `number` out of every text (kept until START).
pub(super) async fn opt_out(
    conn: &impl ConnectionTrait,
    number: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    sms_opt_out::Entity::insert(sms_opt_out::ActiveModel {
        phone_number: Set(number.to_string()),
        opted_out_at: Set(now),
    })
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

impl SmsService {
    fn check(&self, request: &TwilioRequest) -> Result<(), SmsRefusal> {
        let token = self.twilio_token.as_ref().ok_or(SmsRefusal::Off)?;
        let given = request.signature.as_deref().unwrap_or_default();
        if !signature::verify(token.expose(), &request.url, &request.params, given) {
            tracing::warn!(url = %request.url, "a Twilio webhook with a bad signature was refused");
            return Err(SmsRefusal::Forged);
        }
        Ok(())
    }

    /// A status callback; true when it moved a text.
    pub async fn status_callback(&self, request: &TwilioRequest) -> Result<bool, SmsRefusal> {
        self.check(request)?;
        let sid = request
            .get("MessageSid")
            .ok_or_else(|| SmsRefusal::Malformed("`MessageSid` is missing".into()))?;
        let word = request
            .get("MessageStatus")
            .ok_or_else(|| SmsRefusal::Malformed("`MessageStatus` is missing".into()))?;
        let ours = url::Url::parse(&request.url).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "sms")
                .map(|(_, v)| v.into_owned())
        });
        let now = self.clock.now();
        let write = self.db.begin_write().await.map_err(AppError::from)?;
        let txn = &write.txn;
        // Our id (in the callback URL we gave) and Twilio's sid must agree.
        let found = match ours {
            Some(id) => row::Entity::find_by_id(id).one(txn).await,
            None => {
                row::Entity::find()
                    .filter(row::Column::ProviderSid.eq(sid))
                    .one(txn)
                    .await
            }
        }
        .map_err(AppError::from)?;
        let Some(text) = found.filter(|t| t.provider_sid.as_deref().is_none_or(|s| s == sid))
        else {
            tracing::info!(sid, "a status callback for no text of ours");
            return Ok(false);
        };
        let Some(status) = SmsStatus::from_twilio(word) else {
            return Ok(false);
        };
        let error_code = request.get("ErrorCode").filter(|c| !c.is_empty());
        let moved = transition(txn, &text.id, status, now).await?;
        if moved {
            row::Entity::update_many()
                .col_expr(row::Column::ProviderSid, Expr::value(sid))
                .col_expr(
                    row::Column::ErrorCode,
                    Expr::value(error_code.map(str::to_string)),
                )
                .filter(row::Column::Id.eq(text.id.as_str()))
                .exec(txn)
                .await
                .map_err(AppError::from)?;
        }
        let stopped = error_code
            .and_then(|c| c.parse::<u32>().ok())
            .and_then(refusal)
            == Some(Refusal::OptedOut);
        if stopped {
            opt_out(txn, &text.to_number, now).await?;
        }
        write.commit().await.map_err(AppError::from)?;
        Ok(moved)
    }

    /// An inbound text; the reply to send back, if any.
    pub async fn inbound(&self, request: &TwilioRequest) -> Result<Option<String>, SmsRefusal> {
        self.check(request)?;
        let from = request
            .get("From")
            .and_then(PhoneNumber::stored)
            .ok_or_else(|| SmsRefusal::Malformed("`From` is not an E.164 number".into()))?;
        // With Advanced Opt-Out, Twilio says which keyword it matched.
        let said = match request.get("OptOutType") {
            Some("STOP") => Some(Keyword::Stop),
            Some("START") => Some(Keyword::Start),
            Some("HELP") => Some(Keyword::Help),
            _ => request.get("Body").and_then(keyword),
        };
        let now = self.clock.now();
        match said {
            Some(Keyword::Stop) => {
                let write = self.db.begin_write().await.map_err(AppError::from)?;
                opt_out(&write.txn, from.as_str(), now).await?;
                write.commit().await.map_err(AppError::from)?;
                tracing::info!(number = ?from, "a number opted out of texts");
                Ok(None)
            }
            Some(Keyword::Start) => {
                let write = self.db.begin_write().await.map_err(AppError::from)?;
                sms_opt_out::Entity::delete_by_id(from.as_str())
                    .exec(&write.txn)
                    .await
                    .map_err(AppError::from)?;
                write.commit().await.map_err(AppError::from)?;
                tracing::info!(number = ?from, "a number opted back in to texts");
                Ok(None)
            }
            // With Advanced Opt-Out Twilio has answered HELP itself (`OptOutType` says so): one
            // answer is enough.
            Some(Keyword::Help) if request.get("OptOutType").is_some() => Ok(None),
            Some(Keyword::Help) => Ok(Some(texts::help(&self.outbox.brand, &self.outbox.support))),
            None => Ok(None),
        }
    }
}
