//! What the REST routes share: the signed-in caller as an extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::auth;
use super::error::ApiError;
use super::state::AppState;
use crate::auth::Principal;

/// The verified caller of a REST route; anything else answers 401.
pub struct Signed(pub Principal);

impl FromRequestParts<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authorization = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = auth::caller(state, authorization).await?;
        Ok(Signed(caller.principal()?.clone()))
    }
}
