//! The Stripe API calls the service makes: form-encoded POSTs (brackets for nesting, as Stripe's
//! libraries write them) with an `Idempotency-Key` named by what the call does, so a retry, ours or
//! a later job's, answers the first result instead of doing it twice. Connection errors, 409
//! (a concurrent request on the same key), 429 and 5xx are retried a few times with jittered
//! exponential backoff (0.5 s doubling, at most 5 s, as Stripe's libraries do; `Retry-After` and
//! `Stripe-Should-Retry` are honoured); what is left goes back to the caller (a job retries later).

use std::time::Duration;

use rand::Rng;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::config::{Secret, StripeSettings};
use crate::error::AppError;

/// Tries per call, the first included.
const ATTEMPTS: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// The API version whose shapes this adapter reads (it also reads the older paths).
pub const API_VERSION: &str = "2025-03-31.basil";

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe refused the request (4xx other than 409 and 429): `kind` is Stripe's error `type`.
    #[error("Stripe refused the request ({status}, {kind}): {message}")]
    Refused {
        status: u16,
        kind: String,
        code: Option<String>,
        message: String,
    },
    #[error("Stripe is rate limiting us")]
    RateLimited { retry_after: Option<Duration> },
    #[error("Stripe is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl StripeError {
    /// Stripe's error code, when it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            StripeError::Refused { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

impl From<StripeError> for AppError {
    fn from(e: StripeError) -> Self {
        match e {
            // A declined card is the student's to fix, in their words.
            StripeError::Refused {
                kind, ref message, ..
            } if kind == "card_error" => AppError::bad_input("payment", message.clone()),
            // The mentor's price is outside what Stripe charges in its currency (a currency with
            // no published minimum must still be worth 0.50 USD).
            StripeError::Refused { ref code, .. }
                if matches!(
                    code.as_deref(),
                    Some("amount_too_small" | "amount_too_large" | "invalid_currency")
                ) =>
            {
                AppError::bad_input(
                    "price",
                    "the mentor's price per session cannot be charged in its currency; the mentor \
                     must set another price (setSessionPrice)",
                )
            }
            StripeError::RateLimited { retry_after } => AppError::RateLimited {
                message: "the payment provider asked us to slow down; try again shortly".into(),
                retry_after,
            },
            other => AppError::Upstream {
                provider: "stripe",
                message: "the payment provider could not be reached or refused the request".into(),
                cause: Some(anyhow::Error::new(other)),
            },
        }
    }
}

/// A Checkout Session for a weekly subscription.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub booking_id: &'a str,
    /// The price per session, in minor units, and the sessions per week (the quantity).
    pub unit_amount_minor: i64,
    pub quantity: usize,
    pub currency: &'a str,
    pub product_name: &'a str,
    pub customer_email: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Unix seconds; Stripe takes 30 minutes to 24 hours after creation.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// `open`, `complete` or `expired`.
    pub status: String,
    /// Set only while the session is open.
    pub url: Option<String>,
    pub subscription: Option<String>,
    pub customer: Option<String>,
    pub expires_at: Option<i64>,
    /// Our booking's id.
    #[serde(default)]
    pub client_reference_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub status: String,
}

/// What paid an invoice: its PaymentIntent (newer API versions list it under `payments`) or charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paid {
    Intent(String),
    Charge(String),
}

impl Paid {
    /// Read back from its id (`ch_…` is a charge; anything else a PaymentIntent).
    pub fn from_id(id: &str) -> Self {
        if id.starts_with("ch_") {
            Paid::Charge(id.into())
        } else {
            Paid::Intent(id.into())
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Paid::Intent(id) | Paid::Charge(id) => id,
        }
    }
}

pub struct Stripe {
    http: reqwest::Client,
    base: String,
    key: Secret,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    kind: String,
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl Stripe {
    pub fn new(settings: &StripeSettings) -> anyhow::Result<Self> {
        Ok(Stripe {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(30))
                .build()?,
            base: settings.api_url.clone(),
            key: settings.secret_key.clone(),
        })
    }

