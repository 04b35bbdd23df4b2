//! What the calendar tests compare: a mentor's busy blocks from one provider, and instants
//! written as RFC 3339 in UTC.

use mentor_scheduler::domain::calendar::CalendarProvider;
use mentor_scheduler::entity::busy_block;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

/// `mentor`'s busy blocks read from `source` (a provider's slug), as (start, end) in UTC, in order.
pub async fn blocks(app: &super::TestApp, mentor: &str, source: &str) -> Vec<(String, String)> {
    busy_block::Entity::find()
        .filter(busy_block::Column::MentorId.eq(mentor))
        .filter(busy_block::Column::Source.eq(source))
        .order_by_asc(busy_block::Column::StartAt)
        .all(app.services.db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.start_at.to_rfc3339(), b.end_at.to_rfc3339()))
        .collect()
}

/// Runs a whole sync of `mentor`'s `provider` connection now, as its job would.
pub async fn sync(app: &super::TestApp, mentor: &str, provider: CalendarProvider) {
    app.services
        .calendar
        .sync(mentor, provider, None, None)
        .await
        .unwrap();
}

/// An instant as the blocks above write it.
pub fn utc(s: &str) -> String {
    s.parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .to_rfc3339()
}

/// A block from `start` to `end`, as [`blocks`] lists them.
pub fn span(start: &str, end: &str) -> (String, String) {
    (utc(start), utc(end))
}

/// A GraphQL `DateTime` as [`utc`] writes it.
pub fn utc_of(value: &Value) -> String {
    utc(value.as_str().unwrap())
}
