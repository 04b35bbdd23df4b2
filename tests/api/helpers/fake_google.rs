//! A fake Google (OAuth 2.0 and Calendar API v3), built from Google's public references
//! (`../shared/reference/provider-contracts.md`): the consent page redirects back with a code (or
//! `error=access_denied`), the token endpoint takes the client's credentials as form fields, checks
//! the PKCE verifier against the S256 challenge of the consent request, the redirect URI and that a
//! code is traded once (`invalid_grant` otherwise), and refreshes; the calendar list is paged and
//! refuses unknown access tokens with 401 `authError`; `events.list` expands nothing itself (tests
//! put instances), pages two events at a time, gives a sync token on the last page only, answers a
//! sync token with what changed since (cancelled events as bare ids), and 410 `fullSyncRequired`
//! once tokens are expired; a sync token with `timeMin`/`timeMax` is 400, as at Google.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A timed event as Google lists it.
pub fn timed(id: &str, start: &str, end: &str) -> Value {
    json!({ "id": id, "status": "confirmed", "start": { "dateTime": start }, "end": { "dateTime": end } })
}

/// A secondary calendar of the account (not busy by default).
pub const FAMILY: &str = "family0123@group.calendar.google.com";

pub const CLIENT_ID: &str = "fake-client.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "GOCSPX-fake-secret";
/// The account's primary calendar id, which is its email.
pub const ACCOUNT: &str = "mentor.one@gmail.example";

struct Issued {
    challenge: String,
    redirect_uri: String,
    used: bool,
    /// The scopes the mentor granted.
    scope: String,
    /// The account that consented (its primary calendar's id).
    account: String,
}

#[derive(Default)]
struct Fake {
    codes: HashMap<String, Issued>,
    access_tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    /// Every form posted to the token endpoint.
    token_requests: Vec<HashMap<String, String>>,
    /// Every consent request's query.
    consents: Vec<HashMap<String, String>>,
    /// The next consent is refused by the mentor.
    deny_next: bool,
    /// The next consent grants only these scopes (the mentor unticked the rest).
    narrow_next: Option<String>,
    counter: u64,
    /// Each calendar's events by id, with the change number that last touched them.
    events: HashMap<String, Vec<(u64, Value)>>,
    changes: u64,
    /// Sync tokens older than this are expired (410).
    tokens_valid_from: u64,
    /// Every `events.list` query.
    event_reads: Vec<HashMap<String, String>>,
    /// Tokens posted to the revoke endpoint.
    revoked: Vec<String>,
    /// `events.list` calls still to fail with 503 `backendError`.
    failing_reads: usize,
    /// Calendars the account no longer has (left out of the calendar list).
    removed_calendars: HashSet<String>,
    /// Open push channels.
    channels: Vec<Channel>,
    /// Every watch request's body, and the ids of channels stopped.
    watches: Vec<Value>,
    stopped: Vec<String>,
    /// Google takes only https addresses; tests that want pushes let it take http.
    accept_http: bool,
    /// What our webhook answered to each `sync` handshake.
    handshakes: Vec<u16>,
    /// The next `events.list` waits for the test.
    hold: Option<ReadHold>,
    /// Every write to events: (method, calendar, event id, query).
    writes: Vec<Write>,
    /// How many reads of a new event still find its Meet link `pending` (per event).
    meet_pending: HashMap<String, usize>,
    /// Reads of a new event that answer `pending` before the link is made.
    pending_reads: usize,
    /// Meet links fail to be made.
    meet_fails: bool,
    /// The next insert is made, then answered 503 (the answer is lost).
    lose_next_insert_answer: bool,
    /// Each token's account (one account unless each consent makes its own).
    token_accounts: HashMap<String, String>,
    /// A load: each consent is a new account with `seed_events` events, pages of `page_size`.
    account_per_consent: bool,
    seed_events: usize,
    page_size: usize,
    /// Event writes still to answer 429, with this `Retry-After` (seconds).
    limited_writes: usize,
    limit_retry_after: u64,
    /// 429, or 403 `rateLimitExceeded` (Google answers both).
    limit_status: u16,
    /// Event writes are refused with 403 `requiredAccessLevel` (a read-only calendar).
    read_only: bool,
}

