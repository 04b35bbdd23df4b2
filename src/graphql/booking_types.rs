//! GraphQL types of bookings and sessions. Nested users, bookings and sessions come from loaders;
//! instants are shown with the offset of the caller's zone.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, OutputType, SimpleObject, ID};

use crate::domain::meeting;
use chrono::{DateTime as ChronoDateTime, Utc};

use super::context::{principal, services};
use super::cost;
use super::errors::gql;
use super::loaders::{loader_error, loaders};
use super::payments::PaymentStatus;
use super::scalars::{DateTime, TimeZone};
use super::types::User;
use crate::domain::booking as domain;
use crate::domain::slots::in_zone;
use crate::error::AppError;
use crate::service::bookings as svc;

domain::frequencies!(mirror_enum
    /// How many sessions a week.
    Frequency = domain::
);
domain::booking_kinds!(mirror_enum
    /// A regular (paid, recurring) booking or a single free trial session.
    BookingType = domain::
);
domain::booking_statuses!(mirror_enum BookingStatus = domain::);
domain::session_statuses!(mirror_enum SessionStatus = domain::);

/// An instant with the offset the caller's zone has then.
fn shown(ctx: &Context<'_>, at: ChronoDateTime<Utc>) -> async_graphql::Result<DateTime> {
    Ok(DateTime(in_zone(at, principal(ctx)?.time_zone)))
}

async fn user(ctx: &Context<'_>, id: &str) -> async_graphql::Result<User> {
    loaders(ctx)
        .users
        .load_one(id.to_string())
        .await
        .map_err(loader_error)?
        .map(User)
        .ok_or_else(|| async_graphql::Error::new(format!("user {id} is missing")))
}

pub struct Booking(pub svc::Booking);

#[Object]
impl Booking {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn mentor(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        user(ctx, &self.0.mentor_id).await
    }
    async fn student(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        user(ctx, &self.0.student_id).await
    }
    #[graphql(name = "type")]
    async fn kind(&self) -> BookingType {
        self.0.kind.into()
    }
    async fn frequency(&self) -> Frequency {
        self.0.frequency.into()
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn goals(&self) -> &[String] {
        &self.0.goals
    }
    async fn status(&self) -> BookingStatus {
        self.0.status.into()
    }
    async fn payment_status(&self) -> PaymentStatus {
        self.0.payment_status.into()
    }
    /// The weekly charge; null for trials and while payments are off.
    async fn payment(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::payments::Payment>> {
        let p = principal(ctx)?;
        Ok(loaders(ctx)
            .payment_of_booking
            .load_one(self.0.id.clone())
            .await
            .map_err(loader_error)?
            .map(|view| super::payments::Payment(view.for_viewer(p, &self.0))))
    }
    /// One `DTSTART;TZID=...` + `RRULE:FREQ=WEEKLY` pair per weekly slot (RFC 5545 text).
    async fn recurrence_rule(&self) -> Option<&str> {
        self.0.recurrence_rule.as_deref()
    }
    /// The zone whose wall-clock time the weekly slots keep across DST changes.
    async fn time_zone(&self) -> TimeZone {
        TimeZone(self.0.time_zone)
    }
    async fn duration_minutes(&self) -> i32 {
        self.0.duration_minutes
    }
    /// Weeks booked; null for an ongoing booking (kept four weeks ahead).
    async fn weeks(&self) -> Option<i32> {
        self.0.weeks
    }
    /// The start of the first session.
    async fn start_date(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        shown(ctx, self.0.start_at)
    }
    /// The end of the last session; null for an ongoing booking.
    async fn end_date(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime>> {
        self.0.end_at.map(|at| shown(ctx, at)).transpose()
    }
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }
    /// The sessions starting in `[from, to)` (default: all), by start time, cancelled ones
    /// included; at most `first` (1 to 500, default 200: a year of thrice-weekly sessions).
    #[graphql(complexity = "cost::booking_sessions(first, child_complexity)")]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime>,
        to: Option<DateTime>,
        #[graphql(default = 200)] first: Option<i32>,
    ) -> async_graphql::Result<Vec<Session>> {
        let first = first.unwrap_or(cost::DEFAULT_BOOKING_SESSIONS);
        if !(1..=cost::MAX_BOOKING_SESSIONS).contains(&first) {
            return Err(gql(AppError::bad_input(
                "first",
                format!(
                    "must be between 1 and {} (got {first})",
                    cost::MAX_BOOKING_SESSIONS
                ),
            )));
        }
        let (from, to) = (from.map(|d| d.utc()), to.map(|d| d.utc()));
        let sessions = loaders(ctx)
            .sessions_of_booking
            .load_one(self.0.id.clone())
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(sessions
            .into_iter()
            .filter(|s| from.is_none_or(|from| s.start_at >= from))
            .filter(|s| to.is_none_or(|to| s.start_at < to))
            .take(first as usize)
            .map(Session)
            .collect())
    }
    async fn created_at(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        shown(ctx, self.0.created_at)
    }
}

pub struct Session(pub svc::Session);

meeting::meeting_providers!(mirror_enum
    /// Who hosts a session's room.
    MeetingProvider = meeting::
);
meeting::meeting_statuses!(mirror_enum
    /// `PENDING`: the calendar's provider is still making the room (the built-in one serves
    /// meanwhile); `FAILED`: it could not, and the built-in room stays.
    MeetingStatus = meeting::
);

/// A session's room. Its URL is given only through the caller's own `joinUrl`.
#[derive(SimpleObject)]
pub struct Meeting {
    pub provider: MeetingProvider,
    pub status: MeetingStatus,
}

#[Object]
impl Session {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn booking(&self, ctx: &Context<'_>) -> async_graphql::Result<Booking> {
        loaders(ctx)
            .bookings
            .load_one(self.0.booking_id.clone())
            .await
            .map_err(loader_error)?
            .map(Booking)
            .ok_or_else(|| async_graphql::Error::new("booking is missing"))
    }
    async fn start(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        shown(ctx, self.0.start_at)
    }
    async fn end(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        shown(ctx, self.0.end_at)
    }
    async fn status(&self) -> SessionStatus {
        self.0.status.into()
    }
    /// Raised on every reschedule (the calendar invite's SEQUENCE).
    async fn sequence(&self) -> i32 {
        self.0.sequence
    }
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }
    /// The session's room: who hosts it and whether it is ready (the URL only through `joinUrl`).
    async fn meeting(&self) -> Meeting {
        Meeting {
            provider: self.0.meeting_provider.into(),
            status: self.0.meeting_status.into(),
        }
    }
    /// The caller's own link to the room: it redirects from 15 minutes before the start until the
    /// end. Null for cancelled sessions and for callers who are not participants (admins).
    async fn join_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let p = principal(ctx)?;
        if self.0.status == domain::SessionStatus::Cancelled || !self.0.is_participant(&p.user_id) {
            return Ok(None);
        }
        Ok(Some(services(ctx).join_links.url(
            &self.0.id,
            &p.user_id,
            self.0.end_at,
        )))
    }
}

/// A page of a service listing as a GraphQL connection.
pub fn connection<T, N: OutputType>(
    page: svc::Page<T>,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut conn = Connection::new(false, page.has_next);
    conn.edges.extend(
        page.items
            .into_iter()
            .map(|(cursor, item)| Edge::new(cursor, node(item))),
    );
    conn
}
