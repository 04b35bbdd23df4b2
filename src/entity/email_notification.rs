//! `email_notifications`: one email to one address, from its rendering to what the provider said.

use sea_orm::entity::prelude::*;

use crate::domain::email::EmailStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub to_address: String,
    /// The notification kind it belongs to (preferences are per kind).
    pub kind: String,
    /// The directory under `templates/email/`.
    pub template: String,
    /// JSON: what the template was rendered with.
    pub variables: String,
    /// See `domain::email::EmailStatus`.
    pub status: EmailStatus,
    /// The `Message-ID` header, stable across retries.
    pub message_id: String,
    pub subject: String,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    /// The iCalendar invite sent with it, if any, and its `METHOD`.
    pub ics_file: Option<String>,
    pub ics_method: Option<String>,
    pub error_message: Option<String>,
    /// Failed tries so far.
    pub retry_count: i32,
    /// Not before this instant (a digest waits for its window to close).
    pub scheduled_for: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub opened_at: Option<DateTimeUtc>,
    pub clicked_at: Option<DateTimeUtc>,
    pub bounced_at: Option<DateTimeUtc>,
    pub complained_at: Option<DateTimeUtc>,
    pub dedupe_key: Option<String>,
    /// The digest this item went out in (status `BATCHED`).
    pub digest_id: Option<String>,
    /// The invoice whose PDF goes with it (a receipt).
    pub invoice_id: Option<String>,
    /// Written ahead of its time for this session: sent only if, when due, the session is still
    /// scheduled at `guard_sequence` (a reminder of a session cancelled or moved since is not).
    pub guard_session_id: Option<String>,
    pub guard_sequence: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
