//! The one error the domain layer returns: an input that breaks a rule, naming the field.

/// A rule broken by an input. `field` is the path a client sent (`input.blocks[2].end`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DomainError {
    pub field: String,
    pub message: String,
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
