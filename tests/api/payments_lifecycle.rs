//! A paid booking's life after checkout: weekly receipts with our own PDF (read back with a real
//! PDF reader), a failed charge and its recovery, Stripe giving up, cancelling (the subscription is
//! cancelled at Stripe) and refunds of sessions the mentor cancels.

use mailparse::{MailHeaderMap, ParsedMail};
use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::booking::{book, events, request, tutor_and_student, OTHER_STUDENT};
use crate::helpers::fake_stripe::FakeStripe;
use crate::helpers::stripe::{booking, checkout_id};
use crate::helpers::TestApp;
use crate::with_fake_stripe;

const MONDAY_NINE: &str = "2026-01-05T09:00:00Z";
const THURSDAY_TEN: &str = "2026-01-08T10:00:00Z";

/// A twice-weekly, four-week booking paid through checkout; returns its id and subscription.
async fn paid(app: &TestApp, stripe: &FakeStripe, student: &str) -> (String, String) {
    let made = book(
        app,
        student,
        request(&[MONDAY_NINE, THURSDAY_TEN], json!(4)),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_string();
    let b = booking(app, student, &id).await;
    let subscription = stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
    assert_eq!(stripe.deliver(false).await, vec![200, 200]);
    (id, subscription)
}

/// The text of a PDF, read by poppler's `pdftotext`; `None` (the test is skipped, and says so)
/// without it, unless `REQUIRE_PDF_READER=1` (as in CI).
fn pdf_text(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invoice.pdf");
    std::fs::write(&path, pdf).unwrap();
    match std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "pdftotext failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(e) => {
            assert!(
                std::env::var("REQUIRE_PDF_READER").map_or(true, |v| v != "1"),
                "REQUIRE_PDF_READER=1 but pdftotext cannot run: {e}"
            );
            crate::helpers::say_skipped("payments_lifecycle (pdftotext is missing)");
            None
        }
    }
}

