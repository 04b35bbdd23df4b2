//! Email tracking and provider callbacks:
//! - `GET /email/open/{id}?sig=`: the open pixel (a 1x1 GIF);
//! - `GET /email/click/{id}?url=&sig=`: the click redirect, only to the exact link the email had;
//! - `POST /webhooks/email/sendgrid?token=`: SendGrid's signed Event Webhook (a JSON array);
//! - `POST /webhooks/email/ses?token=`: Amazon SES notifications through SNS, signed by Amazon.
//!
//! Bad link signatures answer 403 and change nothing. A webhook without the right token answers
//! 401; one whose provider signature does not pass 403 (503 when Amazon's certificate could not be
//! fetched, so SNS retries); a body that is not what the provider sends 400 (415 without a JSON
//! content type); a delivery applied before 200 with `replayed: true`. None changes anything.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, REFERRER_POLICY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;
use crate::error::AppError;
use crate::service::email::{SnsAnswer, WebhookOutcome, WebhookRefusal};

/// A transparent 1x1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

#[derive(Deserialize)]
pub struct OpenQuery {
    sig: Option<String>,
}

#[derive(Deserialize)]
pub struct ClickQuery {
    url: Option<String>,
    sig: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn forged() -> ApiError {
    ApiError::from(AppError::Forbidden(
        "this link's signature is not valid".into(),
    ))
}

fn required(name: &str) -> ApiError {
    ApiError::from(AppError::bad_input(name, "is required"))
}

pub async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<OpenQuery>,
) -> Result<Response, ApiError> {
    let sig = q.sig.ok_or_else(|| required("sig"))?;
    if !state.services.email.opened(&id, &sig).await? {
        return Err(forged());
    }
    let mut response = (StatusCode::OK, PIXEL).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store, private"));
    Ok(response)
}

pub async fn click(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ClickQuery>,
) -> Result<Response, ApiError> {
    let url = q.url.ok_or_else(|| required("url"))?;
    let sig = q.sig.ok_or_else(|| required("sig"))?;
    let click = state
        .services
        .email
        .clicked(&id, &url, &sig)
        .await?
        .ok_or_else(forged)?;
    let mut response = Redirect::to(&click.target).into_response();
    response
        .headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// Checks the `token` query parameter against `EMAIL_WEBHOOK_TOKEN` and the JSON content type; the
/// answer to a request that fails them.
fn refuse(state: &AppState, token: Option<&str>, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = &state.email_webhook_token else {
        return Some(status(
            StatusCode::NOT_FOUND,
            "email webhooks are off: EMAIL_WEBHOOK_TOKEN is not set",
        ));
    };
    let given = token.unwrap_or_default().as_bytes();
    if !bool::from(given.ct_eq(expected.expose().as_bytes())) {
        return Some(status(
            StatusCode::UNAUTHORIZED,
            "missing or wrong webhook token",
        ));
    }
    // SNS posts `text/plain; charset=UTF-8`; SendGrid `application/json`.
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !(content_type.starts_with("application/json") || content_type.starts_with("text/plain")) {
        return Some(status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (application/json or text/plain)",
        ));
    }
    None
}

fn status(code: StatusCode, message: &str) -> Response {
    ApiError::new(code, message).into_response()
}

/// The answer to a delivery that was not applied.
fn refused(refusal: WebhookRefusal) -> Result<Response, ApiError> {
    Ok(match refusal {
        WebhookRefusal::Off(why) => status(StatusCode::NOT_FOUND, why),
        WebhookRefusal::Signature(e) if e.is_temporary() => {
            tracing::warn!(error = %e, "an SNS signing certificate could not be fetched");
            status(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        WebhookRefusal::Signature(e) => {
            tracing::warn!(error = %e, "a provider webhook with a bad signature was refused");
            status(StatusCode::FORBIDDEN, &e.to_string())
        }
        WebhookRefusal::Payload(e) => status(StatusCode::BAD_REQUEST, &e.to_string()),
        WebhookRefusal::App(e) => return Err(e.into()),
    })
}

fn applied(outcome: WebhookOutcome) -> Response {
    (
        StatusCode::OK,
        Json(json!({
            "applied": outcome.applied,
            "unmatched": outcome.unmatched,
            "suppressed": outcome.suppressed,
            "replayed": outcome.replayed,
        })),
    )
        .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn sendgrid(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(response) = refuse(&state, q.token.as_deref(), &headers) {
        return Ok(response);
    }
    let received = state
        .services
        .email
        .receive_sendgrid(
            header(&headers, "x-twilio-email-event-webhook-signature"),
            header(&headers, "x-twilio-email-event-webhook-timestamp"),
            &body,
        )
        .await;
    match received {
        Ok(outcome) => Ok(applied(outcome)),
        Err(refusal) => refused(refusal),
    }
}

pub async fn ses(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(response) = refuse(&state, q.token.as_deref(), &headers) {
        return Ok(response);
    }
    match state.services.email.receive_sns(&body).await {
        Err(refusal) => refused(refusal),
        Ok(SnsAnswer::Applied(outcome)) => Ok(applied(outcome)),
        Ok(SnsAnswer::Confirm { subscribe_url }) => {
            // Confirming means fetching a URL the message names: left to an operator, who sees it
            // here and in the log, rather than done by the service. The message is Amazon's
            // (signed), the URL on the trusted hosts; Debug formatting escapes it all the same.
            tracing::warn!(subscribe_url = ?subscribe_url, "SNS asks to confirm a subscription: open the URL to confirm");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "confirm": subscribe_url })),
            )
                .into_response())
        }
    }
}
