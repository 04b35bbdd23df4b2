//! GraphQL over WebSocket on `/graphql/ws`: `graphql-transport-ws` and the legacy `graphql-ws`.
//!
//! async-graphql runs the protocol, but this module screens the socket around it, because
//! async-graphql answers a rejected `connection_init` with close code 1002, which the reference
//! `graphql-ws` client treats as fatal. Here a missing, bad or expired token closes with 4403 (the
//! client refreshes and retries), a `subscribe` before `connection_init` with 4401, silence past the
//! init timeout with 4408, and a malformed message with 4400.
//!
//! No client can stall the loop: messages are handed to the protocol only when it has room (a client
//! sending faster than subscriptions start waits in its own TCP window while replies keep flowing),
//! a write the client does not take within the send timeout drops the socket, and a peer that
//! answers no ping for three keep-alive periods is dropped. Each socket holds at most
//! `WS_MAX_SUBSCRIPTIONS` subscriptions and each user at most `WS_MAX_SOCKETS_PER_USER` sockets on a
//! node. The socket closes with 4403 when its token expires, unless the client sent a fresh token
//! for the same user in a `ping` payload (`{"type":"ping","payload":{"authorization":"Bearer ..."}}`).

mod screen;
pub(super) mod sockets;

use std::time::Duration;

use async_graphql::http::{WebSocketProtocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::{bearer_token, Caller, Principal};
use crate::http::auth;
use crate::http::state::AppState;
use screen::{Admission, ClientFrame, OpenSubscriptions};
pub use sockets::SocketsPerUser;

/// Small per-socket buffers: tens of thousands of idle sockets must fit in memory (client messages
/// are small; a larger one is read in several chunks, up to `MAX_MESSAGE`).
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_MESSAGE: usize = 64 * 1024;
/// Client messages waiting for the protocol to take them.
const INBOX: usize = 4;
/// Keep-alive periods without a frame from the client (a pong at least) before it counts as gone.
const SILENT_PERIODS: u32 = 3;

pub async fn upgrade(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(state, socket))
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The writing half, where every write gives up after the send timeout.
struct Writer {
    sink: SplitSink<WebSocket, Message>,
    timeout: Duration,
}

impl Writer {
    /// `false` when the message could not be written in time (the socket is done).
    async fn send(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(self.timeout, self.sink.send(message)).await,
            Ok(Ok(()))
        )
    }

    async fn close(&mut self, code: u16, reason: &str) {
        self.send(close(code, reason)).await;
    }
}

/// The tokio instant at which a token expiring at `at` (wall clock) runs out.
fn deadline(at: DateTime<Utc>) -> Instant {
    let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + left
}

