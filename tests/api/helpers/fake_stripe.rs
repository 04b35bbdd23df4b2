//! A fake Stripe, built from Stripe's public API reference (`../shared/reference/
//! payments-sms-contracts.md` section A): form-encoded requests with a Bearer secret key (401
//! otherwise); Checkout Sessions in subscription mode (validated as Stripe does: a recurring price,
//! an expiry 30 minutes to 24 hours ahead, not both `customer` and `customer_email`), expired only
//! while open (400 otherwise); subscriptions cancelled with `DELETE`; refunds against a
//! PaymentIntent, never beyond what was paid; `Idempotency-Key` replays answering the first result
//! (with `Idempotent-Replayed: true`) and refusing other parameters under the same key; injected
//! 429s and 5xx; and events, signed as Stripe signs them, delivered when the test says (in order,
//! reversed, or again).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub const SECRET_KEY: &str = "sk_test_fake_key";
pub const WEBHOOK_SECRET: &str = "whsec_fake_endpoint_secret";
const WEEK: i64 = 7 * 24 * 3600;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub form: HashMap<String, String>,
    pub idempotency_key: Option<String>,
    pub replayed: bool,
}

/// What a key's first request was (method and path, form) and what it answered (status, body).
type Remembered = (String, Vec<(String, String)>, u16, String);

#[derive(Default)]
struct Fake {
    checkouts: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    invoices: HashMap<String, Value>,
    /// Refunded so far per PaymentIntent, and what it paid.
    intents: HashMap<String, (i64, i64)>,
    /// Key → the first request's result.
    idempotency: HashMap<String, Remembered>,
    requests: Vec<Request>,
    outbox: VecDeque<Value>,
    /// Statuses to answer the next requests with (429, 500...).
    failures: VecDeque<u16>,
    /// The next requests run, but their answers are lost (a 500 after the write).
    lose: usize,
    counter: u64,
}

impl Fake {
    fn id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_test_{:06}", self.counter)
    }

    fn event(&mut self, kind: &str, object: Value, now: i64) -> Value {
        let event = json!({
            "id": self.id("evt"), "object": "event", "type": kind, "created": now,
            "api_version": "2025-03-31.basil", "livemode": false, "pending_webhooks": 1,
            "data": { "object": object },
        });
        self.outbox.push_back(event.clone());
        event
    }
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct FakeStripe {
    pub url: String,
    state: Arc<Mutex<Fake>>,
    clock: Arc<Mutex<Clock>>,
    webhook_url: Arc<Mutex<Option<String>>>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<Fake>>,
    clock: Arc<Mutex<Clock>>,
}

impl Shared {
    fn now(&self) -> i64 {
        (self.clock.lock().unwrap())()
    }
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": kind, "code": code, "message": message}})),
    )
        .into_response()
}

/// Stripe's 404 for an id it does not know.
fn missing(kind: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "resource_missing",
        &format!("No such {kind}: '{id}'"),
    )
}

