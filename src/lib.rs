//! Scheduling and notification backend of a tutoring platform.

pub mod domain;