/// A write to events: (method, calendar, event id, query).
pub type Write = (String, String, String, HashMap<String, String>);

/// A read held back: `reached` when Google has read the events, answered after `release`.
#[derive(Clone, Default)]
pub struct ReadHold {
    pub reached: Arc<tokio::sync::Notify>,
    pub release: Arc<tokio::sync::Notify>,
}

#[derive(Clone)]
struct Channel {
    id: String,
    token: Option<String>,
    address: String,
    calendar: String,
    resource_id: String,
    expiration: i64,
    messages: u64,
}

/// One push as Google posts it: its headers (`X-Goog-*`), to the channel's address.
pub struct Delivery {
    pub address: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Delivery {
    fn of(channel: &Channel, state: &str) -> Delivery {
        let mut headers = vec![
            ("X-Goog-Channel-ID", channel.id.clone()),
            ("X-Goog-Message-Number", channel.messages.to_string()),
            ("X-Goog-Resource-ID", channel.resource_id.clone()),
            ("X-Goog-Resource-State", state.to_string()),
            (
                "X-Goog-Resource-URI",
                format!(
                    "https://www.googleapis.com/calendar/v3/calendars/{}/events?alt=json",
                    channel.calendar
                ),
            ),
        ];
        if let Some(token) = &channel.token {
            headers.push(("X-Goog-Channel-Token", token.clone()));
        }
        if let Some(at) = chrono::DateTime::from_timestamp_millis(channel.expiration) {
            headers.push((
                "X-Goog-Channel-Expiration",
                at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            ));
        }
        Delivery {
            address: channel.address.clone(),
            headers,
        }
    }

    /// Posts it (empty body, Google's user agent); the status our webhook answered.
    pub async fn post(&self) -> u16 {
        let mut request = reqwest::Client::new().post(&self.address).header(
            "user-agent",
            "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
        );
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

impl Fake {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }
}

#[derive(Clone)]
pub struct FakeGoogle {
    pub url: String,
    state: Arc<Mutex<Fake>>,
}

type Shared = Arc<Mutex<Fake>>;

impl FakeGoogle {
    pub async fn start() -> FakeGoogle {
        Self::start_with(false, 0, 2).await
    }

    /// For load: every consent is a new account (`mentor{n}@gmail.example`) whose primary calendar
    /// holds `events` timed events over the next 60 days; `events.list` pages `page_size` at a time
    /// (Google's default is 250). Used by `examples/calendar_load.rs`.
    #[allow(dead_code)]
    pub async fn for_load(events: usize, page_size: usize) -> FakeGoogle {
        Self::start_with(true, events, page_size).await
    }

    async fn start_with(
        account_per_consent: bool,
        seed_events: usize,
        page_size: usize,
    ) -> FakeGoogle {
        let state: Shared = Arc::default();
        {
            let mut fake = state.lock().unwrap();
            fake.account_per_consent = account_per_consent;
            fake.seed_events = seed_events;
            fake.page_size = page_size.max(1);
        }
        let app = Router::new()
            .route("/o/oauth2/v2/auth", get(consent))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/calendar/v3/users/me/calendarList", get(calendar_list))
            .route(
                "/calendar/v3/calendars/{calendar}/events",
                get(events_list).post(event_insert),
            )
            .route(
                "/calendar/v3/calendars/{calendar}/events/watch",
                post(watch),
            )
            .route(
                "/calendar/v3/calendars/{calendar}/events/{event}",
                get(event_get).patch(event_patch).delete(event_delete),
            )
            .route("/calendar/v3/channels/stop", post(stop))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGoogle { url, state }
    }

    /// The settings that point the service at this fake.
    pub fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("GOOGLE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("GOOGLE_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            (
                "GOOGLE_AUTH_URL".into(),
                format!("{}/o/oauth2/v2/auth", self.url),
            ),
            ("GOOGLE_TOKEN_URL".into(), format!("{}/token", self.url)),
            ("GOOGLE_REVOKE_URL".into(), format!("{}/revoke", self.url)),
            (
                "GOOGLE_CALENDAR_API_URL".into(),
                format!("{}/calendar/v3", self.url),
            ),
        ]
    }

    /// Adds or replaces (same `id`) an event of `calendar`.
    pub fn put_event(&self, calendar: &str, event: Value) {
        let mut fake = self.lock();
        fake.changes += 1;
        let change = fake.changes;
        let list = fake.events.entry(calendar.to_string()).or_default();
        list.retain(|(_, e)| e["id"] != event["id"]);
        list.push((change, event));
    }

    /// Adds or replaces an event, and posts an `exists` push on every channel watching `calendar`;
    /// the statuses our webhook answered.
    pub async fn put_event_and_push(&self, calendar: &str, event: Value) -> Vec<u16> {
        self.put_event(calendar, event);
        let mut answers = Vec::new();
        for delivery in self.pushes_for(calendar) {
            answers.push(delivery.post().await);
        }
        answers
    }

    /// The next `exists` push of each channel watching `calendar` (not yet posted).
    pub fn pushes_for(&self, calendar: &str) -> Vec<Delivery> {
        let mut fake = self.lock();
        fake.channels
            .iter_mut()
            .filter(|c| c.calendar == calendar)
            .map(|c| {
                c.messages += 1 + c.messages % 3; // increasing, not consecutive
                Delivery::of(c, "exists")
            })
            .collect()
    }

    /// Let watches name http addresses (Google refuses them).
    pub fn accept_http_pushes(&self) {
        self.lock().accept_http = true;
    }

    /// The ids of channels open now, by calendar.
    pub fn open_channels(&self) -> Vec<(String, String)> {
        self.lock()
            .channels
            .iter()
            .map(|c| (c.calendar.clone(), c.id.clone()))
            .collect()
    }

    pub fn watches(&self) -> Vec<Value> {
        self.lock().watches.clone()
    }

    /// Reads of each new event find its Meet link `pending` this many times first.
    pub fn meet_pending_reads(&self, n: usize) {
        self.lock().pending_reads = n;
    }

    /// Meet links cannot be made (the conference request fails).
    pub fn fail_meet(&self) {
        self.lock().meet_fails = true;
    }

    pub fn fail_meet_no_more(&self) {
        self.lock().meet_fails = false;
    }

    /// The next insert is made, but its answer is a 503.
    pub fn lose_next_insert_answer(&self) {
        self.lock().lose_next_insert_answer = true;
    }

    /// The next `n` event writes are refused with `status` (429, or 403 `rateLimitExceeded`) and
    /// `Retry-After: {seconds}`.
    pub fn limit_writes(&self, status: u16, n: usize, seconds: u64) {
        let mut fake = self.lock();
        fake.limited_writes = n;
        fake.limit_retry_after = seconds;
        fake.limit_status = status;
    }

    /// Every event write is refused with 403 `requiredAccessLevel`, as on a read-only calendar.
    pub fn make_read_only(&self) {
        self.lock().read_only = true;
    }

    pub fn writes(&self) -> Vec<Write> {
        self.lock().writes.clone()
    }

    /// The event as stored (`None`: never made, or deleted).
    pub fn event(&self, calendar: &str, id: &str) -> Option<Value> {
        self.lock()
            .events
            .get(calendar)?
            .iter()
            .find(|(_, e)| e["id"] == id && e["status"] != "cancelled")
            .map(|(_, e)| e.clone())
    }

    /// Holds the next `events.list` answer until the test releases it.
    pub fn hold_next_read(&self) -> ReadHold {
        let hold = ReadHold::default();
        self.lock().hold = Some(hold.clone());
        hold
    }

    pub fn handshakes(&self) -> Vec<u16> {
        self.lock().handshakes.clone()
    }

    pub fn stopped(&self) -> Vec<String> {
        self.lock().stopped.clone()
    }

    /// Cancels (deletes) an event: incremental reads see it as a bare cancelled id.
    pub fn cancel_event(&self, calendar: &str, id: &str) {
        self.put_event(calendar, json!({ "id": id, "status": "cancelled" }));
    }

    /// Every sync token handed out so far stops working (410).
    pub fn expire_sync_tokens(&self) {
        let mut fake = self.lock();
        fake.changes += 1;
        fake.tokens_valid_from = fake.changes;
    }

    /// Every access token stops working (401), refresh tokens still work.
    pub fn expire_access_tokens(&self) {
        self.lock().access_tokens.clear();
    }

    /// The mentor revoked the app: refresh tokens get `invalid_grant`, access tokens 401.
    pub fn revoke_grant(&self) {
        let mut fake = self.lock();
        fake.access_tokens.clear();
        fake.refresh_tokens.clear();
    }

    /// The account loses a calendar (deleted, or unshared): the calendar list leaves it out.
    pub fn remove_calendar(&self, id: &str) {
        self.lock().removed_calendars.insert(id.to_string());
    }

    /// The next `n` event reads fail with 503 `backendError`.
    pub fn fail_reads(&self, n: usize) {
        self.lock().failing_reads = n;
    }

    pub fn revoked(&self) -> Vec<String> {
        self.lock().revoked.clone()
    }

    pub fn event_reads(&self) -> Vec<HashMap<String, String>> {
        self.lock().event_reads.clone()
    }

    /// The mentor unticks calendar access on the next consent: only `scopes` are granted.
    pub fn narrow_next_consent(&self, scopes: &str) {
        self.lock().narrow_next = Some(scopes.to_string());
    }

    pub fn deny_next_consent(&self) {
        self.lock().deny_next = true;
    }

    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.lock().token_requests.clone()
    }

