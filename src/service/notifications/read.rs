//! The owner's view: a page of notifications, the unread count, and marking them read.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{seq_of_cursor, Bells, Notification, NotificationService};
use crate::auth::Principal;
use crate::entity::notification::{self, Column};
use crate::error::{AppError, AppResult};
use crate::service::page::{page_size, Page};

impl NotificationService {
    /// The caller's notifications, newest first.
    pub async fn list(
        &self,
        p: &Principal,
        first: i32,
        after: Option<&str>,
        unread_only: bool,
    ) -> AppResult<Page<Notification>> {
        let size = page_size(first)?;
        let mut query = notification::Entity::find().filter(Column::UserId.eq(p.user_id.as_str()));
        if let Some(after) = after {
            query = query.filter(Column::Seq.lt(seq_of_cursor(after, "after")?));
        }
        if unread_only {
            query = query.filter(Column::ReadAt.is_null());
        }
        let rows = query
            .order_by_desc(Column::Seq)
            .limit(size + 1)
            .all(self.db.conn())
            .await?;
        let has_next = rows.len() as u64 > size;
        let items = rows
            .into_iter()
            .take(size as usize)
            .map(|m| Notification::try_from(m).map(|n| (n.cursor(), n)))
            .collect::<AppResult<_>>()?;
        Ok(Page { items, has_next })
    }

    pub async fn unread_count(&self, user_id: &str) -> AppResult<i64> {
        unread_count(self.db.conn(), user_id).await
    }

    /// Marks one of the caller's notifications read; marking it again keeps the first time.
    pub async fn mark_read(&self, p: &Principal, id: &str) -> AppResult<Notification> {
        let mut row = self.find(p, id).await?;
        if row.read_at.is_none() {
            let now = self.clock.now();
            if self.mark_unread(&p.user_id, Some(id), now).await? > 0 {
                row.read_at = Some(now);
            } else {
                // Another request marked it in the meantime: show its time.
                row = self.find(p, id).await?;
            }
        }
        row.try_into()
    }

    /// Marks every unread notification of the caller read; returns how many changed.
    pub async fn mark_all_read(&self, p: &Principal) -> AppResult<u64> {
        self.mark_unread(&p.user_id, None, self.clock.now()).await
    }

    /// The caller's notification `id`; someone else's answers as an unknown id does.
    async fn find(&self, p: &Principal, id: &str) -> AppResult<notification::Model> {
        notification::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?
            .filter(|row| row.user_id == p.user_id)
            .ok_or_else(|| AppError::NotFound("there is no such notification".into()))
    }

    /// Sets `read_at` on the user's unread notifications (only `id`, when given) and rings their
    /// counts when anything changed.
    async fn mark_unread(
        &self,
        user_id: &str,
        id: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AppResult<u64> {
        let mut update = notification::Entity::update_many()
            .col_expr(Column::ReadAt, Expr::value(now))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::ReadAt.is_null());
        if let Some(id) = id {
            update = update.filter(Column::Id.eq(id));
        }
        let changed = update.exec(self.db.conn()).await?.rows_affected;
        if changed > 0 {
            Bells::read(user_id).ring(self.bus.as_ref()).await;
        }
        Ok(changed)
    }
}

pub(super) async fn unread_count(conn: &impl ConnectionTrait, user_id: &str) -> AppResult<i64> {
    Ok(notification::Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ReadAt.is_null())
        .count(conn)
        .await? as i64)
}
