//! Which kinds of notification a user gets on which channel.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::NotificationService;
use crate::domain::notification::{
    check_change, preference, Channel, NotificationKind, Preference,
};
use crate::entity::notification_preference::{self as pref, Column};
use crate::error::{AppError, AppResult};

/// One requested change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferenceChange {
    pub kind: NotificationKind,
    pub channel: Channel,
    pub enabled: bool,
}

/// More changes than there are (kind, channel) pairs is a client bug.
const MAX_CHANGES: usize = NotificationKind::ALL.len() * Channel::ALL.len();

impl NotificationService {
    /// Every (kind, channel) pair, in the API's order, with the user's choice or the default.
    pub async fn preferences(&self, user_id: &str) -> AppResult<Vec<Preference>> {
        // Rows naming a kind or channel this build does not know are ignored.
        let stored: HashMap<(NotificationKind, Channel), bool> = pref::Entity::find()
            .filter(Column::UserId.eq(user_id))
            .all(self.db.conn())
            .await?
            .into_iter()
            .filter_map(|r| Some(((r.kind.parse().ok()?, r.channel.parse().ok()?), r.enabled)))
            .collect();
        Ok(NotificationKind::ALL
            .iter()
            .flat_map(|&kind| Channel::ALL.iter().map(move |&channel| (kind, channel)))
            .map(|(kind, channel)| preference(kind, channel, stored.get(&(kind, channel)).copied()))
            .collect())
    }

    /// Applies every change or none: switching off a locked pair, switching on one never sent
    /// ([`is_offered`](crate::domain::notification::is_offered)), or naming a pair twice, is
    /// `BAD_USER_INPUT` naming the entry.
    pub async fn update_preferences(
        &self,
        user_id: &str,
        changes: &[PreferenceChange],
    ) -> AppResult<Vec<Preference>> {
        if changes.len() > MAX_CHANGES {
            return Err(AppError::bad_input(
                "input",
                format!(
                    "at most {MAX_CHANGES} changes at once (got {})",
                    changes.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, c) in changes.iter().enumerate() {
            check_change(c.kind, c.channel, c.enabled)
                .map_err(|e| AppError::bad_input(format!("input[{i}]"), e.to_string()))?;
            if !seen.insert((c.kind, c.channel)) {
                return Err(AppError::bad_input(
                    format!("input[{i}]"),
                    format!(
                        "{} by {} is listed twice",
                        c.kind.as_str(),
                        c.channel.as_str()
                    ),
                ));
            }
        }
        if !changes.is_empty() {
            let now = self.clock.now();
            let rows = changes.iter().map(|c| pref::ActiveModel {
                user_id: sea_orm::Set(user_id.to_string()),
                kind: sea_orm::Set(c.kind.as_str().into()),
                channel: sea_orm::Set(c.channel.as_str().into()),
                enabled: sea_orm::Set(c.enabled),
                updated_at: sea_orm::Set(now),
            });
            pref::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([Column::UserId, Column::Kind, Column::Channel])
                        .update_columns([Column::Enabled, Column::UpdatedAt])
                        .to_owned(),
                )
                .exec_without_returning(self.db.conn())
                .await?;
        }
        self.preferences(user_id).await
    }
}
