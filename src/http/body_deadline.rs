//! A whole request body must arrive within `HTTP_BODY_TIMEOUT_SECONDS`, however it trickles in (a
//! deadline on the whole, where tower-http's timeout restarts at every chunk). A body past it fails
//! to read with [`BodyTimedOut`], and the request is answered 408.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use tokio::time::Sleep;

use super::error::ApiError;

/// Why a body could not be read: its deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Gives the body its deadline; a handler that failed because the body ran out of time is answered
/// 408 (it may have answered so itself, as `/graphql` does in its own shape).
pub async fn whole_body(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if expired.load(Ordering::Relaxed) && response.status() != StatusCode::REQUEST_TIMEOUT {
        return ApiError::new(StatusCode::REQUEST_TIMEOUT, BodyTimedOut.to_string())
            .into_response();
    }
    response
}

/// Whether `error` (or what caused it) is a body that ran out of time.
pub fn is_timeout(mut error: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if error.is::<BodyTimedOut>() {
            return true;
        }
        match error.source() {
            Some(source) => error = source,
            None => return false,
        }
    }
}
