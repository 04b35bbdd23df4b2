//! API tests through real HTTP and WebSockets, on SQLite and (with TEST_DATABASE_URL) PostgreSQL.

mod helpers;

mod apollo_client;
mod auth;
mod availability;
mod bad_input;
mod booking_changes;
mod booking_race;
mod bookings;
mod calendar_connect;
mod calendar_controls;
mod calendar_push;
mod calendar_sync;
mod edge_limits;
mod email;
mod email_tls;
mod email_webhooks;
mod graphiql;
mod graphql_audit;
mod graphql_http;
mod hostile_input;
mod http;
mod jobs;
mod join;
mod js_client;
mod node;
mod notification_ws;
mod notifications;
mod query_cost;
mod schema;
mod slots;
mod time_differential;
mod timeouts;
mod two_nodes;
mod ws;
mod ws_limits;
