//! Use cases. One transaction per command; transport layers call these and nothing below them.

pub mod after_commit;
pub mod availability;
pub mod bookings;
pub mod calendar;
pub mod email;
pub mod events;
pub mod notifications;
pub mod operations;
pub mod page;
pub mod payments;
pub mod slots;
pub mod sms;
pub mod store;
pub mod timeline;
pub mod users;

use std::sync::Arc;

use crate::auth::join::JoinLinks;
use crate::auth::vault::TokenVault;
use crate::clock::Clock;
use crate::config::Secret;
use crate::db::Db;
use crate::domain::money::Money;
use crate::integrations::calendar::api::CalendarApis;
use crate::integrations::email::mailer::Mailer;
use crate::integrations::meeting::MeetingProvider;
use crate::integrations::payments::stripe::Stripe;
use crate::pubsub::EventBus;

/// Every service, built once at start-up and shared by the transports.
#[derive(Clone)]
pub struct Services {
    pub users: Arc<users::UserService>,
    pub availability: Arc<availability::AvailabilityService>,
    pub slots: Arc<slots::SlotService>,
    /// Drop a mentor's cached slot inputs after changing their busy time around the other services.
    pub slot_cache: Arc<slots::SlotCache>,
    pub bookings: Arc<bookings::BookingService>,
    pub calendar: Arc<calendar::CalendarService>,
    pub notifications: Arc<notifications::NotificationService>,
    pub timeline: Arc<timeline::TimelineService>,
    pub payments: Arc<payments::PaymentService>,
    pub email: Arc<email::EmailService>,
    pub sms: Arc<sms::SmsService>,
    /// Dead jobs, for admins.
    pub operations: Arc<operations::OperationsService>,
    pub join_links: Arc<JoinLinks>,
    /// Wakes this process's idle job workers (see [`crate::jobs::JobBell`]).
    pub job_bell: crate::jobs::JobBell,
    pub clock: Arc<dyn Clock>,
    pub bus: Arc<dyn EventBus>,
    pub db: Db,
}

/// The outside pieces services are built with.
pub struct Adapters {
    pub bus: Arc<dyn EventBus>,
    pub meetings: Arc<dyn MeetingProvider>,
    pub join_links: Arc<JoinLinks>,
    pub mailer: Arc<dyn Mailer>,
    pub outbox: Arc<email::Outbox>,
    /// `EMAIL_MAX_ATTEMPTS`.
    pub email_max_attempts: i32,
    /// `SLOT_CACHE_SECONDS`: how long a mentor's cached slot inputs live at most.
    pub slot_cache_ttl: std::time::Duration,
    /// Seals calendar tokens at rest (`CALENDAR_TOKEN_KEY`).
    pub vault: Arc<TokenVault>,
    /// The calendar providers configured (none by default).
    pub calendars: CalendarApis,
    pub payments: PaymentAdapters,
    /// What proves email provider webhooks authentic.
    pub email_webhooks: email::WebhookTrust,
    /// Texts: who sends them, what they say, how codes are keyed.
    pub sms: sms::SmsParts,
}

/// Payments: Stripe (with its webhook secrets) when configured, and the terms of holds.
pub struct PaymentAdapters {
    pub stripe: Option<(Arc<Stripe>, Vec<Secret>)>,
    /// `PAYMENT_HOLD_MINUTES`.
    pub hold: chrono::Duration,
    /// `PAYMENT_DEFAULT_PRICE_MINOR` in `PAYMENT_CURRENCY`.
    pub default_price: Money,
    pub dashboard_url: String,
    /// `PUBLIC_BASE_URL`.
    pub base_url: String,
}

impl Services {
    pub fn new(db: Db, adapters: Adapters, clock: Arc<dyn Clock>) -> Self {
        let Adapters {
            bus,
            meetings,
            join_links,
            mailer,
            outbox,
            email_max_attempts,
            slot_cache_ttl,
            vault,
            calendars,
            payments,
            email_webhooks,
            sms,
        } = adapters;
        let texts = sms.outbox.clone();
        let job_bell = crate::jobs::JobBell::default();
        let slot_cache = slots::SlotCache::new(slot_cache_ttl, bus.clone());
        slot_cache.listen();
        let after_commit = after_commit::AfterCommit::new(bus.clone(), slot_cache.clone());
        // Every consumer of domain events, in the order they run.
        let events = events::EventLog::new(vec![
            Arc::new(payments::PaymentEvents),
            Arc::new(notifications::InApp {
                texts: texts.clone(),
            }),
            Arc::new(email::ByEmail::new(outbox.clone())),
            Arc::new(calendar::CalendarWrites {
                providers: calendars.providers(),
            }),
        ]);
        let bookings = Arc::new(bookings::BookingService::new(
            db.clone(),
            clock.clone(),
            meetings,
            events.clone(),
            after_commit.clone(),
            payments.stripe.as_ref().map(|_| bookings::HoldTerms {
                hold: payments.hold,
                default_price: payments.default_price.clone(),
            }),
        ));
        Services {
            payments: Arc::new(payments::PaymentService::new(
                db.clone(),
                clock.clone(),
                after_commit.clone(),
                payments::PaymentParts {
                    bookings: bookings.clone(),
                    stripe: payments.stripe,
                    dashboard_url: payments.dashboard_url,
                    base_url: payments.base_url,
                    default_price: payments.default_price,
                    brand: outbox.brand.clone(),
                },
            )),
            timeline: Arc::new(timeline::TimelineService::new(
                db.clone(),
                clock.clone(),
                join_links.clone(),
                (outbox.clone(), texts),
                events.clone(),
                after_commit.clone(),
            )),
            sms: Arc::new(sms::SmsService::new(db.clone(), clock.clone(), sms)),
            email: Arc::new(email::EmailService::new(
                db.clone(),
                clock.clone(),
                mailer,
                outbox.clone(),
                email_max_attempts,
                email_webhooks,
            )),
            users: Arc::new(users::UserService::new(
                db.clone(),
                clock.clone(),
                after_commit.clone(),
            )),
            availability: Arc::new(availability::AvailabilityService::new(
                db.clone(),
                clock.clone(),
                after_commit.clone(),
            )),
            bookings: bookings.clone(),
            slots: Arc::new(slots::SlotService::new(
                db.clone(),
                clock.clone(),
                slot_cache.clone(),
            )),
            slot_cache,
            calendar: Arc::new(calendar::CalendarService::new(
                db.clone(),
                clock.clone(),
                after_commit.clone(),
                calendar::CalendarParts {
                    vault,
                    apis: calendars,
                    outbox: outbox.clone(),
                    join_links: join_links.clone(),
                    bell: job_bell.clone(),
                    bookings,
                },
            )),
            notifications: Arc::new(notifications::NotificationService::new(
                db.clone(),
                bus.clone(),
                clock.clone(),
                outbox,
            )),
            operations: Arc::new(operations::OperationsService::new(db.clone())),
            join_links,
            job_bell,
            clock,
            bus,
            db,
        }
    }
}
