//! Payments through the fake Stripe: a regular booking is held until its first week is paid, then
//! confirmed (and only then told); holds that end unpaid free their slots; Stripe's webhooks are
//! checked, applied once and in any order; failed charges, ended subscriptions, cancellations and
//! refunds follow.

use chrono::Duration;
use futures::future::join_all;
use mentor_scheduler::auth::Role;
use serde_json::{json, Value};

use crate::helpers::booking::{book, events, request, tutor_and_student, CREATE, TUTOR};
use crate::helpers::fake_stripe::{sign, WEBHOOK_SECRET};
use crate::helpers::mail::emails;
use crate::helpers::stripe::{booking, checkout_id};
use crate::with_fake_stripe;

const SLOTS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!) { availableSlots(mentorId: $m, from: $from, to: $to) { start } }";
const MONDAY_NINE: &str = "2026-01-05T09:00:00Z";
const THURSDAY_TEN: &str = "2026-01-08T10:00:00Z";

async fn offered(app: &crate::helpers::TestApp, token: &str) -> Vec<String> {
    let data = app
        .ok(
            token,
            SLOTS,
            json!({"m": TUTOR, "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z"}),
        )
        .await;
    data["availableSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_string())
        .collect()
}

/// Books twice a week for four weeks and reads the booking back with its payment.
async fn held(app: &crate::helpers::TestApp, student: &str) -> Value {
    let made = book(
        app,
        student,
        request(&[MONDAY_NINE, THURSDAY_TEN], json!(4)),
    )
    .await;
    booking(app, student, made["id"].as_str().unwrap()).await
}

with_fake_stripe! {
    async fn a_booking_is_held_until_paid_then_confirmed_and_told(app, stripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        app.ok(&mentor, "mutation { setSessionPrice(amountMinor: 2500, currency: \"eur\") { amountMinor currency } }", json!({})).await;
        let b = held(&app, &student).await;
        assert_eq!(b["status"], "PENDING");
        assert_eq!(b["paymentStatus"], "PENDING");
        let payment = &b["payment"];
        assert_eq!(payment["amount"], json!({"amountMinor": 5000, "currency": "EUR"}), "two sessions a week at 25.00");
        assert_eq!(payment["interval"], "week");
        assert_eq!(payment["holdExpiresAt"], "2026-01-05T00:30:00+00:00");
        let url = payment["checkoutUrl"].as_str().expect("a checkout link");
        // The checkout Stripe was asked for.
        let create = stripe.requests().into_iter().find(|r| r.path == "/v1/checkout/sessions").unwrap();
        let id = b["id"].as_str().unwrap();
        assert_eq!(create.form["mode"], "subscription");
        assert_eq!(create.form["line_items[0][price_data][recurring][interval]"], "week");
        assert_eq!(create.form["line_items[0][price_data][unit_amount]"], "2500");
        assert_eq!(create.form["line_items[0][quantity]"], "2");
        assert_eq!(create.form["line_items[0][price_data][currency]"], "eur");
        assert_eq!(create.form["client_reference_id"], id);
        assert_eq!(create.form["metadata[booking_id]"], id);
        assert_eq!(create.form["subscription_data[metadata][booking_id]"], id);
        assert!(create.form["success_url"].starts_with("http://localhost:3000/bookings/"), "{:?}", create.form);
        assert_eq!(create.form["cancel_url"], format!("http://localhost:3000/bookings/{id}?payment=cancelled"));
        // Stripe takes expiries 30 minutes ahead at the least: the 30-minute hold asks for 31.
        let expiry = crate::helpers::default_now() + Duration::minutes(31);
        assert_eq!(create.form["expires_at"], expiry.timestamp().to_string());
        assert_eq!(create.idempotency_key.as_deref(), Some(format!("booking:{id}:checkout:1").as_str()));
        // Held: taken for everyone, told to nobody.
        let other = app.user("ckotherstudent00000000001", Role::Student, "Europe/London").await;
        assert!(!offered(&app, &other).await.contains(&"2026-01-05T09:00:00+00:00".to_string()));
        app.fails(Some(&other), CREATE, json!({"i": request(&[MONDAY_NINE], json!(1))}), "CONFLICT").await;
        assert!(emails(&app).await.is_empty(), "nothing is sent before payment");
        // The mentor sees the payment, never the student's checkout link.
        let seen = booking(&app, &mentor, id).await;
        assert_eq!(seen["payment"]["status"], "PENDING");
        assert_eq!(seen["payment"]["checkoutUrl"], Value::Null);
        assert!(events(&app, "BOOKING_CREATED").await.is_empty());
        app.jobs.drain().await.unwrap();
        let notifications = app.ok(&student, "{ notifications(first: 10) { edges { node { type } } } }", json!({})).await;
        assert_eq!(notifications["notifications"]["edges"], json!([]));

        stripe.pay(&checkout_id(url));
        assert_eq!(stripe.deliver(false).await, vec![200, 200]);
        let b = booking(&app, &student, id).await;
        assert_eq!(b["status"], "CONFIRMED");
        assert_eq!(b["paymentStatus"], "PAID");
        assert_eq!(b["payment"]["checkoutUrl"], Value::Null);
        let invoices = b["payment"]["invoices"].as_array().unwrap();
        assert_eq!(invoices.len(), 1);
        assert_eq!(invoices[0]["amount"], json!({"amountMinor": 5000, "currency": "EUR"}));
        assert_eq!(invoices[0]["periodStart"], "2026-01-05T00:00:00+00:00");
        assert_eq!(invoices[0]["periodEnd"], "2026-01-12T00:00:00+00:00");
        assert_eq!(b["payment"]["nextBillingAt"], "2026-01-12T00:00:00+00:00");
        assert_eq!(events(&app, "BOOKING_CREATED").await.len(), 1);
        let templates: Vec<String> = emails(&app).await.iter().map(|e| e.template.clone()).collect();
        assert!(templates.contains(&"booking_confirmation_student".to_string()), "{templates:?}");
        assert!(templates.contains(&"booking_confirmation_mentor".to_string()), "{templates:?}");
        // The mentor sees the payment, never the student's checkout link.
        let seen = booking(&app, &mentor, id).await;
        assert_eq!(seen["payment"]["status"], "PAID");
    }

    async fn an_unpaid_hold_ends_frees_the_slot_and_tells_nobody(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap().to_string();
        let checkout = checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap());
        // Not yet: the hold lasts 30 minutes.
        app.clock.set(crate::helpers::default_now() + Duration::minutes(29));
        app.jobs.drain().await.unwrap();
        assert_eq!(booking(&app, &student, &id).await["status"], "PENDING");
        app.clock.set(crate::helpers::default_now() + Duration::minutes(30));
        app.jobs.drain().await.unwrap();
        assert_eq!(stripe.checkout(&checkout)["status"], "expired", "expired at Stripe first");
        let b = booking(&app, &student, &id).await;
        assert_eq!(b["status"], "CANCELLED");
        assert_eq!(b["paymentStatus"], "CANCELLED");
        assert_eq!(b["cancelReason"], "payment not completed");
        assert!(b["sessions"].as_array().unwrap().iter().all(|s| s["status"] == "CANCELLED"));
        // Stripe's own `checkout.session.expired` changes nothing more.
        assert_eq!(stripe.deliver(false).await, vec![200]);
        app.jobs.drain().await.unwrap();
        assert!(emails(&app).await.is_empty(), "no confirmation, no cancellation: nobody was told");
        // The slot is offered again, and someone else books it.
        let other = app.user("ckotherstudent00000000001", Role::Student, "Europe/London").await;
        assert!(offered(&app, &other).await.contains(&"2026-01-05T09:00:00+00:00".to_string()));
        book(&app, &other, request(&[MONDAY_NINE], json!(1))).await;
    }

    async fn a_checkout_stripe_expires_on_its_own_releases_the_hold(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap().to_string();
        let checkout = checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap());
        // Stripe ends the checkout itself (the student walked away and it expired there) before
        // the hold's own end: its `checkout.session.expired` releases the hold.
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/checkout/sessions/{checkout}/expire", stripe.url))
            .bearer_auth(crate::helpers::fake_stripe::SECRET_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(stripe.deliver(false).await, vec![200]);
        let b = booking(&app, &student, &id).await;
        assert_eq!((b["status"].as_str(), b["cancelReason"].as_str()), (Some("CANCELLED"), Some("payment not completed")), "{b}");
        app.jobs.drain().await.unwrap();
        assert!(emails(&app).await.is_empty(), "nobody was told");
        assert!(offered(&app, &student).await.contains(&"2026-01-05T09:00:00+00:00".to_string()));
    }

    async fn students_racing_for_a_held_slot_get_one_hold(app, stripe) {
        tutor_and_student(&app).await;
        let mut tokens = Vec::new();
        for i in 0..6 {
            tokens.push(app.user(&format!("racer-{i:02}"), Role::Student, "UTC").await);
        }
        let requests = tokens.iter().map(|token| {
            let body = json!({"query": CREATE, "variables": {"i": request(&[MONDAY_NINE], json!(2))}});
            let request = app.client.post(app.url("/graphql")).bearer_auth(token).json(&body);
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        });
        let answers = join_all(requests).await;
        let winners: Vec<&Value> = answers.iter().filter(|a| a.get("errors").is_none()).collect();
        assert_eq!(winners.len(), 1, "{answers:?}");
        assert_eq!(winners[0]["data"]["createBooking"]["status"], "PENDING");
        for a in answers.iter().filter(|a| a.get("errors").is_some()) {
            assert_eq!(a["errors"][0]["extensions"]["code"], "CONFLICT", "{a}");
        }
        assert_eq!(stripe.checkouts().len(), 1, "only the winner was sent to pay");
    }

    async fn forged_stale_replayed_and_unknown_webhooks(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap();
        stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
        let pending = stripe.pending();
        let completed = serde_json::to_vec(&pending[0]).unwrap();
        let t = app.clock_now_ts();
        // Forged (another secret), altered body, stale (six minutes old), no header: 400, nothing changes.
        let forged = format!("t={t},v1={}", sign("whsec_not_ours", t, &completed));
        assert_eq!(stripe.post_raw(&completed, &forged).await, 400);
        let good = format!("t={t},v1={}", sign(WEBHOOK_SECRET, t, &completed));
        let mut altered = completed.clone();
        altered.extend_from_slice(b" ");
        assert_eq!(stripe.post_raw(&altered, &good).await, 400);
        let old = t - 360;
        let stale = format!("t={old},v1={}", sign(WEBHOOK_SECRET, old, &completed));
        assert_eq!(stripe.post_raw(&completed, &stale).await, 400);
        assert_eq!(stripe.post_raw(&completed, "").await, 400);
        assert_eq!(booking(&app, &student, id).await["status"], "PENDING");
        // Several v1 values (a secret being rolled): one good one is enough.
        let rolled = format!("t={t},v1={},v1={}", sign("whsec_old", t, &completed), sign(WEBHOOK_SECRET, t, &completed));
        assert_eq!(stripe.post_raw(&completed, &rolled).await, 200);
        assert_eq!(booking(&app, &student, id).await["status"], "CONFIRMED");
        // Every event delivered again: applied once.
        stripe.deliver(false).await;
        for event in &pending {
            assert_eq!(stripe.send(event).await, 200);
        }
        let b = booking(&app, &student, id).await;
        assert_eq!(b["payment"]["invoices"].as_array().unwrap().len(), 1);
        assert_eq!(events(&app, "BOOKING_CREATED").await.len(), 1);
        assert_eq!(events(&app, "PAYMENT_RECEIVED").await.len(), 1);
        // An event type we do not use: 200, ignored.
        stripe.unrelated_event();
        assert_eq!(stripe.deliver(false).await, vec![200]);
        // Event ids are kept 35 days: 34 days on, a new event forgets none, and a redelivery is
        // still recognised.
        use sea_orm::{EntityTrait, PaginatorTrait};
        let kept = || async {
            mentor_scheduler::entity::stripe_event::Entity::find().count(app.services.db.conn()).await.unwrap()
        };
        let ids = kept().await;
        assert!(ids >= 2, "{ids}");
        app.clock.set(crate::helpers::default_now() + Duration::days(34));
        stripe.unrelated_event();
        assert_eq!(stripe.deliver(false).await, vec![200]);
        assert_eq!(kept().await, ids + 1, "none forgotten yet");
        assert_eq!(stripe.send(&pending[0]).await, 200);
        assert_eq!(kept().await, ids + 1, "recognised, not recorded again");
        assert_eq!(events(&app, "BOOKING_CREATED").await.len(), 1);
        // Past that, the next event forgets the old ids.
        app.clock.set(crate::helpers::default_now() + Duration::days(36));
        stripe.unrelated_event();
        assert_eq!(stripe.deliver(false).await, vec![200]);
        assert_eq!(kept().await, 2, "the two of the last 35 days are kept");
    }

    async fn events_out_of_order_end_in_the_same_state(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap();
        stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
        // `invoice.paid` first, then `checkout.session.completed`.
        assert_eq!(stripe.deliver(true).await, vec![200, 200]);
        let b = booking(&app, &student, id).await;
        assert_eq!(b["status"], "CONFIRMED");
        assert_eq!(b["paymentStatus"], "PAID");
        assert_eq!(b["payment"]["invoices"].as_array().unwrap().len(), 1);
        assert_eq!(events(&app, "BOOKING_CREATED").await.len(), 1);
    }

    async fn a_fresh_checkout_replaces_the_old_one(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap();
        let first = checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap());
        let q = "mutation($b: ID!) { startBookingPayment(bookingId: $b) { status checkoutUrl } }";
        // Not twice within ten seconds (each costs two calls to Stripe).
        app.fails(Some(&student), q, json!({"b": id}), "RATE_LIMITED").await;
        app.clock.set(crate::helpers::default_now() + Duration::seconds(10));
        let fresh = app.ok(&student, q, json!({"b": id})).await["startBookingPayment"].clone();
        let second = checkout_id(fresh["checkoutUrl"].as_str().unwrap());
        assert_ne!(first, second);
        assert_eq!(stripe.checkout(&first)["status"], "expired", "the old one cannot be paid");
        let expire = stripe.requests().into_iter().find(|r| r.path.ends_with("/expire")).unwrap();
        assert_eq!(expire.idempotency_key, Some(format!("booking:{id}:expire:{first}")));
        let keys: Vec<String> = stripe.requests().iter().filter(|r| r.path == "/v1/checkout/sessions").filter_map(|r| r.idempotency_key.clone()).collect();
        assert_eq!(keys, vec![format!("booking:{id}:checkout:1"), format!("booking:{id}:checkout:2")]);
        // Stripe's `expired` for the replaced checkout does not end the hold.
        stripe.deliver(false).await;
        assert_eq!(booking(&app, &student, id).await["status"], "PENDING");
        // Someone else's booking is not found; after the hold, no fresh checkout.
        let other = app.user("ckotherstudent00000000001", Role::Student, "Europe/London").await;
        app.fails(Some(&other), q, json!({"b": id}), "NOT_FOUND").await;
        app.clock.set(crate::helpers::default_now() + Duration::minutes(31));
        app.fails(Some(&student), q, json!({"b": id}), "CONFLICT").await;
    }

    async fn asking_for_a_fresh_checkout_after_paying_finds_it_paid(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap();
        // Paid at Stripe, its webhooks not delivered yet; the student asks for a new checkout.
        stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
        app.clock.set(crate::helpers::default_now() + Duration::seconds(10));
        let q = "mutation($b: ID!) { startBookingPayment(bookingId: $b) { status checkoutUrl } }";
        let answer = app.ok(&student, q, json!({"b": id})).await["startBookingPayment"].clone();
        assert_eq!(answer, json!({"status": "PAID", "checkoutUrl": null}));
        assert_eq!(stripe.checkouts().len(), 1, "no second checkout");
        assert_eq!(booking(&app, &student, id).await["status"], "CONFIRMED");
        stripe.deliver(false).await;
        assert_eq!(events(&app, "BOOKING_CREATED").await.len(), 1);
    }

    async fn stripe_failures_are_retried_or_release_the_hold(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        // A 429 then a 500: retried with the same key, and the booking gets its checkout.
        stripe.fail_next(429, 1);
        stripe.fail_next(500, 1);
        let b = held(&app, &student).await;
        assert!(b["payment"]["checkoutUrl"].is_string());
        let keys: Vec<Option<String>> = stripe.requests().iter().map(|r| r.idempotency_key.clone()).collect();
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
        // Stripe down for good: the answer is UPSTREAM, and the slot is not left held.
        stripe.fail_next(503, 3);
        let error = app.fails(Some(&student), CREATE, json!({"i": request(&["2026-01-06T09:00:00Z"], json!(1))}), "UPSTREAM").await;
        assert!(!error["message"].as_str().unwrap().contains("injected"), "{error}");
        let other = app.user("ckotherstudent00000000001", Role::Student, "Europe/London").await;
        book(&app, &other, request(&["2026-01-06T09:00:00Z"], json!(1))).await;
    }

    async fn a_lost_answer_is_retried_into_the_same_checkout(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        // Stripe makes the checkout but its answer is lost (500): the retry with the same key gets
        // the first result back, so one checkout exists.
        stripe.lose_answers(1);
        let b = held(&app, &student).await;
        assert!(b["payment"]["checkoutUrl"].is_string());
        assert_eq!(stripe.checkouts().len(), 1);
        let posts: Vec<_> = stripe.requests().into_iter().filter(|r| r.path == "/v1/checkout/sessions").collect();
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
        assert!(!posts[0].replayed && posts[1].replayed, "the second answer is Stripe's replay");
        assert_eq!(checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()), stripe.checkouts()[0]["id"].as_str().unwrap());
    }

    async fn trials_never_touch_stripe(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let mut input = request(&[MONDAY_NINE], json!(1));
        input["type"] = json!("TRIAL");
        let b = book(&app, &student, input).await;
        assert_eq!(b["status"], "CONFIRMED");
        assert_eq!(b["paymentStatus"], "FREE");
        assert_eq!(booking(&app, &student, b["id"].as_str().unwrap()).await["payment"], Value::Null);
        assert!(stripe.requests().is_empty());
    }
}

