//! Twilio's callbacks:
//! - `POST /webhooks/sms/status?sms={id}`: what became of a text (the URL we gave as
//!   `StatusCallback`);
//! - `POST /webhooks/sms/inbound`: texts people send to our number (STOP, START, HELP), answered
//!   with TwiML.
//!
//! Both are checked with `X-Twilio-Signature` over the URL Twilio requested, `PUBLIC_BASE_URL` plus
//! the path and query, and the form: a missing or forged signature is 403 and changes nothing; a
//! body that is not a form 415, one without the fields Twilio sends 400; 404 without Twilio.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::service::sms::{SmsRefusal, TwilioRequest};

/// The request as Twilio made (and signed) it, or the refusal of one that is not a form.
fn request(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TwilioRequest, ApiError> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be a form (application/x-www-form-urlencoded)",
        ));
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the form cannot be read: {e}"),
        )
    })?;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Ok(TwilioRequest {
        url: format!(
            "{}{path_and_query}",
            state.public_base_url.trim_end_matches('/')
        ),
        params,
        signature: headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    })
}

fn refused(refusal: SmsRefusal) -> Result<Response, ApiError> {
    let (status, message) = match refusal {
        SmsRefusal::Off => (StatusCode::NOT_FOUND, refusal.to_string()),
        SmsRefusal::Forged => (StatusCode::FORBIDDEN, refusal.to_string()),
        SmsRefusal::Malformed(why) => (StatusCode::BAD_REQUEST, why),
        SmsRefusal::App(e) => return Err(e.into()),
    };
    Ok(ApiError::new(status, message).into_response())
}

/// TwiML: nothing, or one reply.
fn twiml(reply: Option<String>) -> Response {
    let body = match reply {
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_string(),
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            escape(&text)
        ),
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub async fn status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = match request(&state, &uri, &headers, &body) {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    match state.services.sms.status_callback(&request).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(refusal) => refused(refusal),
    }
}

pub async fn inbound(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = match request(&state, &uri, &headers, &body) {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    match state.services.sms.inbound(&request).await {
        Ok(reply) => Ok(twiml(reply)),
        Err(refusal) => refused(refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_escaped_into_twiml() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
