//! What the socket loop needs to know of each protocol message, before and after async-graphql: the
//! kind of a client message (malformed ones are refused), a fresh token riding on a `ping`, and which
//! subscriptions are open, so that one socket cannot open more than its share.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::time::Duration;

use async_graphql::http::WebSocketProtocols;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{json, Value};

/// A client message, as far as screening goes.
#[derive(Debug, PartialEq)]
pub enum ClientFrame {
    /// `connection_init`, with the whole message (its payload holds the token).
    Init(Value),
    /// `subscribe` (`start` in the legacy protocol), with the length of its document in bytes.
    Subscribe { id: String, query_bytes: usize },
    /// `complete` (`stop`): the client ends a subscription.
    Complete { id: String },
    /// `ping`, possibly carrying a fresh token in its payload.
    Ping { authorization: Option<String> },
    /// Anything else with a `type` (`pong`, `connection_terminate`): async-graphql deals with it.
    Other,
}

/// Reads a client message; `None` when it is not a JSON object with a string `type`, or a
/// subscribe/complete without a string `id` (close 4400).
pub fn classify(raw: &[u8]) -> Option<ClientFrame> {
    let value: Value = serde_json::from_slice(raw).ok()?;
    let kind = value.get("type")?.as_str()?;
    let id = || value.get("id").and_then(Value::as_str).map(str::to_owned);
    Some(match kind {
        "connection_init" => ClientFrame::Init(value),
        "subscribe" | "start" => {
            // async-graphql would close with 1002 (fatal for the reference client) on a payload
            // that is not an object; refuse it as malformed instead.
            let payload = value.get("payload").filter(|p| p.is_object())?;
            let query_bytes = payload
                .get("query")
                .and_then(Value::as_str)
                .map_or(0, str::len);
            ClientFrame::Subscribe {
                id: id()?,
                query_bytes,
            }
        }
        "complete" | "stop" => ClientFrame::Complete { id: id()? },
        "ping" => ClientFrame::Ping {
            authorization: value.get("payload").and_then(authorization),
        },
        _ => ClientFrame::Other,
    })
}

/// The token in a `connection_init` or `ping` payload: `authorization` / `Authorization`, with or
/// without the `Bearer ` prefix, or the legacy `authToken`.
pub fn authorization(payload: &Value) -> Option<String> {
    let raw = ["authorization", "Authorization", "authToken"]
        .iter()
        .find_map(|k| payload.get(*k)?.as_str())?;
    Some(if raw.contains(' ') {
        raw.to_string()
    } else {
        format!("Bearer {raw}")
    })
}

/// A socket's allowance of client messages: `per_second`, in bursts of twice that.
pub fn pace(per_second: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(
        Quota::per_second(rate)
            .allow_burst(rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN))),
    )
}

