//! The application wired to the fake Stripe ([`super::fake_stripe`]): Stripe's clock follows the
//! app's, and the fake delivers its events to the app's webhook.

use serde_json::{json, Value};

use super::fake_stripe::FakeStripe;

pub async fn app_with_stripe(backend: super::Backend) -> Option<(super::TestApp, FakeStripe)> {
    let stripe = FakeStripe::start().await;
    let settings = stripe.settings();
    let all: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let app = super::TestApp::spawn_with(backend, &all).await?;
    let clock = app.clock.clone();
    stripe.follow(move || {
        use mentor_scheduler::clock::Clock;
        clock.now().timestamp()
    });
    stripe.deliver_to(&app.url("/webhooks/stripe"));
    Some((app, stripe))
}

/// Runs `$body` with the app and its fake Stripe, once per backend (as `on_both_backends!`).
#[macro_export]
macro_rules! with_fake_stripe {
    ($(async fn $name:ident($app:ident, $stripe:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(
                $app: $crate::helpers::TestApp,
                $stripe: $crate::helpers::fake_stripe::FakeStripe,
            ) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, stripe) = $crate::helpers::stripe::app_with_stripe(
                    $crate::helpers::Backend::Sqlite,
                )
                .await
                .expect("sqlite always runs");
                run(app, stripe).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::helpers::stripe::app_with_stripe($crate::helpers::Backend::Postgres).await {
                    Some((app, stripe)) => run(app, stripe).await,
                    None => $crate::helpers::say_skipped(concat!(module_path!(), "::postgres")),
                }
            }
        }
    )*};
}

pub const BOOKING: &str = "query($id: ID!) { booking(id: $id) { id status paymentStatus cancelReason sessions { id start status } payment { status amount { amountMinor currency } interval checkoutUrl holdExpiresAt nextBillingAt invoices { id number amount { amountMinor currency } refundedAmount { amountMinor } status periodStart periodEnd paidAt pdfUrl } } } }";

pub async fn booking(app: &super::TestApp, token: &str, id: &str) -> Value {
    app.ok(token, BOOKING, json!({ "id": id })).await["booking"].clone()
}

/// The checkout session id in a checkout URL (the fake's URLs end with it).
pub fn checkout_id(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}
