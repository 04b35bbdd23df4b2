//! Availability and slots: queries, the drag-and-drop mutations, and live changes.

use async_graphql::{Context, InputObject, Object, Subscription, ID};
use chrono::Weekday as ChronoWeekday;
use futures::stream::{Stream, StreamExt};

use super::context::{principal, services};
use super::cost;
use super::errors::gql;
use super::scalars::{Date, DateTime, LocalTime, TimeZone};
use super::types::{Availability, AvailabilityTemplate, Slot, Weekday};
use crate::domain::weekly::TimeRange as DomainTimeRange;
use crate::error::AppResult;
use crate::pubsub::topic;
use crate::service::availability::WeeklyScheduleInput as ScheduleCommand;

/// The whole weekly pattern and, optionally, the booking rules.
#[derive(InputObject)]
pub struct WeeklyScheduleInput {
    pub time_zone: TimeZone,
    pub blocks: Vec<AvailabilityBlockInput>,
    /// Minutes kept free around busy time (default 15; omitted = unchanged).
    pub buffer_minutes: Option<i32>,
    /// Earliest bookable start, in minutes from now (default 120; omitted = unchanged).
    pub minimum_notice_minutes: Option<i32>,
    /// Days ahead that slots are offered (default 28; omitted = unchanged).
    pub horizon_days: Option<i32>,
}

/// One weekly block in the mentor's zone.
#[derive(InputObject)]
pub struct AvailabilityBlockInput {
    pub weekday: Weekday,
    pub start: LocalTime,
    /// Exclusive, after `start`; `24:00` is the end of the day.
    pub end: LocalTime,
}

/// A wall-clock range within one day.
#[derive(InputObject)]
pub struct TimeRangeInput {
    pub start: LocalTime,
    pub end: LocalTime,
}

impl AvailabilityBlockInput {
    fn to_domain(&self, field: &str) -> AppResult<(ChronoWeekday, DomainTimeRange)> {
        Ok((
            self.weekday.into(),
            DomainTimeRange::new(self.start.0, self.end.0, field)?,
        ))
    }
}

impl TimeRangeInput {
    fn to_domain(&self, field: &str) -> AppResult<DomainTimeRange> {
        Ok(DomainTimeRange::new(self.start.0, self.end.0, field)?)
    }
}

#[derive(Default)]
pub struct AvailabilityQuery;

