//! Texts: the caller's phone number and its verification, and the texts sent to them (also on
//! each notification a text went with).

use async_graphql::{Context, Object, SimpleObject, ID};

use super::context::{principal, services};
use super::errors::gql;
use super::scalars::DateTime;
use crate::domain::slots::in_zone;
use crate::domain::sms as domain;
use crate::domain::time::TimeZone;
use crate::entity::sms_message::Model as Row;
use crate::service::sms::PhoneStatus;

crate::domain::sms::sms_statuses!(mirror_enum
    /// Where a text is in its life: `PENDING` (waiting for its time, quiet hours in the reader's zone,
    /// or to be tried again), `SENDING` (handed to the provider, its answer awaited), `SENT` (the
    /// provider took it), `DELIVERED`, `UNDELIVERED` (`errorCode` says why), `FAILED` (refused or
    /// given up: `errorCode`, `errorMessage`), `SKIPPED` (not sent: the number opted out, or is no
    /// longer the user's verified number, or by its time the user had switched its kind off or its
    /// session was cancelled or moved; `errorMessage` says which).
    TextStatus = domain::
);

/// One text sent (or to be sent) to the caller. Times carry the offset of the reader's zone.
pub struct TextMessage(pub Row, pub TimeZone);

#[Object]
impl TextMessage {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// A notification type, or `PHONE_VERIFICATION` for a code.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// The number it went to (E.164).
    async fn to(&self) -> &str {
        &self.0.to_number
    }
    /// What it said; a verification code is shown as `******` (reading it here must not stand in
    /// for having the phone).
    async fn body(&self) -> String {
        if self.0.kind == crate::service::sms::CODE_KIND {
            self.0
                .body
                .chars()
                .map(|c| if c.is_ascii_digit() { '*' } else { c })
                .collect()
        } else {
            self.0.body.clone()
        }
    }
    /// The SMS parts it costs (GSM-7: 160 characters alone, 153 a part; UCS-2: 70 and 67).
    async fn segments(&self) -> i32 {
        self.0.segments
    }
    async fn status(&self) -> TextStatus {
        self.0.status.into()
    }
    /// The provider's error code (Twilio's, e.g. `30003`, `21610`).
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(in_zone(self.0.created_at, self.1))
    }
    /// Not before this (quiet hours).
    async fn send_after(&self) -> DateTime {
        DateTime(in_zone(self.0.send_after, self.1))
    }
    async fn sent_at(&self) -> Option<DateTime> {
        self.0.sent_at.map(|t| DateTime(in_zone(t, self.1)))
    }
    async fn delivered_at(&self) -> Option<DateTime> {
        self.0.delivered_at.map(|t| DateTime(in_zone(t, self.1)))
    }
}

/// The caller's number for texts.
#[derive(SimpleObject)]
pub struct PhoneNumberStatus {
    /// The verified number texts go to (E.164); null without one.
    pub phone_number: Option<String>,
    pub verified: bool,
    pub verified_at: Option<DateTime>,
    /// A number set and waiting for its code (sent by text).
    pub pending_phone_number: Option<String>,
    pub code_expires_at: Option<DateTime>,
}

impl PhoneNumberStatus {
    fn of(s: PhoneStatus, zone: TimeZone) -> Self {
        PhoneNumberStatus {
            verified: s.number.is_some(),
            phone_number: s.number,
            verified_at: s.verified_at.map(|t| DateTime(in_zone(t, zone))),
            pending_phone_number: s.pending,
            code_expires_at: s.code_expires_at.map(|t| DateTime(in_zone(t, zone))),
        }
    }
}

#[derive(Default)]
pub struct SmsQuery;

#[Object]
impl SmsQuery {
    /// The caller's number for texts and whether it is verified.
    async fn phone_number(&self, ctx: &Context<'_>) -> async_graphql::Result<PhoneNumberStatus> {
        let p = principal(ctx)?;
        let status = services(ctx)
            .sms
            .phone_status(&p.user_id)
            .await
            .map_err(gql)?;
        Ok(PhoneNumberStatus::of(status, p.time_zone))
    }

    /// The texts sent to the caller, newest first (`first` 1 to 100).
    async fn text_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> async_graphql::Result<Vec<TextMessage>> {
        let p = principal(ctx)?;
        if !(1..=100).contains(&first) {
            return Err(gql(crate::error::AppError::bad_input(
                "first",
                "must be 1 to 100",
            )));
        }
        let texts = services(ctx)
            .sms
            .texts_of(&p.user_id, first as u64)
            .await
            .map_err(gql)?;
        Ok(texts
            .into_iter()
            .map(|t| TextMessage(t, p.time_zone))
            .collect())
    }
}

#[derive(Default)]
pub struct SmsMutation;

#[Object]
impl SmsMutation {
    /// Sets the caller's number (international form, `+` and country code) and texts it a six-digit
    /// code, valid ten minutes; nothing else is sent to it until `verifyPhoneNumber`. Null or empty
    /// removes the number. At most five codes an hour (`RATE_LIMITED`).
    async fn update_phone_number(
        &self,
        ctx: &Context<'_>,
        phone_number: Option<String>,
    ) -> async_graphql::Result<PhoneNumberStatus> {
        let p = principal(ctx)?;
        let status = services(ctx)
            .sms
            .update_phone_number(&p.user_id, phone_number.as_deref())
            .await
            .map_err(gql)?;
        Ok(PhoneNumberStatus::of(status, p.time_zone))
    }

    /// Checks the code texted by `updatePhoneNumber`; right, the number becomes the caller's.
    /// Five wrong codes, or ten minutes, and a new code is needed.
    async fn verify_phone_number(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<PhoneNumberStatus> {
        let p = principal(ctx)?;
        let status = services(ctx)
            .sms
            .verify_phone_number(&p.user_id, &code)
            .await
            .map_err(gql)?;
        Ok(PhoneNumberStatus::of(status, p.time_zone))
    }
}
