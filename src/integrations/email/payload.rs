//! What the providers' webhook parsers share: the error they answer with and reading fields.

use serde_json::Value;

use crate::domain::email::normalize_address;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("{0}")]
    Malformed(String),
    #[error("unknown event type {0:?}")]
    UnknownEvent(String),
}

pub fn malformed(what: impl Into<String>) -> WebhookError {
    WebhookError::Malformed(what.into())
}

pub fn text<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a str, WebhookError> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| malformed(format!("{at}: `{key}` must be a non-empty string")))
}

pub fn address(raw: &str, at: &str) -> Result<String, WebhookError> {
    let a = normalize_address(raw);
    match a.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(a),
        _ => Err(malformed(format!("{at}: {raw:?} is not an email address"))),
    }
}
