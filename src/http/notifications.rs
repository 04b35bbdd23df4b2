//! The spec's REST routes for the notification center, over the same service as GraphQL:
//! `GET /notifications`, `POST /notifications/{id}/read`, `GET|PUT /notifications/preferences`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::rest::Signed;
use super::state::AppState;
use crate::domain::notification::{Channel, NotificationKind, Preference};
use crate::domain::slots::in_zone;
use crate::domain::time::TimeZone;
use crate::error::AppError;
use crate::service::notifications::{Notification, PreferenceChange};

type Answer = Result<Json<Value>, ApiError>;

fn notification_json(n: &Notification, zone: TimeZone) -> Value {
    json!({
        "id": n.id,
        "type": n.kind.as_str(),
        "title": n.title,
        "body": n.body,
        "link": n.link,
        "data": n.data,
        "createdAt": in_zone(n.created_at, zone).to_rfc3339(),
        "readAt": n.read_at.map(|at| in_zone(at, zone).to_rfc3339()),
        "cursor": n.cursor(),
    })
}

fn preference_json(p: &Preference) -> Value {
    json!({
        "type": p.kind.as_str(),
        "channel": p.channel.as_str(),
        "enabled": p.enabled,
        "locked": p.locked,
        "offered": p.offered,
    })
}

/// Query parameters arrive as text so a bad one gets a message naming it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    first: Option<String>,
    after: Option<String>,
    unread_only: Option<String>,
}

fn parse_param<T: std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
    default: T,
) -> Result<T, AppError> {
    match raw {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| AppError::bad_input(name, format!("{text:?} is not valid here"))),
    }
}

/// `GET /notifications?first=20&after=<cursor>&unreadOnly=true`: newest first, with the unread count.
pub async fn list(
    State(state): State<AppState>,
    Signed(p): Signed,
    Query(params): Query<ListParams>,
) -> Answer {
    let first = parse_param("first", params.first.as_deref(), 20)?;
    let unread_only = parse_param("unreadOnly", params.unread_only.as_deref(), false)?;
    let service = &state.services.notifications;
    let page = service
        .list(&p, first, params.after.as_deref(), unread_only)
        .await?;
    let unread = service.unread_count(&p.user_id).await?;
    let end_cursor = page.items.last().map(|(cursor, _)| cursor.clone());
    Ok(Json(json!({
        "items": page.items.iter().map(|(_, n)| notification_json(n, p.time_zone)).collect::<Vec<_>>(),
        "pageInfo": { "hasNextPage": page.has_next, "endCursor": end_cursor },
        "unreadCount": unread,
    })))
}

/// `POST /notifications/{id}/read`.
pub async fn mark_read(
    State(state): State<AppState>,
    Signed(p): Signed,
    Path(id): Path<String>,
) -> Answer {
    let n = state.services.notifications.mark_read(&p, &id).await?;
    Ok(Json(notification_json(&n, p.time_zone)))
}

/// `GET /notifications/preferences`.
pub async fn preferences(State(state): State<AppState>, Signed(p): Signed) -> Answer {
    let prefs = state.services.notifications.preferences(&p.user_id).await?;
    Ok(Json(json!({
        "preferences": prefs.iter().map(preference_json).collect::<Vec<_>>(),
    })))
}

/// `PUT /notifications/preferences` with `{"preferences": [{"type", "channel", "enabled"}]}`:
/// all or nothing; answers every preference.
pub async fn update_preferences(
    State(state): State<AppState>,
    Signed(p): Signed,
    body: Bytes,
) -> Answer {
    let changes = parse_changes(&body)?;
    let prefs = state
        .services
        .notifications
        .update_preferences(&p.user_id, &changes)
        .await?;
    Ok(Json(json!({
        "preferences": prefs.iter().map(preference_json).collect::<Vec<_>>(),
    })))
}

fn parse_changes(body: &[u8]) -> Result<Vec<PreferenceChange>, AppError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::bad_input("body", format!("not JSON: {e}")))?;
    let list = value
        .get("preferences")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            AppError::bad_input(
                "preferences",
                "expected an array of {type, channel, enabled}",
            )
        })?;
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |name: &str| format!("preferences[{i}].{name}");
            let text = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| AppError::bad_input(field(name), "missing or not a string"))
            };
            let kind: NotificationKind = text("type")?
                .parse()
                .map_err(|e: String| AppError::bad_input(field("type"), e))?;
            let channel: Channel = text("channel")?
                .parse()
                .map_err(|e: String| AppError::bad_input(field("channel"), e))?;
            let enabled = item
                .get("enabled")
                .and_then(Value::as_bool)
                .ok_or_else(|| AppError::bad_input(field("enabled"), "missing or not a boolean"))?;
            Ok(PreferenceChange {
                kind,
                channel,
                enabled,
            })
        })
        .collect()
}
