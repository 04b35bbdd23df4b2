//! What the REST routes share: the signed-in caller as an extractor, and errors as
//! `{ "error": { "code", "message" } }` with the matching status.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{auth, AppState};
use crate::auth::Principal;
use crate::error::{clip, AppError};

/// A service error on the REST edge.
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = match &self.0 {
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadInput { .. } => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) | AppError::Clashes(_) => StatusCode::CONFLICT,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = self.0.to_string();
        let message = clip(&message).unwrap_or(message);
        let mut error = json!({ "code": self.0.code(), "message": message });
        if let Some(field) = self.0.field() {
            error["field"] = json!(field);
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

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