/// The `.eml` files the app wrote (no SMTP configured), raw.
fn sent(app: &TestApp) -> Vec<Vec<u8>> {
    let Ok(dir) = std::fs::read_dir(app.data_dir().join("outbox")) else {
        return Vec::new();
    };
    dir.map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn attachment(mail: &ParsedMail, name: &str) -> Option<Vec<u8>> {
    if mail
        .get_content_disposition()
        .params
        .get("filename")
        .is_some_and(|f| f == name)
    {
        return Some(mail.get_body_raw().unwrap());
    }
    mail.subparts.iter().find_map(|p| attachment(p, name))
}

async fn notification_types(app: &TestApp, token: &str) -> Vec<String> {
    let data = app
        .ok(
            token,
            "{ notifications(first: 20) { edges { node { type title } } } }",
            json!({}),
        )
        .await;
    data["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["type"].as_str().unwrap().to_string())
        .collect()
}

with_fake_stripe! {
    async fn a_paid_week_gets_a_receipt_with_our_own_pdf(app, stripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        let (id, _) = paid(&app, &stripe, &student).await;
        app.jobs.drain().await.unwrap();
        assert!(notification_types(&app, &student).await.contains(&"PAYMENT_RECEIPT".to_string()));
        // The receipt email, with invoice.pdf attached.
        let raw = sent(&app);
        let receipt = raw
            .iter()
            .map(|r| mailparse::parse_mail(r).unwrap())
            .find(|m| m.headers.get_first_value("Subject").unwrap_or_default().contains("Payment receipt"))
            .expect("a receipt email");
        let pdf = attachment(&receipt, "invoice.pdf").expect("invoice.pdf attached");
        assert!(pdf.starts_with(b"%PDF-"));
        let Some(text) = pdf_text(&pdf) else { return };
        for expected in [
            "Payment receipt",
            "USD 80.00",                    // two sessions a week at the default 40.00
            "Monday 5 January 2026",        // paid on, and the period's start
            "Monday 12 January 2026",       // the next billing date
            "Weekly, 2 sessions a week",
            "Thursday 8 January 2026, 10:00", // a session it covers
            "User ckbookingmentor0000000001",
            "User ckbookingstudent000000001",
            "Algebra",
        ] {
            assert!(text.contains(expected), "{expected:?} is not in:\n{text}");
        }
        // The same PDF at its URL: for the student and admins only.
        let b = booking(&app, &student, &id).await;
        let url = b["payment"]["invoices"][0]["pdfUrl"].as_str().unwrap().to_string();
        let path = url.split_once("127.0.0.1").map(|(_, rest)| rest.split_once('/').unwrap().1).unwrap();
        let get = |token: Option<String>| {
            let mut r = app.client.get(app.url(&format!("/{path}")));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        let served = get(Some(student.clone())).await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.headers()["content-type"], "application/pdf");
        let served = served.bytes().await.unwrap();
        assert!(pdf_text(&served).unwrap().contains("USD 80.00"));
        let admin = app.user("ckadmin000000000000000001", Role::Admin, "UTC").await;
        assert_eq!(get(Some(admin)).await.unwrap().status(), 200);
        assert_eq!(get(Some(mentor)).await.unwrap().status(), 404, "the mentor does not get the student's receipt");
        assert_eq!(get(None).await.unwrap().status(), 401);
    }

    async fn a_failed_charge_is_past_due_until_a_later_charge_succeeds(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let (id, subscription) = paid(&app, &stripe, &student).await;
        stripe.fail_renewal(&subscription);
        let failure = stripe.pending();
        assert_eq!(stripe.deliver(false).await, vec![200, 200]);
        // Stripe delivers them again (a retry after a lost 200): applied once.
        for event in &failure {
            assert_eq!(stripe.send(event).await, 200);
        }
        assert_eq!(events(&app, "PAYMENT_FAILED").await.len(), 1);
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["paymentStatus"], "PAST_DUE");
        assert_eq!(b["payment"]["status"], "PAST_DUE");
        assert_eq!(b["status"], "CONFIRMED", "Stripe is still retrying: the sessions stay");
        app.jobs.drain().await.unwrap();
        let data = app.ok(&student, "{ notifications(first: 20) { edges { node { type link } } } }", json!({})).await;
        let failed = data["notifications"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["type"] == "SUBSCRIPTION_UPDATE").expect("told in the app").clone();
        assert!(failed["node"]["link"].as_str().unwrap().starts_with("https://invoice.stripe.example/"), "{failed}");
        let emails = crate::helpers::mail::emails(&app).await;
        let mail = emails.iter().find(|e| e.template == "subscription_update").expect("told by email");
        assert!(mail.body_html.as_deref().unwrap().contains("Update your card"));
        // The card is fixed: the next charge goes through.
        stripe.renew(&subscription);
        assert_eq!(stripe.deliver(false).await, vec![200]);
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["paymentStatus"], "PAID");
        assert_eq!(b["payment"]["invoices"].as_array().unwrap().len(), 2);
    }

    async fn a_failed_charge_is_texted_to_a_student_who_asked_after_the_night(app, stripe) {
        tutor_and_student(&app).await;
        // A number the platform verified (no code), and SMS on for subscription news.
        let student = app.token_for(&mentor_scheduler::auth::Principal {
            user_id: crate::helpers::booking::STUDENT.into(),
            role: Role::Student,
            email: "student@example.com".into(),
            name: "Sam".into(),
            time_zone: "Europe/London".parse().unwrap(),
            phone: Some("+447400123456".into()),
        });
        let prefs = "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { type } }";
        app.ok(&student, prefs, json!({"i": [{"type": "SUBSCRIPTION_UPDATE", "channel": "SMS", "enabled": true}]})).await;
        let (_, subscription) = paid(&app, &stripe, &student).await;
        stripe.fail_renewal(&subscription);
        stripe.deliver(false).await;
        // Midnight in London: held for the morning. Receipts are not texted at all.
        app.jobs.drain().await.unwrap();
        let dir = app.data_dir().join("sms");
        let written = || std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(written(), 0);
        app.clock.set("2026-01-05T08:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        assert_eq!(written(), 1);
        let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.starts_with("To: +447400123456\n\n"), "{text}");
        assert!(text.contains("Your weekly payment did not go through. Update your card: https://invoice.stripe.example/"), "{text}");
    }

    async fn failure_notices_follow_preferences_and_receipts_cannot_be_muted(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let prefs = "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { type channel enabled } }";
        for channel in ["EMAIL", "IN_APP"] {
            app.fails(Some(&student), prefs, json!({"i": [{"type": "PAYMENT_RECEIPT", "channel": channel, "enabled": false}]}), "BAD_USER_INPUT").await;
        }
        app.ok(&student, prefs, json!({"i": [{"type": "SUBSCRIPTION_UPDATE", "channel": "EMAIL", "enabled": false}]})).await;
        let (_, subscription) = paid(&app, &stripe, &student).await;
        stripe.fail_renewal(&subscription);
        stripe.deliver(false).await;
        app.jobs.drain().await.unwrap();
        let templates: Vec<String> = crate::helpers::mail::emails(&app).await.into_iter().filter(|e| e.to_address.starts_with("ckbookingstudent")).map(|e| e.template).collect();
        assert!(templates.contains(&"payment_receipt".to_string()), "{templates:?}");
        assert!(!templates.contains(&"subscription_update".to_string()), "muted by the student: {templates:?}");
        assert!(notification_types(&app, &student).await.contains(&"SUBSCRIPTION_UPDATE".to_string()), "still told in the app");
    }

    async fn a_mentor_cancelling_a_paid_booking_refunds_the_paid_weeks_sessions(app, stripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        let (id, subscription) = paid(&app, &stripe, &student).await;
        let q = "mutation($id: ID!) { cancelBooking(id: $id) { status } }";
        app.ok(&mentor, q, json!({"id": id})).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(stripe.subscription(&subscription)["status"], "canceled");
        let refunds: Vec<_> = stripe.requests().into_iter().filter(|r| r.path == "/v1/refunds").collect();
        // The first week's two sessions (Monday 09:00 and Thursday 10:00), 40.00 each.
        assert_eq!(refunds.len(), 2, "{refunds:?}");
        assert!(refunds.iter().all(|r| r.form["amount"] == "4000"));
        stripe.deliver(false).await;
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["payment"]["invoices"][0]["status"], "refunded");
        assert_eq!(b["paymentStatus"], "REFUNDED");
    }

    async fn payments_and_invoices_of_a_page_cost_the_same_few_queries(app, stripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        let q = "{ bookings(first: 50) { edges { node { id payment { status amount { amountMinor } invoices { id amount { amountMinor } } } } } } }";
        let mut counts = Vec::new();
        let mut made = 0;
        for total in [2, 6] {
            while made < total {
                let slot = format!("2026-01-{:02}T{:02}:00:00Z", 6 + made / 3, 9 + 2 * (made % 3));
                let b = book(&app, &student, request(&[&slot], json!(2))).await;
                let b = booking(&app, &student, b["id"].as_str().unwrap()).await;
                stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
                stripe.deliver(false).await;
                made += 1;
            }
            let (data, statements) = app.ok_counting(&mentor, q, json!({})).await;
            counts.push(statements);
            let edges = data["bookings"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), total);
            assert!(edges.iter().all(|e| e["node"]["payment"]["invoices"].as_array().unwrap().len() == 1));
        }
        // The bookings, then one query for their payments and one for their invoices, whatever the
        // page's size (a loader's batch may split once on a busy machine).
        assert!(counts[1] <= counts[0] + 1, "{counts:?}");
    }

    async fn a_late_failure_for_a_week_paid_since_changes_nothing(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let (id, subscription) = paid(&app, &stripe, &student).await;
        let invoice = stripe.fail_renewal(&subscription);
        let failure = stripe.pending();
        stripe.deliver_nothing_yet();
        // The card is fixed and the invoice paid; the failure's deliveries come after.
        stripe.pay_invoice(invoice["id"].as_str().unwrap());
        assert_eq!(stripe.deliver(false).await, vec![200]);
        for event in &failure {
            assert_eq!(stripe.send(event).await, 200);
        }
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["paymentStatus"], "PAID");
        assert!(events(&app, "PAYMENT_FAILED").await.is_empty());
    }

    async fn an_unpaid_subscription_ends_the_booking_and_is_cancelled_at_stripe(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let (id, subscription) = paid(&app, &stripe, &student).await;
        stripe.fail_renewal(&subscription);
        stripe.mark_unpaid(&subscription);
        assert_eq!(stripe.deliver(false).await, vec![200, 200, 200]);
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["status"], "CANCELLED");
        assert!(b["cancelReason"].as_str().unwrap().contains("payments stopped"));
        app.jobs.drain().await.unwrap();
        assert_eq!(stripe.subscription(&subscription)["status"], "canceled", "no more invoices");
    }

    async fn a_fixed_booking_is_not_charged_past_its_last_week(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        // Two Mondays: the 5th and the 12th, 09:00-10:00.
        let made = book(&app, &student, request(&[MONDAY_NINE], json!(2))).await;
        let id = made["id"].as_str().unwrap().to_string();
        let b = booking(&app, &student, &id).await;
        let subscription = stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
        stripe.deliver(false).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(stripe.subscription(&subscription)["cancel_at_period_end"], false, "the 12th is not paid yet");
        stripe.renew(&subscription);
        stripe.deliver(false).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(stripe.subscription(&subscription)["cancel_at_period_end"], true, "paid up: no charge after this week");
        let end = stripe.requests().into_iter().find(|r| r.method == "POST" && r.path.starts_with("/v1/subscriptions/")).unwrap();
        assert_eq!(end.idempotency_key, Some(format!("subscription:{subscription}:end")));
        // The period ends after the last session: the subscription ends, the booking stands.
        app.clock.set("2026-01-19T00:00:00Z".parse().unwrap());
        stripe.end_period(&subscription);
        stripe.deliver(false).await;
        let b = booking(&app, &student, &id).await;
        assert_ne!(b["status"], "CANCELLED");
        assert_eq!(b["paymentStatus"], "PAID");
        assert_eq!(b["payment"]["invoices"].as_array().unwrap().len(), 2);
    }

    async fn a_refund_made_in_stripes_dashboard_shows_on_the_invoice(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let (id, _) = paid(&app, &stripe, &student).await;
        // What paid the invoice is learnt from Stripe after it is recorded.
        app.jobs.drain().await.unwrap();
        let stripe_invoice = stripe
            .requests()
            .into_iter()
            .find(|r| r.path.starts_with("/v1/invoices/"))
            .expect("the invoice's payment was read")
            .path;
        let stripe_invoice = stripe_invoice.trim_start_matches("/v1/invoices/").split('?').next().unwrap().to_string();
        stripe.refund_in_dashboard(&stripe_invoice, 1500);
        assert_eq!(stripe.deliver(false).await, vec![200]);
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["payment"]["invoices"][0]["refundedAmount"]["amountMinor"], 1500);
        assert_eq!(b["payment"]["invoices"][0]["status"], "partially_refunded");
    }

    async fn when_stripe_gives_up_future_sessions_are_cancelled_and_both_told(app, stripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        let (id, subscription) = paid(&app, &stripe, &student).await;
        app.jobs.drain().await.unwrap();
        stripe.fail_renewal(&subscription);
        stripe.give_up(&subscription);
        assert_eq!(stripe.deliver(false).await, vec![200, 200, 200]);
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["status"], "CANCELLED");
        assert_eq!(b["paymentStatus"], "CANCELLED");
        assert!(b["cancelReason"].as_str().unwrap().contains("payments stopped"));
        assert!(b["sessions"].as_array().unwrap().iter().all(|s| s["status"] == "CANCELLED"));
        app.jobs.drain().await.unwrap();
        assert!(notification_types(&app, &student).await.contains(&"SESSION_CANCELLED".to_string()));
        assert!(notification_types(&app, &mentor).await.contains(&"SESSION_CANCELLED".to_string()));
        // The slots are free again.
        let other = app.user(OTHER_STUDENT, Role::Student, "Europe/London").await;
        let again = book(&app, &other, request(&["2026-01-12T09:00:00Z"], json!(1))).await;
        assert_eq!(again["status"], "PENDING");
    }

    async fn cancelling_a_paid_booking_cancels_its_subscription_at_once(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let (id, subscription) = paid(&app, &stripe, &student).await;
        let q = "mutation($id: ID!) { cancelBooking(id: $id, reason: \"moving abroad\") { status paymentStatus } }";
        let cancelled = app.ok(&student, q, json!({"id": id})).await["cancelBooking"].clone();
        assert_eq!(cancelled["status"], "CANCELLED");
        assert_eq!(cancelled["paymentStatus"], "CANCELLED");
        app.jobs.drain().await.unwrap();
        assert_eq!(stripe.subscription(&subscription)["status"], "canceled", "never charged again");
        let deletes = stripe.requests().into_iter().filter(|r| r.method == "DELETE").count();
        assert_eq!(deletes, 1);
        // Stripe's `customer.subscription.deleted` changes nothing more.
        assert_eq!(stripe.deliver(false).await, vec![200]);
        assert_eq!(events(&app, "BOOKING_CANCELLED").await.len(), 1);
        // The student cancelled: no refunds.
        assert!(stripe.requests().iter().all(|r| r.path != "/v1/refunds"));
    }

    async fn a_paid_session_the_mentor_cancels_is_refunded_its_share(app, stripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        let (id, subscription) = paid(&app, &stripe, &student).await;
        let b = booking(&app, &student, &id).await;
        let thursday = b["sessions"].as_array().unwrap().iter().find(|s| s["start"] == "2026-01-08T10:00:00+00:00").unwrap()["id"].as_str().unwrap().to_string();
        let next_week = b["sessions"].as_array().unwrap().iter().find(|s| s["start"] == "2026-01-12T09:00:00+00:00").unwrap()["id"].as_str().unwrap().to_string();
        let q = "mutation($id: ID!) { cancelSession(id: $id, reason: \"ill\") { status } }";
        app.ok(&mentor, q, json!({"id": thursday})).await;
        // A week not paid yet: its refund waits for its invoice.
        app.ok(&mentor, q, json!({"id": next_week})).await;
        app.jobs.drain().await.unwrap();
        let refunds: Vec<_> = stripe.requests().into_iter().filter(|r| r.path == "/v1/refunds").collect();
        assert_eq!(refunds.len(), 1, "one refund, for the paid week's session");
        assert_eq!(refunds[0].form["amount"], "4000", "half of the week's 80.00");
        assert!(refunds[0].form["payment_intent"].starts_with("pi_"));
        assert_eq!(refunds[0].idempotency_key.as_deref(), Some(format!("session:{thursday}:refund").as_str()));
        assert_eq!(stripe.deliver(false).await, vec![200]);
        let b = booking(&app, &student, &id).await;
        let invoice = &b["payment"]["invoices"][0];
        assert_eq!(invoice["refundedAmount"]["amountMinor"], 4000);
        assert_eq!(invoice["status"], "partially_refunded");
        assert!(notification_types(&app, &student).await.contains(&"SUBSCRIPTION_UPDATE".to_string()));
        // The refund job run again (a retry) refunds nothing more.
        let again = mentor_scheduler::jobs::payment::PaymentTask::Refund { refund_id: format!("session:{thursday}") };
        app.services.payments.run_task(&again).await.unwrap();
        assert_eq!(stripe.requests().iter().filter(|r| r.path == "/v1/refunds").count(), 1);
        let receipt: Value = booking(&app, &student, &id).await;
        assert_eq!(receipt["payment"]["invoices"][0]["refundedAmount"]["amountMinor"], 4000);
        // The next week is charged in full; the cancelled session's share of it goes back.
        stripe.renew(&subscription);
        stripe.deliver(false).await;
        app.jobs.drain().await.unwrap();
        let refunds: Vec<_> = stripe.requests().into_iter().filter(|r| r.path == "/v1/refunds").collect();
        assert_eq!(refunds.len(), 2);
        assert_eq!(refunds[1].idempotency_key.as_deref(), Some(format!("session:{next_week}:refund").as_str()));
        stripe.deliver(false).await;
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["payment"]["invoices"][1]["refundedAmount"]["amountMinor"], 4000);
    }
}