/// Counts one client message; `Err` with how long to stop reading when the socket is past its pace.
pub fn paced(pace: &DefaultDirectRateLimiter) -> Result<(), Duration> {
    pace.check()
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

/// Whether a new subscription may start.
#[derive(Debug, PartialEq)]
pub enum Admission {
    Admit,
    /// The socket already holds its maximum.
    TooMany,
    /// An open subscription already has this id (the protocol's close 4409).
    Duplicate,
}

/// The ids of a socket's open subscriptions.
pub struct OpenSubscriptions {
    max: usize,
    ids: HashSet<String>,
}

#[derive(Deserialize)]
struct ServerFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

impl OpenSubscriptions {
    pub fn new(max: usize) -> Self {
        OpenSubscriptions {
            max,
            ids: HashSet::new(),
        }
    }

    pub fn admit(&mut self, id: &str) -> Admission {
        if self.ids.contains(id) {
            Admission::Duplicate
        } else if self.ids.len() >= self.max {
            Admission::TooMany
        } else {
            self.ids.insert(id.to_string());
            Admission::Admit
        }
    }

    /// The client ended `id`.
    pub fn ended(&mut self, id: &str) {
        self.ids.remove(id);
    }

    /// Notes a server message: a `complete` ends its subscription (async-graphql sends one when a
    /// stream ends, after an error too).
    pub fn server_sent(&mut self, text: &str) {
        // async-graphql writes the tag first; anything else is `next`/`data`/`pong` traffic, which
        // is not worth parsing.
        if !text.starts_with(r#"{"type":"complete""#) {
            return;
        }
        if let Ok(ServerFrame { kind, id: Some(id) }) = serde_json::from_str(text) {
            if kind == "complete" {
                self.ids.remove(id.as_ref());
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// The answer to a subscription refused for being one too many: an error for that id, after which
/// the socket and its other subscriptions go on.
pub fn too_many(protocol: WebSocketProtocols, id: &str, max: usize) -> String {
    error_for(
        protocol,
        id,
        &format!("this socket already has {max} subscriptions open; end one first"),
        "RATE_LIMITED",
    )
}

/// The answer to a subscription whose document is longer than `max` bytes (refused unparsed); the
/// socket goes on.
pub fn too_long(protocol: WebSocketProtocols, id: &str, max: usize) -> String {
    error_for(
        protocol,
        id,
        &format!("the query is longer than {max} bytes"),
        "BAD_USER_INPUT",
    )
}

/// The answer to a subscription past its user's rate (requests and subscriptions share it): try
/// again after `wait`; the socket goes on.
pub fn too_fast(protocol: WebSocketProtocols, id: &str, wait: std::time::Duration) -> String {
    let seconds = wait.as_secs().max(1);
    let error = json!({
        "message": format!("too many subscriptions started; try again in {seconds} s"),
        "extensions": { "code": "RATE_LIMITED", "retryAfter": seconds },
    });
    framed(protocol, id, error)
}

fn error_for(protocol: WebSocketProtocols, id: &str, message: &str, code: &str) -> String {
    framed(
        protocol,
        id,
        json!({ "message": message, "extensions": { "code": code } }),
    )
}

fn framed(protocol: WebSocketProtocols, id: &str, error: Value) -> String {
    match protocol {
        WebSocketProtocols::GraphQLWS => json!({ "id": id, "type": "error", "payload": [error] }),
        WebSocketProtocols::SubscriptionsTransportWS => {
            json!({ "id": id, "type": "error", "payload": error })
        }
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_classified_and_malformed_ones_refused() {
        let frame = |s: &str| classify(s.as_bytes());
        assert!(matches!(
            frame(r#"{"type":"connection_init"}"#),
            Some(ClientFrame::Init(_))
        ));
        assert_eq!(
            frame(r#"{"type":"subscribe","id":"1","payload":{"query":"subscription{a}"}}"#),
            Some(ClientFrame::Subscribe {
                id: "1".into(),
                query_bytes: 15
            })
        );
        assert_eq!(
            frame(r#"{"type":"stop","id":"1"}"#),
            Some(ClientFrame::Complete { id: "1".into() })
        );
        assert_eq!(
            frame(r#"{"type":"ping","payload":{"authorization":"abc"}}"#),
            Some(ClientFrame::Ping {
                authorization: Some("Bearer abc".into())
            })
        );
        assert_eq!(frame(r#"{"type":"pong"}"#), Some(ClientFrame::Other));
        for bad in [
            "[]",
            "{}",
            r#"{"type":1}"#,
            r#"{"type":"subscribe","payload":{}}"#,
            r#"{"type":"subscribe","id":"1","payload":"x"}"#,
            r#"{"type":"subscribe","id":1,"payload":{}}"#,
            r#"{"type":"complete"}"#,
            "not json",
        ] {
            assert_eq!(frame(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_socket_holds_at_most_max_subscriptions_and_ended_ones_free_their_place() {
        let mut open = OpenSubscriptions::new(2);
        assert_eq!(open.admit("a"), Admission::Admit);
        assert_eq!(open.admit("a"), Admission::Duplicate);
        assert_eq!(open.admit("b"), Admission::Admit);
        assert_eq!(open.admit("c"), Admission::TooMany);
        open.ended("a");
        assert_eq!(open.admit("c"), Admission::Admit);
        open.server_sent(r#"{"type":"next","id":"b","payload":{"data":{}}}"#);
        assert_eq!(open.len(), 2);
        open.server_sent(r#"{"type":"complete","id":"b"}"#);
        assert_eq!(open.len(), 1);
        assert_eq!(open.admit("d"), Admission::Admit);
    }

    #[test]
    fn the_refusal_is_an_error_for_that_id_in_each_protocol() {
        let modern: Value =
            serde_json::from_str(&too_many(WebSocketProtocols::GraphQLWS, "7", 3)).unwrap();
        assert_eq!(modern["type"], "error");
        assert_eq!(modern["id"], "7");
        assert_eq!(modern["payload"][0]["extensions"]["code"], "RATE_LIMITED");
        let legacy: Value = serde_json::from_str(&too_many(
            WebSocketProtocols::SubscriptionsTransportWS,
            "7",
            3,
        ))
        .unwrap();
        assert_eq!(legacy["payload"]["extensions"]["code"], "RATE_LIMITED");
    }
}
