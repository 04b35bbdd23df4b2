//! Turning an `Authorization` value into a [`Caller`], creating or refreshing the user's record.

use crate::auth::{bearer_token, Caller};
use crate::error::AppResult;

use super::AppState;

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
