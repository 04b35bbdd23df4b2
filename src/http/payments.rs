//! Payments over REST:
//! - `POST /webhooks/stripe`: Stripe's signed event deliveries. A missing, forged or stale
//!   `Stripe-Signature` is 400 and changes nothing; an applied, repeated or ignored event is 200
//!   (Stripe stops retrying); a failure on our side is 500 (Stripe retries later).
//! - `GET /invoices/{id}/invoice.pdf`: a receipt's PDF, for its student and admins (401 without a
//!   token, 404 for anyone else, as for an unknown id).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::rest::Signed;
use super::state::AppState;
use crate::service::payments::WebhookError;

pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    match state
        .services
        .payments
        .receive_webhook(signature, &body)
        .await
    {
        Ok(applied) => Ok(Json(json!({ "received": true, "applied": applied }))),
        Err(WebhookError::NotConfigured) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "payments are not configured",
        )),
        Err(WebhookError::Signature(e)) => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Err(WebhookError::Malformed(why)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("not a Stripe event: {why}"),
        )),
        Err(WebhookError::App(e)) => Err(e.into()),
    }
}

pub async fn invoice_pdf(
    State(state): State<AppState>,
    Signed(p): Signed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let pdf = state.services.payments.invoice_pdf(&p, &id).await?;
    Ok((
        [
            (CONTENT_TYPE, "application/pdf"),
            (CONTENT_DISPOSITION, "inline; filename=\"invoice.pdf\""),
            (CACHE_CONTROL, "private, no-store"),
        ],
        pdf,
    )
        .into_response())
}
