//! Connecting a calendar: the consent URL with a single-use state, and the way back with Google's code.

use chrono::Duration;
use sea_orm::ActiveValue::Set;

use super::{
    digest, random_secret, token_context, CalendarService, CalendarStatus, STATE_TTL_MINUTES,
};
use crate::auth::{Principal, Role};
use crate::db::new_id;
use crate::domain::calendar::{
    CalendarProvider, ConflictPolicy, SyncState, DEFAULT_FREQUENCY_MINUTES,
    POLLED_FREQUENCY_MINUTES,
};
use crate::entity::{
    calendar_connection as conn, calendar_oauth_state as state, external_calendar as cal,
};
use crate::error::{AppError, AppResult};
use crate::integrations::calendar::{ExternalCalendar, ProviderError};
use crate::jobs::calendar_sync;
use crate::service::store::calendar as store;

/// Where to send the mentor, and the state that will bring them back.
#[derive(Debug)]
pub struct ConnectStart {
    pub authorization_url: String,
    pub state: String,
}

/// Why a way back from the provider changed nothing. Each has a short reason for the dashboard's URL.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    /// Unknown, already used, or for another mentor or provider: indistinguishable on purpose.
    #[error("this connection link is not valid (it may have been used already): connect again")]
    UnknownState,
    #[error("this connection link has expired: connect again")]
    ExpiredState,
    /// The mentor said no on the provider's page (`error=access_denied`).
    #[error("access was not granted")]
    Denied,
    /// The provider refused the code (expired, or already traded).
    #[error("the authorization code was refused: connect again")]
    CodeRefused,
    /// No refresh token came back, and none is kept: offline access was not granted.
    #[error("the provider gave no offline access: connect again and allow it")]
    NoOfflineAccess,
    /// The mentor unticked calendar access on the consent page.
    #[error("calendar access was not granted: connect again and allow access to your calendar")]
    MissingScopes,
    #[error(transparent)]
    Other(#[from] AppError),
}

impl ConnectFailure {
    /// The `reason` in the dashboard's redirect.
    pub fn reason(&self) -> &'static str {
        match self {
            ConnectFailure::UnknownState => "invalid_state",
            ConnectFailure::ExpiredState => "expired_state",
            ConnectFailure::Denied => "access_denied",
            ConnectFailure::CodeRefused => "code_refused",
            ConnectFailure::NoOfflineAccess => "no_offline_access",
            ConnectFailure::MissingScopes => "insufficient_scopes",
            ConnectFailure::Other(e) => match e.code() {
                "UPSTREAM" | "RATE_LIMITED" => "provider_unavailable",
                "BAD_USER_INPUT" => "not_configured",
                _ => "internal",
            },
        }
    }
}

impl From<ConnectFailure> for AppError {
    fn from(failure: ConnectFailure) -> Self {
        match failure {
            ConnectFailure::Other(e) => e,
            other => AppError::BadInput {
                field: match other {
                    ConnectFailure::CodeRefused => "code",
                    _ => "state",
                }
                .into(),
                message: other.to_string(),
            },
        }
    }
}

impl From<sea_orm::DbErr> for ConnectFailure {
    fn from(e: sea_orm::DbErr) -> Self {
        ConnectFailure::Other(e.into())
    }
}

/// States one mentor may hold at once; asking again drops the oldest.
const MAX_OPEN_STATES: u64 = 5;

fn verifier_context(state_hash: &str) -> String {
    format!("calendar/oauth/{state_hash}/verifier")
}

impl CalendarService {
    /// Starts connecting `provider` for a mentor: the provider's consent URL and its state (single
    /// use, [`STATE_TTL_MINUTES`], bound to this mentor and provider).
    pub async fn connect(
        &self,
        p: &Principal,
        provider: CalendarProvider,
    ) -> AppResult<ConnectStart> {
        p.require_role(Role::Mentor)?;
        let oauth = self.oauth_of(provider)?;
        let state = random_secret();
        let state_hash = digest(&state);
        let consent = oauth.consent(&state);
        let now = self.clock.now();
        let txn = self.db.begin_write().await?;
        store::drop_expired_states(&txn.txn, now).await?;
        store::put_state(
            &txn.txn,
            state::ActiveModel {
                state_hash: Set(state_hash.clone()),
                mentor_id: Set(p.user_id.clone()),
                provider: Set(provider),
                verifier: Set(self
                    .vault
                    .seal(&verifier_context(&state_hash), consent.verifier.expose())),
                expires_at: Set(now + Duration::minutes(STATE_TTL_MINUTES)),
                created_at: Set(now),
            },
        )
        .await?;
        store::trim_states(&txn.txn, &p.user_id, MAX_OPEN_STATES).await?;
        txn.commit().await?;
        Ok(ConnectStart {
            authorization_url: consent.url,
            state,
        })
    }

