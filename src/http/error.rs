//! The one error answer of every route but `/graphql`: `{"error": {"code", "message", "field"?}}`
//! with the matching status, and `Retry-After` when a wait is known. Codes are the API's
//! (`UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT`, `RATE_LIMITED`,
//! `UPSTREAM`, `INTERNAL`); the status says the rest (415, 413, 405...).

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::{clip, AppError};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An answer the edge gives itself, before any service ran.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code_of(status),
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
}

/// The API's code for an HTTP status.
pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::CONFLICT => "CONFLICT",
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED",
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => "UPSTREAM",
        s if s.is_server_error() => "INTERNAL",
        _ => "BAD_USER_INPUT",
    }
}

/// The HTTP status for a service error.
pub fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::BadInput { .. } => StatusCode::BAD_REQUEST,
        AppError::Conflict(_) | AppError::Clashes(_) => StatusCode::CONFLICT,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        e.log();
        ApiError {
            status: status_of(&e),
            code: e.code(),
            message: e.to_string(),
            field: e.field().map(str::to_owned),
            retry_after: e.retry_after().map(|d| d.as_secs().max(1)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = clip(&self.message).unwrap_or(self.message);
        let mut error = json!({ "code": self.code, "message": message });
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn provider_errors_are_502_upstream_and_rate_limits_429_with_retry_after() {
        let upstream = ApiError::from(AppError::Upstream {
            provider: "Google Calendar",
            message: "the service answered 500".into(),
            cause: Some(anyhow::anyhow!("connection reset")),
        })
        .into_response();
        assert_eq!(upstream.status(), StatusCode::BAD_GATEWAY);
        let json = body(upstream).await;
        assert_eq!(json["error"]["code"], "UPSTREAM");
        assert!(
            !json.to_string().contains("connection reset"),
            "the cause stays in the logs"
        );

        let limited = ApiError::from(AppError::RateLimited {
            message: "slow down".into(),
            retry_after: Some(Duration::from_millis(2500)),
        })
        .into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[RETRY_AFTER], "2");
        assert_eq!(body(limited).await["error"]["code"], "RATE_LIMITED");
    }

    #[test]
    fn every_status_maps_to_a_code_of_the_contract() {
        for (status, code) in [
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "BAD_USER_INPUT"),
            (StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT"),
            (StatusCode::METHOD_NOT_ALLOWED, "BAD_USER_INPUT"),
            (StatusCode::SERVICE_UNAVAILABLE, "INTERNAL"),
            (StatusCode::BAD_GATEWAY, "UPSTREAM"),
            (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            (StatusCode::NOT_FOUND, "NOT_FOUND"),
        ] {
            assert_eq!(code_of(status), code, "{status}");
        }
    }
}
