//! Live streams for subscriptions: new notifications (replaying what a client missed first) and the
//! unread count.
//!
//! Both subscribe to the user's topic before they read anything, so nothing committed after the
//! first read can slip past: it either shows up in the read or rings afterwards. Every read takes a
//! turn on the database's live connections ([`Db::live_turn`](crate::db::Db::live_turn)).

use std::sync::Arc;

use futures::{FutureExt, Stream, StreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::deliver::UserRing;
use super::read::unread_count;
use super::{Notification, NotificationService};
use crate::entity::{notification, notification_counter};
use crate::error::AppResult;
use crate::pubsub::{topic, Ring};

/// Catch-up reads come in pages of this many.
const CATCH_UP_PAGE: u64 = 500;

impl NotificationService {
    /// The user's notifications after `after` (a `seq`; `None` = from now on), oldest first, then
    /// each new one as it is committed: no gap, no duplicate.
    ///
    /// Without `after`, "now" is read before listening starts, so a notification committed while
    /// the subscription is being set up is replayed rather than lost.
    pub async fn received(
        self: &Arc<Self>,
        user_id: String,
        after: Option<i64>,
    ) -> AppResult<impl Stream<Item = AppResult<Notification>> + Send + 'static> {
        let mut last = match after {
            Some(seq) => seq,
            None => self.last_seq(&user_id).await?,
        };
        let mut rings = self.bus.subscribe(&topic::user(&user_id));
        let this = self.clone();
        Ok(async_stream::try_stream! {
            let mut behind = true;
            loop {
                if behind {
                    loop {
                        // Boxed reads keep the query futures out of each idle stream's state.
                        let page = Box::pin(this.after_seq(&user_id, last)).await?;
                        let full = page.len() as u64 == CATCH_UP_PAGE;
                        for n in page {
                            last = n.seq;
                            yield n;
                        }
                        if !full {
                            break;
                        }
                    }
                    behind = false;
                }
                let Some(ring) = rings.next().await else { break };
                match ring {
                    Ring::Message(value) => match serde_json::from_value::<UserRing>(value) {
                        Ok(UserRing::New { notification }) if notification.seq == last + 1 => {
                            last = notification.seq;
                            yield *notification;
                        }
                        Ok(UserRing::New { notification }) if notification.seq <= last => {}
                        Ok(UserRing::Read) => {}
                        // Ahead of what we have (a ring was lost) or unreadable: read the database.
                        Ok(UserRing::New { .. }) | Err(_) => behind = true,
                    },
                    Ring::Lagged => behind = true,
                }
            }
        })
    }

    /// The unread count now, then again whenever it changes.
    pub fn unread_counts(
        self: &Arc<Self>,
        user_id: String,
    ) -> impl Stream<Item = AppResult<i64>> + Send + 'static {
        let mut rings = self.bus.subscribe(&topic::user(&user_id));
        let this = self.clone();
        async_stream::try_stream! {
            let mut last = Box::pin(this.live_unread_count(&user_id)).await?;
            yield last;
            while rings.next().await.is_some() {
                // Several rings already waiting need one count, not one each.
                while let Some(Some(_)) = rings.next().now_or_never() {}
                let count = Box::pin(this.live_unread_count(&user_id)).await?;
                if count != last {
                    last = count;
                    yield count;
                }
            }
        }
    }

    async fn live_unread_count(&self, user_id: &str) -> AppResult<i64> {
        let _turn = self.db.live_turn().await;
        unread_count(self.db.conn(), user_id).await
    }

    async fn last_seq(&self, user_id: &str) -> AppResult<i64> {
        let _turn = self.db.live_turn().await;
        Ok(notification_counter::Entity::find_by_id(user_id)
            .one(self.db.conn())
            .await?
            .map_or(0, |c| c.last_seq))
    }

    async fn after_seq(&self, user_id: &str, seq: i64) -> AppResult<Vec<Notification>> {
        let _turn = self.db.live_turn().await;
        notification::Entity::find()
            .filter(notification::Column::UserId.eq(user_id))
            .filter(notification::Column::Seq.gt(seq))
            .order_by_asc(notification::Column::Seq)
            .limit(CATCH_UP_PAGE)
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(Notification::try_from)
            .collect()
    }
}
