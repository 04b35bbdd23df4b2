//! The accept loop: HTTP/1.1 with upgrades (WebSockets), a deadline for request headers that also
//! closes idle keep-alive connections, a write deadline for clients that stop reading, and a graceful
//! stop. axum's own `serve` sets no timeouts at all, which let slow or idle clients hold connections
//! for ever.

use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_io_timeout::TimeoutStream;
use tower::util::MapRequest;

use crate::config::HttpSettings;

/// Serves `app` on `listener` until `shutdown` turns true, then stops accepting and lets each open
/// connection finish its request in flight; returns when the last one has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    edge: &HttpSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(edge.header_timeout)
        .keep_alive(true);
    // Every connection task holds a sender; when the last is gone, every connection has closed.
    let (open_tx, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        // A client that stops reading an answer holds the connection only this long.
        stream.set_write_timeout(Some(edge.request_timeout));
        let io = TokioIo::new(Box::pin(stream));
        // The peer's address rides on every request, for limits counted per address.
        let service = MapRequest::new(app.clone(), move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = builder
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
        let mut stop = shutdown.clone();
        let open = open_tx.clone();
        tokio::spawn(async move {
            let _open = open;
            let mut connection = std::pin::pin!(connection);
            let stopping = tokio::select! {
                result = connection.as_mut() => {
                    log_end(result);
                    false
                }
                () = stopped(&mut stop) => true,
            };
            if stopping {
                connection.as_mut().graceful_shutdown();
                log_end(connection.await);
            }
        });
    }
    drop(listener);
    drop(open_tx);
    let _ = all_closed.recv().await;
}

/// Resolves once `shutdown` is true (the guard `wait_for` returns is not held by the caller).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        // Timeouts, resets and malformed requests are the client's doing.
        tracing::debug!(%error, "connection ended with an error");
    }
}
