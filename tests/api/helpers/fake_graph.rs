//! A fake Microsoft identity platform (OAuth 2.0, v2 endpoints) and Microsoft Graph v1.0 calendar
//! API, built from Microsoft's public references (`../shared/reference/provider-contracts.md`,
//! section C): the consent page (`/{tenant}/oauth2/v2.0/authorize`, any tenant) redirects back with
//! a code, the state and a `session_state` (or `error=access_denied`); the token endpoint takes the
//! client's credentials as form fields or HTTP Basic, checks the redirect URI, the PKCE verifier
//! against the S256 challenge and that a code is redeemed once, gives a refresh token only for
//! `offline_access` and an id token only for `openid`, and rotates refresh tokens (a used one is
//! `invalid_grant`). Graph refuses missing, unknown and expired access tokens with 401
//! `InvalidAuthenticationToken`, answers every error as `{"error":{"code","message","innerError"}}`
//! and can be throttled (429 or 503 with `Retry-After`). The account has a default calendar and a
//! "Family" one; `calendarView/delta` returns what overlaps its window (series come expanded:
//! tests put occurrences, and masters are left out), pages by `Prefer: odata.maxpagesize` (two by
//! default), ends with a `deltaLink` whose round returns only what changed (whole) and what was
//! deleted or left the window (`@removed`), refuses `$select` and the like, and answers 410
//! `syncStateNotFound` once tokens are expired. Times come in the zone of
//! `Prefer: outlook.timezone` (UTC without it, as documented; all-day events stay at midnight in
//! their own zone). Events are created (deduplicated by `transactionId`), with a Teams link when
//! the account has Teams (maybe only on a later read), read (`$select` honoured), patched
//! (`If-Match` honoured) and deleted. Subscriptions are validated by the handshake on the
//! notification (and lifecycle) URL before they are made, last at most 10,080 minutes, are renewed
//! and deleted; the test posts change and lifecycle notifications.
//! The fake's clock is `default_now()` unless a test hands it the app's (`use_clock`).

// Helpers for the Microsoft calendar tests; not every test uses every one.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Form, OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;
use mentor_scheduler::clock::{Clock as _, FixedClock};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The app registration (a GUID, as Entra ID gives) and its secret.
pub const CLIENT_ID: &str = "3f0c9a52-7d1e-4b8a-9c61-2e5d8f4a7b10";
pub const CLIENT_SECRET: &str = "Fk8Q~fake.graph-secret_0123456789abcdefGHIJ";
/// The work account's tenant, its user (object id) and address.
pub const TENANT_ID: &str = "b7e2c4d1-5a93-4f6e-8d20-91c3a6f5e842";
pub const USER_ID: &str = "e1d4a7b3-2c68-4f95-b0a1-6d3e9c2f8a54";
pub const ACCOUNT: &str = "mentor.one@contoso.example";
/// The default calendar ("Calendar"); ids are opaque, long, with `-` and a trailing `=`.
pub const CALENDAR: &str = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAAAAEGAAA=";
/// A secondary calendar ("Family") of the same account.
pub const FAMILY: &str = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAAAAEHAAA=";
/// Delta pages hold this many events without `Prefer: odata.maxpagesize`, so paging is exercised.
pub const DEFAULT_PAGE_SIZE: usize = 2;
/// The longest an Outlook event subscription may last.
pub const MAX_SUBSCRIPTION_MINUTES: i64 = 10_080;

/// Query options `calendarView/delta` does not take.
const UNSUPPORTED_IN_DELTA: [&str; 6] = [
    "$select", "$filter", "$orderby", "$search", "$expand", "$top",
];

/// A time as Graph writes it: seven fractional digits, no offset (the zone is beside it).
pub fn graph_time(at: NaiveDateTime) -> String {
    format!(
        "{}.{:07}",
        at.format("%Y-%m-%dT%H:%M:%S"),
        at.nanosecond() / 100
    )
}

/// `{dateTime, timeZone}` in UTC for an ISO 8601 time (with an offset, or without: UTC).
fn utc_time(at: &str) -> Value {
    let instant = parse_instant(at).unwrap_or_else(|| panic!("an ISO 8601 time: {at}"));
    json!({ "dateTime": graph_time(instant.naive_utc()), "timeZone": "UTC" })
}

/// A timed single event, busy, stored in UTC, as Graph shows it.
pub fn timed(id: &str, start: &str, end: &str) -> Value {
    json!({
        "id": id,
        "iCalUId": ical_uid(id),
        "subject": "Busy",
        "start": utc_time(start),
        "end": utc_time(end),
        "isAllDay": false,
        "showAs": "busy",
        "isCancelled": false,
        "type": "singleInstance",
        "seriesMasterId": null,
        "responseStatus": { "response": "organizer", "time": "0001-01-01T00:00:00Z" },
        "transactionId": null,
        "isOnlineMeeting": false,
        "onlineMeetingProvider": "unknown",
        "onlineMeeting": null,
        "originalStartTimeZone": "UTC",
        "originalEndTimeZone": "UTC",
    })
}

/// One occurrence of the series `master`, as `calendarView` expands it.
pub fn occurrence(id: &str, master: &str, start: &str, end: &str) -> Value {
    let mut event = timed(id, start, end);
    event["type"] = json!("occurrence");
    event["seriesMasterId"] = json!(master);
    event["iCalUId"] = json!(ical_uid(master));
    event
}

/// An all-day event over `[date_start, date_end)` (`yyyy-mm-dd`, end exclusive) in `zone` (a
/// Windows or IANA name): midnight to midnight in its own zone, and `showAs: free`, which is what
/// Outlook gives a new all-day event (set `showAs` to `busy` for one that blocks time).
pub fn all_day(id: &str, date_start: &str, date_end: &str, zone: &str) -> Value {
    let midnight = |d: &str| {
        let date: NaiveDate = d
            .parse()
            .unwrap_or_else(|_| panic!("a yyyy-mm-dd date: {d}"));
        json!({ "dateTime": graph_time(date.and_hms_opt(0, 0, 0).unwrap()), "timeZone": zone })
    };
    let mut event = timed(id, "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z");
    event["start"] = midnight(date_start);
    event["end"] = midnight(date_end);
    event["isAllDay"] = json!(true);
    event["showAs"] = json!("free");
    event["originalStartTimeZone"] = json!(zone);
    event["originalEndTimeZone"] = json!(zone);
    event
}

/// The Teams link the fake makes for an event.
pub fn join_url(event_id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(event_id.as_bytes()).collect();
    format!("https://teams.microsoft.example/l/meetup-join/{id}")
}

/// Outlook's iCalendar UID prefix, then a hash of the id.
fn ical_uid(id: &str) -> String {
    let hash = hex::encode_upper(Sha256::digest(id.as_bytes()));
    format!("040000008200E00074C5B7101A82E00800000000{}", &hash[..32])
}

/// A time with an offset, or without one (UTC), or a date (its midnight, UTC).
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(at) = text.parse::<NaiveDateTime>() {
        return Some(at.and_utc());
    }
    text.parse::<NaiveDate>()
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// A zone Graph knows by this name: a few Windows names, or any IANA name.
fn zone(name: &str) -> Option<Tz> {
    let iana = match name {
        "UTC" | "Coordinated Universal Time" | "tzone://Microsoft/Utc" => "UTC",
        "Pacific Standard Time" => "America/Los_Angeles",
        "Mountain Standard Time" => "America/Denver",
        "Central Standard Time" => "America/Chicago",
        "Eastern Standard Time" => "America/New_York",
        "GMT Standard Time" => "Europe/London",
        "W. Europe Standard Time" => "Europe/Berlin",
        "Romance Standard Time" => "Europe/Paris",
        "Central European Standard Time" => "Europe/Warsaw",
        "India Standard Time" => "Asia/Kolkata",
        "Tokyo Standard Time" => "Asia/Tokyo",
        "AUS Eastern Standard Time" => "Australia/Sydney",
        other => other,
    };
    iana.parse().ok()
}

