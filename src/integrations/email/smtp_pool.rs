//! SMTP connections opened here, with `TCP_NODELAY`, and kept for reuse.
//!
//! lettre's pooled transport opens its own sockets and leaves Nagle's algorithm on. It writes a
//! message's final `\r\n.\r\n` as a small write of its own, which then waits for the ACK of the
//! body; the server delays that ACK (up to 40 ms on Linux). That stall capped sending near 150
//! messages a second. lettre's connection API takes a stream we open ourselves
//! (`AsyncSmtpConnection::connect_with_transport`), so the socket is made here with `TCP_NODELAY`;
//! STARTTLS, authentication and sending are still lettre's. Implicit TLS (`smtps://`) stays on
//! lettre's own transport: it must wrap the socket before the greeting, which that API cannot.
//!
//! Connections are taken from the idle ones (one idle for a minute is checked with `NOOP` first),
//! or opened; after a send they go back unless something failed on them. Every send is bounded in
//! time: a server that stalls costs a worker no more than [`SEND_TIMEOUT`].

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;

use super::pipelining;
use crate::domain::email::SendFailure;

/// Connecting, greeting and TLS, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// One message, from taking a connection to the server's answer to its data, at most.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept at most.
const MAX_IDLE: usize = 16;
/// An idle connection older than this is checked (`NOOP`) before use.
const CHECK_AFTER: Duration = Duration::from_secs(60);

/// How the connection is secured.
pub enum Security {
    None,
    /// STARTTLS; `required`: refuse to send when the server does not offer it.
    StartTls {
        parameters: TlsParameters,
        required: bool,
    },
}

/// Where and how to connect.
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<Credentials>,
    pub hello: ClientId,
}

pub struct SmtpPool {
    endpoint: Endpoint,
    idle: Mutex<Vec<(Kept, Instant)>>,
}

/// A connection, and whether its server takes pipelined commands.
struct Kept {
    connection: AsyncSmtpConnection,
    pipelining: bool,
}

fn temporary(what: &str, e: impl std::fmt::Display) -> SendFailure {
    SendFailure::Temporary(format!("{what}: {e}"))
}

/// lettre's error as a send failure: permanent (5xx) or worth another try.
fn failure(e: lettre::transport::smtp::Error) -> SendFailure {
    if e.is_permanent() {
        SendFailure::Permanent {
            code: e.status().and_then(|c| c.to_string().parse().ok()),
            message: e.to_string(),
        }
    } else {
        SendFailure::Temporary(e.to_string())
    }
}

/// A TCP connection to `host:port` with Nagle's algorithm off.
pub async fn socket(host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl SmtpPool {
    pub fn new(endpoint: Endpoint) -> Self {
        SmtpPool {
            endpoint,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends `message` on a kept connection or a new one.
    pub async fn send(&self, message: &Message) -> Result<(), SendFailure> {
        match tokio::time::timeout(SEND_TIMEOUT, self.send_on_a_connection(message)).await {
            Ok(sent) => sent,
            Err(_) => Err(SendFailure::Temporary(format!(
                "the SMTP server did not answer within {} s",
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn send_on_a_connection(&self, message: &Message) -> Result<(), SendFailure> {
        let mut kept = match self.take().await {
            Some(kept) => kept,
            None => self.connect().await?,
        };
        let (envelope, email) = (message.envelope(), message.formatted());
        let connection = &mut kept.connection;
        let sent = if kept.pipelining {
            pipelining::send(connection, envelope, &email)
                .await
                .map_err(|failed| match failed {
                    pipelining::Failed::Smtp(e) => failure(e),
                    pipelining::Failed::Unsupported(why) => SendFailure::Permanent {
                        code: None,
                        message: why.into(),
                    },
                })
        } else {
            connection.send(envelope, &email).await.map_err(failure)
        };
        match sent {
            Ok(_) => {
                self.give_back(kept);
                Ok(())
            }
            Err(failed) => {
                // Whatever failed, this connection is not reused.
                kept.connection.abort().await;
                Err(failed)
            }
        }
    }

    /// An idle connection still usable, if any.
    async fn take(&self) -> Option<Kept> {
        loop {
            let next = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let (mut kept, since) = next?;
            if kept.connection.has_broken() {
                continue;
            }
            if since.elapsed() < CHECK_AFTER || kept.connection.test_connected().await {
                return Some(kept);
            }
            kept.connection.abort().await;
        }
    }

    fn give_back(&self, kept: Kept) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE && !kept.connection.has_broken() {
            idle.push((kept, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<Kept, SendFailure> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.open()).await {
            Ok(opened) => opened,
            Err(_) => Err(SendFailure::Temporary(format!(
                "connecting to the SMTP server took over {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn open(&self) -> Result<Kept, SendFailure> {
        let e = &self.endpoint;
        let stream = socket(&e.host, e.port)
            .await
            .map_err(|err| temporary("connecting to the SMTP server", err))?;
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &e.hello)
                .await
                .map_err(failure)?;
        if let Security::StartTls {
            parameters,
            required,
        } = &e.security
        {
            if connection.can_starttls() {
                connection
                    .starttls(parameters.clone(), &e.hello)
                    .await
                    .map_err(failure)?;
            } else if *required {
                connection.abort().await;
                return Err(SendFailure::Temporary(
                    "the SMTP server does not offer STARTTLS, which SMTP_URL requires".into(),
                ));
            }
        }
        // Asked before AUTH: the EHLO that asks starts the session afresh.
        let pipelining = pipelining::offered(&mut connection, &e.hello)
            .await
            .map_err(failure)?;
        if let Some(credentials) = &e.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(failure)?;
        }
        Ok(Kept {
            connection,
            pipelining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sockets_are_made_without_nagle() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = socket("127.0.0.1", port).await.unwrap();
        assert!(stream.nodelay().unwrap());
    }
}