    pub fn consents(&self) -> Vec<HashMap<String, String>> {
        self.lock().consents.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.state.lock().unwrap()
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The consent page, as if the mentor clicked "Allow" (or "Cancel" after `deny_next_consent`).
async fn consent(State(fake): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.consents.push(q.clone());
    let valid = q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("response_type").map(String::as_str) == Some("code")
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.contains_key("code_challenge")
        && q.contains_key("redirect_uri");
    if !valid {
        // Google shows these on its own page; it never redirects them.
        return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
    }
    let redirect_uri = q["redirect_uri"].clone();
    let state = q.get("state").cloned().unwrap_or_default();
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    if std::mem::take(&mut fake.deny_next) {
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&state={}",
            encode(&state)
        ))
        .into_response();
    }
    let scope = match fake.narrow_next.take() {
        Some(narrow) => narrow,
        None => q.get("scope").cloned().unwrap_or_default(),
    };
    let code = fake.next("4/0Acode");
    let account = if fake.account_per_consent {
        let account = fake.next("mentor");
        let account = format!("{account}@gmail.example");
        seed(&mut fake, &account);
        account
    } else {
        ACCOUNT.to_string()
    };
    fake.codes.insert(
        code.clone(),
        Issued {
            challenge: q["code_challenge"].clone(),
            redirect_uri: redirect_uri.clone(),
            used: false,
            account,
            scope: scope.clone(),
        },
    );
    Redirect::to(&format!(
        "{redirect_uri}?state={}&code={}&scope={}&authuser=0&prompt=consent",
        encode(&state),
        encode(&code),
        encode(&scope)
    ))
    .into_response()
}

