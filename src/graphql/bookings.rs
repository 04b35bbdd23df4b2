//! Bookings: create, cancel, reschedule, and the caller's bookings and sessions.

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, ID};

use super::booking_types::{connection, Booking, BookingType, Frequency, Session};
use super::context::{principal, services};
use super::cost;
use super::errors::gql;
use super::scalars::DateTime;
use crate::service::bookings::{NewBooking, SessionFilter};

/// A student's booking request.
#[derive(InputObject)]
pub struct CreateBookingInput {
    pub mentor_id: ID,
    /// Null means the default, `REGULAR`.
    #[graphql(name = "type", default_with = "Some(BookingType::Regular)")]
    pub kind: Option<BookingType>,
    pub frequency: Frequency,
    /// The first occurrence of each weekly slot (1, 2 or 3, matching `frequency`), within one week,
    /// on whole minutes. Each repeats weekly at the same wall-clock time in the mentor's zone.
    pub slots: Vec<DateTime>,
    /// Null means the default, 60.
    #[graphql(default_with = "Some(60)")]
    pub duration_minutes: Option<i32>,
    pub subject: String,
    pub goals: Option<Vec<String>>,
    /// Weeks to book (1 to 52); null = ongoing, kept four weeks ahead. Not used by trials.
    #[graphql(default_with = "Some(4)")]
    pub weeks: Option<i32>,
}

#[derive(Default)]
pub struct BookingQuery;

#[Object]
impl BookingQuery {
    /// One booking the caller is a party to (admins: any); null when there is no such booking.
    async fn booking(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Booking>> {
        let p = principal(ctx)?;
        let found = services(ctx).bookings.booking(p, &id).await.map_err(gql)?;
        Ok(found.map(Booking))
    }

    /// The caller's bookings, newest first: a student's own, a mentor's with them, an admin's all.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn bookings(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Booking>> {
        let p = principal(ctx)?;
        let page = services(ctx)
            .bookings
            .bookings(p, first.unwrap_or(20), after.as_deref())
            .await
            .map_err(gql)?;
        Ok(connection(page, Booking))
    }

    /// The caller's sessions starting in `[from, to)`, by start time.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime>,
        to: Option<DateTime>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Session>> {
        let p = principal(ctx)?;
        let filter = SessionFilter {
            from: from.map(|d| d.utc()),
            to: to.map(|d| d.utc()),
        };
        let page = services(ctx)
            .bookings
            .sessions(p, filter, first.unwrap_or(50), after.as_deref())
            .await
            .map_err(gql)?;
        Ok(connection(page, Session))
    }
}

#[derive(Default)]
pub struct BookingMutation;

#[Object]
impl BookingMutation {
    /// Books every occurrence or none. On a clash: `CONFLICT` with `extensions.clashes`
    /// (`[{start, end, slot, week, reason}]`).
    async fn create_booking(
        &self,
        ctx: &Context<'_>,
        input: CreateBookingInput,
    ) -> async_graphql::Result<Booking> {
        let p = principal(ctx)?;
        let request = NewBooking {
            mentor_id: input.mentor_id.0,
            kind: input.kind.unwrap_or(BookingType::Regular).into(),
            frequency: input.frequency.into(),
            slots: input.slots.iter().map(DateTime::utc).collect(),
            duration_minutes: input.duration_minutes.unwrap_or(60),
            subject: input.subject,
            goals: input.goals.unwrap_or_default(),
            weeks: input.weeks,
        };
        let services = services(ctx);
        let (booking, _) = services.bookings.create(p, request).await.map_err(gql)?;
        // Held until paid: the answer carries the checkout (`payment.checkoutUrl`).
        let booking = services
            .payments
            .after_booking(p, booking)
            .await
            .map_err(gql)?;
        Ok(Booking(booking))
    }

    /// Cancels the booking and every session that has not started.
    async fn cancel_booking(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<Booking> {
        let p = principal(ctx)?;
        let booking = services(ctx)
            .bookings
            .cancel_booking(p, &id, reason)
            .await
            .map_err(gql)?;
        Ok(Booking(booking))
    }

    /// Cancels one session that has not started.
    async fn cancel_session(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<Session> {
        let p = principal(ctx)?;
        let session = services(ctx)
            .bookings
            .cancel_session(p, &id, reason)
            .await
            .map_err(gql)?;
        Ok(Session(session))
    }

    /// Moves one session that has not started; checked like a new booking.
    async fn reschedule_session(
        &self,
        ctx: &Context<'_>,
        id: ID,
        start: DateTime,
    ) -> async_graphql::Result<Session> {
        let p = principal(ctx)?;
        let session = services(ctx)
            .bookings
            .reschedule_session(p, &id, start.utc())
            .await
            .map_err(gql)?;
        Ok(Session(session))
    }
}
