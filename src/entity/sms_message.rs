//! `sms_messages`: the text outbox, one row per text: whom it went to, what it said and cost in
//! segments, and what the provider reported of it.

use sea_orm::entity::prelude::*;

use crate::domain::sms::SmsStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// E.164, as it was when the text was written.
    pub to_number: String,
    /// A `NotificationKind`, or `PHONE_VERIFICATION` / `HELP` for the service's own texts.
    pub kind: String,
    pub body: String,
    pub segments: i32,
    /// `GSM7` or `UCS2`.
    pub encoding: String,
    pub status: SmsStatus,
    /// The in-app notification this text accompanies, if any.
    pub notification_id: Option<String>,
    pub dedupe_key: Option<String>,
    /// Twilio's `SM…` sid once taken.
    pub provider_sid: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: i32,
    /// Not before (quiet hours in the recipient's zone).
    pub send_after: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    /// Written ahead of its time for this session: sent only if, when due, the session is still
    /// scheduled at `guard_sequence` (a reminder of a session cancelled or moved since is not).
    pub guard_session_id: Option<String>,
    pub guard_sequence: Option<i32>,
    /// The earliest start of a session the text is about, if any: within the hour before it, quiet
    /// hours do not hold the text.
    pub session_start_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