/// The instant of a `{dateTime, timeZone}` (an unknown zone read as UTC).
fn instant(at: &Value) -> Option<DateTime<Utc>> {
    let text = at["dateTime"].as_str()?;
    if let Ok(fixed) = DateTime::parse_from_rfc3339(text) {
        return Some(fixed.with_timezone(&Utc));
    }
    let local = text.parse::<NaiveDateTime>().ok()?;
    let tz = at["timeZone"].as_str().and_then(zone).unwrap_or(Tz::UTC);
    Some(
        tz.from_local_datetime(&local)
            .earliest()
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc)),
    )
}

/// Whether the event overlaps `[start, end)` (an instant event counts at its start).
fn overlaps(event: &Value, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    match (instant(&event["start"]), instant(&event["end"])) {
        (Some(s), Some(e)) => s < end && (e > start || (s == e && s >= start)),
        _ => false,
    }
}

/// The event as Graph answers it: timed events' `start`/`end` in the zone asked for with
/// `Prefer: outlook.timezone` (UTC without it, or for a zone it does not know); all-day events as
/// stored, at midnight in their own zone.
fn present(event: &Value, zone_name: Option<&str>) -> Value {
    let mut shown = event.clone();
    if event["isAllDay"] == true || event.get("@removed").is_some() {
        return shown;
    }
    let (name, tz) = zone_name
        .and_then(|n| zone(n).map(|tz| (n, tz)))
        .unwrap_or(("UTC", Tz::UTC));
    for key in ["start", "end"] {
        if let Some(at) = instant(&event[key]) {
            shown[key] = json!({
                "dateTime": graph_time(at.with_timezone(&tz).naive_local()),
                "timeZone": name,
            });
        }
    }
    shown
}

/// Only the fields of `$select` (and `id`, `@odata.*`, which Graph always gives).
fn selected(event: Value, q: &HashMap<String, String>) -> Value {
    let Some(select) = q.get("$select") else {
        return event;
    };
    let wanted: HashSet<String> = select
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    match event {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(k, _)| {
                    k == "id"
                        || k.starts_with("@odata.")
                        || wanted.contains(&k.to_ascii_lowercase())
                })
                .collect(),
        ),
        other => other,
    }
}

/// Every preference of the `Prefer` headers (several headers, or one with commas).
fn preferences(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn preference<'a>(prefs: &'a [String], name: &str) -> Option<&'a str> {
    prefs.iter().find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn preferred_zone(prefs: &[String]) -> Option<String> {
    preference(prefs, "outlook.timezone").map(|v| v.trim_matches('"').to_string())
}

fn preferred_page(prefs: &[String]) -> Option<usize> {
    preference(prefs, "odata.maxpagesize")
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
}

/// A timestamp as Graph writes it on resources (`2026-01-05T09:00:00.0000000Z`).
fn stamp(at: DateTime<Utc>) -> String {
    format!("{}Z", graph_time(at.naive_utc()))
}

fn is_known(calendar: &str) -> bool {
    calendar == CALENDAR || calendar == FAMILY
}

struct Issued {
    client_id: String,
    challenge: String,
    redirect_uri: String,
    scope: String,
    used: bool,
}

struct Stored {
    change: u64,
    event: Value,
}

/// What a delta token remembers: the window, the last change seen, and the ids then in the window.
#[derive(Clone)]
struct SyncState {
    calendar: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    change: u64,
    ids: HashSet<String>,
}

/// One delta round, fixed when it starts, handed out a page at a time.
struct Round {
    items: Vec<Value>,
    page_size: Option<usize>,
    next: SyncState,
}

#[derive(Clone)]
struct Subscription {
    id: String,
    resource: String,
    calendar: String,
    change_type: String,
    notification_url: String,
    lifecycle_url: Option<String>,
    client_state: Option<String>,
    expiration: DateTime<Utc>,
}

impl Subscription {
    fn view(&self) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": CLIENT_ID,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": stamp(self.expiration),
            "creatorId": USER_ID,
            "includeResourceData": false,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }
}

/// One Graph call as it came in.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    /// With the `/v1.0` prefix.
    pub path: String,
    /// Decoded (`$skiptoken`, `startDateTime`, ...).
    pub query: HashMap<String, String>,
    /// Each preference of the `Prefer` headers (`outlook.timezone="UTC"`, `odata.maxpagesize=50`).
    pub prefer: Vec<String>,
    pub if_match: Option<String>,
    pub body: Option<Value>,
}

/// A write to events: `method` (POST, PATCH, DELETE), the calendar (the event's, for the
/// `/me/events/{id}` forms), the event id (the new one for a POST) and the body sent.
#[derive(Clone, Debug)]
pub struct Write {
    pub method: String,
    pub calendar: String,
    pub event: String,
    pub body: Value,
}

#[derive(Default)]
struct Fake {
    url: String,
    /// The app's clock when a test hands it over; `default_now()` otherwise.
    clock: Option<FixedClock>,
    counter: u64,
    codes: HashMap<String, Issued>,
    access_tokens: HashSet<String>,
    /// Tokens that expired (401 "Lifetime validation failed").
    expired_tokens: HashSet<String>,
    /// Live refresh tokens, with the scope of their grant.
    refresh_tokens: HashMap<String, String>,
    /// Every form posted to the token endpoint.
    token_requests: Vec<HashMap<String, String>>,
    /// Every consent request's query.
    consents: Vec<HashMap<String, String>>,
    deny_next: bool,
    /// Each calendar's events, with the change number that last touched them.
    events: HashMap<String, Vec<Stored>>,
    changes: u64,
    delta_tokens: HashMap<String, SyncState>,
    rounds: HashMap<String, Round>,
    expired_deltas: HashSet<String>,
    expired_rounds: HashSet<String>,
    /// Every Graph call.
    calls: Vec<Call>,
    writes: Vec<Write>,
    /// (calendar, transactionId) -> the event made with it.
    transactions: HashMap<(String, String), String>,
    /// A personal account: no Teams meetings.
    no_teams: bool,
    /// Creations still to answer `onlineMeeting: null` (their link comes on a later read).
    join_later: usize,
    join_pending: HashSet<String>,
    lose_next_create: bool,
    /// Graph calls still to refuse with `throttle_status`/`throttle_code` and `Retry-After`.
    throttled: usize,
    throttle_status: u16,
    throttle_code: String,
    retry_after: u64,
    subscriptions: Vec<Subscription>,
    accept_http: bool,
    /// What our endpoint answered to each validation request (0: no answer).
    handshakes: Vec<u16>,
}

impl Fake {
    fn now(&self) -> DateTime<Utc> {
        self.clock
            .as_ref()
            .map_or_else(super::default_now, |c| c.now())
    }

    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    fn event(&self, calendar: &str, id: &str) -> Option<&Value> {
        self.events
            .get(calendar)?
            .iter()
            .find(|s| s.event["id"] == id)
            .map(|s| &s.event)
    }

    /// The event and its calendar, wherever it is (for `/me/events/{id}`).
    fn find(&self, calendar: Option<&str>, id: &str) -> Option<(String, Value)> {
        match calendar {
            Some(calendar) => self
                .event(calendar, id)
                .map(|e| (calendar.to_string(), e.clone())),
            None => self.events.iter().find_map(|(calendar, list)| {
                list.iter()
                    .find(|s| s.event["id"] == id)
                    .map(|s| (calendar.clone(), s.event.clone()))
            }),
        }
    }

