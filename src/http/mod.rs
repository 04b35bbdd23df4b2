//! HTTP transport: routes, and the edge around them (CORS, timeouts, body limits, `nosniff`, tracing).

mod auth;
mod edge;
mod email;
mod error;
mod graphiql;
mod graphql;
mod health;
mod join;
mod notifications;
mod parsed;
mod rest;
mod serve;
mod ws;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::jwt::JwtKeys;
use crate::config::{GraphqlSettings, HttpSettings, Secret, WebSocketSettings};
use crate::graphql::AppSchema;
use crate::service::Services;
pub use graphql::PersistedQueries;
use parsed::ParsedQueries;
pub use serve::serve;
pub use ws::SocketsPerUser;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    pub jwt: Arc<JwtKeys>,
    pub ws: WebSocketSettings,
    /// Open sockets per user on this node (`WS_MAX_SOCKETS_PER_USER`).
    pub sockets: SocketsPerUser,
    /// Flips to `true` when the server starts shutting down; open sockets close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// `EMAIL_WEBHOOK_TOKEN`: what provider webhooks must carry; `None` turns them off.
    pub email_webhook_token: Option<Secret>,
    /// Documents of the queries seen so far, so that each text is parsed once.
    pub parsed: Arc<ParsedQueries>,
    /// Automatic persisted queries seen on this node.
    pub persisted: Arc<PersistedQueries>,
    /// The HTTP edge's limits and timeouts, and where GraphiQL's packages are.
    pub http: HttpSettings,
    /// GraphQL's limits (the budget of one request, the batch size).
    pub graphql: GraphqlSettings,
}

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
        .route("/email/open/{id}", get(email::open))
        .route("/email/click/{id}", get(email::click))
        .route("/webhooks/email/sendgrid", post(email::sendgrid))
        .route("/webhooks/email/ses", post(email::ses))
        .fallback(edge::not_found)
        // axum's body extractors honour DefaultBodyLimit; `/graphql` reads its body with the same
        // limit itself, so that a chunked body over it is 413 too.
        .layer(DefaultBodyLimit::max(edge.max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(edge.body_timeout))
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
