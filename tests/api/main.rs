//! API tests through real HTTP and WebSockets, on SQLite and (with TEST_DATABASE_URL) PostgreSQL.

mod helpers;

mod auth;
mod availability;
mod bad_input;
mod http;
mod jobs;
mod schema;
mod slots;
mod ws;