/// With Google Calendar connected too: a held booking's sessions reach the mentor's calendar only
/// once paid, whether the calendar was connected before the booking or during its hold.
mod with_google {
    use super::*;
    use crate::helpers::fake_google::{self, FakeGoogle};
    use crate::helpers::google::{app_with_google_and, connect};
    use mentor_scheduler::integrations::calendar::google::events::event_id_for;

    async fn run(app: TestApp, google: FakeGoogle, stripe: FakeStripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        let made = book(&app, &student, request(&[MONDAY_NINE], json!(1))).await;
        let id = made["id"].as_str().unwrap().to_string();
        let session = made["sessions"][0]["id"].as_str().unwrap().to_string();
        // Connected during the hold: the held session is not written.
        connect(&app, &mentor).await;
        app.jobs.drain().await.unwrap();
        let event = event_id_for(&session);
        assert!(
            google.event(fake_google::ACCOUNT, &event).is_none(),
            "not before payment"
        );
        assert!(google.writes().is_empty(), "{:?}", google.writes());
        let b = booking(&app, &student, &id).await;
        stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
        stripe.deliver(false).await;
        app.jobs.drain().await.unwrap();
        assert!(
            google.event(fake_google::ACCOUNT, &event).is_some(),
            "written once paid"
        );
    }