    /// Stores the event as the newest change: a new etag and `changeKey`, modified now.
    fn store(&mut self, calendar: &str, mut event: Value) {
        self.changes += 1;
        let change = self.changes;
        let key = format!("DwAAABYAAAAiIsqMbYjsT5e+T7KzowPTAAAA{change:06}");
        event["@odata.etag"] = json!(format!("W/\"{key}\""));
        event["changeKey"] = json!(key);
        let now = stamp(self.now());
        if event.get("createdDateTime").is_none_or(Value::is_null) {
            event["createdDateTime"] = json!(now);
        }
        event["lastModifiedDateTime"] = json!(now);
        let list = self.events.entry(calendar.to_string()).or_default();
        list.retain(|s| s.event["id"] != event["id"]);
        list.push(Stored { change, event });
    }

    fn remove(&mut self, calendar: &str, id: &str) -> bool {
        let Some(list) = self.events.get_mut(calendar) else {
            return false;
        };
        let before = list.len();
        // Deleting a series master deletes its occurrences too.
        list.retain(|s| s.event["id"] != id && s.event["seriesMasterId"] != id);
        let removed = list.len() != before;
        if removed {
            self.changes += 1;
        }
        removed
    }

    fn open_subscription(&self, id: &str) -> Option<usize> {
        let now = self.now();
        self.subscriptions
            .iter()
            .position(|s| s.id == id && s.expiration > now)
    }
}

type Shared = Arc<Mutex<Fake>>;

#[derive(Clone)]
pub struct FakeGraph {
    pub url: String,
    state: Shared,
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        let state: Shared = Arc::default();
        let graph = Router::new()
            .route("/me", get(me))
            .route("/me/calendars", get(calendars))
            .route("/me/calendarView/delta", get(default_delta))
            .route(
                "/me/calendars/{calendar}/calendarView/delta",
                get(calendar_delta),
            )
            .route("/me/events", post(create_default))
            .route(
                "/me/events/{event}",
                get(get_any).patch(patch_any).delete(delete_any),
            )
            .route("/me/calendars/{calendar}/events", post(create_in))
            .route(
                "/me/calendars/{calendar}/events/{event}",
                get(get_in).patch(patch_in).delete(delete_in),
            )
            .route("/subscriptions", post(subscribe))
            .route(
                "/subscriptions/{id}",
                get(subscription_get)
                    .patch(subscription_renew)
                    .delete(subscription_delete),
            )
            .fallback(unknown_segment)
            .layer(middleware::from_fn_with_state(state.clone(), gate));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .nest("/v1.0", graph)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        state.lock().unwrap().url = url.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGraph { url, state }
    }

    /// The fake's base URL (`MICROSOFT_AUTH_URL`; Graph is under `{base}/v1.0`).
    pub fn base(&self) -> &str {
        &self.url
    }

    /// The settings that point the service at this fake.
    pub fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("MICROSOFT_CLIENT_ID".into(), CLIENT_ID.into()),
            ("MICROSOFT_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            ("MICROSOFT_TENANT".into(), "common".into()),
            ("MICROSOFT_AUTH_URL".into(), self.url.clone()),
            ("MICROSOFT_GRAPH_URL".into(), format!("{}/v1.0", self.url)),
        ]
    }

    /// The fake reads the time from the app's clock (subscription lifetimes, timestamps).
    pub fn use_clock(&self, clock: FixedClock) {
        self.lock().clock = Some(clock);
    }

    /// Adds or replaces (same `id`) an event of `calendar`; a new etag, and delta reports it.
    pub fn put_event(&self, calendar: &str, event: Value) {
        self.lock().store(calendar, event);
    }

    /// Deletes an event (and, for a series master, its occurrences): delta reports it `@removed`.
    pub fn remove_event(&self, calendar: &str, id: &str) {
        self.lock().remove(calendar, id);
    }

    /// The event as stored (`None`: never made, or deleted).
    pub fn event(&self, calendar: &str, id: &str) -> Option<Value> {
        self.lock().event(calendar, id).cloned()
    }

    /// Every event of `calendar`, as stored.
    pub fn events(&self, calendar: &str) -> Vec<Value> {
        self.lock()
            .events
            .get(calendar)
            .map(|l| l.iter().map(|s| s.event.clone()).collect())
            .unwrap_or_default()
    }

    /// Every delta and skip token handed out so far stops working (410 `syncStateNotFound`).
    pub fn expire_delta_tokens(&self) {
        let mut fake = self.lock();
        let deltas: Vec<String> = fake.delta_tokens.drain().map(|(k, _)| k).collect();
        let rounds: Vec<String> = fake.rounds.drain().map(|(k, _)| k).collect();
        fake.expired_deltas.extend(deltas);
        fake.expired_rounds.extend(rounds);
    }

    /// Every access token expires (401 `InvalidAuthenticationToken`); refresh tokens still work.
    pub fn expire_access_tokens(&self) {
        let mut fake = self.lock();
        let tokens: Vec<String> = fake.access_tokens.drain().collect();
        fake.expired_tokens.extend(tokens);
    }

    /// The grant is revoked: refresh tokens get `invalid_grant`. Access tokens are JWTs that Graph
    /// accepts until they expire; call `expire_access_tokens` too for that.
    pub fn revoke_grant(&self) {
        self.lock().refresh_tokens.clear();
    }

    /// The mentor presses "Cancel" on the next consent page.
    pub fn deny_next_consent(&self) {
        self.lock().deny_next = true;
    }

    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.lock().token_requests.clone()
    }

    pub fn consents(&self) -> Vec<HashMap<String, String>> {
        self.lock().consents.clone()
    }

    /// Every Graph call, in order (throttled and refused ones too).
    pub fn requests(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Graph calls whose answer carries event times (reads, delta, creates, patches) made without
    /// `Prefer: outlook.timezone="UTC"`, as `METHOD path`: the fake answers them in UTC anyway, as
    /// Graph does without the header, so only this shows the client forgot it.
    pub fn calls_without_utc(&self) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method != "DELETE")
            .filter(|c| c.path.contains("/events") || c.path.ends_with("/delta"))
            .filter(|c| preferred_zone(&c.prefer).as_deref() != Some("UTC"))
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    pub fn writes(&self) -> Vec<Write> {
        self.lock().writes.clone()
    }

    /// A personal account: Teams meetings are not made (`isOnlineMeeting` stays false).
    pub fn without_teams(&self) {
        self.lock().no_teams = true;
    }

    /// The next `n` creations answer `onlineMeeting: null`; the link is there on the next read.
    pub fn join_url_later(&self, n: usize) {
        self.lock().join_later = n;
    }

    /// The next creation is made, but its answer is a 500 (the answer is lost).
    pub fn lose_next_create_answer(&self) {
        self.lock().lose_next_create = true;
    }

    /// The next `n` Graph calls answer `status` (429: `TooManyRequests`; 503:
    /// `serviceNotAvailable`) with `Retry-After: {retry_after_seconds}`.
    pub fn throttle(&self, status: u16, n: usize, retry_after_seconds: u64) {
        let code = match status {
            429 => "TooManyRequests",
            503 => "serviceNotAvailable",
            _ => "UnknownError",
        };
        self.throttle_as(status, code, n, retry_after_seconds);
    }

    /// The next `n` Graph calls answer 429 `ApplicationThrottled` (Outlook's per-mailbox limit).
    pub fn throttle_application(&self, n: usize, retry_after_seconds: u64) {
        self.throttle_as(429, "ApplicationThrottled", n, retry_after_seconds);
    }

    fn throttle_as(&self, status: u16, code: &str, n: usize, retry_after_seconds: u64) {
        let mut fake = self.lock();
        fake.throttled = n;
        fake.throttle_status = status;
        fake.throttle_code = code.to_string();
        fake.retry_after = retry_after_seconds;
    }

    /// Let subscriptions name http URLs (Graph takes only https; tests run on http://127.0.0.1).
    pub fn accept_http(&self) {
        self.lock().accept_http = true;
    }

    /// The open (made, not deleted, not expired) subscriptions, as Graph shows them.
    pub fn subscriptions(&self) -> Vec<Value> {
        let fake = self.lock();
        let now = fake.now();
        fake.subscriptions
            .iter()
            .filter(|s| s.expiration > now)
            .map(Subscription::view)
            .collect()
    }

    /// The status our endpoint answered to each validation request (0: no answer in 10 s).
    pub fn handshakes(&self) -> Vec<u16> {
        self.lock().handshakes.clone()
    }

    /// Posts an `updated` notification for the event to every open subscription on `calendar`;
    /// the statuses our endpoint answered.
    pub async fn notify(&self, calendar: &str, event_id: &str) -> Vec<u16> {
        self.post_change(calendar, event_id, "updated", None).await
    }

    /// As `notify`, with another `changeType` (`created`, `deleted`).
    pub async fn notify_change(&self, calendar: &str, event_id: &str, change: &str) -> Vec<u16> {
        self.post_change(calendar, event_id, change, None).await
    }

    /// As `notify`, but carrying this `clientState` (a forgery).
    pub async fn notify_with_client_state(
        &self,
        calendar: &str,
        event_id: &str,
        client_state: &str,
    ) -> Vec<u16> {
        self.post_change(calendar, event_id, "updated", Some(client_state))
            .await
    }

    async fn post_change(
        &self,
        calendar: &str,
        event_id: &str,
        change: &str,
        forged: Option<&str>,
    ) -> Vec<u16> {
        let deliveries: Vec<(String, Value)> = {
            let fake = self.lock();
            let now = fake.now();
            let etag = fake
                .event(calendar, event_id)
                .map(|e| e["@odata.etag"].clone());
            let resource = format!("Users/{USER_ID}/Events/{event_id}");
            fake.subscriptions
                .iter()
                .filter(|s| s.expiration > now && s.calendar == calendar)
                .filter(|s| s.change_type.split(',').any(|c| c.trim() == change))
                .map(|s| {
                    let mut data = json!({
                        "@odata.type": "#Microsoft.Graph.Event",
                        "@odata.id": resource,
                        "id": event_id,
                    });
                    if let Some(etag) = &etag {
                        data["@odata.etag"] = etag.clone();
                    }
                    let client_state = forged.map(str::to_string).or(s.client_state.clone());
                    let body = json!({ "value": [{
                        "subscriptionId": s.id,
                        "subscriptionExpirationDateTime": stamp(s.expiration),
                        "clientState": client_state,
                        "changeType": change,
                        "resource": resource,
                        "tenantId": TENANT_ID,
                        "resourceData": data,
                    }] });
                    (s.notification_url.clone(), body)
                })
                .collect()
        };
        let mut answers = Vec::new();
        for (url, body) in deliveries {
            answers.push(post_json(&url, &body).await);
        }
        answers
    }

    /// Posts a lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`, `missed`)
    /// for the subscription to its lifecycle URL (its notification URL when it has none); the
    /// status our endpoint answered. After `subscriptionRemoved` the subscription is gone.
    pub async fn lifecycle(&self, subscription_id: &str, event: &str) -> u16 {
        let (url, body) = {
            let fake = self.lock();
            let s = fake
                .subscriptions
                .iter()
                .find(|s| s.id == subscription_id)
                .unwrap_or_else(|| panic!("no subscription {subscription_id}"));
            let url = s
                .lifecycle_url
                .clone()
                .unwrap_or(s.notification_url.clone());
            let body = json!({ "value": [{
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": stamp(s.expiration),
                "tenantId": TENANT_ID,
                "clientState": s.client_state,
                "lifecycleEvent": event,
            }] });
            (url, body)
        };
        if event == "subscriptionRemoved" {
            self.lock()
                .subscriptions
                .retain(|s| s.id != subscription_id);
        }
        post_json(&url, &body).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.state.lock().unwrap()
    }
}

