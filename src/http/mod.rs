//! HTTP transport: routes, and the edge around them (CORS, timeouts, body limits, `nosniff`, tracing).

mod auth;
mod body_deadline;
mod calendar;
mod edge;
mod email;
mod error;
mod graphiql;
mod graphql;
mod health;
mod join;
mod limit;
mod notifications;
mod parsed;
mod payments;
mod rest;
mod serve;
mod sms;
mod state;
mod ws;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

pub use graphql::PersistedQueries;
pub use limit::CallerLimits;
pub use serve::serve;
pub use state::{AppState, Shared};
pub use ws::SocketsPerUser;

pub fn router(state: AppState) -> Router {
    let edge = state.http.clone();
    Router::new()
        .route(
            "/graphql",
            get(graphql::get)
                .post(graphql::post)
                .fallback(graphql::other_method),
        )
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphiql/assets/{*path}", get(graphiql::asset))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/join/{session_id}", get(join::join))
        .route("/notifications", get(notifications::list))
        .route("/notifications/{id}/read", post(notifications::mark_read))
        .route(
            "/notifications/preferences",
            get(notifications::preferences).put(notifications::update_preferences),
        )
        .route(
            "/calendar/oauth/{provider}/callback",
            get(calendar::callback),
        )
        .route("/calendar/status", get(calendar::status))
        .route("/calendar/sync", post(calendar::sync))
        .route("/calendar/webhook", post(calendar::webhook))
        .route(
            "/calendar/webhook/outlook/{channel_id}",
            post(calendar::graph_webhook),
        )
        .route("/email/open/{id}", get(email::open))
        .route("/email/click/{id}", get(email::click))
        .route("/webhooks/email/sendgrid", post(email::sendgrid))
        .route("/webhooks/email/ses", post(email::ses))
        .route("/webhooks/stripe", post(payments::stripe_webhook))
        .route("/webhooks/sms/status", post(sms::status))
        .route("/webhooks/sms/inbound", post(sms::inbound))
        .route("/invoices/{id}/invoice.pdf", get(payments::invoice_pdf))
        .fallback(edge::not_found)
        // axum's body extractors honour DefaultBodyLimit; `/graphql` reads its body with the same
        // limit itself, so that a chunked body over it is 413 too.
        .layer(DefaultBodyLimit::max(edge.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            edge.body_timeout,
            body_deadline::whole_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.limits.clone(),
            limit::per_caller,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge.request_timeout,
            edge::deadline,
        ))
        .layer(axum::middleware::from_fn(edge::json_errors))
        .layer(axum::middleware::from_fn(edge::refuse_nul))
        .layer(axum::middleware::from_fn(edge::nosniff))
        .layer(edge::cors(&edge.cors_allowed_origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
