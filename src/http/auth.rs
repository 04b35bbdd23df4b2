//! Turning an `Authorization` value into a [`Caller`], creating or refreshing the user's record.

use chrono::{DateTime, Utc};

use crate::auth::{bearer_token, Caller, Principal};
use crate::error::AppResult;

use super::state::AppState;

/// Verifies the bearer token, if any. A valid caller's local record is synced before anything runs.
pub async fn caller(state: &AppState, authorization: Option<&str>) -> AppResult<Caller> {
    let Some(header) = authorization else {
        return Ok(Caller::Anonymous);
    };
    let Some(token) = bearer_token(header) else {
        return Ok(Caller::Rejected("expected \"Bearer <token>\"".into()));
    };
    match state.jwt.verify(token) {
        Ok(principal) => {
            state.services.users.sync_from_claims(&principal).await?;
            Ok(Caller::Authenticated(principal))
        }
        Err(why) => Ok(Caller::Rejected(why)),
    }
}

/// For sockets: the verified caller and when their token expires, or why the token was refused.
/// A valid caller's local record is synced, as for a request.
pub async fn principal_until(
    state: &AppState,
    authorization: Option<&str>,
) -> AppResult<Result<(Principal, DateTime<Utc>), String>> {
    let Some(token) = authorization.and_then(bearer_token) else {
        return Ok(Err("a bearer token is required".into()));
    };
    match state.jwt.verify_until(token) {
        Ok((principal, expires_at)) => {
            state.services.users.sync_from_claims(&principal).await?;
            Ok(Ok((principal, expires_at)))
        }
        Err(why) => Ok(Err(why)),
    }
}
