//! Calendar routes: where the provider sends the mentor back after consent
//! (`GET /calendar/oauth/{provider}/callback`), where it pushes changes (`POST /calendar/webhook`
//! for Google, `POST /calendar/webhook/outlook/{channel}` for Microsoft Graph), and the spec's
//! `POST /calendar/sync` and `GET /calendar/status`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, REFERRER_POLICY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::rest::Signed;
use super::state::AppState;
use crate::domain::calendar::CalendarProvider;
use crate::domain::slots::in_zone;
use crate::domain::time::TimeZone;
use crate::error::AppError;
use crate::service::calendar::{CalendarStatus, ConnectFailure, GraphNotification, Push};

/// What the provider puts on the way back (`code` and `state`, or `error` and `state`); anything
/// else it adds is ignored.
#[derive(Deserialize)]
pub struct WayBack {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Finishes a connection and sends the browser to the dashboard's calendar settings with the result.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(back): Query<WayBack>,
) -> Response {
    let Some(provider) = CalendarProvider::from_slug(&provider) else {
        return ApiError::from(AppError::NotFound("no such calendar provider".into()))
            .into_response();
    };
    let calendar = &state.services.calendar;
    let outcome = match (back.error, back.code, back.state) {
        (_, _, None) => Err(ConnectFailure::UnknownState),
        (Some(_), _, Some(st)) => calendar.refused(provider, &st).await,
        (None, Some(code), Some(st)) => calendar
            .complete(provider, &code, &st, None)
            .await
            .map(|_| ()),
        (None, None, Some(_)) => Err(ConnectFailure::CodeRefused),
    };
    let result = match &outcome {
        Ok(()) => "result=connected".to_string(),
        Err(failure) => {
            if let ConnectFailure::Other(e) = failure {
                e.log();
            }
            format!("result=error&reason={}", failure.reason())
        }
    };
    let to = format!(
        "{}/settings/calendar?provider={}&{result}",
        state.dashboard_url,
        provider.slug()
    );
    let mut response = Redirect::to(&to).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The URL that brought the browser here held the code and the state.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `POST /calendar/webhook`: a push from Google (its `X-Goog-*` headers; the body is empty and not
/// read). `200` once checked (a change queues a read); `400` without the headers, `404` for an
/// unknown channel, `403` with a wrong token or resource. Nothing is read from Google here.
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let push = Push {
        channel_id: header("x-goog-channel-id"),
        token: header("x-goog-channel-token"),
        resource_id: header("x-goog-resource-id"),
        state: header("x-goog-resource-state"),
    };
    state.services.calendar.receive_push(&push).await?;
    Ok(StatusCode::OK)
}

/// Graph's validation tokens are opaque strings; longer ones are not Graph's.
const MAX_VALIDATION_TOKEN: usize = 1024;

/// What Graph posts to a subscription's address: its validation handshake
/// (`?validationToken=…`, answered with the token as `text/plain` at once), or notifications
/// (`{"value": [...]}`, each checked against the channel's `clientState` and subscription, and
/// answered `202` once queued: the read happens in a job, well within Graph's 3 seconds).
/// Unknown channel: `404`; an item that does not match its channel: `403` (items before it in the
/// same post were applied; Graph posts one subscription's items, all with its `clientState`).
pub async fn graph_webhook(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let calendar = &state.services.calendar;
    if let Some(token) = query.get("validationToken") {
        if token.len() > MAX_VALIDATION_TOKEN || token.chars().any(char::is_control) {
            return Err(AppError::bad_input("validationToken", "is not Graph's").into());
        }
        if !calendar.channel_exists(&channel_id).await? {
            return Err(AppError::NotFound("no such push channel".into()).into());
        }
        return Ok((
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            token.clone(),
        )
            .into_response());
    }
    #[derive(Deserialize)]
    struct Notifications {
        value: Vec<GraphNotification>,
    }
    let notes: Notifications = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_input("body", format!("not a Graph notification: {e}")))?;
    if notes.value.is_empty() || notes.value.len() > 100 {
        return Err(AppError::bad_input("value", "must hold 1 to 100 notifications").into());
    }
    for note in &notes.value {
        calendar.receive_graph(&channel_id, note).await?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /calendar/sync` with `{"provider": "google"}` (the default): not connected, where to send
/// the mentor to connect (`{"connected": false, "authorizationUrl", "state"}`); connected, a sync is
/// queued and the status comes back (`SYNCING`).
pub async fn sync(
    State(state): State<AppState>,
    Signed(p): Signed,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let provider = if body.iter().all(u8::is_ascii_whitespace) {
        CalendarProvider::Google
    } else {
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| AppError::bad_input("body", format!("not JSON: {e}")))?;
        match value.get("provider") {
            None | Some(Value::Null) => CalendarProvider::Google,
            Some(Value::String(slug)) => provider_of(slug)?,
            Some(_) => return Err(AppError::bad_input("provider", "must be a string").into()),
        }
    };
    let calendar = &state.services.calendar;
    if !calendar.status(&p, provider).await?.connected {
        let start = calendar.connect(&p, provider).await?;
        return Ok(Json(json!({
            "provider": provider.as_str(),
            "connected": false,
            "authorizationUrl": start.authorization_url,
            "state": start.state,
        })));
    }
    let status = calendar.sync_now(&p, provider).await?;
    Ok(Json(status_json(&status, p.time_zone)))
}

fn provider_of(slug: &str) -> Result<CalendarProvider, AppError> {
    CalendarProvider::from_slug(slug).ok_or_else(|| AppError::BadInput {
        field: "provider".into(),
        message: "must be google, outlook or caldav".into(),
    })
}

/// `GET /calendar/status?provider=google` (default google): the connection, as on the settings page.
pub async fn status(
    State(state): State<AppState>,
    Signed(p): Signed,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let provider = match params.get("provider") {
        None => CalendarProvider::Google,
        Some(slug) => provider_of(slug)?,
    };
    let status = state.services.calendar.status(&p, provider).await?;
    Ok(Json(status_json(&status, p.time_zone)))
}

fn status_json(s: &CalendarStatus, zone: TimeZone) -> Value {
    let shown =
        |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|t| in_zone(t, zone).to_rfc3339());
    json!({
        "provider": s.provider.as_str(),
        "connected": s.connected,
        "state": s.state.as_str(),
        "syncEnabled": s.sync_enabled,
        "frequencyMinutes": s.frequency_minutes,
        "lastSyncedAt": shown(s.last_synced_at),
        "nextSyncAt": shown(s.next_sync_at),
        "lastError": s.last_error,
        "accountEmail": s.account_email,
        "calendars": s.calendars.iter().map(|c| json!({
            "id": c.id,
            "name": c.name,
            "primary": c.primary,
            "countsAsBusy": c.counts_as_busy,
            "receivesSessions": c.receives_sessions,
        })).collect::<Vec<_>>(),
        "pushActive": s.push_active,
        "pushExpiresAt": shown(s.push_expires_at),
    })
}
