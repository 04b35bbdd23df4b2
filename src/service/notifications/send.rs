//! Notifications from the rest of the platform (matching, billing, support...), sent through an
//! admin-only operation so other services never touch these tables.

use serde_json::Value;

use super::{deliver, NotificationService, Outgoing};
use crate::auth::{Principal, Role};
use crate::domain::notification::{Message, NotificationKind};
use crate::error::{AppError, AppResult};
use crate::service::email;
use crate::service::store::users::users_by_id;

pub const MAX_RECIPIENTS: usize = 1000;
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 4000;
const MAX_LINK: usize = 2000;
const MAX_DATA_BYTES: usize = 8 * 1024;
const MAX_KEY: usize = 200;
const MAX_USER_ID: usize = 128;

/// What another service asks to tell some users.
#[derive(Debug, Clone)]
pub struct SendNotification {
    pub user_ids: Vec<String>,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub data: Option<Value>,
    /// The same key sent again (a retried request) writes nothing new for users who have it.
    pub idempotency_key: Option<String>,
}

/// How a send went: notifications written, and recipients skipped (switched off, or already sent
/// under the idempotency key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub delivered: usize,
    pub skipped: usize,
}

fn checked_text(field: &str, value: &str, max: usize, empty_ok: bool) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() && !empty_ok {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(value.to_string())
}

/// A dashboard path (`/...`, not `//host`) or an absolute http(s) URL.
fn checked_link(link: &str) -> AppResult<String> {
    let link = checked_text("input.link", link, MAX_LINK, false)?;
    let path = link.starts_with('/') && !link.starts_with("//");
    let url = link.starts_with("https://") || link.starts_with("http://");
    if !(path || url) || link.chars().any(char::is_whitespace) {
        return Err(AppError::bad_input(
            "input.link",
            "must be a path starting with / or an http(s) URL",
        ));
    }
    Ok(link)
}

impl NotificationService {
    pub async fn send(&self, p: &Principal, input: SendNotification) -> AppResult<Sent> {
        p.require_role(Role::Admin)?;
        if input.user_ids.is_empty() || input.user_ids.len() > MAX_RECIPIENTS {
            return Err(AppError::bad_input(
                "input.userIds",
                format!("between 1 and {MAX_RECIPIENTS} users"),
            ));
        }
        let mut user_ids = Vec::with_capacity(input.user_ids.len());
        let mut seen = std::collections::HashSet::new();
        for (i, id) in input.user_ids.iter().enumerate() {
            let id = id.trim();
            if id.is_empty() || id.len() > MAX_USER_ID {
                return Err(AppError::bad_input(
                    format!("input.userIds[{i}]"),
                    format!("must be 1 to {MAX_USER_ID} bytes"),
                ));
            }
            if seen.insert(id) {
                user_ids.push(id);
            }
        }
        let title = checked_text("input.title", &input.title, MAX_TITLE, false)?;
        let body = checked_text("input.body", &input.body, MAX_BODY, true)?;
        let link = input.link.as_deref().map(checked_link).transpose()?;
        let data = match input.data {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(v @ Value::Object(_)) if v.to_string().len() <= MAX_DATA_BYTES => v,
            Some(Value::Object(_)) => {
                return Err(AppError::bad_input(
                    "input.data",
                    format!("at most {MAX_DATA_BYTES} bytes of JSON"),
                ))
            }
            Some(_) => return Err(AppError::bad_input("input.data", "must be a JSON object")),
        };
        let key = input
            .idempotency_key
            .as_deref()
            .map(|k| checked_text("input.idempotencyKey", k, MAX_KEY, false))
            .transpose()?;
        let outgoing: Vec<Outgoing> = user_ids
            .iter()
            .map(|to| Outgoing {
                to: to.to_string(),
                message: Message {
                    kind: input.kind,
                    title: title.clone(),
                    body: body.clone(),
                    link: link.clone(),
                    data: data.clone(),
                },
                dedupe_key: key.as_ref().map(|k| format!("send:{k}")),
            })
            .collect();
        let now = self.clock.now();
        let write = self.db.begin_write().await?;
        let recipients = users_by_id(
            &write.txn,
            &user_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        )
        .await?;
        let emails = outgoing
            .iter()
            .filter_map(|o| {
                let to = recipients.get(&o.to)?;
                email::produce::platform(to, &o.message, key.as_deref())
            })
            .collect();
        let bells = deliver(&write.txn, outgoing, now).await?;
        email::queue(&write.txn, &self.outbox, emails, now).await?;
        write.commit().await?;
        let delivered = bells.new_notifications().count();
        bells.ring(self.bus.as_ref()).await;
        Ok(Sent {
            delivered,
            skipped: user_ids.len() - delivered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_dashboard_paths_or_web_urls() {
        assert!(checked_link("/sessions/1").is_ok());
        assert!(checked_link("https://example.com/x").is_ok());
        for bad in [
            "//evil.example",
            "javascript:alert(1)",
            "ftp://x",
            "/a b",
            "",
        ] {
            assert!(checked_link(bad).is_err(), "{bad}");
        }
    }
}
