//! GraphQL over WebSocket on `/graphql/ws`: `graphql-transport-ws` and the legacy `graphql-ws`.
//!
//! async-graphql runs the protocol, but this module screens the socket first, because async-graphql
//! answers a rejected `connection_init` with close code 1002, which the reference `graphql-ws` client
//! treats as fatal. Here a missing, bad or expired token closes with 4403 (the client refreshes and
//! retries), a `subscribe` before `connection_init` with 4401, silence past the init timeout with
//! 4408, and a message that is not a JSON object with a `type` with 4400. Server pings keep idle
//! sockets alive through proxies; on shutdown sockets close with 1001.

use async_graphql::http::{WebSocketProtocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{auth, AppState};
use crate::auth::Caller;

/// Small per-socket buffers: tens of thousands of idle sockets must fit in memory (client messages
/// are small; a larger one is read in several chunks, up to `MAX_MESSAGE`).
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_MESSAGE: usize = 64 * 1024;

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

/// The `type` of a client message, if it is a JSON object with one.
fn message_type(raw: &[u8]) -> Option<(String, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let kind = value.get("type")?.as_str()?.to_string();
    Some((kind, value))
}

/// The token from a `connection_init` payload: `authorization` / `Authorization`, with or without
/// the `Bearer ` prefix, or the legacy `authToken`.
fn init_authorization(message: &serde_json::Value) -> Option<String> {
    let payload = message.get("payload")?;
    let raw = ["authorization", "Authorization", "authToken"]
        .iter()
        .find_map(|k| payload.get(*k)?.as_str())?;
    Some(if raw.contains(' ') {
        raw.to_string()
    } else {
        format!("Bearer {raw}")
    })
}

async fn serve(state: AppState, socket: WebSocket) {
    // The subprotocol axum negotiated; a client that offered none speaks graphql-transport-ws.
    let protocol = socket
        .protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(|p| p.parse::<WebSocketProtocols>().ok())
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    let (mut sink, mut stream) = socket.split();
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
        Err(_) => {
            let _ = sink
                .send(close(4408, "Connection initialisation timeout"))
                .await;
            return;
        }
        Ok(None) => return,
        Ok(Some(raw)) => raw,
    };
    let caller = match message_type(&first) {
        None => {
            let _ = sink.send(close(4400, "Invalid message")).await;
            return;
        }
        Some((kind, _)) if kind != "connection_init" => {
            let _ = sink.send(close(4401, "Unauthorized")).await;
            return;
        }
        // Boxed: its state would otherwise sit inside every socket's task for the socket's life.
        Some((_, message)) => {
            Box::pin(auth::caller(
                &state,
                init_authorization(&message).as_deref(),
            ))
            .await
        }
    };
    let principal = match caller {
        Ok(Caller::Authenticated(p)) => p,
        Ok(_) => {
            let _ = sink.send(close(4403, "Forbidden")).await;
            return;
        }
        Err(e) => {
            e.log();
            let _ = sink.send(close(1011, "Internal error")).await;
            return;
        }
    };

    // 2. Hand the socket to async-graphql, still screening each message.
    let (to_protocol, from_client) = mpsc::channel::<Vec<u8>>(4);
    let _ = to_protocol.send(first).await;
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

    loop {
        tokio::select! {
            incoming = stream.next() => {
                let raw = match incoming {
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    // Answer the client's close (the reply is only queued until the sink is
                    // flushed): without it the client sees 1006, and graphql-ws backs off for
                    // seconds before reconnecting.
                    Some(Ok(Message::Close(_))) => {
                        let _ = sink.close().await;
                        break;
                    }
                    _ => break,
                };
                if message_type(&raw).is_none() {
                    let _ = sink.send(close(4400, "Invalid message")).await;
                    break;
                }
                if to_protocol.send(raw).await.is_err() {
                    break;
                }
            }
            outgoing = protocol_out.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let _ = sink.send(close(code, &reason)).await;
                    break;
                }
                None => break,
            },
            _ = keepalive.tick() => {
                let ping = if legacy { Message::Text(r#"{"type":"ka"}"#.into()) } else { Message::Ping(Default::default()) };
                if sink.send(ping).await.is_err() {
                    break;
                }
            }
            _ = shutdown.changed() => {
                let _ = sink.send(close(1001, "Server shutting down")).await;
                break;
            }
        }
    }
}