async fn serve(state: AppState, socket: WebSocket) {
    // The subprotocol axum negotiated; a client that offered none speaks graphql-transport-ws.
    let protocol = socket
        .protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(|p| p.parse::<WebSocketProtocols>().ok())
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    let (sink, mut stream) = socket.split();
    let mut out = Writer {
        sink,
        timeout: state.ws.send_timeout,
    };
    let mut shutdown = state.shutdown.clone();

    // 1. The first message must be connection_init with a good token.
    let first = tokio::time::timeout(state.ws.init_timeout, async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => return Some(text.as_bytes().to_vec()),
                Some(Ok(Message::Binary(bytes))) => return Some(bytes.to_vec()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    let first = match first {
        Err(_) => return out.close(4408, "Connection initialisation timeout").await,
        Ok(None) => return,
        Ok(Some(raw)) => raw,
    };
    let init = match screen::classify(&first) {
        None => return out.close(4400, "Invalid message").await,
        Some(ClientFrame::Init(message)) => message,
        Some(_) => return out.close(4401, "Unauthorized").await,
    };
    let authorization = init.get("payload").and_then(screen::authorization);
    // Boxed: its state would otherwise sit inside every socket's task for the socket's life.
    let verified = Box::pin(auth::principal_until(&state, authorization.as_deref())).await;
    let (principal, expires_at) = match verified {
        Ok(Ok(verified)) => verified,
        Ok(Err(_)) => return out.close(4403, "Forbidden").await,
        Err(e) => {
            e.log();
            return out.close(1011, "Internal error").await;
        }
    };
    let Some(_slot) = state.sockets.take(&principal.user_id) else {
        // 1013 (try again later): the reference client retries with backoff, and gets in once
        // one of the user's other sockets closes.
        return out.close(1013, "Too many open sockets for this user").await;
    };

    // 2. Hand the socket to async-graphql, still screening each message.
    let (to_protocol, from_client) = mpsc::channel::<Vec<u8>>(INBOX);
    let _ = to_protocol.try_send(first);
    let user_id = principal.user_id.clone();
    let mut data = Data::default();
    data.insert(Caller::Authenticated(principal));
    let mut protocol_out = async_graphql::http::WebSocket::new(
        state.schema.clone(),
        ReceiverStream::new(from_client),
        protocol,
    )
    .on_connection_init(move |_| async move { Ok(data) });
    let legacy = matches!(protocol, WebSocketProtocols::SubscriptionsTransportWS);
    let mut keepalive = tokio::time::interval(state.ws.keepalive);
    keepalive.tick().await;
    let silent_limit = state.ws.keepalive * SILENT_PERIODS;
    let mut last_heard = Instant::now();
    let expiry = tokio::time::sleep_until(deadline(expires_at));
    tokio::pin!(expiry);
    let mut open = OpenSubscriptions::new(state.ws.max_subscriptions);
    let pace = screen::pace(state.ws.max_messages_per_second);
    // Set when the client sent faster than its pace: nothing is read until then (TCP pushes back).
    let mut resume_at: Option<Instant> = None;
    // A client message the protocol had no room for yet; nothing more is read until it is taken.
    let mut waiting: Option<Vec<u8>> = None;

    loop {
        tokio::select! {
            () = tokio::time::sleep_until(resume_at.unwrap_or_else(Instant::now)), if resume_at.is_some() => {
                // The message read past the pace is paid for now, before the next is read.
                resume_at = screen::paced(&pace).err().map(|wait| Instant::now() + wait);
            }
            incoming = stream.next(), if waiting.is_none() && resume_at.is_none() => {
                if let Err(wait) = screen::paced(&pace) {
                    resume_at = Some(Instant::now() + wait);
                }
                let raw = match incoming {
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        last_heard = Instant::now();
                        continue;
                    }
                    // Answer the client's close (the reply is only queued until the sink is
                    // flushed): without it the client sees 1006, and graphql-ws backs off for
                    // seconds before reconnecting.
                    Some(Ok(Message::Close(_))) => {
                        let _ = tokio::time::timeout(out.timeout, out.sink.close()).await;
                        break;
                    }
                    _ => break,
                };
                last_heard = Instant::now();
                match screen::classify(&raw) {
                    None => {
                        out.close(4400, "Invalid message").await;
                        break;
                    }
                    Some(ClientFrame::Subscribe { id, query_bytes })
                        if query_bytes > state.graphql.max_query_bytes =>
                    {
                        let refusal = screen::too_long(protocol, &id, state.graphql.max_query_bytes);
                        if !out.send(Message::Text(refusal.into())).await {
                            break;
                        }
                        continue;
                    }
                    Some(ClientFrame::Subscribe { id, .. })
                        if let Some(Err(wait)) = state.limits.as_ref().map(|l| l.check_user(&user_id)) =>
                    {
                        let refusal = screen::too_fast(protocol, &id, wait);
                        if !out.send(Message::Text(refusal.into())).await {
                            break;
                        }
                        continue;
                    }
                    Some(ClientFrame::Subscribe { id, .. }) => match open.admit(&id) {
                        Admission::Admit => {}
                        Admission::TooMany => {
                            let refusal = screen::too_many(protocol, &id, state.ws.max_subscriptions);
                            if !out.send(Message::Text(refusal.into())).await {
                                break;
                            }
                            continue;
                        }
                        Admission::Duplicate => {
                            out.close(4409, &format!("Subscriber for {} already exists", short(&id))).await;
                            break;
                        }
                    },
                    Some(ClientFrame::Complete { id }) => open.ended(&id),
                    Some(ClientFrame::Ping { authorization: Some(fresh) }) => {
                        match refreshed(&state, &user_id, &fresh) {
                            Some(at) => expiry.as_mut().reset(deadline(at)),
                            None => {
                                out.close(4403, "Forbidden").await;
                                break;
                            }
                        }
                    }
                    Some(_) => {}
                }
                match to_protocol.try_send(raw) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(raw)) => waiting = Some(raw),
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
            room = to_protocol.reserve(), if waiting.is_some() => match (room, waiting.take()) {
                (Ok(room), Some(raw)) => room.send(raw),
                _ => break,
            },
            outgoing = protocol_out.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    open.server_sent(&text);
                    if !out.send(Message::Text(text.into())).await {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    out.close(code, &reason).await;
                    break;
                }
                None => break,
            },
            _ = &mut expiry => {
                out.close(4403, "Forbidden: the token has expired").await;
                break;
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() > silent_limit {
                    out.close(1001, "No answer to pings").await;
                    break;
                }
                // Every client answers a ping frame; legacy clients also expect `ka` messages.
                if legacy && !out.send(Message::Text(r#"{"type":"ka"}"#.into())).await {
                    break;
                }
                if !out.send(Message::Ping(Default::default())).await {
                    break;
                }
            }
            _ = shutdown.changed() => {
                out.close(1001, "Server shutting down").await;
                break;
            }
        }
    }
}

/// The expiry of a fresh token sent on a `ping`, when it is valid and for the same user. Only the
/// signature and claims are checked (no database work inside the loop); the next request syncs the
/// user's record.
fn refreshed(state: &AppState, user_id: &str, authorization: &str) -> Option<DateTime<Utc>> {
    let token = bearer_token(authorization)?;
    let (principal, expires_at): (Principal, _) = state.jwt.verify_until(token).ok()?;
    (principal.user_id == user_id).then_some(expires_at)
}

/// At most 64 characters of a client-chosen id, for a close reason (limited to 123 bytes).
fn short(id: &str) -> &str {
    match id.char_indices().nth(64) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}