/// Posts JSON as Graph does; the status answered (0: none within 10 s).
async fn post_json(url: &str, body: &Value) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .timeout(std::time::Duration::from_secs(10))
        .body(body.to_string())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

// ---- identity platform ----

/// An error of the token endpoint: `error`, an `AADSTS` description (numbers are not stable:
/// clients key on `error`), `error_codes`, and the trace fields.
fn oauth_error(fake: &Fake, status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let timestamp = fake.now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, axum::Json(body)).into_response()
}

fn has_scope(scope: &str, name: &str) -> bool {
    scope
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// The scopes granted as the token endpoint names them: Graph's in their long form, the OpenID
/// ones as asked, `offline_access` not listed.
fn granted(scope: &str) -> String {
    scope
        .split_whitespace()
        .filter(|s| !s.eq_ignore_ascii_case("offline_access"))
        .map(|s| match s.to_ascii_lowercase().as_str() {
            "openid" | "profile" | "email" => s.to_string(),
            _ if s.starts_with("https://") => s.to_string(),
            _ => format!("https://graph.microsoft.com/{s}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An id token shaped as Entra ID's (not really signed: the app gets it straight from the token
/// endpoint and need not check the signature).
fn id_token(now: DateTime<Utc>) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = part(json!({ "typ": "JWT", "alg": "RS256", "kid": "fake-graph-key" }));
    let claims = part(json!({
        "aud": CLIENT_ID,
        "iss": format!("https://login.microsoftonline.com/{TENANT_ID}/v2.0"),
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
        "exp": (now + Duration::hours(1)).timestamp(),
        "name": "Mentor One",
        "oid": USER_ID,
        "preferred_username": ACCOUNT,
        "email": ACCOUNT,
        "sub": "fake-pairwise-subject",
        "tid": TENANT_ID,
        "ver": "2.0",
    }));
    format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode(b"unsigned"))
}

/// Tokens for `scope`: an access token, a refresh token with `offline_access`, an id token with
/// `openid`.
fn issue(fake: &mut Fake, scope: &str) -> Response {
    let access = fake.next("eyJ0eXAiOiJKV1QiLCJub25jZSI6ImZha2UifQ.fake-access-");
    fake.access_tokens.insert(access.clone());
    let mut body = json!({
        "token_type": "Bearer",
        "scope": granted(scope),
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access,
    });
    if has_scope(scope, "offline_access") {
        let refresh = fake.next("0.AXoAfake-refresh-");
        fake.refresh_tokens
            .insert(refresh.clone(), scope.to_string());
        body["refresh_token"] = json!(refresh);
    }
    if has_scope(scope, "openid") {
        body["id_token"] = json!(id_token(fake.now()));
    }
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store, no-cache"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// The consent page, as if the mentor clicked "Accept" (or "Cancel" after `deny_next_consent`).
/// An unknown client or a missing redirect URI is shown on the page; other faults are redirected.
async fn authorize(
    State(fake): State<Shared>,
    Path(_tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.consents.push(q.clone());
    let field = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID {
        let text = format!(
            "AADSTS700016: Application with identifier '{}' was not found in the directory.",
            field("client_id")
        );
        return (StatusCode::BAD_REQUEST, text).into_response();
    }
    let Ok(mut back) = url::Url::parse(field("redirect_uri")) else {
        let text =
            "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.";
        return (StatusCode::BAD_REQUEST, text).into_response();
    };
    if !matches!(field("response_mode"), "" | "query") {
        let text = "This fake answers response_mode=query only.";
        return (StatusCode::BAD_REQUEST, text).into_response();
    }
    let state = q.get("state").cloned();
    // Entra ID puts the state after the code or error, then `session_state` on success.
    let redirect = |back: &mut url::Url, pairs: &[(&str, &str)], after: &[(&str, &str)]| {
        {
            let mut query = back.query_pairs_mut();
            query.extend_pairs(pairs);
            if let Some(state) = &state {
                query.append_pair("state", state);
            }
            query.extend_pairs(after);
        }
        (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
    };
    let fault = if field("response_type") != "code" {
        Some((
            "unsupported_response_type",
            "AADSTS700054: response_type 'code' is required.",
        ))
    } else if field("scope").trim().is_empty() {
        Some((
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'scope'.",
        ))
    } else if field("code_challenge").is_empty() || field("code_challenge_method") != "S256" {
        // Entra ID lets confidential clients skip PKCE; this fake insists on S256.
        Some((
            "invalid_request",
            "AADSTS501491: PKCE with code_challenge_method=S256 is required.",
        ))
    } else {
        None
    };
    if let Some((error, description)) = fault {
        return redirect(
            &mut back,
            &[("error", error), ("error_description", description)],
            &[],
        );
    }
    if std::mem::take(&mut fake.deny_next) {
        return redirect(
            &mut back,
            &[
                ("error", "access_denied"),
                ("error_subcode", "cancel"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.",
                ),
            ],
            &[],
        );
    }
    let code = fake.next("0.AXoAfake-code-");
    fake.codes.insert(
        code.clone(),
        Issued {
            client_id: field("client_id").to_string(),
            challenge: field("code_challenge").to_string(),
            redirect_uri: field("redirect_uri").to_string(),
            scope: field("scope").to_string(),
            used: false,
        },
    );
    let session = uuid::Uuid::new_v4().to_string();
    // Clients must ignore the parameters they do not know (`session_state`).
    redirect(
        &mut back,
        &[("code", &code)],
        &[("session_state", &session)],
    )
}

/// The client's credentials: form fields, or HTTP Basic (`client_secret_basic`, each part
/// form-encoded, RFC 6749 §2.3.1).
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            let (id, secret) = v.split_once(':')?;
            let decode = |s: &str| -> String {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((decode(id), decode(secret)))
        });
    let (basic_id, basic_secret) = basic.unwrap_or_default();
    let pick = |k: &str, fallback: String| form.get(k).cloned().unwrap_or(fallback);
    (
        pick("client_id", basic_id),
        pick("client_secret", basic_secret),
    )
}

async fn token(
    State(fake): State<Shared>,
    Path(_tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.token_requests.push(form.clone());
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let (client_id, secret) = client_credentials(&headers, &form);
    if client_id != CLIENT_ID {
        let text =
            format!("Application with identifier '{client_id}' was not found in the directory.");
        return oauth_error(
            &fake,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &text,
        );
    }
    if secret != CLIENT_SECRET {
        let text = format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT_ID}'.");
        return oauth_error(
            &fake,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &text,
        );
    }
    let bad_grant = |fake: &Fake, code: u32, text: &str| {
        oauth_error(fake, StatusCode::BAD_REQUEST, "invalid_grant", code, text)
    };
    match field("grant_type") {
        "authorization_code" => {
            let Some(issued) = fake.codes.get_mut(field("code")) else {
                return bad_grant(&fake, 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
            };
            if issued.used {
                return bad_grant(&fake, 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
            }
            issued.used = true;
            let (issued_client, challenge, redirect_uri, scope) = (
                issued.client_id.clone(),
                issued.challenge.clone(),
                issued.redirect_uri.clone(),
                issued.scope.clone(),
            );
            if issued_client != client_id {
                return bad_grant(
                    &fake,
                    70000,
                    "The provided authorization code was issued to another client.",
                );
            }
            if redirect_uri != field("redirect_uri") {
                return bad_grant(&fake, 50011, "The redirect URI specified in the request does not match the redirect URI used to obtain the authorization code.");
            }
            let verifier = field("code_verifier");
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
                return bad_grant(&fake, 50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.");
            }
            issue(&mut fake, &scope)
        }
        "refresh_token" => {
            // Rotation: the refresh token used is spent; the answer carries a new one.
            let Some(scope) = fake.refresh_tokens.remove(field("refresh_token")) else {
                return bad_grant(&fake, 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
            };
            issue(&mut fake, &scope)
        }
        other => {
            let text = format!("The app requested an unsupported grant type '{other}'.");
            oauth_error(
                &fake,
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &text,
            )
        }
    }
}

// ---- Graph ----

fn graph_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        )],
        body.to_string(),
    )
        .into_response()
}

/// Graph's error shape, with its `request-id` header (and `WWW-Authenticate` on a 401).
fn graph_error(fake: &Fake, status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let date = fake.now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let body = json!({ "error": { "code": code, "message": message,
        "innerError": { "date": date, "request-id": request_id, "client-request-id": request_id } } });
    let mut response = graph_json(status, body);
    let headers = response.headers_mut();
    headers.insert("request-id", HeaderValue::from_str(&request_id).unwrap());
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""),
        );
    }
    response
}

