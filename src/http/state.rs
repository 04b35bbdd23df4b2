//! What every handler can reach.

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::watch;

use super::graphql::persisted::PersistedQueries;
use super::limit::CallerLimits;
use super::parsed::ParsedQueries;
use super::ws::sockets::SocketsPerUser;
use crate::auth::jwt::JwtKeys;
use crate::config::{GraphqlSettings, HttpSettings, Secret, WebSocketSettings};
use crate::graphql::AppSchema;
use crate::service::Services;

/// A handle on what handlers share: axum clones the state for every extractor of every request, so
/// the handle is one `Arc` and cloning it costs one count, not a copy of every service and setting.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
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
    /// `DASHBOARD_URL`: where the browser goes back after connecting a calendar.
    pub dashboard_url: String,
    /// `PUBLIC_BASE_URL`: the URLs providers requested (and signed) are under it.
    pub public_base_url: String,
    /// Requests per caller (`RATE_LIMIT_*`); `None` = no limit.
    pub limits: Option<Arc<CallerLimits>>,
}
