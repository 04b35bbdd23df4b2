//! The notification center: the caller's notifications, unread count, preferences, live streams,
//! and `sendNotification` for the rest of the platform.

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Json, Object, SimpleObject, Subscription, ID};
use futures::{Stream, StreamExt};

use super::booking_types::connection;
use super::context::{principal, services};
use super::cost;
use super::errors::gql;
use super::loaders::{loader_error, loaders};
use super::scalars::DateTime;
use super::sms::TextMessage;
use crate::domain::notification as domain;
use crate::domain::slots::in_zone;
use crate::service::notifications::PreferenceChange;
use crate::service::notifications::{self as svc, seq_of_cursor, SendNotification};

crate::domain::notification::notification_kinds!(mirror_enum
    /// What a notification is about.
    NotificationType = domain::
);
crate::domain::notification::channels!(mirror_enum
    /// Where notifications are delivered.
    NotificationChannel = domain::
);

/// One in-app notification. Times carry the offset of the reader's zone.
pub struct Notification(pub svc::Notification, pub crate::domain::time::TimeZone);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    #[graphql(name = "type")]
    async fn kind(&self) -> NotificationType {
        self.0.kind.into()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// A dashboard path (`/bookings/...`) or, for "starting soon", the reader's join link.
    async fn link(&self) -> Option<&str> {
        self.0.link.as_deref()
    }
    /// Structured details from the producer (ids, instants), for clients that render their own.
    async fn data(&self) -> Json<serde_json::Value> {
        Json(self.0.data.clone())
    }
    async fn created_at(&self) -> DateTime {
        DateTime(in_zone(self.0.created_at, self.1))
    }
    async fn read_at(&self) -> Option<DateTime> {
        self.0.read_at.map(|at| DateTime(in_zone(at, self.1)))
    }
    /// This notification's place: pass it as `after` to `notifications` or `notificationReceived`.
    async fn cursor(&self) -> String {
        self.0.cursor()
    }
    /// The text that went with it, for readers who switched SMS on for its type.
    async fn sms(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TextMessage>> {
        let text = loaders(ctx)
            .text_of_notification
            .load_one(self.0.id.clone())
            .await
            .map_err(loader_error)?;
        Ok(text.map(|t| TextMessage(t, self.1)))
    }
}

#[derive(SimpleObject)]
pub struct NotificationPreference {
    /// Stable for the user, type and channel (`{userId}:{TYPE}:{CHANNEL}`): a cache key for Apollo.
    pub id: ID,
    #[graphql(name = "type")]
    pub kind: NotificationType,
    pub channel: NotificationChannel,
    pub enabled: bool,
    /// This pair cannot be switched off.
    pub locked: bool,
    /// Anything of this type is sent on this channel at all: texts (`SMS`) carry only session
    /// reminders, cancellations, moves and payment trouble (`SUBSCRIPTION_UPDATE`). Switching on a
    /// pair not offered is `BAD_USER_INPUT`.
    pub offered: bool,
}

impl NotificationPreference {
    fn of(user_id: &str, p: domain::Preference) -> Self {
        NotificationPreference {
            id: ID(format!(
                "{user_id}:{}:{}",
                p.kind.as_str(),
                p.channel.as_str()
            )),
            kind: p.kind.into(),
            channel: p.channel.into(),
            enabled: p.enabled,
            locked: p.locked,
            offered: p.offered,
        }
    }
}

#[derive(InputObject)]
pub struct NotificationPreferenceInput {
    #[graphql(name = "type")]
    pub kind: NotificationType,
    pub channel: NotificationChannel,
    pub enabled: bool,
}

/// A notification from another part of the platform, for up to 1000 users.
#[derive(InputObject)]
pub struct SendNotificationInput {
    pub user_ids: Vec<ID>,
    #[graphql(name = "type")]
    pub kind: NotificationType,
    /// 1 to 200 characters.
    pub title: String,
    /// Up to 4000 characters.
    pub body: String,
    /// A dashboard path starting with `/`, or an http(s) URL.
    pub link: Option<String>,
    /// A JSON object of up to 8 KiB.
    pub data: Option<Json<serde_json::Value>>,
    /// Sending again with the same key adds nothing for users who already have it.
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct SendNotificationResult {
    /// Notifications written.
    pub delivered: i32,
    /// Users skipped: switched this type off in the app, or already sent under the key.
    pub skipped: i32,
}

fn reader_zone(ctx: &Context<'_>) -> async_graphql::Result<crate::domain::time::TimeZone> {
    Ok(principal(ctx)?.time_zone)
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The caller's notifications, newest first.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        #[graphql(default_with = "Some(false)")] unread_only: Option<bool>,
    ) -> async_graphql::Result<Connection<String, Notification>> {
        let p = principal(ctx)?;
        let page = services(ctx)
            .notifications
            .list(
                p,
                first.unwrap_or(20),
                after.as_deref(),
                unread_only.unwrap_or(false),
            )
            .await
            .map_err(gql)?;
        let zone = p.time_zone;
        Ok(connection(page, |n| Notification(n, zone)))
    }

    async fn unread_notification_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let p = principal(ctx)?;
        let count = services(ctx)
            .notifications
            .unread_count(&p.user_id)
            .await
            .map_err(gql)?;
        Ok(count.try_into().unwrap_or(i32::MAX))
    }

    /// Every type and channel, with the caller's choice or the default.
    #[graphql(complexity = "cost::preferences(child_complexity)")]
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<NotificationPreference>> {
        let p = principal(ctx)?;
        let prefs = services(ctx)
            .notifications
            .preferences(&p.user_id)
            .await
            .map_err(gql)?;
        Ok(prefs
            .into_iter()
            .map(|pref| NotificationPreference::of(&p.user_id, pref))
            .collect())
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks one of the caller's notifications read (again: no change).
    async fn mark_notification_read(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Notification> {
        let p = principal(ctx)?;
        let n = services(ctx)
            .notifications
            .mark_read(p, &id)
            .await
            .map_err(gql)?;
        Ok(Notification(n, reader_zone(ctx)?))
    }

    /// Marks all the caller's notifications read; returns how many were unread.
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let p = principal(ctx)?;
        let changed = services(ctx)
            .notifications
            .mark_all_read(p)
            .await
            .map_err(gql)?;
        Ok(changed.try_into().unwrap_or(i32::MAX))
    }

    /// Changes some preferences, all or none; returns them all.
    #[graphql(complexity = "cost::preferences(child_complexity)")]
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: Vec<NotificationPreferenceInput>,
    ) -> async_graphql::Result<Vec<NotificationPreference>> {
        let p = principal(ctx)?;
        let changes: Vec<PreferenceChange> = input
            .into_iter()
            .map(|i| PreferenceChange {
                kind: i.kind.into(),
                channel: i.channel.into(),
                enabled: i.enabled,
            })
            .collect();
        let prefs = services(ctx)
            .notifications
            .update_preferences(&p.user_id, &changes)
            .await
            .map_err(gql)?;
        Ok(prefs
            .into_iter()
            .map(|pref| NotificationPreference::of(&p.user_id, pref))
            .collect())
    }

    /// Admins and platform services: notify users (respecting their preferences).
    async fn send_notification(
        &self,
        ctx: &Context<'_>,
        input: SendNotificationInput,
    ) -> async_graphql::Result<SendNotificationResult> {
        let p = principal(ctx)?;
        let sent = services(ctx)
            .notifications
            .send(
                p,
                SendNotification {
                    user_ids: input.user_ids.into_iter().map(|id| id.0).collect(),
                    kind: input.kind.into(),
                    title: input.title,
                    body: input.body,
                    link: input.link,
                    data: input.data.map(|j| j.0),
                    idempotency_key: input.idempotency_key,
                },
            )
            .await
            .map_err(gql)?;
        Ok(SendNotificationResult {
            delivered: sent.delivered as i32,
            skipped: sent.skipped as i32,
        })
    }
}

#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// The caller's new notifications. With `after` (a notification's cursor), first everything
    /// created after it, oldest first, then live ones: no gap, no duplicate.
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Notification>>> {
        let p = principal(ctx)?;
        let after = after
            .as_deref()
            .map(|c| seq_of_cursor(c, "after"))
            .transpose()
            .map_err(gql)?;
        let zone = p.time_zone;
        let stream = services(ctx)
            .notifications
            .received(p.user_id.clone(), after)
            .await
            .map_err(gql)?;
        Ok(stream.map(move |n| n.map(|n| Notification(n, zone)).map_err(gql)))
    }

    /// The caller's unread count now, then after every change (new, read, all read).
    async fn unread_notification_count(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<i32>>> {
        let p = principal(ctx)?;
        let stream = services(ctx).notifications.unread_counts(p.user_id.clone());
        Ok(stream.map(|c| c.map(|c| c.try_into().unwrap_or(i32::MAX)).map_err(gql)))
    }
}
