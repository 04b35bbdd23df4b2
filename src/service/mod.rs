//! Use cases. One transaction per command; transport layers call these and nothing below them.

pub mod availability;
pub mod slots;
pub mod users;

use std::sync::Arc;

use crate::clock::Clock;
use crate::db::Db;
use crate::pubsub::EventBus;

/// Every service, built once at start-up and shared by the transports.
#[derive(Clone)]
pub struct Services {
    pub users: Arc<users::UserService>,
    pub availability: Arc<availability::AvailabilityService>,
    pub slots: Arc<slots::SlotService>,
    pub bus: Arc<dyn EventBus>,
    pub db: Db,
}

impl Services {
    pub fn new(db: Db, bus: Arc<dyn EventBus>, clock: Arc<dyn Clock>) -> Self {
        Services {
            users: Arc::new(users::UserService::new(db.clone(), clock.clone())),
            availability: Arc::new(availability::AvailabilityService::new(
                db.clone(),
                bus.clone(),
                clock.clone(),
            )),
            slots: Arc::new(slots::SlotService::new(db.clone(), clock)),
            bus,
            db,
        }
    }
}

/// A new opaque id: time-ordered, so listings sorted by id follow creation.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
