//! Scheduling and notification backend of a tutoring platform.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod email;
pub mod entity;
pub mod error;
pub mod graphql;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod pubsub;
pub mod seed;
pub mod service;
pub mod startup;
pub mod telemetry;