fn not_found(fake: &Fake) -> Response {
    graph_error(
        fake,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn bad_request(fake: &Fake, code: &str, message: &str) -> Response {
    graph_error(fake, StatusCode::BAD_REQUEST, code, message)
}

/// Records the call, then throttles, then checks the access token.
async fn gate(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    {
        let mut fake = shared.lock().unwrap();
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.path().to_string())
            .unwrap_or_else(|| format!("/v1.0{}", parts.uri.path()));
        let query = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        fake.calls.push(Call {
            method: parts.method.to_string(),
            path,
            query,
            prefer: preferences(&parts.headers),
            if_match: parts
                .headers
                .get(header::IF_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: serde_json::from_slice(&bytes).ok(),
        });
        if fake.throttled > 0 {
            fake.throttled -= 1;
            let status =
                StatusCode::from_u16(fake.throttle_status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let message = if fake.throttle_code == "ApplicationThrottled" {
                "Application is over its MailboxConcurrency limit."
            } else {
                "Too many requests. Retry after the time given in Retry-After."
            };
            let code = fake.throttle_code.clone();
            let mut response = graph_error(&fake, status, &code, message);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(fake.retry_after));
            return response;
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .unwrap_or_default();
        let refusal = if token.is_empty() {
            Some("Access token is empty.")
        } else if fake.expired_tokens.contains(token) {
            Some("Lifetime validation failed, the token is expired.")
        } else if !fake.access_tokens.contains(token) {
            Some("Access token validation failure.")
        } else {
            None
        };
        if let Some(message) = refusal {
            return graph_error(
                &fake,
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                message,
            );
        }
    }
    next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// What Graph says of a path it has no resource for.
async fn unknown_segment(State(fake): State<Shared>, uri: axum::http::Uri) -> Response {
    let fake = fake.lock().unwrap();
    let segment = uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    bad_request(
        &fake,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
    )
}

async fn me() -> Response {
    graph_json(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": USER_ID,
            "displayName": "Mentor One",
            "mail": ACCOUNT,
            "userPrincipalName": ACCOUNT,
        }),
    )
}

async fn calendars(State(fake): State<Shared>) -> Response {
    let fake = fake.lock().unwrap();
    let (allowed, default) = if fake.no_teams {
        (json!([]), "unknown")
    } else {
        (json!(["teamsForBusiness"]), "teamsForBusiness")
    };
    let calendar = |id: &str, name: &str, is_default: bool, color: &str| {
        json!({
            "id": id,
            "name": name,
            "color": color,
            "hexColor": "",
            "isDefaultCalendar": is_default,
            "changeKey": "DwAAABYAAAAiIsqMbYjsT5e+T7KzowPTAAAAAAA=",
            "canShare": true,
            "canViewPrivateItems": true,
            "canEdit": true,
            "isRemovable": !is_default,
            "allowedOnlineMeetingProviders": allowed,
            "defaultOnlineMeetingProvider": default,
            "isTallyingResponses": true,
            "owner": { "name": "Mentor One", "address": ACCOUNT },
        })
    };
    graph_json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{USER_ID}')/calendars"),
            "value": [
                calendar(CALENDAR, "Calendar", true, "auto"),
                calendar(FAMILY, "Family", false, "lightGreen"),
            ],
        }),
    )
}

async fn default_delta(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    delta(&mut fake, CALENDAR, "/me/calendarView/delta", &headers, &q)
}