async fn token(State(fake): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.token_requests.push(form.clone());
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    match field("grant_type") {
        "authorization_code" => {
            let Some(issued) = fake.codes.get_mut(field("code")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            if issued.used {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            }
            issued.used = true;
            if issued.redirect_uri != field("redirect_uri") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    "Bad Request",
                );
            }
            let challenge =
                URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
            if challenge != issued.challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid code verifier.",
                );
            }
            let account = issued.account.clone();
            let granted = issued.scope.clone();
            let access = fake.next("ya29.access-");
            let refresh = fake.next("1//refresh-");
            fake.access_tokens.insert(access.clone());
            fake.refresh_tokens.insert(refresh.clone());
            fake.token_accounts.insert(access.clone(), account.clone());
            fake.token_accounts.insert(refresh.clone(), account);
            Json(json!({
                "access_token": access,
                "expires_in": 3599,
                "refresh_token": refresh,
                "scope": granted,
                "token_type": "Bearer",
            }))
            .into_response()
        }
        "refresh_token" => {
            if !fake.refresh_tokens.contains(field("refresh_token")) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            let access = fake.next("ya29.access-");
            fake.access_tokens.insert(access.clone());
            if let Some(account) = fake.token_accounts.get(field("refresh_token")).cloned() {
                fake.token_accounts.insert(access.clone(), account);
            }
            Json(json!({ "access_token": access, "expires_in": 3599, "token_type": "Bearer" }))
                .into_response()
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type",
        ),
    }
}

