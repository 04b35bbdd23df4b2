//! A fake Twilio, built from Twilio's public Messages API reference (`../shared/reference/
//! payments-sms-contracts.md` section B):
//! - `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded with HTTP Basic `sid:token`
//!   (401 / 20003 otherwise): `To` must be E.164 (400 / 21211), one of `From` and
//!   `MessagingServiceSid`, a `Body` of at most 1,600 characters; a number that replied STOP is
//!   refused (400 / 21610); answers 201 with `status: queued` (`accepted` and `num_segments: "0"`
//!   through a messaging service), counts and dates as Twilio writes them;
//! - `GET …/Messages.json?To=&DateSent>=`: the messages sent to a number since a day;
//! - injected failures: 429 with `Retry-After`, 5xx, 5xx after the message was taken, lookups down;
//! - status callbacks and inbound messages, form-posted to the app and signed as Twilio signs them
//!   (`X-Twilio-Signature`, computed here on its own from Twilio's documented algorithm).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hmac::Mac;
use serde_json::{json, Value};

pub const ACCOUNT: &str = "AC00000000000000000000000000000001";
pub const TOKEN: &str = "twilio-auth-token-for-tests";
pub const FROM: &str = "+15005550006";

/// One message Twilio took.
#[derive(Debug, Clone)]
pub struct Sent {
    pub sid: String,
    pub to: String,
    pub body: String,
    pub status_callback: Option<String>,
    pub created: chrono::DateTime<chrono::Utc>,
}

/// What the next send request gets.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// 429 with `Retry-After: 1`.
    Throttle,
    /// A 5xx before anything was taken.
    Down(u16),
    /// The message is taken, then the answer is a 500 (the caller cannot know).
    LostAnswer,
}

#[derive(Default)]
struct Fake {
    sent: Vec<Sent>,
    requests: usize,
    stopped: HashSet<String>,
    failures: VecDeque<Failure>,
    /// Lookups (`GET Messages.json`) answer 503.
    lookups_down: bool,
    counter: u64,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub url: String,
    state: Arc<Mutex<Fake>>,
    http: reqwest::Client,
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()});
    (status, axum::Json(body)).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"))
    );
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

fn e164(n: &str) -> bool {
    n.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Twilio's signature: HMAC-SHA1 over the URL and the sorted parameters, base64.
pub fn twilio_signature(url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in &sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn send(State(fake): State<Arc<Mutex<Fake>>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut fake = fake.lock().unwrap();
    fake.requests += 1;
    let failure = fake.failures.pop_front();
    match failure {
        Some(Failure::Throttle) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            return r;
        }
        Some(Failure::Down(status)) => {
            return error(
                StatusCode::from_u16(status).unwrap(),
                20500,
                "Internal Server Error",
            )
        }
        _ => {}
    }
    let Some(to) = get("To").filter(|t| e164(t)) else {
        return error(StatusCode::BAD_REQUEST, 21211, "Invalid 'To' Phone Number");
    };
    let service = get("MessagingServiceSid");
    if get("From").is_some() == service.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' or 'MessagingServiceSid' parameter is required",
        );
    }
    let Some(body) = get("Body").filter(|b| !b.is_empty() && b.chars().count() <= 1600) else {
        return error(StatusCode::BAD_REQUEST, 21602, "Message body is required");
    };
    if fake.stopped.contains(&to) {
        return error(
            StatusCode::BAD_REQUEST,
            21610,
            "Attempt to send to unsubscribed recipient",
        );
    }
    fake.counter += 1;
    let sid = format!("SM{:032x}", fake.counter);
    let created = chrono::Utc::now();
    fake.sent.push(Sent {
        sid: sid.clone(),
        to: to.clone(),
        body: body.clone(),
        status_callback: get("StatusCallback"),
        created,
    });
    if matches!(failure, Some(Failure::LostAnswer)) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        );
    }
    let (status, segments) = if service.is_some() {
        ("accepted", "0")
    } else {
        ("queued", "1")
    };
    let message = json!({
        "sid": sid, "account_sid": ACCOUNT, "to": to, "from": get("From"), "body": body,
        "status": status, "num_segments": segments, "num_media": "0", "direction": "outbound-api",
        "error_code": null, "error_message": null, "price": null,
        "messaging_service_sid": service, "date_created": created.to_rfc2822(),
    });
    (StatusCode::CREATED, axum::Json(message)).into_response()
}