async fn calendar_delta(
    State(fake): State<Shared>,
    Path(calendar): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    let link = format!("/me/calendars/{calendar}/calendarView/delta");
    delta(&mut fake, &calendar, &link, &headers, &q)
}

fn opaque(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn skip_token(round: &str, offset: usize) -> String {
    opaque(&format!("{round}:{offset}"))
}

fn read_skip_token(token: &str) -> Option<(String, usize)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (round, offset) = text.rsplit_once(':')?;
    Some((round.to_string(), offset.parse().ok()?))
}

fn query_value<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One page of `calendarView/delta`: a new round (a window, or a delta token), or the next page of
/// one (a skip token). Only the last page has the `deltaLink`.
fn delta(
    fake: &mut Fake,
    calendar: &str,
    link_path: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    if !is_known(calendar) {
        return not_found(fake);
    }
    if q.keys()
        .any(|k| UNSUPPORTED_IN_DELTA.contains(&k.to_ascii_lowercase().as_str()))
    {
        return bad_request(fake, "ErrorInvalidUrlQuery", "The following parameters are not supported with change tracking over the 'CalendarView' resource: '$orderby, $filter, $select, $expand, $search, $top'.");
    }
    let gone = |fake: &Fake| {
        graph_error(
            fake,
            StatusCode::GONE,
            "syncStateNotFound",
            "The sync state is no longer available. Start a full synchronization again.",
        )
    };
    let prefs = preferences(headers);
    let (round, offset) = if let Some(token) = query_value(q, "$skiptoken") {
        match read_skip_token(token) {
            Some((round, offset)) if fake.rounds.contains_key(&round) => (round, offset),
            Some((round, _)) if fake.expired_rounds.contains(&round) => return gone(fake),
            _ => return bad_request(fake, "BadRequest", "The skip token is not valid."),
        }
    } else if let Some(token) = query_value(q, "$deltatoken") {
        let since = match fake.delta_tokens.get(token) {
            Some(since) => since.clone(),
            None if fake.expired_deltas.contains(token) => return gone(fake),
            None => return bad_request(fake, "BadRequest", "The delta token is not valid."),
        };
        if since.calendar != calendar {
            return bad_request(
                fake,
                "BadRequest",
                "The delta token belongs to another calendar.",
            );
        }
        let round = start_round(fake, calendar, since.start, since.end, Some(&since), &prefs);
        (round, 0)
    } else {
        let window = (
            query_value(q, "startDateTime").and_then(parse_instant),
            query_value(q, "endDateTime").and_then(parse_instant),
        );
        let (Some(start), Some(end)) = window else {
            return bad_request(fake, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.");
        };
        if end <= start {
            return bad_request(
                fake,
                "ErrorInvalidParameter",
                "The EndDateTime must be after the StartDateTime.",
            );
        }
        (start_round(fake, calendar, start, end, None, &prefs), 0)
    };
    let zone = preferred_zone(&prefs);
    let page = preferred_page(&prefs);
    let Some(current) = fake.rounds.get(&round) else {
        return gone(fake);
    };
    let size = page.or(current.page_size).unwrap_or(DEFAULT_PAGE_SIZE);
    let items: Vec<Value> = current
        .items
        .iter()
        .skip(offset)
        .take(size)
        .map(|e| present(e, zone.as_deref()))
        .collect();
    let more = offset + size < current.items.len();
    let next_state = current.next.clone();
    let link = format!("{}/v1.0{link_path}", fake.url);
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
        "value": items,
    });
    if more {
        body["@odata.nextLink"] = json!(format!(
            "{link}?$skiptoken={}",
            skip_token(&round, offset + size)
        ));
    } else {
        let token = opaque(&fake.next("delta-"));
        fake.delta_tokens.insert(token.clone(), next_state);
        body["@odata.deltaLink"] = json!(format!("{link}?$deltatoken={token}"));
    }
    let mut response = graph_json(StatusCode::OK, body);
    let mut applied = Vec::new();
    if let Some(n) = page {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if let Some(zone) = &zone {
        applied.push(format!("outlook.timezone=\"{zone}\""));
    }
    if !applied.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&applied.join(", ")) {
            response.headers_mut().insert("preference-applied", value);
        }
    }
    response
}

/// Fixes a delta round: the events in the window (series masters left out: `calendarView` expands
/// them), all of them for a first round, or only those changed since, plus `@removed` for those that
/// were in the window then and are not now (deleted, or moved out).
fn start_round(
    fake: &mut Fake,
    calendar: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    since: Option<&SyncState>,
    prefs: &[String],
) -> String {
    let id_of = |e: &Value| e["id"].as_str().unwrap_or_default().to_string();
    let in_window: Vec<&Stored> = fake
        .events
        .get(calendar)
        .map(|list| {
            list.iter()
                .filter(|s| s.event["type"] != "seriesMaster" && overlaps(&s.event, start, end))
                .collect()
        })
        .unwrap_or_default();
    let ids: HashSet<String> = in_window.iter().map(|s| id_of(&s.event)).collect();
    let mut items: Vec<Value> = in_window
        .iter()
        .filter(|s| since.is_none_or(|p| s.change > p.change || !p.ids.contains(&id_of(&s.event))))
        .map(|s| s.event.clone())
        .collect();
    if let Some(previous) = since {
        let mut left: Vec<&String> = previous.ids.difference(&ids).collect();
        left.sort();
        items.extend(
            left.into_iter()
                .map(|id| json!({ "id": id, "@removed": { "reason": "deleted" } })),
        );
    }
    let next = SyncState {
        calendar: calendar.to_string(),
        start,
        end,
        change: fake.changes,
        ids,
    };
    let round = fake.next("round-");
    fake.rounds.insert(
        round.clone(),
        Round {
            items,
            page_size: preferred_page(prefs),
            next,
        },
    );
    round
}