fn api_error(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "errors": [{ "domain": "global", "reason": reason, "message": message }],
            "code": status.as_u16(), "message": message } })),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

/// Three calendars, two a page (a page may come back short and still say there is more).
async fn calendar_list(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fake = fake.lock().unwrap();
    if !fake.access_tokens.contains(&bearer(&headers)) {
        return api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    }
    let account = fake
        .token_accounts
        .get(&bearer(&headers))
        .map_or(ACCOUNT, String::as_str);
    let mut all: Vec<Value> = vec![
        json!({ "id": FAMILY, "summary": "Family", "accessRole": "reader" }),
        json!({ "id": account, "summary": account, "summaryOverride": "Mentoring", "primary": true, "accessRole": "owner" }),
        json!({ "id": "en.usa#holiday@group.v.calendar.google.com", "summary": "Holidays in United States", "accessRole": "reader" }),
    ];
    all.retain(|c| {
        !fake
            .removed_calendars
            .contains(c["id"].as_str().unwrap_or_default())
    });
    let page: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix('p'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = all.iter().skip(page * 2).take(2).cloned().collect();
    let mut body = json!({ "kind": "calendar#calendarList", "etag": "\"e\"", "items": items });
    if (page + 1) * 2 < all.len() {
        body["nextPageToken"] = json!(format!("p{}", page + 1));
    } else {
        body["nextSyncToken"] = json!("sync-cal-list");
    }
    Json(body).into_response()
}

/// `events.list`, as Google answers it for `singleEvents=true`; a held read is answered only when
/// the test releases it (what it answers was read when it came in).
async fn events_list(
    State(fake): State<Shared>,
    axum::extract::Path(calendar): axum::extract::Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (response, hold) = {
        let mut fake = fake.lock().unwrap();
        let response = list_events(&mut fake, &calendar, &headers, &q);
        (response, fake.hold.take())
    };
    if let Some(hold) = hold {
        hold.reached.notify_one();
        hold.release.notified().await;
    }
    response
}

fn list_events(
    fake: &mut Fake,
    calendar: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    if !fake.access_tokens.contains(&bearer(headers)) {
        return api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    }
    fake.event_reads.push(q.clone());
    if fake.failing_reads > 0 {
        fake.failing_reads -= 1;
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "Backend Error",
        );
    }
    let all = fake.events.get(calendar).cloned().unwrap_or_default();
    let items: Vec<Value> = match q.get("syncToken") {
        Some(token) => {
            if q.contains_key("timeMin") || q.contains_key("timeMax") {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "syncTokenWithRequestRestrictions",
                    "Bad Request",
                );
            }
            let since: u64 = token
                .strip_prefix("st-")
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX);
            if since < fake.tokens_valid_from || since == u64::MAX {
                return api_error(
                    StatusCode::GONE,
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required.",
                );
            }
            all.into_iter()
                .filter(|(change, _)| *change > since)
                .map(|(_, e)| e)
                .collect()
        }
        None => {
            let deleted_too = q.get("showDeleted").map(String::as_str) == Some("true");
            all.into_iter()
                .map(|(_, e)| e)
                .filter(|e| deleted_too || e["status"] != "cancelled")
                .collect()
        }
    };
    let page: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix("pg-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let size = fake.page_size;
    let shown: Vec<Value> = items.iter().skip(page * size).take(size).cloned().collect();
    let mut body =
        json!({ "kind": "calendar#events", "etag": "\"e\"", "timeZone": "UTC", "items": shown });
    if (page + 1) * size < items.len() {
        body["nextPageToken"] = json!(format!("pg-{}", page + 1));
    } else {
        body["nextSyncToken"] = json!(format!("st-{}", fake.changes));
    }
    Json(body).into_response()
}

