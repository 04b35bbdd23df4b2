//! Who is calling: platform JWTs verified into a [`Principal`], and the checks built on it.

pub mod dev_secret;
pub mod email_links;
pub mod join;
pub mod jwt;
pub mod keys;
pub mod vault;

use std::fmt;
use std::str::FromStr;

use crate::domain::time::TimeZone;
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Student,
    Mentor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Mentor => "mentor",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "student" => Ok(Role::Student),
            "mentor" => Ok(Role::Mentor),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role {s:?} (expected student, mentor or admin)"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verified caller. `user_id` is the platform's opaque user id (the token's `sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
    pub email: String,
    pub name: String,
    pub time_zone: TimeZone,
    /// A phone number the platform verified (E.164), from the token's `phone_number` claim with
    /// `phone_number_verified: true`.
    pub phone: Option<String>,
}

impl Principal {
    pub fn require_role(&self, role: Role) -> Result<(), AppError> {
        if self.role == role {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this operation is for {role}s; you are signed in as {}",
                self.role
            )))
        }
    }
}

/// What a request carried: nothing, a good token, or a bad one (with why).
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Authenticated(Principal),
    Rejected(String),
}

impl Caller {
    pub fn principal(&self) -> Result<&Principal, AppError> {
        match self {
            Caller::Authenticated(p) => Ok(p),
            Caller::Anonymous => Err(AppError::Unauthenticated(
                "a bearer token is required".into(),
            )),
            Caller::Rejected(why) => {
                Err(AppError::Unauthenticated(format!("invalid token: {why}")))
            }
        }
    }
}

/// Pulls the token out of an `Authorization: Bearer ...` value.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