#[Object]
impl AvailabilityQuery {
    /// A mentor's weekly pattern, upcoming overrides and booking rules.
    async fn availability(
        &self,
        ctx: &Context<'_>,
        mentor_id: ID,
    ) -> async_graphql::Result<Availability> {
        principal(ctx)?;
        services(ctx)
            .availability
            .get(&mentor_id)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Every bookable start of `durationMinutes` in `[from, to)` (at most 90 days), after the mentor's
    /// minimum notice, within the horizon, clear of busy time plus buffer. Shown in `timeZone`
    /// (default: yours). Costs the most slots the window can hold (one per grid step).
    #[graphql(complexity = "cost::slots(&from, &to, duration_minutes, child_complexity)")]
    async fn available_slots(
        &self,
        ctx: &Context<'_>,
        mentor_id: ID,
        from: DateTime,
        to: DateTime,
        #[graphql(default = 60)] duration_minutes: Option<i32>,
        time_zone: Option<TimeZone>,
    ) -> async_graphql::Result<Vec<Slot>> {
        let viewer = principal(ctx)?;
        let zone = time_zone.map(|z| z.0).unwrap_or(viewer.time_zone);
        let found = services(ctx)
            .slots
            .available(
                &mentor_id,
                from.utc(),
                to.utc(),
                duration_minutes.unwrap_or(60),
            )
            .await
            .map_err(gql)?;
        Ok(found
            .slots
            .into_iter()
            .map(|s| Slot::new(s, zone))
            .collect())
    }

    /// Your saved availability templates (mentors only), by name.
    #[graphql(complexity = "cost::templates(child_complexity)")]
    async fn availability_templates(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AvailabilityTemplate>> {
        let p = principal(ctx)?;
        let found = services(ctx).availability.templates(p).await.map_err(gql)?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct AvailabilityMutation;

/// Mentors edit their own schedule; every mutation returns the whole updated availability.
#[Object]
impl AvailabilityMutation {
    /// Replaces every weekly block at once and sets the zone and (optionally) the rules.
    async fn set_weekly_schedule(
        &self,
        ctx: &Context<'_>,
        input: WeeklyScheduleInput,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        let blocks = input
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| b.to_domain(&format!("input.blocks[{i}]")))
            .collect::<AppResult<Vec<_>>>()
            .map_err(gql)?;
        let command = ScheduleCommand {
            zone: input.time_zone.0,
            blocks,
            buffer_minutes: input.buffer_minutes,
            minimum_notice_minutes: input.minimum_notice_minutes,
            horizon_days: input.horizon_days,
        };
        services(ctx)
            .availability
            .set_weekly_schedule(p, command)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Adds one block (drag to create); it merges with blocks it overlaps or touches.
    async fn add_availability_block(
        &self,
        ctx: &Context<'_>,
        input: AvailabilityBlockInput,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        let (day, range) = input.to_domain("input").map_err(gql)?;
        services(ctx)
            .availability
            .add_block(p, day, range)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Moves or resizes a block; it keeps its id and merges with blocks it now overlaps or touches.
    async fn update_availability_block(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AvailabilityBlockInput,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        let (day, range) = input.to_domain("input").map_err(gql)?;
        services(ctx)
            .availability
            .update_block(p, &id, day, range)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    async fn delete_availability_block(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        services(ctx)
            .availability
            .delete_block(p, &id)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Copies one day's blocks onto other days, replacing what they had.
    async fn copy_availability_day(
        &self,
        ctx: &Context<'_>,
        from: Weekday,
        to: Vec<Weekday>,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        let to: Vec<ChronoWeekday> = to.into_iter().map(Into::into).collect();
        services(ctx)
            .availability
            .copy_day(p, from.into(), &to)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Other hours on one date in your zone; `blocks: []` makes the day unavailable.
    async fn set_date_override(
        &self,
        ctx: &Context<'_>,
        date: Date,
        blocks: Vec<TimeRangeInput>,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        let ranges = blocks
            .iter()
            .enumerate()
            .map(|(i, r)| r.to_domain(&format!("blocks[{i}]")))
            .collect::<AppResult<Vec<_>>>()
            .map_err(gql)?;
        services(ctx)
            .availability
            .set_override(p, date.0, ranges)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Returns a date to the weekly pattern.
    async fn clear_date_override(
        &self,
        ctx: &Context<'_>,
        date: Date,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        services(ctx)
            .availability
            .clear_override(p, date.0)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Saves the current weekly blocks as a template (a template with the same name is replaced).
    async fn save_availability_template(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<AvailabilityTemplate> {
        let p = principal(ctx)?;
        services(ctx)
            .availability
            .save_template(p, &name)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Replaces the weekly blocks with a saved template's.
    async fn apply_availability_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Availability> {
        let p = principal(ctx)?;
        services(ctx)
            .availability
            .apply_template(p, &id)
            .await
            .map(Into::into)
            .map_err(gql)
    }

    /// Deletes one of your templates; returns true.
    async fn delete_availability_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<bool> {
        let p = principal(ctx)?;
        services(ctx)
            .availability
            .delete_template(p, &id)
            .await
            .map_err(gql)?;
        Ok(true)
    }
}

#[derive(Default)]
pub struct AvailabilitySubscription;

#[Subscription]
impl AvailabilitySubscription {
    /// The mentor's availability after every change to it (blocks, overrides, rules).
    async fn availability_changed(
        &self,
        ctx: &Context<'_>,
        mentor_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Availability>>> {
        principal(ctx)?;
        let services = services(ctx).clone();
        {
            // Subscriptions read on the database's live connections only.
            let _turn = services.db.live_turn().await;
            services.users.mentor(&mentor_id).await.map_err(gql)?;
        }
        let changes = services.bus.subscribe(&topic::availability(&mentor_id));
        Ok(changes.then(move |_| {
            let services = services.clone();
            let mentor_id = mentor_id.clone();
            async move {
                let _turn = services.db.live_turn().await;
                services
                    .availability
                    .get(&mentor_id)
                    .await
                    .map(Into::into)
                    .map_err(gql)
            }
        }))
    }
}
