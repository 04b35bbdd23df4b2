//! The GraphQL schema: merged roots per area, limits, and error codes.

/// A GraphQL enum mirroring a domain enum variant for variant, with conversions both ways.
macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident = $module:ident :: $domain:ident { $($variant:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),* }

        impl From<$module::$domain> for $name {
            fn from(v: $module::$domain) -> Self {
                match v { $($module::$domain::$variant => $name::$variant),* }
            }
        }

        impl From<$name> for $module::$domain {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => $module::$domain::$variant),* }
            }
        }
    };
}

pub mod availability;
pub mod booking_types;
pub mod bookings;
pub mod calendar;
pub mod context;
pub mod cost;
pub mod errors;
mod gate;
pub mod input_guard;
pub mod loaders;
pub mod notifications;
pub mod operations;
pub mod payments;
pub mod scalars;
pub mod sms;
pub mod types;
pub mod users;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::service::Services;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    users::UserQuery,
    availability::AvailabilityQuery,
    bookings::BookingQuery,
    calendar::CalendarQuery,
    notifications::NotificationQuery,
    payments::PaymentQuery,
    operations::OperationsQuery,
    sms::SmsQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    availability::AvailabilityMutation,
    bookings::BookingMutation,
    calendar::CalendarMutation,
    notifications::NotificationMutation,
    payments::PaymentMutation,
    operations::OperationsMutation,
    sms::SmsMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    availability::AvailabilitySubscription,
    calendar::CalendarSubscription,
    notifications::NotificationSubscription,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Query limits. Introspection (GraphiQL's) fits comfortably inside the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nesting of one operation.
    pub max_depth: usize,
    /// The cost budget of one request or subscription (see [`cost`]).
    pub max_complexity: usize,
}

pub fn build_schema(services: Option<Services>, limits: Limits) -> AppSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(limits.max_depth)
    .extension(gate::Gate {
        max_cost: limits.max_complexity,
    });
    if let Some(services) = services {
        builder = builder
            .data(loaders::Loaders::new(&services))
            .data(services);
    }
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(
        None,
        Limits {
            max_depth: usize::MAX,
            max_complexity: usize::MAX,
        },
    )
    .sdl()
}