async fn list(
    State(fake): State<Arc<Mutex<Fake>>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if fake.lock().unwrap().lookups_down {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service Unavailable",
        );
    }
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let since = get("DateSent>")
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc());
    let fake = fake.lock().unwrap();
    let messages: Vec<Value> = fake
        .sent
        .iter()
        .rev()
        .filter(|m| get("To").is_none_or(|t| t == m.to))
        .filter(|m| since.is_none_or(|s| m.created >= s))
        .map(|m| json!({"sid": m.sid, "to": m.to, "body": m.body, "status": "sent", "date_created": m.created.to_rfc2822()}))
        .collect();
    axum::Json(json!({"messages": messages, "page": 0, "page_size": 50})).into_response()
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let state = Arc::new(Mutex::new(Fake::default()));
        let app = Router::new()
            .route(
                &format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json"),
                post(send).get(list),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeTwilio {
            url,
            state,
            http: reqwest::Client::new(),
        }
    }

    /// The app's settings that point it here.
    pub fn settings(&self) -> Vec<(String, String)> {
        [
            ("TWILIO_ACCOUNT_SID", ACCOUNT),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("TWILIO_FROM", FROM),
            ("TWILIO_API_URL", self.url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state.lock().unwrap().sent.clone()
    }

    /// Send requests received (taken or not).
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    pub fn fail_next(&self, failure: Failure) {
        self.state.lock().unwrap().failures.push_back(failure);
    }

    /// Lookups of sent messages answer 503 from now on.
    pub fn lookups_down(&self) {
        self.state.lock().unwrap().lookups_down = true;
    }

    /// Twilio's side of a STOP: later sends to `number` fail with 21610.
    pub fn stop(&self, number: &str) {
        self.state
            .lock()
            .unwrap()
            .stopped
            .insert(number.to_string());
    }

    /// Posts `params` to `url`, signed (or with `signature` instead); the status and body.
    pub async fn post_signed(
        &self,
        url: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> (u16, String) {
        let signature = signature
            .map(str::to_string)
            .unwrap_or_else(|| twilio_signature(url, params));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The status callback Twilio would post for `sent` reaching `status`.
    pub fn callback(
        &self,
        sent: &Sent,
        status: &str,
        error_code: Option<&str>,
    ) -> (String, Vec<(String, String)>) {
        let mut params: Vec<(String, String)> = [
            ("MessageSid", sent.sid.as_str()),
            ("SmsSid", sent.sid.as_str()),
            ("AccountSid", ACCOUNT),
            ("From", FROM),
            ("To", sent.to.as_str()),
            ("MessageStatus", status),
            ("SmsStatus", status),
            ("ApiVersion", "2010-04-01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(code) = error_code {
            params.push(("ErrorCode".into(), code.into()));
        }
        (
            sent.status_callback
                .clone()
                .expect("a StatusCallback was given"),
            params,
        )
    }

    /// An inbound text from `from` saying `body`, as Twilio posts it to the number's webhook.
    pub fn inbound(from: &str, body: &str) -> Vec<(String, String)> {
        [
            ("MessageSid", "SM00000000000000000000000000000099"),
            ("SmsSid", "SM00000000000000000000000000000099"),
            ("AccountSid", ACCOUNT),
            ("From", from),
            ("To", FROM),
            ("Body", body),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("SmsStatus", "received"),
            ("ApiVersion", "2010-04-01"),
            ("FromCountry", "GB"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}