/// `start` or `end` of a written event: a `dateTime` and a zone Graph knows.
fn check_time(fake: &Fake, at: &Value, name: &str) -> Option<Response> {
    let zone_name = at["timeZone"].as_str().unwrap_or_default();
    if at["dateTime"].as_str().is_none() {
        return Some(bad_request(
            fake,
            "BadRequest",
            &format!("'{name}' needs a dateTime and a timeZone."),
        ));
    }
    if zone(zone_name).is_none() {
        return Some(bad_request(fake, "TimeZoneNotSupportedException", &format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'.")));
    }
    if instant(at).is_none() {
        return Some(bad_request(
            fake,
            "BadRequest",
            &format!(
                "Cannot convert the literal '{}' to the expected type 'Edm.DateTimeOffset'.",
                at["dateTime"].as_str().unwrap_or_default()
            ),
        ));
    }
    None
}

/// Sets `isOnlineMeeting`/`onlineMeetingProvider`/`onlineMeeting` as Graph does for what was asked:
/// a Teams meeting when the account has Teams (its link maybe only on a later read), none otherwise.
fn arrange_meeting(fake: &mut Fake, event: &mut Value, id: &str, creating: bool) {
    let wanted = event["isOnlineMeeting"] == true;
    let provider = event["onlineMeetingProvider"]
        .as_str()
        .unwrap_or("teamsForBusiness")
        .to_string();
    if wanted && provider == "teamsForBusiness" && !fake.no_teams {
        event["isOnlineMeeting"] = json!(true);
        event["onlineMeetingProvider"] = json!("teamsForBusiness");
        if !event["onlineMeeting"]["joinUrl"].is_string() && !fake.join_pending.contains(id) {
            if creating && fake.join_later > 0 {
                fake.join_later -= 1;
                fake.join_pending.insert(id.to_string());
                event["onlineMeeting"] = Value::Null;
            } else {
                event["onlineMeeting"] = json!({ "joinUrl": join_url(id) });
            }
        }
    } else if !wanted || creating {
        event["isOnlineMeeting"] = json!(false);
        event["onlineMeetingProvider"] = json!("unknown");
        event["onlineMeeting"] = Value::Null;
    }
}

async fn create_default(State(fake): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = fake.lock().unwrap();
    create(&mut fake, CALENDAR, &headers, &body)
}

async fn create_in(
    State(fake): State<Shared>,
    Path(calendar): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    create(&mut fake, &calendar, &headers, &body)
}

/// Creates an event (201 with the whole event).
///
/// `transactionId`: Graph documents it as "a custom identifier specified by a client app for the
/// server to avoid redundant POST operations in case of client retries to create the same event",
/// for when the client times out before it gets the answer. So a POST whose `transactionId` is
/// already that of an event of the calendar makes nothing and answers 201 with that event as it is
/// now: the retry looks like the success whose answer was lost. Once that event is deleted, the
/// `transactionId` is free again (there is nothing left to answer with).
fn create(fake: &mut Fake, calendar: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    if !is_known(calendar) {
        return not_found(fake);
    }
    let Ok(mut event) = serde_json::from_slice::<Value>(body) else {
        return bad_request(fake, "RequestBodyRead", "Invalid JSON in the request body.");
    };
    if !event.is_object() {
        return bad_request(fake, "RequestBodyRead", "An event object was expected.");
    }
    let zone_name = preferred_zone(&preferences(headers));
    let mut write = Write {
        method: "POST".into(),
        calendar: calendar.to_string(),
        event: String::new(),
        body: event.clone(),
    };
    if let Some(tx) = event["transactionId"].as_str() {
        let key = (calendar.to_string(), tx.to_string());
        let existing = fake
            .transactions
            .get(&key)
            .and_then(|id| fake.event(calendar, id))
            .cloned();
        if let Some(existing) = existing {
            write.event = existing["id"].as_str().unwrap_or_default().to_string();
            fake.writes.push(write);
            return graph_json(
                StatusCode::CREATED,
                present(&existing, zone_name.as_deref()),
            );
        }
    }
    for key in ["start", "end"] {
        if let Some(refused) = check_time(fake, &event[key], key) {
            fake.writes.push(write);
            return refused;
        }
    }
    let id = fake.next("AAMkAGVmMDEzMTM4AFakeEventBGAAAAAAA");
    let id = format!("{id}AAA=");
    write.event = id.clone();
    fake.writes.push(write);
    let defaults = [
        ("subject", json!("")),
        ("isAllDay", json!(false)),
        ("showAs", json!("busy")),
        ("transactionId", Value::Null),
    ];
    for (key, value) in defaults {
        if event.get(key).is_none() {
            event[key] = value;
        }
    }
    event["id"] = json!(id);
    event["iCalUId"] = json!(ical_uid(&id));
    event["type"] = json!("singleInstance");
    event["seriesMasterId"] = Value::Null;
    event["isCancelled"] = json!(false);
    event["responseStatus"] = json!({ "response": "organizer", "time": "0001-01-01T00:00:00Z" });
    event["originalStartTimeZone"] = event["start"]["timeZone"].clone();
    event["originalEndTimeZone"] = event["end"]["timeZone"].clone();
    arrange_meeting(fake, &mut event, &id, true);
    if let Some(tx) = event["transactionId"].as_str() {
        fake.transactions
            .insert((calendar.to_string(), tx.to_string()), id.clone());
    }
    fake.store(calendar, event);
    if std::mem::take(&mut fake.lose_next_create) {
        return graph_error(
            fake,
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "General exception while processing.",
        );
    }
    let stored = fake.event(calendar, &id).cloned().unwrap_or_default();
    graph_json(StatusCode::CREATED, present(&stored, zone_name.as_deref()))
}

type EventPath = Path<(String, String)>;

async fn get_any(
    State(fake): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    read(&mut fake, None, &id, &headers, &q)
}

async fn get_in(
    State(fake): State<Shared>,
    Path((calendar, id)): EventPath,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    read(&mut fake, Some(&calendar), &id, &headers, &q)
}

/// An event; a Teams link still to come is made by now (a change: a new etag).
fn read(
    fake: &mut Fake,
    calendar: Option<&str>,
    id: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    if calendar.is_some_and(|c| !is_known(c)) {
        return not_found(fake);
    }
    let Some((calendar, mut event)) = fake.find(calendar, id) else {
        return not_found(fake);
    };
    if fake.join_pending.remove(id) {
        event["onlineMeeting"] = json!({ "joinUrl": join_url(id) });
        fake.store(&calendar, event);
        event = fake.event(&calendar, id).cloned().unwrap_or_default();
    }
    let zone_name = preferred_zone(&preferences(headers));
    graph_json(
        StatusCode::OK,
        selected(present(&event, zone_name.as_deref()), q),
    )
}

async fn patch_any(
    State(fake): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    patch(&mut fake, None, &id, &headers, &body)
}

async fn patch_in(
    State(fake): State<Shared>,
    Path((calendar, id)): EventPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    patch(&mut fake, Some(&calendar), &id, &headers, &body)
}

/// Fields a PATCH cannot change (Graph ignores or refuses them; the fake ignores them).
const READ_ONLY: [&str; 12] = [
    "id",
    "iCalUId",
    "@odata.etag",
    "@odata.context",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "type",
    "seriesMasterId",
    "transactionId",
    "onlineMeeting",
    "isCancelled",
];

/// Updates an event (200 with it); 412 when `If-Match` names an older etag.
fn patch(
    fake: &mut Fake,
    calendar: Option<&str>,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let change = serde_json::from_slice::<Value>(body).ok();
    let found = calendar
        .is_none_or(is_known)
        .then(|| fake.find(calendar, id))
        .flatten();
    fake.writes.push(Write {
        method: "PATCH".into(),
        calendar: found
            .as_ref()
            .map(|(c, _)| c.clone())
            .or(calendar.map(str::to_string))
            .unwrap_or_default(),
        event: id.to_string(),
        body: change.clone().unwrap_or(Value::Null),
    });
    let Some((calendar, mut event)) = found else {
        return not_found(fake);
    };
    let Some(Value::Object(fields)) = change else {
        return bad_request(fake, "RequestBodyRead", "An event object was expected.");
    };
    if let Some(expected) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        if expected != "*" && event["@odata.etag"].as_str() != Some(expected) {
            return graph_error(fake, StatusCode::PRECONDITION_FAILED, "ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.");
        }
    }
    for key in ["start", "end"] {
        if let Some(at) = fields.get(key) {
            if let Some(refused) = check_time(fake, at, key) {
                return refused;
            }
        }
    }
    for (key, value) in fields {
        if !READ_ONLY.contains(&key.as_str()) {
            if key == "start" {
                event["originalStartTimeZone"] = value["timeZone"].clone();
            }
            if key == "end" {
                event["originalEndTimeZone"] = value["timeZone"].clone();
            }
            event[key] = value;
        }
    }
    arrange_meeting(fake, &mut event, id, false);
    fake.store(&calendar, event);
    let stored = fake.event(&calendar, id).cloned().unwrap_or_default();
    let zone_name = preferred_zone(&preferences(headers));
    graph_json(StatusCode::OK, present(&stored, zone_name.as_deref()))
}

async fn delete_any(State(fake): State<Shared>, Path(id): Path<String>) -> Response {
    let mut fake = fake.lock().unwrap();
    delete(&mut fake, None, &id)
}

async fn delete_in(State(fake): State<Shared>, Path((calendar, id)): EventPath) -> Response {
    let mut fake = fake.lock().unwrap();
    delete(&mut fake, Some(&calendar), &id)
}

fn delete(fake: &mut Fake, calendar: Option<&str>, id: &str) -> Response {
    let found = calendar
        .is_none_or(is_known)
        .then(|| fake.find(calendar, id))
        .flatten();
    fake.writes.push(Write {
        method: "DELETE".into(),
        calendar: found
            .as_ref()
            .map(|(c, _)| c.clone())
            .or(calendar.map(str::to_string))
            .unwrap_or_default(),
        event: id.to_string(),
        body: Value::Null,
    });
    match found {
        Some((calendar, _)) => {
            fake.remove(&calendar, id);
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(fake),
    }
}

// ---- subscriptions ----

/// The calendar a subscription's resource watches: `me/events` (and `me/calendar/events`) the
/// default calendar, `me/calendars/{id}/events` that one; `users/{id or address}/...` alike.
fn watched_calendar(resource: &str) -> Option<String> {
    let parts: Vec<&str> = resource.split('/').filter(|p| !p.is_empty()).collect();
    let rest = match parts.as_slice() {
        [me, rest @ ..] if me.eq_ignore_ascii_case("me") => rest,
        [users, user, rest @ ..]
            if users.eq_ignore_ascii_case("users")
                && (user.eq_ignore_ascii_case(USER_ID) || user.eq_ignore_ascii_case(ACCOUNT)) =>
        {
            rest
        }
        _ => return None,
    };
    let is = |p: &str, name: &str| p.eq_ignore_ascii_case(name);
    match rest {
        [events] if is(events, "events") => Some(CALENDAR.to_string()),
        [calendar, events] if is(calendar, "calendar") && is(events, "events") => {
            Some(CALENDAR.to_string())
        }
        [calendars, id, events]
            if is(calendars, "calendars") && is(events, "events") && is_known(id) =>
        {
            Some(id.to_string())
        }
        _ => None,
    }
}

/// The validation token Graph sends (spaces and a colon: the endpoint must decode it).
fn validation_token() -> String {
    format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    )
}

/// Graph's validation request: `POST {url}?validationToken=…` (form-encoded), `text/plain`, empty
/// body, 10 s to answer 200 `text/plain` with the decoded token. The status (0: no answer) and the
/// fault, if any.
async fn handshake(url: &str, token: &str) -> (u16, Option<&'static str>) {
    const NOT_200: &str = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
    let Ok(mut target) = url::Url::parse(url) else {
        return (
            0,
            Some("Subscription validation request failed. The notification URL is not valid."),
        );
    };
    target
        .query_pairs_mut()
        .append_pair("validationToken", token);
    let answer = reqwest::Client::new()
        .post(target)
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(std::time::Duration::from_secs(10))
        .body("")
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return (0, Some("Subscription validation request timed out.")),
        Err(_) => return (0, Some(NOT_200)),
    };
    let status = response.status().as_u16();
    if status != 200 {
        return (status, Some(NOT_200));
    }
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"));
    let text = response.text().await.unwrap_or_default();
    if !plain {
        return (status, Some("Subscription validation request failed. Response must have Content-Type text/plain."));
    }
    if text != token {
        return (status, Some("Subscription validation request failed. Response must exactly match validationToken query parameter."));
    }
    (status, None)
}

