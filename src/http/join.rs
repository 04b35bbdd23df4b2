//! `GET /join/{sessionId}`: sends a participant to the session's room, from 15 minutes before the
//! start until the end; any other time, or anyone else, gets a page saying why not.
//!
//! The participant is named by the signed `token` in the link (what emails and the dashboard hand
//! out) or by a bearer token. The room URL itself never appears in the API.

use askama::Template;
use axum::extract::{Path, Query, State};
use std::sync::LazyLock;

use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::auth;
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::join::Door;
use crate::domain::time::TimeZone;
use crate::error::AppError;

#[derive(Deserialize)]
pub struct JoinQuery {
    token: Option<String>,
}

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage<'a> {
    style: &'static str,
    title: &'a str,
    message: &'a str,
    when: Option<String>,
}

fn page(status: StatusCode, title: &str, message: &str, when: Option<String>) -> Response {
    let body = JoinPage {
        style: STYLE,
        title,
        message,
        when,
    }
    .render()
    .unwrap_or_else(|_| message.to_string());
    let mut response = (status, Html(body)).into_response();
    no_store(&mut response);
    response
}

/// The page's only style, allowed by its hash: no script, no other source, no inline attribute.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;\
padding:0 1rem;color:#1f2933}h1{font-size:1.5rem}";

static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = BASE64.encode(Sha256::digest(STYLE.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("a hash and ASCII text make a header value")
});

/// The link carries a credential: never cache the answer, never leak the link as a referrer, never
/// frame the page.
fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CONTENT_SECURITY_POLICY, POLICY.clone());
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn local(at: DateTime<Utc>, zone: TimeZone) -> String {
    format!(
        "{} ({})",
        at.with_timezone(&zone.tz()).format("%A %-d %B %Y, %H:%M"),
        zone.name()
    )
}

pub async fn join(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    Query(query): Query<JoinQuery>,
    headers: HeaderMap,
) -> Response {
    let now = state.services.clock.now();
    let user_id = match query.token {
        Some(token) => match state.services.join_links.verify(&token, &session_id, now) {
            Ok(user_id) => user_id,
            Err(why) => return page(StatusCode::FORBIDDEN, "This link does not work", &why, None),
        },
        None => {
            let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
            match auth::caller(&state, authorization).await {
                Ok(Caller::Authenticated(p)) => p.user_id,
                Ok(_) => {
                    return page(
                        StatusCode::UNAUTHORIZED,
                        "Sign in to join",
                        "Open this session from your dashboard or the link in your email.",
                        None,
                    )
                }
                Err(e) => return failure(e),
            }
        }
    };
    let answer = match state.services.bookings.join(&session_id, &user_id).await {
        Ok(answer) => answer,
        Err(e) => return failure(e),
    };
    match answer.door {
        Door::Open => {
            let mut response = Redirect::to(&answer.session.meeting_url).into_response();
            no_store(&mut response);
            response
        }
        Door::NotYet { opens_at } => page(
            StatusCode::TOO_EARLY,
            "The room is not open yet",
            "You can join from 15 minutes before the session starts. The room opens at:",
            Some(local(opens_at, answer.zone)),
        ),
        Door::Ended => page(
            StatusCode::GONE,
            "This session has ended",
            "The room closed when the session ended at:",
            Some(local(answer.session.end_at, answer.zone)),
        ),
        Door::Cancelled => page(
            StatusCode::GONE,
            "This session was cancelled",
            "There is nothing to join. Your dashboard shows your other sessions.",
            None,
        ),
    }
}

fn failure(e: AppError) -> Response {
    match e {
        AppError::NotFound(_) => page(
            StatusCode::NOT_FOUND,
            "No such session",
            "Check the link, or open the session from your dashboard.",
            None,
        ),
        AppError::Forbidden(why) => page(StatusCode::FORBIDDEN, "Not your session", &why, None),
        other => {
            other.log();
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again in a moment.",
                None,
            )
        }
    }
}
