//! Connections cannot be held open for free: an idle connection, headers or a body sent a byte at a
//! time, and a request that never finishes are all cut off by their deadlines.

use std::time::{Duration, Instant};

use mentor_scheduler::auth::Role;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp};

const SHORT: &[(&str, &str)] = &[
    ("HTTP_HEADER_TIMEOUT_SECONDS", "1"),
    ("HTTP_BODY_TIMEOUT_SECONDS", "1"),
    ("HTTP_REQUEST_TIMEOUT_SECONDS", "3"),
];

/// Reads until the server closes the connection (or fails after `limit`); returns what it sent.
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open past {limit:?}"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

/// Writes `bytes` one at a time, `gap` apart, stopping quietly once the server has closed.
async fn trickle(stream: &mut (impl AsyncWrite + Unpin), bytes: &[u8], gap: Duration) -> bool {
    for byte in bytes {
        if stream.write_all(&[*byte]).await.is_err() {
            return false;
        }
        tokio::time::sleep(gap).await;
    }
    true
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, SHORT).await.unwrap();
    let started = Instant::now();
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Idle again after a request on a kept-alive connection: closed too.
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_are_cut_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, SHORT).await.unwrap();
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "y".repeat(40)
    );
    let started = Instant::now();
    let finished = trickle(&mut stream, headers.as_bytes(), Duration::from_millis(100)).await;
    read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        !finished || started.elapsed() < Duration::from_secs(3),
        "the whole slow header went through"
    );
}

#[tokio::test]
async fn a_body_that_stalls_gets_408() {
    let app = TestApp::spawn_with(Backend::Sqlite, SHORT).await.unwrap();
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("BAD_USER_INPUT") && answer.contains("did not arrive in time"),
        "{answer}"
    );
}

/// Starts a `/graphql` POST whose body then comes a byte every half second (each byte well within
/// any per-read deadline, the whole would take 40 s); returns the answer and when it came.
async fn trickled_body(app: &TestApp) -> (String, Duration) {
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let body = format!(r#"{{"query":"{{ __typename }} # {}"}}"#, "z".repeat(60));
    stream
        .write_all(
            format!(
                "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let answer = tokio::select! {
        answer = read_until_closed(&mut reader, Duration::from_secs(10)) => answer,
        _ = trickle(&mut writer, body.as_bytes(), Duration::from_millis(500)) => panic!("the whole slow body went through"),
    };
    (answer, started.elapsed())
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_gets_408_at_the_body_deadline() {
    let app = TestApp::spawn_with(Backend::Sqlite, SHORT).await.unwrap();
    let (answer, took) = trickled_body(&app).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("BAD_USER_INPUT") && answer.contains("did not arrive in time"),
        "{answer}"
    );
    // The body's own deadline (1 s), not the request's (3 s).
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_503() {
    // A body deadline longer than the request's: the request deadline cuts the trickle off.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("HTTP_BODY_TIMEOUT_SECONDS", "30"),
            ("HTTP_REQUEST_TIMEOUT_SECONDS", "2"),
        ],
    )
    .await
    .unwrap();
    let (answer, took) = trickled_body(&app).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("INTERNAL") && answer.contains("took longer than 2 s"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(6), "{took:?}");
}

#[tokio::test]
async fn a_rest_body_sent_a_byte_at_a_time_gets_408_in_the_rest_shape() {
    let app = TestApp::spawn_with(Backend::Sqlite, SHORT).await.unwrap();
    let token = app
        .user("cktrickler000000000000001", Role::Student, "Europe/London")
        .await;
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let body = format!(r#"{{"channels":[], "pad":"{}"}}"#, "z".repeat(60));
    stream
        .write_all(
            format!(
                "PUT /notifications/preferences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let answer = tokio::select! {
        answer = read_until_closed(&mut reader, Duration::from_secs(10)) => answer,
        _ = trickle(&mut writer, body.as_bytes(), Duration::from_millis(500)) => panic!("the whole slow body went through"),
    };
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#""code":"BAD_USER_INPUT""#) && answer.contains("did not arrive in time"),
        "{answer}"
    );
}