fn form_of(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let state = Arc::new(Mutex::new(Fake::default()));
        let clock: Arc<Mutex<Clock>> = Arc::new(Mutex::new(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
        })));
        let shared = Shared {
            state: state.clone(),
            clock: clock.clone(),
        };
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_checkout))
            .route("/v1/checkout/sessions/{id}", get(read_checkout))
            .route("/v1/checkout/sessions/{id}/expire", post(expire_checkout))
            .route(
                "/v1/subscriptions/{id}",
                axum::routing::delete(cancel_subscription).post(update_subscription),
            )
            .route("/v1/invoices/{id}", get(read_invoice))
            .route("/v1/refunds", post(refund))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeStripe {
            url,
            state,
            clock,
            webhook_url: Arc::new(Mutex::new(None)),
        }
    }

    /// The app's settings for this fake.
    pub fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("STRIPE_SECRET_KEY".into(), SECRET_KEY.into()),
            ("STRIPE_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into()),
            ("STRIPE_API_URL".into(), self.url.clone()),
        ]
    }

    /// Stripe's clock follows `now` (Unix seconds), e.g. the app's fixed clock.
    pub fn follow(&self, now: impl Fn() -> i64 + Send + Sync + 'static) {
        *self.clock.lock().unwrap() = Arc::new(now);
    }

    fn now(&self) -> i64 {
        (self.clock.lock().unwrap())()
    }

    pub fn deliver_to(&self, url: &str) {
        *self.webhook_url.lock().unwrap() = Some(url.into());
    }

    /// The next `n` requests answer `status`.
    pub fn fail_next(&self, status: u16, n: usize) {
        let mut s = self.state.lock().unwrap();
        s.failures.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` requests do what they ask, then answer 500 as if the answer were lost.
    pub fn lose_answers(&self, n: usize) {
        self.state.lock().unwrap().lose += n;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn checkout(&self, id: &str) -> Value {
        self.state.lock().unwrap().checkouts[id].clone()
    }

    pub fn subscription(&self, id: &str) -> Value {
        self.state.lock().unwrap().subscriptions[id].clone()
    }

    /// The checkout sessions made, in order.
    pub fn checkouts(&self) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        let mut all: Vec<Value> = s.checkouts.values().cloned().collect();
        all.sort_by_key(|c| c["id"].as_str().unwrap().to_string());
        all
    }

    /// The student pays checkout `id`: the customer, the subscription and its first (paid) invoice
    /// are made; `checkout.session.completed` and `invoice.paid` wait to be delivered. Returns the
    /// subscription's id.
    pub fn pay(&self, id: &str) -> String {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let checkout = s.checkouts.get(id).cloned().expect("a checkout");
        assert_eq!(
            checkout["status"], "open",
            "only an open checkout can be paid"
        );
        let customer = s.id("cus");
        let subscription = s.id("sub");
        let amount = checkout["amount_total"].as_i64().unwrap();
        let metadata = checkout["subscription_metadata"].clone();
        s.subscriptions.insert(
            subscription.clone(),
            json!({"id": subscription, "object": "subscription", "status": "active", "customer": customer,
                   "metadata": metadata, "amount": amount, "currency": checkout["currency"],
                   "period_end": now + WEEK, "cancel_at_period_end": false}),
        );
        let invoice = invoice_for(&mut s, &subscription, now, now + WEEK, true);
        let mut done = checkout.clone();
        done["status"] = json!("complete");
        done["payment_status"] = json!("paid");
        done["url"] = Value::Null;
        done["customer"] = json!(customer);
        done["subscription"] = json!(subscription);
        done["invoice"] = invoice["id"].clone();
        s.checkouts.insert(id.into(), done.clone());
        s.event("checkout.session.completed", public(&done), now);
        s.event("invoice.paid", invoice, now);
        subscription
    }

    /// The next week is charged: `invoice.paid` waits.
    pub fn renew(&self, subscription: &str) -> Value {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let start = s.subscriptions[subscription]["period_end"]
            .as_i64()
            .unwrap();
        s.subscriptions.get_mut(subscription).unwrap()["period_end"] = json!(start + WEEK);
        s.subscriptions.get_mut(subscription).unwrap()["status"] = json!("active");
        let invoice = invoice_for(&mut s, subscription, start, start + WEEK, true);
        s.event("invoice.paid", invoice.clone(), now);
        invoice
    }

    /// The next week's charge fails: `invoice.payment_failed` and the subscription `past_due` wait.
    pub fn fail_renewal(&self, subscription: &str) -> Value {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let start = s.subscriptions[subscription]["period_end"]
            .as_i64()
            .unwrap();
        let invoice = invoice_for(&mut s, subscription, start, start + WEEK, false);
        s.subscriptions.get_mut(subscription).unwrap()["status"] = json!("past_due");
        let sub = s.subscriptions[subscription].clone();
        s.event("invoice.payment_failed", invoice.clone(), now);
        s.event("customer.subscription.updated", public(&sub), now);
        invoice
    }

    /// Stripe gives up collecting: the subscription is cancelled for failed payments.
    pub fn give_up(&self, subscription: &str) {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let sub = s.subscriptions.get_mut(subscription).unwrap();
        sub["status"] = json!("canceled");
        sub["ended_at"] = json!(now);
        sub["cancellation_details"] = json!({"reason": "payment_failed"});
        let sub = sub.clone();
        s.event("customer.subscription.deleted", public(&sub), now);
    }

    /// Stripe stops retrying a failed charge and leaves the subscription `unpaid` (a setting of
    /// the account): `customer.subscription.updated` waits.
    pub fn mark_unpaid(&self, subscription: &str) {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let sub = s.subscriptions.get_mut(subscription).unwrap();
        sub["status"] = json!("unpaid");
        let sub = public(sub);
        s.event("customer.subscription.updated", sub, now);
    }

    /// The current period ends: a subscription set to cancel at period end is deleted
    /// (`customer.subscription.deleted` waits); otherwise nothing happens.
    pub fn end_period(&self, subscription: &str) {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let sub = s.subscriptions.get_mut(subscription).unwrap();
        if sub["cancel_at_period_end"] == json!(true) {
            sub["status"] = json!("canceled");
            sub["ended_at"] = json!(now);
            sub["cancellation_details"] = json!({"reason": "cancellation_requested"});
            let sub = public(sub);
            s.event("customer.subscription.deleted", sub, now);
        }
    }

    /// The open invoice `id` is paid after all (the card was fixed): `invoice.paid` waits.
    pub fn pay_invoice(&self, id: &str) {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let intent = s.id("pi");
        let invoice = s.invoices.get_mut(id).expect("an invoice");
        let amount = invoice["amount_due"].as_i64().unwrap();
        invoice["status"] = json!("paid");
        invoice["amount_paid"] = json!(amount);
        invoice["status_transitions"]["paid_at"] = json!(now);
        invoice["payments"] = json!({"object": "list", "data": [ {"payment": {"type": "payment_intent", "payment_intent": intent}} ]});
        let mut shown = invoice.clone();
        shown.as_object_mut().unwrap().remove("payments");
        s.intents.insert(intent, (amount, 0));
        s.event("invoice.paid", shown, now);
    }

    /// Someone refunds `amount` of invoice `id` in Stripe's Dashboard: `charge.refunded` waits.
    pub fn refund_in_dashboard(&self, id: &str, amount: i64) {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        let intent = s.invoices[id]["payments"]["data"][0]["payment"]["payment_intent"]
            .as_str()
            .unwrap()
            .to_string();
        let (paid, refunded) = s.intents[&intent];
        s.intents.insert(intent.clone(), (paid, refunded + amount));
        s.event("charge.refunded", json!({"id": format!("ch_{intent}"), "object": "charge", "payment_intent": intent,
            "amount": paid, "amount_refunded": refunded + amount, "refunded": refunded + amount == paid}), now);
    }

    /// An event type the service does not use.
    pub fn unrelated_event(&self) {
        let now = self.now();
        let mut s = self.state.lock().unwrap();
        s.event(
            "customer.created",
            json!({"id": "cus_other", "object": "customer"}),
            now,
        );
    }

    /// The events waiting to be delivered.
    pub fn pending(&self) -> Vec<Value> {
        self.state.lock().unwrap().outbox.iter().cloned().collect()
    }

    /// Forgets the events waiting (the caller delivers them itself, later or in another order).
    pub fn deliver_nothing_yet(&self) {
        self.state.lock().unwrap().outbox.clear();
    }

    /// Delivers every waiting event, in order (or reversed), signed; returns each answer's status.
    pub async fn deliver(&self, reversed: bool) -> Vec<u16> {
        let mut events: Vec<Value> = self.state.lock().unwrap().outbox.drain(..).collect();
        if reversed {
            events.reverse();
        }
        let mut statuses = Vec::new();
        for event in events {
            statuses.push(self.send(&event).await);
        }
        statuses
    }

    /// Delivers one event (again), signed now.
    pub async fn send(&self, event: &Value) -> u16 {
        let body = serde_json::to_vec(event).unwrap();
        let t = self.now();
        let header = format!("t={t},v1={}", sign(WEBHOOK_SECRET, t, &body));
        self.post_raw(&body, &header).await
    }

    /// Posts `body` with `signature` as is (forged and stale deliveries).
    pub async fn post_raw(&self, body: &[u8], signature: &str) -> u16 {
        let url = self
            .webhook_url
            .lock()
            .unwrap()
            .clone()
            .expect("deliver_to first");
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// Stripe's `v1`: HMAC-SHA256 over `"{t}." + body` keyed with the whole secret, lowercase hex.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An object as Stripe shows it (the fake's own bookkeeping fields removed).
fn public(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("subscription_metadata");
        o.remove("amount");
        o.remove("period_end");
    }
    v
}

/// An invoice of `subscription` for `[start, end)`, paid or left open, in the 2025-03-31.basil
/// shape (the subscription and its metadata under `parent`, no `payment_intent` at the top: the
/// payment is read with `expand[]=payments`).
fn invoice_for(s: &mut Fake, subscription: &str, start: i64, end: i64, paid: bool) -> Value {
    let sub = s.subscriptions[subscription].clone();
    let id = s.id("in");
    let intent = s.id("pi");
    let amount = sub["amount"].as_i64().unwrap();
    let number = format!("FAKE-{:04}", s.counter);
    let invoice = json!({
        "id": id, "object": "invoice", "status": if paid { "paid" } else { "open" },
        "number": number, "customer": sub["customer"], "currency": sub["currency"],
        "amount_due": amount, "amount_paid": if paid { amount } else { 0 },
        "billing_reason": "subscription_cycle",
        "hosted_invoice_url": format!("https://invoice.stripe.example/i/{id}"),
        "period_start": start, "period_end": start,
        "attempt_count": 1, "next_payment_attempt": if paid { Value::Null } else { json!(start + 3 * 24 * 3600) },
        "status_transitions": { "paid_at": if paid { json!(start) } else { Value::Null } },
        "parent": { "type": "subscription_details",
                    "subscription_details": { "subscription": subscription, "metadata": sub["metadata"] } },
        "lines": { "object": "list", "data": [ {
            "id": format!("il_{id}"), "amount": amount, "currency": sub["currency"],
            "period": { "start": start, "end": end },
            "parent": { "subscription_item_details": { "subscription": subscription } } } ] },
    });
    if paid {
        s.intents.insert(intent.clone(), (amount, 0));
    }
    let mut stored = invoice.clone();
    stored["payments"] = json!({"object": "list", "data": [ {"payment": {"type": "payment_intent", "payment_intent": intent}} ]});
    s.invoices.insert(id, stored);
    invoice
}

/// Authentication, injected failures, idempotency replays and the request log, around every route.
async fn gate(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let (method, uri, headers) = (
        parts.method.clone(),
        parts.uri.clone(),
        parts.headers.clone(),
    );
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|_| method == Method::POST);
    let form = form_of(&body);
    let target = format!("{method} {}", uri.path());
    {
        let mut s = shared.state.lock().unwrap();
        let replay = key.as_ref().and_then(|k| s.idempotency.get(k).cloned());
        s.requests.push(Request {
            method: method.to_string(),
            path: uri.to_string(),
            form: form.iter().cloned().collect(),
            idempotency_key: key.clone(),
            replayed: replay.is_some(),
        });
        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(format!("Bearer {SECRET_KEY}").as_str());
        if !authorized {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "api_key_invalid",
                "Invalid API Key provided",
            );
        }
        if let Some(status) = s.failures.pop_front() {
            let (kind, code) = if status == 429 {
                ("invalid_request_error", "rate_limit")
            } else {
                ("api_error", "api_error")
            };
            return error(
                StatusCode::from_u16(status).unwrap(),
                kind,
                code,
                "injected failure",
            );
        }
        if let Some((was, was_form, status, body)) = replay {
            if was != target || was_form != form {
                return error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    "idempotency_key_in_use",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                );
            }
            let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r.headers_mut()
                .insert("idempotent-replayed", "true".parse().unwrap());
            return r;
        }
    }
    let response = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(body),
        ))
        .await;
    let (rparts, rbody) = response.into_parts();
    let rbytes = axum::body::to_bytes(rbody, 1 << 20).await.unwrap();
    let lost = {
        let mut s = shared.state.lock().unwrap();
        let lost = s.lose > 0;
        s.lose = s.lose.saturating_sub(1);
        lost
    };
    // Stripe keeps the first result once the endpoint ran (not for a request that failed validation).
    if let Some(k) = key {
        if rparts.status != StatusCode::BAD_REQUEST {
            shared.state.lock().unwrap().idempotency.insert(
                k,
                (
                    target,
                    form,
                    rparts.status.as_u16(),
                    String::from_utf8_lossy(&rbytes).into(),
                ),
            );
        }
    }
    if lost {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "api_error",
            "the answer was lost",
        );
    }
    Response::from_parts(rparts, axum::body::Body::from(rbytes))
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn create_checkout(State(shared): State<Shared>, body: Bytes) -> Response {
    let form = form_of(&body);
    let now = shared.now();
    let missing = |name: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_missing",
            &format!("Missing required param: {name}."),
        )
    };
    if field(&form, "mode") != Some("subscription") {
        return missing("mode");
    }
    let Some(unit) =
        field(&form, "line_items[0][price_data][unit_amount]").and_then(|v| v.parse::<i64>().ok())
    else {
        return missing("line_items[0][price_data][unit_amount]");
    };
    let Some(quantity) =
        field(&form, "line_items[0][quantity]").and_then(|v| v.parse::<i64>().ok())
    else {
        return missing("line_items[0][quantity]");
    };
    let Some(currency) = field(&form, "line_items[0][price_data][currency]") else {
        return missing("line_items[0][price_data][currency]");
    };
    // Stripe asks every charge to be worth at least 0.50 USD; the fake knows a few rates.
    let least = match currency {
        "usd" | "eur" => 50,
        "jpy" => 50,
        "idr" => 800_000,
        _ => 1,
    };
    if unit * quantity < least {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "amount_too_small",
            "Amount must convert to at least 50 cents.",
        );
    }
    if !field(&form, "line_items[0][price_data][recurring][interval]")
        .is_some_and(|i| ["day", "week", "month", "year"].contains(&i))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_invalid",
            "You must specify at least one recurring price in `subscription` mode.",
        );
    }
    if field(&form, "line_items[0][price_data][product_data][name]").is_none() {
        return missing("line_items[0][price_data][product_data][name]");
    }
    if field(&form, "success_url").is_none() {
        return missing("success_url");
    }
    if field(&form, "customer").is_some() && field(&form, "customer_email").is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_invalid",
            "You may only specify one of these parameters: customer, customer_email.",
        );
    }
    let expires_at = field(&form, "expires_at")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(now + 24 * 3600);
    if expires_at < now + 30 * 60 || expires_at > now + 24 * 3600 {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "parameter_invalid",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.");
    }
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("metadata[")?.strip_suffix(']')?.to_string(),
                json!(v),
            ))
        })
        .collect();
    let sub_metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("subscription_data[metadata][")?
                    .strip_suffix(']')?
                    .to_string(),
                json!(v),
            ))
        })
        .collect();
    let mut s = shared.state.lock().unwrap();
    let id = s.id("cs");
    let session = json!({
        "id": id, "object": "checkout.session", "mode": "subscription", "status": "open",
        "payment_status": "unpaid", "url": format!("https://checkout.stripe.example/c/pay/{id}"),
        "client_reference_id": field(&form, "client_reference_id"), "customer": null, "subscription": null,
        "customer_email": field(&form, "customer_email"), "metadata": metadata,
        "success_url": field(&form, "success_url"), "cancel_url": field(&form, "cancel_url"),
        "expires_at": expires_at, "currency": currency, "amount_total": unit * quantity,
        "subscription_metadata": sub_metadata,
    });
    s.checkouts.insert(id, session.clone());
    axum::Json(public(&session)).into_response()
}

async fn read_checkout(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    match shared.state.lock().unwrap().checkouts.get(&id) {
        Some(c) => axum::Json(public(c)).into_response(),
        None => missing("checkout.session", &id),
    }
}

async fn expire_checkout(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let now = shared.now();
    let mut s = shared.state.lock().unwrap();
    let Some(c) = s.checkouts.get_mut(&id) else {
        return missing("checkout.session", &id);
    };
    if c["status"] != "open" {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "checkout_session_not_open",
            &format!("Only Checkout Sessions with a status of `open` can be expired. This session has a status of `{}`.", c["status"].as_str().unwrap()));
    }
    c["status"] = json!("expired");
    c["url"] = Value::Null;
    let c = public(c);
    s.event("checkout.session.expired", c.clone(), now);
    axum::Json(c).into_response()
}

async fn cancel_subscription(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let now = shared.now();
    let mut s = shared.state.lock().unwrap();
    let Some(sub) = s.subscriptions.get_mut(&id) else {
        return missing("subscription", &id);
    };
    if sub["status"] == "canceled" {
        return missing("subscription", &id);
    }
    sub["status"] = json!("canceled");
    sub["canceled_at"] = json!(now);
    sub["ended_at"] = json!(now);
    sub["cancellation_details"] = json!({"reason": "cancellation_requested"});
    let sub = public(sub);
    s.event("customer.subscription.deleted", sub.clone(), now);
    axum::Json(sub).into_response()
}

/// `POST /v1/subscriptions/{id}`: only `cancel_at_period_end` is understood.
async fn update_subscription(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    let now = shared.now();
    let mut s = shared.state.lock().unwrap();
    let Some(sub) = s.subscriptions.get_mut(&id) else {
        return missing("subscription", &id);
    };
    if sub["status"] == "canceled" {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "resource_invalid_state",
            "A canceled subscription can only update its cancellation_details and metadata.",
        );
    }
    if let Some(flag) = field(&form, "cancel_at_period_end") {
        sub["cancel_at_period_end"] = json!(flag == "true");
    }
    let sub = public(sub);
    s.event("customer.subscription.updated", sub.clone(), now);
    axum::Json(sub).into_response()
}

async fn read_invoice(State(shared): State<Shared>, Path(id): Path<String>, uri: Uri) -> Response {
    let s = shared.state.lock().unwrap();
    let Some(invoice) = s.invoices.get(&id) else {
        return missing("invoice", &id);
    };
    let mut invoice = invoice.clone();
    // `payments` is an includable field: present only when expanded.
    if !uri
        .query()
        .unwrap_or_default()
        .contains("expand[]=payments")
        && !uri
            .query()
            .unwrap_or_default()
            .contains("expand%5B%5D=payments")
    {
        invoice.as_object_mut().unwrap().remove("payments");
    }
    axum::Json(invoice).into_response()
}

async fn refund(State(shared): State<Shared>, body: Bytes) -> Response {
    let form = form_of(&body);
    let now = shared.now();
    let mut s = shared.state.lock().unwrap();
    let Some(intent) = field(&form, "payment_intent").map(str::to_string) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_missing",
            "One of `charge` or `payment_intent` is required.",
        );
    };
    let Some(&(paid, refunded)) = s.intents.get(&intent) else {
        return missing("payment_intent", &intent);
    };
    let amount = field(&form, "amount")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(paid - refunded);
    if refunded >= paid {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "charge_already_refunded",
            "Charge has already been refunded.",
        );
    }
    if amount <= 0 || refunded + amount > paid {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "amount_too_large",
            "Refund amount is greater than unrefunded amount on charge.",
        );
    }
    s.intents.insert(intent.clone(), (paid, refunded + amount));
    let id = s.id("re");
    let charge = format!("ch_{intent}");
    let refund = json!({"id": id, "object": "refund", "amount": amount, "charge": charge,
        "payment_intent": intent, "status": "succeeded", "reason": field(&form, "reason")});
    s.event("charge.refunded", json!({"id": charge, "object": "charge", "payment_intent": intent,
        "amount": paid, "amount_refunded": refunded + amount, "refunded": refunded + amount == paid}), now);
    axum::Json(refund).into_response()
}
