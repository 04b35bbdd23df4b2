//! Errors of the service layer, and how each maps to the API's codes.
//!
//! Services return [`AppError`]; the GraphQL and REST edges turn it into `extensions.code` or an HTTP
//! status. `Internal` carries the cause for the logs only: clients see "internal error".

use crate::domain::booking::Clash;
use crate::domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// Some requested occurrences cannot be booked; each is listed with why.
    #[error("{} of the requested sessions cannot be booked", .0.len())]
    Clashes(Vec<Clash>),
    /// Too many requests: from this client, or to a provider that asked us to slow down. Try again
    /// after `retry_after` when known.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// A provider (calendar, payments, email) failed or answered what we cannot use; `provider`
    /// names it for the client, the cause goes to the logs only.
    #[error("{provider} failed: {message}")]
    Upstream {
        provider: &'static str,
        message: String,
        #[source]
        cause: Option<anyhow::Error>,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

/// The longest error message sent to a client, in characters.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// `message` cut to [`MAX_MESSAGE_CHARS`] (with an ellipsis), or `None` when it is short enough.
/// Messages can quote client input; a 100 KB id must not come back whole.
pub fn clip(message: &str) -> Option<String> {
    let (end, _) = message.char_indices().nth(MAX_MESSAGE_CHARS)?;
    Some(format!("{}…", &message[..end]))
}

impl AppError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::Conflict(_) | AppError::Clashes(_) => "CONFLICT",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Upstream { .. } => "UPSTREAM",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// How long a rate-limited client should wait before trying again, when known.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            AppError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field a `BAD_USER_INPUT` is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::BadInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Logs internal errors with their cause chain, and provider failures (a warning: not our bug,
    /// but an operator wants to know); the others are the client's business.
    pub fn log(&self) {
        match self {
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
            }
            AppError::Upstream {
                provider,
                message,
                cause,
            } => {
                let cause = cause.as_ref().map(|c| format!("{c:#}"));
                tracing::warn!(provider, message, cause, "provider failed");
            }
            _ => {}
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::BadInput {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        if refuses_text(&e) {
            // The edges refuse NUL before it gets here; this is the backstop for a path they miss.
            return AppError::bad_input(
                "input",
                "text must not contain the NUL character (U+0000)",
            );
        }
        AppError::Internal(anyhow::Error::new(e).context("database"))
    }
}

/// PostgreSQL refused a string it cannot store (SQLSTATE 22021, character_not_in_repertoire: a NUL
/// byte in UTF-8 text).
fn refuses_text(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{sqlx, DbErr, RuntimeErr};
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(db)))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(db))) => {
            db.code().as_deref() == Some("22021")
        }
        _ => false,
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(e: sea_orm::TransactionError<AppError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}
