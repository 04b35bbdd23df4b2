//! Users' notification preferences as stored: only their choices (defaults are the domain's).

use std::collections::HashSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::notification::{preference, Channel};
use crate::entity::notification_preference as pref;
use crate::error::AppResult;

/// (user, kind) pairs among `users` whose `channel` the user switched off.
pub async fn muted<'a>(
    conn: &impl ConnectionTrait,
    users: impl IntoIterator<Item = &'a str>,
    channel: Channel,
) -> AppResult<HashSet<(String, &'static str)>> {
    chosen(conn, users, channel, false).await
}

/// (user, kind) pairs among `users` whose `channel` the user switched on (what an off-by-default
/// channel, SMS, needs).
pub async fn opted_in<'a>(
    conn: &impl ConnectionTrait,
    users: impl IntoIterator<Item = &'a str>,
    channel: Channel,
) -> AppResult<HashSet<(String, &'static str)>> {
    chosen(conn, users, channel, true).await
}

/// (user, kind) pairs among `users` whose `channel` is `enabled` by their stored choice (a locked
/// kind stays on whatever is stored).
async fn chosen<'a>(
    conn: &impl ConnectionTrait,
    users: impl IntoIterator<Item = &'a str>,
    channel: Channel,
    enabled: bool,
) -> AppResult<HashSet<(String, &'static str)>> {
    let users: HashSet<&str> = users.into_iter().collect();
    if users.is_empty() {
        return Ok(HashSet::new());
    }
    let stored = pref::Entity::find()
        .filter(pref::Column::UserId.is_in(users))
        .filter(pref::Column::Channel.eq(channel.as_str()))
        .filter(pref::Column::Enabled.eq(enabled))
        .all(conn)
        .await?;
    Ok(stored
        .into_iter()
        .filter_map(|row| {
            let kind = row.kind.parse().ok()?;
            let p = preference(kind, channel, Some(row.enabled));
            (p.enabled == enabled).then(|| (row.user_id, kind.as_str()))
        })
        .collect())
}