with_fake_stripe! {
    async fn a_student_cancelling_a_held_booking_frees_it_and_its_checkout(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap();
        let checkout = checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap());
        // One session of a held booking cannot be changed on its own.
        let session = b["sessions"][0]["id"].as_str().unwrap();
        app.fails(Some(&student), "mutation($id: ID!) { cancelSession(id: $id) { status } }", json!({"id": session}), "CONFLICT").await;
        let q = "mutation($id: ID!) { cancelBooking(id: $id) { status paymentStatus cancelReason } }";
        // Not the mentor's to drop while the student may be paying.
        let mentor = app.token(TUTOR, Role::Mentor, "Europe/London");
        app.fails(Some(&mentor), q, json!({"id": id}), "CONFLICT").await;
        let cancelled = app.ok(&student, q, json!({"id": id})).await["cancelBooking"].clone();
        assert_eq!(cancelled, json!({"status": "CANCELLED", "paymentStatus": "CANCELLED", "cancelReason": "cancelled before payment"}));
        let b = booking(&app, &student, id).await;
        assert_eq!(b["payment"]["status"], "CANCELLED");
        assert_eq!(b["payment"]["checkoutUrl"], Value::Null);
        app.jobs.drain().await.unwrap();
        assert_eq!(stripe.checkout(&checkout)["status"], "expired", "the checkout cannot be paid any more");
        assert!(emails(&app).await.is_empty(), "nobody was told of the booking, nobody is told of this");
        assert!(events(&app, "BOOKING_CANCELLED").await.is_empty());
        assert_eq!(events(&app, "HOLD_RELEASED").await.len(), 1);
    }

    async fn a_payment_that_lands_after_the_hold_was_dropped_is_given_back(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap();
        let checkout = checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap());
        let q = "mutation($id: ID!) { cancelBooking(id: $id) { status } }";
        app.ok(&student, q, json!({"id": id})).await;
        // The student pays in the checkout tab still open, before it is expired at Stripe.
        let subscription = stripe.pay(&checkout);
        assert_eq!(stripe.deliver(false).await, vec![200, 200]);
        app.jobs.drain().await.unwrap();
        let b = booking(&app, &student, id).await;
        assert_eq!(b["status"], "CANCELLED", "the slots stay free");
        assert_eq!(stripe.subscription(&subscription)["status"], "canceled", "never charged again");
        let refunds: Vec<_> = stripe.requests().into_iter().filter(|r| r.path == "/v1/refunds").collect();
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].form["amount"], "8000", "the whole week back");
        stripe.deliver(false).await;
        let b = booking(&app, &student, id).await;
        assert_eq!(b["payment"]["invoices"][0]["status"], "refunded");
        assert_eq!(b["paymentStatus"], "REFUNDED");
        assert_eq!(events(&app, "REFUNDED").await.len(), 1);
        assert!(events(&app, "BOOKING_CREATED").await.is_empty(), "never confirmed");
    }

    async fn a_payment_landing_as_the_hold_ends_confirms_instead_of_releasing(app, stripe) {
        let (_, student) = tutor_and_student(&app).await;
        let b = held(&app, &student).await;
        let id = b["id"].as_str().unwrap();
        // Paid at Stripe, but its webhooks are late: the hold's end finds the checkout complete.
        stripe.pay(&checkout_id(b["payment"]["checkoutUrl"].as_str().unwrap()));
        app.clock.set(crate::helpers::default_now() + Duration::minutes(30));
        app.jobs.drain().await.unwrap();
        let b = booking(&app, &student, id).await;
        assert_eq!(b["status"], "CONFIRMED");
        assert!(b["sessions"].as_array().unwrap().iter().all(|s| s["status"] == "SCHEDULED"));
        // The late webhooks change nothing more, and the week is recorded.
        assert_eq!(stripe.deliver(false).await, vec![200, 200]);
        let b = booking(&app, &student, id).await;
        assert_eq!(b["paymentStatus"], "PAID");
        assert_eq!(b["payment"]["invoices"].as_array().unwrap().len(), 1);
        assert_eq!(events(&app, "BOOKING_CREATED").await.len(), 1);
    }

    async fn prices_are_the_mentors_and_checked(app, stripe) {
        let (mentor, student) = tutor_and_student(&app).await;
        let price = "query($m: ID!) { sessionPrice(mentorId: $m) { amountMinor currency } }";
        assert_eq!(app.ok(&student, price, json!({"m": TUTOR})).await["sessionPrice"], json!({"amountMinor": 4000, "currency": "USD"}), "the default");
        let set = "mutation($a: Int!, $c: String!) { setSessionPrice(amountMinor: $a, currency: $c) { amountMinor currency } }";
        // Stripe's published minimums (0.50 USD, 0.30 GBP) and its three-decimal rule.
        for (amount, currency) in [(0, "usd"), (-1, "usd"), (49, "usd"), (29, "gbp"), (1505, "kwd"), (20_000_000, "usd"), (100, "dollars"), (100, "")] {
            app.fails(Some(&mentor), set, json!({"a": amount, "c": currency}), "BAD_USER_INPUT").await;
        }
        // A currency without a published minimum is taken, and Stripe's refusal of a price worth
        // less than 0.50 USD reads as the price's fault: nothing stays held.
        app.ok(&mentor, set, json!({"a": 1000, "c": "idr"})).await;
        let e = app.fails(Some(&student), CREATE, json!({"i": request(&[MONDAY_NINE], json!(1))}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "price", "{e}");
        assert!(offered(&app, &student).await.contains(&MONDAY_NINE.replace('Z', "+00:00")), "the slot is not left held");
        app.fails(Some(&student), set, json!({"a": 100, "c": "usd"}), "FORBIDDEN").await;
        app.ok(&mentor, set, json!({"a": 5000, "c": "JPY"})).await;
        assert_eq!(app.ok(&student, price, json!({"m": TUTOR})).await["sessionPrice"], json!({"amountMinor": 5000, "currency": "JPY"}));
        let b = held(&app, &student).await;
        assert_eq!(b["payment"]["amount"], json!({"amountMinor": 10000, "currency": "JPY"}));
        assert!(stripe.requests().iter().any(|r| r.form.get("line_items[0][price_data][currency]").is_some_and(|c| c == "jpy")));
    }
}

mod without_stripe {
    use super::*;
    use crate::on_both_backends;

    on_both_backends! {
        async fn regular_bookings_need_no_payment_and_the_webhook_is_absent(app) {
            let (_, student) = tutor_and_student(&app).await;
            let b = book(&app, &student, request(&[MONDAY_NINE], json!(1))).await;
            assert_eq!(b["status"], "CONFIRMED");
            assert_eq!(b["paymentStatus"], "NOT_REQUIRED");
            assert_eq!(booking(&app, &student, b["id"].as_str().unwrap()).await["payment"], Value::Null);
            let q = "mutation($b: ID!) { startBookingPayment(bookingId: $b) { status } }";
            app.fails(Some(&student), q, json!({"b": b["id"]}), "NOT_FOUND").await;
            let answer = app.client.post(app.url("/webhooks/stripe")).body("{}").send().await.unwrap();
            assert_eq!(answer.status(), 404);
        }
    }
}