    /// Opens a Checkout Session in subscription mode, charged weekly.
    pub async fn create_checkout(
        &self,
        r: &CheckoutRequest<'_>,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let form: Vec<(&str, String)> = vec![
            ("mode", "subscription".into()),
            ("line_items[0][quantity]", r.quantity.to_string()),
            ("line_items[0][price_data][currency]", r.currency.into()),
            (
                "line_items[0][price_data][unit_amount]",
                r.unit_amount_minor.to_string(),
            ),
            (
                "line_items[0][price_data][recurring][interval]",
                "week".into(),
            ),
            (
                "line_items[0][price_data][product_data][name]",
                r.product_name.into(),
            ),
            ("client_reference_id", r.booking_id.into()),
            ("metadata[booking_id]", r.booking_id.into()),
            (
                "subscription_data[metadata][booking_id]",
                r.booking_id.into(),
            ),
            ("customer_email", r.customer_email.into()),
            ("success_url", r.success_url.into()),
            ("cancel_url", r.cancel_url.into()),
            ("expires_at", r.expires_at.to_string()),
        ];
        self.call(
            Method::POST,
            "/v1/checkout/sessions",
            &form,
            Some(idempotency_key),
        )
        .await
    }

    /// Expires an open Checkout Session; Stripe refuses (400) one that is complete or expired.
    pub async fn expire_checkout(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.call(
            Method::POST,
            &format!("/v1/checkout/sessions/{}/expire", segment(id)),
            &[],
            Some(idempotency_key),
        )
        .await
    }

    pub async fn checkout(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        self.call(
            Method::GET,
            &format!("/v1/checkout/sessions/{}", segment(id)),
            &[],
            None,
        )
        .await
    }

    /// Cancels a subscription at once (never charged again). One already cancelled is done too.
    pub async fn cancel_subscription(&self, id: &str) -> Result<(), StripeError> {
        let done: Result<serde_json::Value, _> = self
            .call(
                Method::DELETE,
                &format!("/v1/subscriptions/{}", segment(id)),
                &[],
                None,
            )
            .await;
        match done {
            Ok(_) => Ok(()),
            Err(StripeError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Ends a subscription at the end of its current period (it is not charged again).
    pub async fn end_subscription(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let form = vec![("cancel_at_period_end", "true".to_string())];
        let done: Result<serde_json::Value, _> = self
            .call(
                Method::POST,
                &format!("/v1/subscriptions/{}", segment(id)),
                &form,
                Some(idempotency_key),
            )
            .await;
        match done {
            // Gone or already cancelled: it will not be charged again either way.
            Ok(_) | Err(StripeError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// What paid `invoice_id` (read with `expand[]=payments`, falling back to the older fields).
    pub async fn invoice_payment(&self, invoice_id: &str) -> Result<Option<Paid>, StripeError> {
        let invoice: serde_json::Value = self
            .call(
                Method::GET,
                &format!("/v1/invoices/{}?expand[]=payments", segment(invoice_id)),
                &[],
                None,
            )
            .await?;
        Ok(paid_by(&invoice))
    }

    /// Refunds `amount_minor` of what paid an invoice; `refund_id` (ours) goes in its metadata.
    pub async fn refund(
        &self,
        paid: &Paid,
        amount_minor: i64,
        refund_id: &str,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let (field, id) = match paid {
            Paid::Intent(id) => ("payment_intent", id),
            Paid::Charge(id) => ("charge", id),
        };
        let form = vec![
            (field, id.clone()),
            ("amount", amount_minor.to_string()),
            ("reason", "requested_by_customer".into()),
            ("metadata[refund]", refund_id.into()),
        ];
        self.call(Method::POST, "/v1/refunds", &form, Some(idempotency_key))
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(self.key.expose())
                .header("Stripe-Version", API_VERSION);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if method == Method::POST {
                request = request.form(form);
            }
            let (error, retry_after) = match request.send().await {
                Err(e) => (StripeError::Unavailable(e.into()), None),
                Ok(response) => {
                    let status = response.status();
                    let should_retry = response
                        .headers()
                        .get("Stripe-Should-Retry")
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v == "true");
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = response
                        .text()
                        .await
                        .map_err(|e| StripeError::Unavailable(e.into()))?;
                    if status.is_success() {
                        return serde_json::from_str(&text).map_err(|e| {
                            StripeError::Unavailable(anyhow::anyhow!(
                                "Stripe's answer to {path} did not parse: {e}"
                            ))
                        });
                    }
                    let error = refusal(status, &text, retry_after);
                    let retryable = should_retry.unwrap_or(matches!(
                        error,
                        StripeError::RateLimited { .. } | StripeError::Unavailable(_)
                    ));
                    if !retryable {
                        return Err(error);
                    }
                    (error, retry_after)
                }
            };
            if attempt >= ATTEMPTS {
                return Err(error);
            }
            tracing::debug!(path, attempt, error = %error, "retrying a Stripe call");
            tokio::time::sleep(delay(attempt, retry_after)).await;
        }
    }
}

/// How a failed answer reads: 409 (a concurrent request on one key) and 5xx are Stripe's side, 429
/// (and the legacy 400 `rate_limit`) a rate limit, other 4xx a refusal.
fn refusal(status: StatusCode, text: &str, retry_after: Option<Duration>) -> StripeError {
    let detail = serde_json::from_str::<ErrorBody>(text)
        .ok()
        .map(|b| b.error);
    let code = detail.as_ref().and_then(|d| d.code.clone());
    if status == StatusCode::TOO_MANY_REQUESTS || code.as_deref() == Some("rate_limit") {
        return StripeError::RateLimited { retry_after };
    }
    if status.is_server_error() || status == StatusCode::CONFLICT {
        return StripeError::Unavailable(anyhow::anyhow!("Stripe answered {status}"));
    }
    let (kind, message) = detail
        .map(|d| (d.kind, d.message.unwrap_or_default()))
        .unwrap_or_default();
    StripeError::Refused {
        status: status.as_u16(),
        kind,
        code,
        message,
    }
}

/// The wait before try `attempt + 1`: 0.5 s doubling to at most 5 s, jittered to 50–100 %, never
/// less than 0.5 s nor before `Retry-After` (capped at the longest wait).
fn delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = FIRST_DELAY
        .saturating_mul(1 << (attempt - 1).min(8))
        .min(MAX_DELAY);
    let jittered = base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
    jittered
        .max(FIRST_DELAY)
        .max(retry_after.unwrap_or_default().min(MAX_DELAY))
}

/// An id as one path segment (ids are Stripe's, but nothing from outside goes into a path raw).
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// What paid an invoice, from the newer `payments` list first, then the older fields.
pub fn paid_by(invoice: &serde_json::Value) -> Option<Paid> {
    let from_payments = invoice["payments"]["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|p| {
            let payment = &p["payment"];
            payment["payment_intent"]
                .as_str()
                .map(|id| Paid::Intent(id.into()))
                .or_else(|| payment["charge"].as_str().map(|id| Paid::Charge(id.into())))
        });
    from_payments
        .or_else(|| {
            invoice["payment_intent"]
                .as_str()
                .map(|id| Paid::Intent(id.into()))
        })
        .or_else(|| invoice["charge"].as_str().map(|id| Paid::Charge(id.into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_stripe_means_them() {
        let card = r#"{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}"#;
        let e = refusal(StatusCode::PAYMENT_REQUIRED, card, None);
        assert_eq!(e.code(), Some("card_declined"));
        assert_eq!(AppError::from(e).code(), "BAD_USER_INPUT");
        let limited = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "",
            Some(Duration::from_secs(2)),
        );
        assert!(
            matches!(limited, StripeError::RateLimited { retry_after: Some(d) } if d.as_secs() == 2)
        );
        let legacy = r#"{"error":{"type":"invalid_request_error","code":"rate_limit"}}"#;
        assert!(matches!(
            refusal(StatusCode::BAD_REQUEST, legacy, None),
            StripeError::RateLimited { .. }
        ));
        assert!(matches!(
            refusal(StatusCode::BAD_GATEWAY, "<html>", None),
            StripeError::Unavailable(_)
        ));
        assert!(matches!(
            refusal(StatusCode::CONFLICT, "", None),
            StripeError::Unavailable(_)
        ));
        let small = r#"{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must convert to at least 50 cents."}}"#;
        let e = refusal(StatusCode::BAD_REQUEST, small, None);
        assert_eq!(AppError::from(e).code(), "BAD_USER_INPUT");
        let missing = r#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such checkout.session"}}"#;
        let e = refusal(StatusCode::NOT_FOUND, missing, None);
        assert_eq!(AppError::from(e).code(), "UPSTREAM");
    }

    #[test]
    fn backoff_doubles_is_jittered_and_bounded() {
        for _ in 0..50 {
            let first = delay(1, None);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(500));
            let third = delay(3, None);
            assert!(third >= Duration::from_secs(1) && third <= Duration::from_secs(2));
            assert!(delay(20, None) <= MAX_DELAY);
            assert_eq!(
                delay(1, Some(Duration::from_secs(4))),
                Duration::from_secs(4)
            );
            assert_eq!(delay(1, Some(Duration::from_secs(400))), MAX_DELAY);
        }
    }

    #[test]
    fn an_invoice_names_its_payment_in_the_new_shape_or_the_old() {
        let basil = serde_json::json!({"payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_1"}}]}});
        assert_eq!(paid_by(&basil), Some(Paid::Intent("pi_1".into())));
        let old = serde_json::json!({"payment_intent": "pi_2", "charge": "ch_2"});
        assert_eq!(paid_by(&old), Some(Paid::Intent("pi_2".into())));
        let charge = serde_json::json!({"charge": "ch_3"});
        assert_eq!(paid_by(&charge), Some(Paid::Charge("ch_3".into())));
        assert_eq!(paid_by(&serde_json::json!({})), None);
    }
}
