//! Pure scheduling logic: zones, wall-clock times, weekly patterns and slot computation. No I/O.

pub mod booking;
pub mod error;
pub mod interval;
pub mod join;
pub mod recurrence;
pub mod settings;
pub mod slots;
pub mod time;
pub mod wallclock;
pub mod weekly;

pub use error::{DomainError, DomainResult};