/// Revokes the grant a token belongs to (here: every token; one account per fake).
async fn revoke(State(fake): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut fake = fake.lock().unwrap();
    let token = q.get("token").cloned().unwrap_or_default();
    if !fake.refresh_tokens.contains(&token) && !fake.access_tokens.contains(&token) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        );
    }
    fake.revoked.push(token);
    fake.refresh_tokens.clear();
    fake.access_tokens.clear();
    StatusCode::OK.into_response()
}

fn read_body(body: &axum::body::Bytes) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// `events.watch`: opens a channel (ids unique, `web_hook` only, https only unless told), posts the
/// `sync` handshake to its address before answering (as Google may), and answers with the channel.
async fn watch(
    State(fake): State<Shared>,
    axum::extract::Path(calendar): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let handshake = {
        let mut fake = fake.lock().unwrap();
        if !fake.access_tokens.contains(&bearer(&headers)) {
            return api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
        }
        let Some(body) = read_body(&body) else {
            return api_error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
        };
        fake.watches.push(body.clone());
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
        let (id, address) = (text("id"), text("address"));
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_+/=".contains(c));
        if !id_ok || text("type") != "web_hook" {
            return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid channel");
        }
        if fake.channels.iter().any(|c| c.id == id) {
            return api_error(
                StatusCode::BAD_REQUEST,
                "channelIdNotUnique",
                "Channel id not unique",
            );
        }
        let allowed =
            address.starts_with("https://") || (fake.accept_http && address.starts_with("http://"));
        if !allowed {
            return api_error(
                StatusCode::BAD_REQUEST,
                "push.webhookUrlNotHttps",
                &format!("WebHook callback must be HTTPS: {address}"),
            );
        }
        let channel = Channel {
            id,
            token: body["token"].as_str().map(str::to_string),
            address,
            resource_id: format!(
                "res-{}",
                &hex::encode(Sha256::digest(calendar.as_bytes()))[..20]
            ),
            calendar,
            expiration: body["expiration"].as_i64().unwrap_or(0),
            messages: 1,
        };
        fake.channels.push(channel.clone());
        Delivery::of(&channel, "sync")
    };
    let answered = handshake.post().await;
    let mut fake = fake.lock().unwrap();
    fake.handshakes.push(answered);
    let id = &handshake.headers[0].1; // X-Goog-Channel-ID
    let Some(channel) = fake.channels.iter().find(|c| c.id == *id) else {
        return api_error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    Json(json!({
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": format!("https://www.googleapis.com/calendar/v3/calendars/{}/events?alt=json", channel.calendar),
        "token": channel.token,
        "expiration": channel.expiration.to_string(),
    }))
    .into_response()
}

/// `channels.stop`: 204, or 404 for a channel it does not have.
async fn stop(State(fake): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut fake = fake.lock().unwrap();
    if !fake.access_tokens.contains(&bearer(&headers)) {
        return api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    }
    let Some(body) = read_body(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
    };
    let (id, resource) = (
        body["id"].as_str().unwrap_or_default(),
        body["resourceId"].as_str().unwrap_or_default(),
    );
    let before = fake.channels.len();
    fake.channels
        .retain(|c| !(c.id == id && c.resource_id == resource));
    if fake.channels.len() == before {
        return api_error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Channel '{id}' not found for project"),
        );
    }
    fake.stopped.push(id.to_string());
    StatusCode::NO_CONTENT.into_response()
}

