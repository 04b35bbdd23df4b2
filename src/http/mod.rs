//! HTTP transport: routes, limits and tracing around the GraphQL endpoints and health checks.

mod auth;
mod email;
mod graphql;
mod health;
mod join;
mod notifications;
mod parsed;
mod rest;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::jwt::JwtKeys;
use crate::config::Secret;
use crate::graphql::AppSchema;
use crate::service::Services;
use parsed::ParsedQueries;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    pub jwt: Arc<JwtKeys>,
    pub ws: WsSettings,
    /// Flips to `true` when the server starts shutting down; open sockets close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// `EMAIL_WEBHOOK_TOKEN`: what provider webhooks must carry; `None` turns them off.
    pub email_webhook_token: Option<Secret>,
    /// `GRAPHIQL_ASSETS_DIR`: where GraphiQL's npm packages are installed.
    pub graphiql_dir: std::path::PathBuf,
    /// Documents of the queries seen so far, so that each text is parsed once.
    pub parsed: Arc<ParsedQueries>,
}

#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    pub keepalive: Duration,
    pub init_timeout: Duration,
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphql::graphiql).post(graphql::execute))
        .route("/graphql/ws", get(ws::upgrade))
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
        // axum's extractors honour DefaultBodyLimit; async-graphql-axum reads the body stream itself,
        // so the tower layer caps that too.
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
