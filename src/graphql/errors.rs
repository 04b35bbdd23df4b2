//! How errors reach GraphQL clients: every error carries `extensions.code`.
//!
//! Service errors are converted by [`gql`]. [`label`] (run on every answer by the schema's gate)
//! labels what async-graphql raises itself: parse, validation and limit errors (no path) are the client's `BAD_USER_INPUT`; an
//! uncoded error from a resolver (with a path) is a bug, reported as `INTERNAL` with its text hidden.

use async_graphql::{ErrorExtensions, Response, ServerError, Value};
use chrono::SecondsFormat;

use crate::domain::booking::Clash;
use crate::error::{clip, AppError};

/// Converts a service error, logging internal ones. Use as `.map_err(gql)`.
pub fn gql(e: AppError) -> async_graphql::Error {
    e.log();
    let code = e.code();
    let field = e.field().map(str::to_owned);
    let retry_after = e.retry_after().map(|d| d.as_secs().max(1));
    let clashes = match &e {
        AppError::Clashes(clashes) => Some(clashes_value(clashes)),
        _ => None,
    };
    async_graphql::Error::new(e.to_string()).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
        if let Some(clashes) = &clashes {
            ext.set("clashes", clashes.clone());
        }
        if let Some(seconds) = retry_after {
            ext.set("retryAfter", seconds);
        }
    })
}

/// `[{ start, end, slot, week, reason }]`, instants in UTC.
fn clashes_value(clashes: &[Clash]) -> Value {
    let list = clashes
        .iter()
        .map(|c| {
            let o = &c.occurrence;
            serde_json::json!({
                "start": o.interval.start.to_rfc3339_opts(SecondsFormat::Secs, true),
                "end": o.interval.end.to_rfc3339_opts(SecondsFormat::Secs, true),
                "slot": o.slot,
                "week": o.week,
                "reason": c.reason,
            })
        })
        .collect();
    Value::from_json(serde_json::Value::Array(list)).unwrap_or(Value::Null)
}

/// Gives every error of `response` a code and clips its message.
pub fn label(response: &mut Response) {
    for error in &mut response.errors {
        label_error(error);
    }
}

fn label_error(error: &mut ServerError) {
    // Messages may quote what the client sent (an id, a value): never more than a short prefix.
    if let Some(clipped) = clip(&error.message) {
        error.message = clipped;
    }
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let code = if error.path.is_empty() || is_argument_error(&error.message) {
        "BAD_USER_INPUT"
    } else {
        tracing::error!(message = %error.message, path = ?error.path, "resolver error without a code");
        error.message = "internal error".into();
        "INTERNAL"
    };
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

/// async-graphql parses a resolver's arguments inside the resolver, so a bad argument (an explicit
/// `null` for a non-null `Int` with a default, say) fails with a path; its messages start like this.
fn is_argument_error(message: &str) -> bool {
    [
        "Failed to parse \"",
        "Expected input type \"",
        "Invalid value for argument",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use async_graphql::PathSegment;

    use super::*;

    fn labelled(message: &str, path: bool) -> (String, String) {
        let mut error = ServerError::new(message, None);
        if path {
            error.path = vec![PathSegment::Field("sessions".into())];
        }
        label_error(&mut error);
        let code = error
            .extensions
            .as_ref()
            .unwrap()
            .get("code")
            .unwrap()
            .clone();
        (code.to_string(), error.message)
    }

    #[test]
    fn argument_parse_errors_inside_resolvers_are_the_clients() {
        let (code, message) = labelled(
            r#"Failed to parse "Int": Invalid value for argument "first", expected type "Int""#,
            true,
        );
        assert_eq!(code, "\"BAD_USER_INPUT\"");
        assert!(message.starts_with("Failed to parse"));
        assert_eq!(
            labelled(r#"Expected input type "Int", found null."#, true).0,
            "\"BAD_USER_INPUT\""
        );
    }

    #[test]
    fn other_uncoded_resolver_errors_are_internal_and_hidden() {
        assert_eq!(
            labelled("connection reset by peer", true),
            ("\"INTERNAL\"".to_string(), "internal error".to_string())
        );
        assert_eq!(
            labelled("Unknown field \"x\"", false).0,
            "\"BAD_USER_INPUT\""
        );
    }

    #[test]
    fn provider_and_rate_limit_errors_carry_their_codes() {
        let upstream = gql(AppError::Upstream {
            provider: "Stripe",
            message: "the charge could not be created".into(),
            cause: None,
        });
        let code = |e: &async_graphql::Error| e.extensions.as_ref().unwrap().get("code").cloned();
        assert_eq!(code(&upstream), Some(Value::from("UPSTREAM")));
        assert!(upstream.message.contains("Stripe"));
        let limited = gql(AppError::RateLimited {
            message: "Google asked us to slow down".into(),
            retry_after: Some(std::time::Duration::from_secs(30)),
        });
        assert_eq!(code(&limited), Some(Value::from("RATE_LIMITED")));
        assert_eq!(
            limited.extensions.as_ref().unwrap().get("retryAfter"),
            Some(&Value::from(30))
        );
    }
}
