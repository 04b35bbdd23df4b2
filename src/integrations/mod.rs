//! Adapters to the outside world, each behind a trait: meeting rooms now; calendars and mail later.

pub mod meeting;
