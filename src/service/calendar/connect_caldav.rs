//! Connecting a CalDAV account (iCloud, Fastmail, Nextcloud...): a server URL, a username and an
//! app-specific password, checked by discovering the account's calendars before anything is kept.
//! The credentials are sealed at rest where an OAuth connection keeps its access token; connecting
//! again (a new app password) replaces them and keeps the connection's calendars and settings.

use super::connect::Access;
use super::{token_context, CalendarService, CalendarStatus};
use crate::auth::{Principal, Role};
use crate::domain::calendar::CalendarProvider;
use crate::error::{AppError, AppResult};
use crate::integrations::calendar::caldav::Credentials;
use crate::service::store::calendar as store;

/// What a mentor types in to connect a CalDAV account.
#[derive(Debug)]
pub struct CalDavLogin {
    pub server_url: String,
    pub username: String,
    pub password: crate::config::Secret,
}

/// The longest input taken of each (a URL, a username, an app password are all far shorter).
const MAX_URL: usize = 2048;
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

fn checked(login: &CalDavLogin) -> AppResult<()> {
    let bad = |field: &str, message: &str| {
        Err(AppError::BadInput {
            field: field.into(),
            message: message.into(),
        })
    };
    let url = login.server_url.trim();
    if url.is_empty() || url.len() > MAX_URL {
        return bad("serverUrl", "the server URL must be 1 to 2048 characters");
    }
    let username = login.username.trim();
    if username.is_empty() || username.len() > MAX_USERNAME || username.contains(':') {
        return bad(
            "username",
            "the username must be 1 to 256 characters, without a colon",
        );
    }
    if username.chars().any(char::is_control) {
        return bad("username", "the username must not hold control characters");
    }
    let password = login.password.expose();
    if password.is_empty() || password.len() > MAX_PASSWORD {
        return bad("password", "the password must be 1 to 1024 characters");
    }
    Ok(())
}

impl CalendarService {
    /// Connects (or reconnects) the mentor's CalDAV account: its calendars are discovered with the
    /// credentials given (bad credentials, a server that is not CalDAV, an address that may not be
    /// used: `BAD_USER_INPUT` on the field to fix, nothing kept), then the connection is kept as
    /// any other and read at once.
    pub async fn connect_caldav(
        &self,
        p: &Principal,
        login: CalDavLogin,
    ) -> AppResult<CalendarStatus> {
        p.require_role(Role::Mentor)?;
        let provider = CalendarProvider::Caldav;
        let api = self.api_for(provider)?;
        checked(&login)?;
        let credentials = Credentials {
            server: login.server_url.trim().to_string(),
            username: login.username.trim().to_string(),
            password: login.password.expose().to_string(),
        }
        .to_secret();
        let calendars = api
            .calendars(&credentials)
            .await
            .map_err(|e| e.into_app(provider.display_name()))?;
        let existing = store::connection(self.db.conn(), &p.user_id, provider).await?;
        let access = Access {
            access_token: self.vault.seal(
                &token_context(provider, &p.user_id, "access"),
                credentials.expose(),
            ),
            refresh_token: None,
            access_expires_at: None,
            granted_scopes: String::new(),
            account_email: Some(login.username.trim().to_string()),
        };
        self.keep_connection(&p.user_id, provider, existing, access, calendars)
            .await
    }
}