    /// Takes a state for good, whatever comes next: one way back per state. Checks it was made for
    /// `provider` (and for `mentor`, when the caller is known) and is still fresh.
    async fn take_state(
        &self,
        provider: CalendarProvider,
        state: &str,
        mentor: Option<&str>,
    ) -> Result<state::Model, ConnectFailure> {
        if state.is_empty() || state.len() > 128 {
            return Err(ConnectFailure::UnknownState);
        }
        let txn = self.db.begin_write().await?;
        let taken = store::take_state(&txn.txn, &digest(state)).await?;
        txn.commit().await?;
        let taken = taken.ok_or(ConnectFailure::UnknownState)?;
        if taken.provider != provider || mentor.is_some_and(|m| m != taken.mentor_id) {
            return Err(ConnectFailure::UnknownState);
        }
        if taken.expires_at <= self.clock.now() {
            return Err(ConnectFailure::ExpiredState);
        }
        Ok(taken)
    }

    /// Whether a calendar of another of the mentor's connections receives their sessions.
    async fn receives_elsewhere(
        &self,
        mentor_id: &str,
        provider: CalendarProvider,
    ) -> AppResult<bool> {
        let db = self.db.conn();
        for other in store::connections(db, mentor_id).await? {
            if other.provider == provider {
                continue;
            }
            let calendars = store::calendars_of(db, &other.id).await?;
            if calendars.iter().any(|c| c.receives_sessions) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The provider sent the mentor back with an error (`access_denied`): the state is spent.
    pub async fn refused(
        &self,
        provider: CalendarProvider,
        state: &str,
    ) -> Result<(), ConnectFailure> {
        self.take_state(provider, state, None).await?;
        Err(ConnectFailure::Denied)
    }

    /// The way back: trades `code` for tokens (with the state's PKCE verifier), seals and keeps them,
    /// reads the account's calendars, and answers the connection's status. `mentor` is the caller
    /// when known (the dashboard's mutation); the browser's redirect carries only the state.
    pub async fn complete(
        &self,
        provider: CalendarProvider,
        code: &str,
        state: &str,
        mentor: Option<&Principal>,
    ) -> Result<CalendarStatus, ConnectFailure> {
        if let Some(p) = mentor {
            p.require_role(Role::Mentor)?;
        }
        let api = self.api_for(provider)?;
        let oauth = self.oauth_of(provider)?;
        let taken = self
            .take_state(provider, state, mentor.map(|p| p.user_id.as_str()))
            .await?;
        let verifier = self
            .vault
            .open(&verifier_context(&taken.state_hash), &taken.verifier)
            .map_err(|e| AppError::Internal(e.into()))?;
        if code.is_empty() || code.len() > 2048 {
            return Err(ConnectFailure::CodeRefused);
        }
        let grant = oauth.exchange(code, &verifier).await.map_err(|e| match e {
            ProviderError::GrantRevoked { .. } => ConnectFailure::CodeRefused,
            other => other.into_app(provider.display_name()).into(),
        })?;
        if !api.reads_and_writes(&grant.scopes) {
            return Err(ConnectFailure::MissingScopes);
        }
        let mentor_id = taken.mentor_id;
        let existing = store::connection(self.db.conn(), &mentor_id, provider).await?;
        let refresh = match (&grant.refresh_token, &existing) {
            (Some(fresh), _) => self.vault.seal(
                &token_context(provider, &mentor_id, "refresh"),
                fresh.expose(),
            ),
            (None, Some(old)) if old.refresh_token.is_some() => {
                old.refresh_token.clone().unwrap_or_default()
            }
            (None, _) => return Err(ConnectFailure::NoOfflineAccess),
        };
        let calendars = api
            .calendars(&grant.access_token)
            .await
            .map_err(|e| ConnectFailure::Other(e.into_app(provider.display_name())))?;
        let now = self.clock.now();
        let account_email = calendars
            .iter()
            .find(|c| c.primary)
            .and_then(|c| c.email.clone());
        let access = Access {
            access_token: self.vault.seal(
                &token_context(provider, &mentor_id, "access"),
                grant.access_token.expose(),
            ),
            refresh_token: Some(refresh),
            access_expires_at: grant
                .expires_in
                .and_then(|d| Duration::from_std(d).ok())
                .map(|d| now + d),
            granted_scopes: grant.scopes.join(" "),
            account_email,
        };
        Ok(self
            .keep_connection(&mentor_id, provider, existing, access, calendars)
            .await?)
    }

    /// Keeps a connection made or made again: its sealed access, its calendars (sessions go to
    /// one calendar: a new connection's primary receives them unless a calendar of another
    /// connection already does), its sessions queued for writing, and its first read.
    pub(super) async fn keep_connection(
        &self,
        mentor_id: &str,
        provider: CalendarProvider,
        existing: Option<conn::Model>,
        access: Access,
        calendars: Vec<ExternalCalendar>,
    ) -> AppResult<CalendarStatus> {
        let now = self.clock.now();
        let connection_id = existing
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_else(new_id);
        let frequency = match self.api_for(provider)?.pushes() {
            true => DEFAULT_FREQUENCY_MINUTES,
            false => POLLED_FREQUENCY_MINUTES,
        };
        let row = conn::ActiveModel {
            id: Set(connection_id.clone()),
            mentor_id: Set(mentor_id.to_string()),
            provider: Set(provider),
            state: Set(SyncState::Idle),
            sync_enabled: Set(true),
            // A new connection's; connecting again keeps the mentor's settings (the upsert).
            frequency_minutes: Set(frequency),
            account_email: Set(access.account_email),
            access_token: Set(Some(access.access_token)),
            refresh_token: Set(access.refresh_token),
            access_expires_at: Set(access.access_expires_at),
            granted_scopes: Set(access.granted_scopes),
            last_synced_at: Set(None),
            next_sync_at: Set(None),
            last_error: Set(None),
            on_event_deleted: Set(ConflictPolicy::FollowCalendar),
            on_event_moved: Set(ConflictPolicy::FollowCalendar),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let elsewhere = self.receives_elsewhere(mentor_id, provider).await?;
        let listed = calendars
            .into_iter()
            .map(|c| cal::Model {
                connection_id: connection_id.clone(),
                calendar_id: c.id,
                name: c.name,
                is_primary: c.primary,
                counts_as_busy: c.primary,
                receives_sessions: c.primary && !elsewhere,
                sync_token: None,
                full_read_at: None,
                pushes: 0,
                watch_retry_at: None,
            })
            .collect();
        let txn = self.db.begin_write().await?;
        store::save_connection(&txn.txn, row).await?;
        // Two completions racing for a new connection: the row that won keeps its id.
        let saved = store::connection(&txn.txn, mentor_id, provider)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a saved connection vanished")))?;
        let connection_id = saved.id.clone();
        store::replace_calendars(&txn.txn, mentor_id, &connection_id, listed).await?;
        // Sessions already booked go to the calendar too (and what changed while access was lost).
        let target = store::calendars_of(&txn.txn, &connection_id)
            .await?
            .into_iter()
            .find(|c| c.receives_sessions)
            .map(|c| c.calendar_id);
        super::sessions::on_connect(&txn.txn, mentor_id, &saved, target.as_deref(), now).await?;
        // The first read of the calendars' busy time.
        calendar_sync::queue(&txn.txn, now, mentor_id, provider).await?;
        txn.commit().await?;
        self.bell.ring();
        self.status_changed(mentor_id, provider).await;
        tracing::info!(mentor = %mentor_id, provider = provider.slug(), "calendar connected");
        self.status_of(mentor_id, provider).await
    }
}

/// A connection's access, sealed.
pub(super) struct Access {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub granted_scopes: String,
    pub account_email: Option<String>,
}