/// The Meet link Google makes for an event.
pub fn meet_link(event_id: &str) -> String {
    let h = hex::encode(Sha256::digest(event_id.as_bytes()));
    format!(
        "https://meet.google.com/{}-{}-{}",
        &h[..3],
        &h[3..7],
        &h[7..10]
    )
}

type EventPath = axum::extract::Path<(String, String)>;

/// Stores `event` as the newest change of `calendar`.
fn store_event(fake: &mut Fake, calendar: &str, event: Value) {
    fake.changes += 1;
    let change = fake.changes;
    let list = fake.events.entry(calendar.to_string()).or_default();
    list.retain(|(_, e)| e["id"] != event["id"]);
    list.push((change, event));
}

/// The event with its conference as Google shows it on this read (pending a few reads, then made).
fn with_conference(fake: &mut Fake, calendar: &str, id: &str) -> Option<Value> {
    let mut event = fake
        .events
        .get(calendar)?
        .iter()
        .find(|(_, e)| e["id"] == id && e["status"] != "cancelled")?
        .1
        .clone();
    if event["conferenceData"]["createRequest"]["status"]["statusCode"] == "pending" {
        let left = fake.meet_pending.entry(id.to_string()).or_insert(0);
        if *left > 0 {
            *left -= 1;
        } else {
            let status = if fake.meet_fails {
                "failure"
            } else {
                "success"
            };
            event["conferenceData"]["createRequest"]["status"]["statusCode"] = json!(status);
            if !fake.meet_fails {
                event["conferenceData"]["entryPoints"] = json!([
                    { "entryPointType": "video", "uri": meet_link(id), "label": "meet.google.com" },
                    { "entryPointType": "more", "uri": "https://tel.meet/abc" },
                ]);
                event["conferenceData"]["conferenceSolution"] =
                    json!({ "key": { "type": "hangoutsMeet" }, "name": "Google Meet" });
            }
            store_event(fake, calendar, event.clone());
        }
    }
    Some(event)
}

/// Auth, then a 429 while writes are limited; records the write.
fn write_gate(
    fake: &mut Fake,
    headers: &HeaderMap,
    record: (&str, &str, &str, &HashMap<String, String>),
) -> Option<Response> {
    if !fake.access_tokens.contains(&bearer(headers)) {
        return Some(api_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Invalid Credentials",
        ));
    }
    let (method, calendar, id, q) = record;
    fake.writes
        .push((method.into(), calendar.into(), id.into(), q.clone()));
    if fake.read_only {
        return Some(api_error(
            StatusCode::FORBIDDEN,
            "requiredAccessLevel",
            "You need to have writer access to this calendar.",
        ));
    }
    if fake.limited_writes > 0 {
        fake.limited_writes -= 1;
        let status =
            StatusCode::from_u16(fake.limit_status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let mut response = api_error(status, "rateLimitExceeded", "Rate Limit Exceeded");
        response.headers_mut().insert(
            "retry-after",
            axum::http::HeaderValue::from(fake.limit_retry_after),
        );
        return Some(response);
    }
    None
}