    async fn app(backend: crate::helpers::Backend) -> Option<(TestApp, FakeGoogle, FakeStripe)> {
        let stripe = FakeStripe::start().await;
        let settings = stripe.settings();
        let extra: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (app, google) = app_with_google_and(backend, &extra).await?;
        let clock = app.clock.clone();
        stripe.follow(move || {
            use mentor_scheduler::clock::Clock;
            clock.now().timestamp()
        });
        stripe.deliver_to(&app.url("/webhooks/stripe"));
        Some((app, google, stripe))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_sessions_reach_the_calendar_only_once_paid_sqlite() {
        let (app, google, stripe) = app(crate::helpers::Backend::Sqlite).await.unwrap();
        run(app, google, stripe).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_sessions_reach_the_calendar_only_once_paid_postgres() {
        match app(crate::helpers::Backend::Postgres).await {
            Some((app, google, stripe)) => run(app, google, stripe).await,
            None => crate::helpers::say_skipped("payments_lifecycle::with_google::postgres"),
        }
    }
}

with_fake_stripe! {
    async fn a_weekly_charge_racing_a_cancellation_never_deadlocks(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let cancel = "mutation($id: ID!) { cancelBooking(id: $id) { status } }";
        for round in 0..8 {
            let slot = format!("2026-01-{:02}T{:02}:00:00Z", 5 + round / 4, 9 + 2 * (round % 4));
            let made = book(&app, &student, request(&[&slot], json!(4))).await;
            let id = made["id"].as_str().unwrap().to_string();
            let b = booking(&app, &student, &id).await;
            let subscription = stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
            stripe.deliver(false).await;
            stripe.renew(&subscription);
            let renewal = stripe.pending();
            stripe.deliver_nothing_yet();
            // The webhook locks the payment's booking and payment; the cancellation locks the
            // booking, then its consumer updates the payment: they race for the same two rows.
            let body = json!({"query": cancel, "variables": {"id": id}});
            let cancelled = app.client.post(app.url("/graphql")).bearer_auth(&student).json(&body).send();
            let (delivered, cancelled) = tokio::join!(stripe.send(&renewal[0]), cancelled);
            let cancelled: Value = cancelled.unwrap().json().await.unwrap();
            assert_eq!(delivered, 200, "round {round}");
            assert!(cancelled.get("errors").is_none(), "round {round}: {cancelled}");
            let b = booking(&app, &student, &id).await;
            assert_eq!(b["status"], "CANCELLED");
            assert_eq!(b["payment"]["invoices"].as_array().unwrap().len(), 2);
        }
    }
}

with_fake_stripe! {
    async fn a_weekly_renewal_costs_a_bounded_number_of_statements(app, stripe) {
        // What one renewal costs the database stays the same however many weeks were paid before
        // (nothing in the webhook reads the booking's history), and small: the figure the
        // throughput of `bench/payments-load.sh` rests on.
        let (_, student) = tutor_and_student(&app).await;
        // An ongoing booking: charged every week, with no last week that ends the subscription.
        let made = book(&app, &student, request(&[MONDAY_NINE, THURSDAY_TEN], Value::Null)).await;
        let id = made["id"].as_str().unwrap().to_string();
        let held = booking(&app, &student, &id).await;
        let subscription = stripe.pay(&checkout_id(held["payment"]["checkoutUrl"].as_str().unwrap()));
        assert_eq!(stripe.deliver(false).await, vec![200, 200]);
        let mut costs = Vec::new();
        for _ in 0..4 {
            app.jobs.drain().await.unwrap();
            stripe.renew(&subscription);
            let events = stripe.pending();
            stripe.deliver_nothing_yet();
            assert_eq!(events.len(), 1, "{events:?}");
            let before = app.services.db.statements_run();
            assert_eq!(stripe.send(&events[0]).await, 200);
            costs.push(app.services.db.statements_run() - before);
        }
        assert!(costs.iter().all(|c| *c == costs[0]), "{costs:?}");
        // 19 since event ids older than 35 days are forgotten as new ones arrive (one DELETE).
        assert!(costs[0] <= 19, "a renewal took {} statements", costs[0]);
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["payment"]["invoices"].as_array().unwrap().len(), 5);
        assert_eq!(b["paymentStatus"], "PAID");
    }
}
