//! Data loaders: nested users, bookings, sessions, payments and invoices are fetched in one query per kind, however many
//! parents a response has. They do not cache, so one shared set serves every request and a later
//! request never sees an earlier one's data.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::Context;

use super::errors::gql;
use crate::entity::sms_message::Model as SmsRow;
use crate::error::AppError;
use crate::service::bookings::{Booking, Session};
use crate::service::payments::{InvoiceView, PaymentView};
use crate::service::users::User;
use crate::service::Services;

pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub bookings: DataLoader<BookingLoader>,
    pub sessions_of_booking: DataLoader<SessionsOfBooking>,
    pub payment_of_booking: DataLoader<PaymentOfBooking>,
    pub invoices_of_booking: DataLoader<InvoicesOfBooking>,
    pub text_of_notification: DataLoader<TextOfNotification>,
}

impl Loaders {
    pub fn new(services: &Services) -> Self {
        Loaders {
            users: DataLoader::new(UserLoader(services.clone()), tokio::spawn),
            bookings: DataLoader::new(BookingLoader(services.clone()), tokio::spawn),
            sessions_of_booking: DataLoader::new(SessionsOfBooking(services.clone()), tokio::spawn),
            payment_of_booking: DataLoader::new(PaymentOfBooking(services.clone()), tokio::spawn),
            invoices_of_booking: DataLoader::new(InvoicesOfBooking(services.clone()), tokio::spawn),
            text_of_notification: DataLoader::new(
                TextOfNotification(services.clone()),
                tokio::spawn,
            ),
        }
    }
}

pub fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

/// Loader errors must be `Clone`; the cause is logged where it happens.
fn shared(e: AppError) -> Arc<AppError> {
    e.log();
    Arc::new(e)
}

/// Turns a loader failure into the client's `INTERNAL` error.
pub fn loader_error(e: Arc<AppError>) -> async_graphql::Error {
    gql(AppError::Internal(anyhow::anyhow!("{e}")))
}

pub struct UserLoader(Services);

impl Loader<String> for UserLoader {
    type Value = User;
    type Error = Arc<AppError>;
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, User>, Self::Error> {
        self.0.users.by_ids(keys).await.map_err(shared)
    }
}

pub struct BookingLoader(Services);

impl Loader<String> for BookingLoader {
    type Value = Booking;
    type Error = Arc<AppError>;
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Booking>, Self::Error> {
        self.0.bookings.bookings_by_id(keys).await.map_err(shared)
    }
}

pub struct SessionsOfBooking(Services);

impl Loader<String> for SessionsOfBooking {
    type Value = Vec<Session>;
    type Error = Arc<AppError>;
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Vec<Session>>, Self::Error> {
        self.0
            .bookings
            .sessions_by_booking(keys)
            .await
            .map_err(shared)
    }
}

pub struct PaymentOfBooking(Services);

impl Loader<String> for PaymentOfBooking {
    type Value = PaymentView;
    type Error = Arc<AppError>;
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, PaymentView>, Self::Error> {
        self.0
            .payments
            .payments_by_booking(keys)
            .await
            .map_err(shared)
    }
}

pub struct InvoicesOfBooking(Services);

impl Loader<String> for InvoicesOfBooking {
    type Value = Vec<InvoiceView>;
    type Error = Arc<AppError>;
    async fn load(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<InvoiceView>>, Self::Error> {
        self.0
            .payments
            .invoices_by_booking(keys)
            .await
            .map_err(shared)
    }
}

pub struct TextOfNotification(Services);

impl Loader<String> for TextOfNotification {
    type Value = SmsRow;
    type Error = Arc<AppError>;
    async fn load(&self, keys: &[String]) -> Result<HashMap<String, SmsRow>, Self::Error> {
        self.0
            .sms
            .texts_of_notifications(keys)
            .await
            .map_err(shared)
    }
}