/// `events.insert` with our own id: 409 `duplicate` when it exists; a conference asked for (with
/// `conferenceDataVersion=1`) starts `pending`.
async fn event_insert(
    State(fake): State<Shared>,
    axum::extract::Path(calendar): axum::extract::Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    let Some(mut event) = read_body(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
    };
    let id = event["id"].as_str().unwrap_or_default().to_string();
    if let Some(refused) = write_gate(&mut fake, &headers, ("insert", &calendar, &id, &q)) {
        return refused;
    }
    let valid_id =
        (5..=1024).contains(&id.len()) && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v'));
    if !valid_id {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid resource id value.",
        );
    }
    let exists = fake
        .events
        .get(&calendar)
        .is_some_and(|l| l.iter().any(|(_, e)| e["id"] == id.as_str()));
    if exists {
        return api_error(
            StatusCode::CONFLICT,
            "duplicate",
            "The requested identifier already exists.",
        );
    }
    event["status"] = json!("confirmed");
    let asked = event["conferenceData"]["createRequest"].clone();
    if q.get("conferenceDataVersion").map(String::as_str) == Some("1") && asked.is_object() {
        let mut request = asked;
        request["status"] = json!({ "statusCode": "pending" });
        event["conferenceData"] = json!({ "createRequest": request });
        let pending = fake.pending_reads;
        fake.meet_pending.insert(id.clone(), pending);
    } else if let Some(fields) = event.as_object_mut() {
        // Without conferenceDataVersion=1 Google ignores conferenceData.
        fields.remove("conferenceData");
    }
    store_event(&mut fake, &calendar, event);
    if std::mem::take(&mut fake.lose_next_insert_answer) {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "Backend Error",
        );
    }
    let shown = with_conference(&mut fake, &calendar, &id).unwrap_or(Value::Null);
    Json(shown).into_response()
}

async fn event_get(
    State(fake): State<Shared>,
    axum::extract::Path((calendar, id)): EventPath,
    headers: HeaderMap,
) -> Response {
    let mut fake = fake.lock().unwrap();
    if !fake.access_tokens.contains(&bearer(&headers)) {
        return api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    }
    match with_conference(&mut fake, &calendar, &id) {
        Some(event) => Json(event).into_response(),
        None => api_error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
    }
}

async fn event_patch(
    State(fake): State<Shared>,
    axum::extract::Path((calendar, id)): EventPath,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    if let Some(refused) = write_gate(&mut fake, &headers, ("patch", &calendar, &id, &q)) {
        return refused;
    }
    let Some(change) = read_body(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "parseError", "Parse Error");
    };
    // A deleted event can be patched back (`status: confirmed`), as at Google.
    let Some(mut event) = fake
        .events
        .get(&calendar)
        .and_then(|l| l.iter().find(|(_, e)| e["id"] == id.as_str()))
        .map(|(_, e)| e.clone())
    else {
        return api_error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    if let (Some(target), Some(fields)) = (event.as_object_mut(), change.as_object()) {
        for (k, v) in fields {
            target.insert(k.clone(), v.clone());
        }
    }
    store_event(&mut fake, &calendar, event.clone());
    // Shown as a read would show it (a conference made meanwhile included).
    let shown = with_conference(&mut fake, &calendar, &id).unwrap_or(event);
    Json(shown).into_response()
}

/// Deletes (the event becomes `cancelled`: incremental reads see it); 410 `deleted` when it was.
async fn event_delete(
    State(fake): State<Shared>,
    axum::extract::Path((calendar, id)): EventPath,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    if let Some(refused) = write_gate(&mut fake, &headers, ("delete", &calendar, &id, &q)) {
        return refused;
    }
    let found = fake
        .events
        .get(&calendar)
        .and_then(|l| l.iter().find(|(_, e)| e["id"] == id.as_str()))
        .map(|(_, e)| e.clone());
    match found {
        None => api_error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
        Some(e) if e["status"] == "cancelled" => {
            api_error(StatusCode::GONE, "deleted", "Resource has been deleted")
        }
        Some(mut e) => {
            e["status"] = json!("cancelled");
            store_event(&mut fake, &calendar, e);
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

/// A load account's events: `seed_events` hour-long meetings over the next 60 days, in daytime UTC.
fn seed(fake: &mut Fake, account: &str) {
    let base = chrono::Utc::now().date_naive();
    for i in 0..fake.seed_events {
        let day = base + chrono::Duration::days((i % 60) as i64 + 1);
        let hour = 6 + (i / 60) % 12;
        let start = format!("{day}T{hour:02}:00:00Z");
        let end = format!("{day}T{hour:02}:45:00Z");
        store_event(fake, account, timed(&format!("seed{i}"), &start, &end));
    }
}