/// The expiration asked for if Graph takes it (in the future, at most 10,080 minutes ahead), or
/// why not (a 400 `InvalidRequest`).
fn check_expiration(
    now: DateTime<Utc>,
    at: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, String> {
    match at {
        None => Err("expirationDateTime is required and must be an ISO 8601 time.".into()),
        Some(at) if at <= now => Err("Subscription expiration must be in the future.".into()),
        Some(at) if at > now + Duration::minutes(MAX_SUBSCRIPTION_MINUTES) => Err(format!(
            "Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the future."
        )),
        Some(at) => Ok(at),
    }
}

/// Creates a subscription: checks the request, then validates the notification URL (and the
/// lifecycle URL) by the handshake before answering 201; a failed handshake is 400
/// `ValidationError`, and no subscription is made.
async fn subscribe(State(shared): State<Shared>, body: Bytes) -> Response {
    let subscription = {
        let fake = shared.lock().unwrap();
        let Ok(request) = serde_json::from_slice::<Value>(&body) else {
            return bad_request(&fake, "BadRequest", "Invalid JSON in the request body.");
        };
        let text = |k: &str| request[k].as_str().map(str::to_string);
        let (Some(change_type), Some(notification_url), Some(resource)) = (
            text("changeType"),
            text("notificationUrl"),
            text("resource"),
        ) else {
            return bad_request(
                &fake,
                "InvalidRequest",
                "changeType, notificationUrl and resource are required.",
            );
        };
        let kinds_ok = change_type
            .split(',')
            .all(|c| matches!(c.trim(), "created" | "updated" | "deleted"));
        if !kinds_ok {
            return bad_request(
                &fake,
                "InvalidRequest",
                &format!("Invalid changeType '{change_type}'."),
            );
        }
        let Some(calendar) = watched_calendar(&resource) else {
            return bad_request(
                &fake,
                "InvalidRequest",
                &format!("Resource '{resource}' is not supported."),
            );
        };
        let expiration = match check_expiration(
            fake.now(),
            text("expirationDateTime")
                .as_deref()
                .and_then(parse_instant),
        ) {
            Ok(at) => at,
            Err(why) => return bad_request(&fake, "InvalidRequest", &why),
        };
        let client_state = text("clientState");
        if client_state
            .as_ref()
            .is_some_and(|s| s.chars().count() > 128)
        {
            return bad_request(
                &fake,
                "InvalidRequest",
                "clientState must be at most 128 characters.",
            );
        }
        let lifecycle_url = text("lifecycleNotificationUrl");
        for url in std::iter::once(&notification_url).chain(lifecycle_url.as_ref()) {
            let allowed =
                url.starts_with("https://") || (fake.accept_http && url.starts_with("http://"));
            if !allowed {
                return bad_request(
                    &fake,
                    "InvalidRequest",
                    &format!("The notification URL '{url}' must use https."),
                );
            }
        }
        Subscription {
            id: uuid::Uuid::new_v4().to_string(),
            resource,
            calendar,
            change_type,
            notification_url,
            lifecycle_url,
            client_state,
            expiration,
        }
    };
    let urls = std::iter::once(subscription.notification_url.clone())
        .chain(subscription.lifecycle_url.clone());
    for url in urls {
        let (status, fault) = handshake(&url, &validation_token()).await;
        let mut fake = shared.lock().unwrap();
        fake.handshakes.push(status);
        if let Some(message) = fault {
            return bad_request(&fake, "ValidationError", message);
        }
    }
    let mut fake = shared.lock().unwrap();
    let view = subscription.view();
    fake.subscriptions.push(subscription);
    graph_json(StatusCode::CREATED, view)
}

fn subscription_missing(fake: &Fake) -> Response {
    graph_error(
        fake,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The object was not found.",
    )
}

async fn subscription_get(State(fake): State<Shared>, Path(id): Path<String>) -> Response {
    let fake = fake.lock().unwrap();
    match fake.open_subscription(&id) {
        Some(i) => graph_json(StatusCode::OK, fake.subscriptions[i].view()),
        None => subscription_missing(&fake),
    }
}

/// Renews (`{"expirationDateTime"}`): 200 with the subscription.
async fn subscription_renew(
    State(fake): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    let Some(i) = fake.open_subscription(&id) else {
        return subscription_missing(&fake);
    };
    let at = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["expirationDateTime"].as_str().and_then(parse_instant));
    match check_expiration(fake.now(), at) {
        Ok(at) => {
            fake.subscriptions[i].expiration = at;
            graph_json(StatusCode::OK, fake.subscriptions[i].view())
        }
        Err(why) => bad_request(&fake, "InvalidRequest", &why),
    }
}

async fn subscription_delete(State(fake): State<Shared>, Path(id): Path<String>) -> Response {
    let mut fake = fake.lock().unwrap();
    match fake.open_subscription(&id) {
        Some(i) => {
            fake.subscriptions.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => subscription_missing(&fake),
    }
}
