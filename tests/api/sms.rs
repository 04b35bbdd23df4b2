//! Texts through a faithful fake Twilio, on SQLite and PostgreSQL: a number verified by a code
//! before anything else is texted, the opt-in per type, STOP/START/HELP, quiet hours in the
//! reader's zone, status callbacks that only move forward, forged callbacks refused, retries that
//! never send twice, and reminders with the join link.

use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::sms_message;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, STUDENT};
use crate::helpers::fake_twilio::{Failure, FakeTwilio};
use crate::helpers::{spawn_reachable, Backend, TestApp};

const PREFS: &str = "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { type channel enabled } }";
const SET_PHONE: &str = "mutation($n: String) { updatePhoneNumber(phoneNumber: $n) { phoneNumber verified pendingPhoneNumber codeExpiresAt } }";
const VERIFY: &str =
    "mutation($c: String!) { verifyPhoneNumber(code: $c) { phoneNumber verified verifiedAt } }";
const CANCEL_SESSION: &str = "mutation($id: ID!) { cancelSession(id: $id) { id status } }";
const NOTIFICATIONS: &str = "{ notifications(first: 20) { edges { node { type title sms { status body segments errorCode to } } } } }";
const TEXTS: &str =
    "{ textMessages(first: 20) { kind status body to segments errorCode errorMessage sendAfter } }";
const NUMBER: &str = "+447400123456";

async fn app(backend: Backend, twilio: &FakeTwilio, extra: &[(&str, &str)]) -> Option<TestApp> {
    let mut settings = twilio.settings();
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    spawn_reachable(backend, settings).await
}

async fn on_both<F>(test: F)
where
    F: Fn(TestApp, FakeTwilio) -> futures::future::BoxFuture<'static, ()>,
{
    let twilio = FakeTwilio::start().await;
    test(app(Backend::Sqlite, &twilio, &[]).await.unwrap(), twilio).await;
    let twilio = FakeTwilio::start().await;
    match app(Backend::Postgres, &twilio, &[]).await {
        Some(a) => test(a, twilio).await,
        None => crate::helpers::say_skipped("sms::postgres"),
    }
}

/// Switches SMS on for `kinds`.
async fn opt_in(app: &TestApp, token: &str, kinds: &[&str]) {
    let input: Vec<Value> = kinds
        .iter()
        .map(|k| json!({"type": k, "channel": "SMS", "enabled": true}))
        .collect();
    app.ok(token, PREFS, json!({"i": input})).await;
}

/// The six digits of the latest code texted to `number`.
fn code_sent(twilio: &FakeTwilio, number: &str) -> String {
    let text = twilio
        .sent()
        .into_iter()
        .rev()
        .find(|s| s.to == number && s.body.contains("code"))
        .expect("a code was texted");
    text.body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("six digits")
        .to_string()
}

/// Sets and verifies `number` for the holder of `token`.
async fn verified(app: &TestApp, twilio: &FakeTwilio, token: &str, number: &str) {
    app.ok(token, SET_PHONE, json!({"n": number})).await;
    app.jobs.drain().await.unwrap();
    let code = code_sent(twilio, number);
    let done = app.ok(token, VERIFY, json!({"c": code})).await;
    assert_eq!(done["verifyPhoneNumber"]["verified"], true);
}

/// At 10:00 on Monday 5 January: a mentor, and a student with a verified number who switched SMS on
/// for cancellations and booked `weeks` Wednesdays at 10:00 from 7 January; their tokens and booking.
async fn texted_student(app: &TestApp, twilio: &FakeTwilio, weeks: u32) -> (String, String, Value) {
    app.clock.set("2026-01-05T10:00:00Z".parse().unwrap());
    let (mentor, student) = tutor_and_student(app).await;
    let booking = book(
        app,
        &student,
        request(&["2026-01-07T10:00:00Z"], json!(weeks)),
    )
    .await;
    opt_in(app, &student, &["SESSION_CANCELLED"]).await;
    verified(app, twilio, &student, NUMBER).await;
    (mentor, student, booking)
}

/// Removes the student's number and checks it cannot be set again while it is opted out.
async fn refused_until_start(app: &TestApp, student: &str) {
    app.ok(student, SET_PHONE, json!({"n": null})).await;
    let e = app
        .fails(
            Some(student),
            SET_PHONE,
            json!({"n": NUMBER}),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(e["message"].as_str().unwrap().contains("STOP"), "{e}");
}

async fn texts(app: &TestApp, token: &str) -> Vec<Value> {
    app.ok(token, TEXTS, json!({})).await["textMessages"]
        .as_array()
        .unwrap()
        .clone()
}

async fn rows(app: &TestApp) -> Vec<sms_message::Model> {
    sms_message::Entity::find()
        .all(app.services.db.conn())
        .await
        .unwrap()
}

/// A mentor, and a student in Auckland (UTC+13 in January: 10:00 UTC is 23:00 there) who booked
/// three Wednesdays at 10:00 UTC from 7 January and switched SMS on for cancellations; their
/// tokens and the booking.
async fn student_in_auckland(app: &TestApp) -> (String, String, Value) {
    let (mentor, _) = tutor_and_student(app).await;
    let student = app.user(STUDENT, Role::Student, "Pacific/Auckland").await;
    let booking = book(app, &student, request(&["2026-01-07T10:00:00Z"], json!(3))).await;
    opt_in(app, &student, &["SESSION_CANCELLED"]).await;
    (mentor, student, booking)
}

/// Asserts that `count` texts went, the last one saying `what`.
fn texted(twilio: &FakeTwilio, count: usize, what: &str) {
    let sent = twilio.sent();
    assert_eq!(sent.len(), count);
    let last = &sent[count - 1].body;
    assert!(last.contains(what), "{last}");
}

fn session(booking: &Value, i: usize) -> Value {
    booking["sessions"][i]["id"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_is_verified_by_code_before_any_text_and_statuses_only_move_forward() {
    on_both(|app, twilio| {
        Box::pin(async move {
            app.clock.set("2026-01-05T10:00:00Z".parse().unwrap());
            let (mentor, student) = tutor_and_student(&app).await;
            let booking = book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(4))).await;
            opt_in(&app, &student, &["SESSION_CANCELLED"]).await;

            // Numbers that are not valid international ones are refused on the field.
            for bad in [
                "07400 123456",
                "+44 12",
                "+1 415 CALL NOW",
                "+447400123456 ext 9",
            ] {
                let e = app
                    .fails(
                        Some(&student),
                        SET_PHONE,
                        json!({"n": bad}),
                        "BAD_USER_INPUT",
                    )
                    .await;
                assert_eq!(e["extensions"]["field"], "phoneNumber", "{bad}");
            }
            let set = app
                .ok(&student, SET_PHONE, json!({"n": "+44 7400 123456"}))
                .await["updatePhoneNumber"]
                .clone();
            assert_eq!(
                (set["verified"].clone(), set["pendingPhoneNumber"].clone()),
                (json!(false), json!(NUMBER))
            );
            app.jobs.drain().await.unwrap();
            let code = code_sent(&twilio, NUMBER);

            // Not verified yet: a cancellation the student opted in for texts nothing.
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 0)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 1, "only the code");

            let wrong = if code == "000000" { "111111" } else { "000000" };
            let e = app
                .fails(
                    Some(&student),
                    VERIFY,
                    json!({"c": wrong}),
                    "BAD_USER_INPUT",
                )
                .await;
            assert!(e["message"].as_str().unwrap().contains("wrong code"), "{e}");
            let done =
                app.ok(&student, VERIFY, json!({"c": code})).await["verifyPhoneNumber"].clone();
            assert_eq!(
                (done["phoneNumber"].clone(), done["verified"].clone()),
                (json!(NUMBER), json!(true))
            );
            app.fails(Some(&student), VERIFY, json!({"c": code}), "BAD_USER_INPUT")
                .await;

            // Verified and opted in: the next cancellation is texted, in the reader's zone.
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 1)}))
                .await;
            app.jobs.drain().await.unwrap();
            let sent = twilio.sent();
            assert_eq!(sent.len(), 2);
            let text = &sent[1];
            assert_eq!(text.to, NUMBER);
            assert!(
                text.body.contains("cancelled: Wed 14 Jan 10:00 GMT"),
                "{}",
                text.body
            );
            assert!(
                text.body.starts_with("EmpowerEd Learnings: "),
                "{}",
                text.body
            );
            // The mentor did not opt in and has no number: nothing for them.
            assert!(texts(&app, &mentor).await.is_empty());

            // The notification history shows the text and its status.
            let sms_of_cancellation = |data: Value| {
                data["notifications"]["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["node"].clone())
                    .find(|n| n["type"] == "SESSION_CANCELLED" && !n["sms"].is_null())
                    .map(|n| n["sms"].clone())
                    .expect("the cancellation with its text")
            };
            let sms = sms_of_cancellation(app.ok(&student, NOTIFICATIONS, json!({})).await);
            assert_eq!(
                (
                    sms["status"].clone(),
                    sms["to"].clone(),
                    sms["segments"].clone()
                ),
                (json!("SENT"), json!(NUMBER), json!(1))
            );

            // Delivered, then a late `sent`: the status stays DELIVERED.
            let (url, params) = twilio.callback(text, "delivered", None);
            assert_eq!(twilio.post_signed(&url, &params, None).await.0, 204);
            let (url, params) = twilio.callback(text, "sent", None);
            assert_eq!(twilio.post_signed(&url, &params, None).await.0, 204);
            let sms = sms_of_cancellation(app.ok(&student, NOTIFICATIONS, json!({})).await);
            assert_eq!(sms["status"], "DELIVERED");

            // Forged callbacks change nothing: a wrong signature, another token, a changed field.
            let (url, params) = twilio.callback(text, "undelivered", Some("30003"));
            let (status, _) = twilio
                .post_signed(&url, &params, Some("bm90IGEgc2lnbmF0dXJl"))
                .await;
            assert_eq!(status, 403);
            let signed_other = crate::helpers::fake_twilio::twilio_signature(
                &url,
                &twilio.callback(text, "failed", None).1,
            );
            assert_eq!(
                twilio
                    .post_signed(&url, &params, Some(&signed_other))
                    .await
                    .0,
                403
            );
            let (status, _) = twilio
                .post_signed(
                    &format!("{url}&x=1"),
                    &params,
                    Some(&crate::helpers::fake_twilio::twilio_signature(
                        &url, &params,
                    )),
                )
                .await;
            assert_eq!(status, 403, "the URL is signed too");
            let sms = sms_of_cancellation(app.ok(&student, NOTIFICATIONS, json!({})).await);
            assert_eq!(
                (sms["status"].clone(), sms["errorCode"].clone()),
                (json!("DELIVERED"), Value::Null)
            );

            // The history lists the code and the cancellation.
            let listed = texts(&app, &student).await;
            assert_eq!(listed.len(), 2);
            assert_eq!(listed[1]["kind"], "PHONE_VERIFICATION");
            let shown = listed[1]["body"].as_str().unwrap();
            assert!(
                !shown.contains(&code) && shown.contains("******"),
                "the code is not readable through the API: {shown}"
            );
            assert_eq!(listed[0]["status"], "DELIVERED");

            // Removing the number stops the texts.
            app.ok(&student, SET_PHONE, json!({"n": null})).await;
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 2)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 2);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_opts_the_number_out_start_opts_it_back_in_and_help_answers() {
    on_both(|app, twilio| {
        Box::pin(async move {
            let (mentor, student, booking) = texted_student(&app, &twilio, 4).await;
            let inbound = app.url("/webhooks/sms/inbound");

            // A forged STOP is refused and changes nothing.
            let stop = FakeTwilio::inbound(NUMBER, "Stop");
            assert_eq!(
                twilio
                    .post_signed(&inbound, &stop, Some("Zm9yZ2Vk"))
                    .await
                    .0,
                403
            );
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 0)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 2, "code and cancellation");

            // STOP (any case, the whole body): nothing more is texted to the number.
            let (status, body) = twilio.post_signed(&inbound, &stop, None).await;
            assert_eq!(status, 200);
            assert!(body.contains("<Response/>"), "{body}");
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 1)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 2, "opted out");
            // Nor can the number be set again for a code until START.
            refused_until_start(&app, &student).await;

            // HELP is answered with who we are and where to get help; a chat message is not.
            let (status, body) = twilio
                .post_signed(&inbound, &FakeTwilio::inbound(NUMBER, " help "), None)
                .await;
            assert_eq!(status, 200);
            assert!(
                body.contains("<Message>EmpowerEd Learnings:")
                    && body.contains("support@empoweredlearnings.example"),
                "{body}"
            );
            let (_, body) = twilio
                .post_signed(
                    &inbound,
                    &FakeTwilio::inbound(NUMBER, "please stop by later"),
                    None,
                )
                .await;
            assert!(body.contains("<Response/>"), "{body}");
            // Twilio's Advanced Opt-Out answered HELP itself: no second answer.
            let mut advanced = FakeTwilio::inbound(NUMBER, "help");
            advanced.push(("OptOutType".into(), "HELP".into()));
            let (_, body) = twilio.post_signed(&inbound, &advanced, None).await;
            assert!(body.contains("<Response/>"), "{body}");

            // START: the number can be verified and texted again.
            assert_eq!(
                twilio
                    .post_signed(&inbound, &FakeTwilio::inbound(NUMBER, "START"), None)
                    .await
                    .0,
                200
            );
            verified(&app, &twilio, &student, NUMBER).await;
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 2)}))
                .await;
            app.jobs.drain().await.unwrap();
            let sent = twilio.sent();
            assert!(
                sent.last().unwrap().body.contains("cancelled"),
                "{:?}",
                sent.last()
            );

            // Twilio refusing the number as opted out (21610) fails the text and opts it out here too.
            twilio.stop(NUMBER);
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 3)}))
                .await;
            app.jobs.drain().await.unwrap();
            let listed = texts(&app, &student).await;
            assert_eq!(
                (listed[0]["status"].clone(), listed[0]["errorCode"].clone()),
                (json!("FAILED"), json!("21610"))
            );
            refused_until_start(&app, &student).await;
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_in_the_readers_zone_hold_texts_except_for_a_session_within_the_hour() {
    on_both(|app, twilio| {
        Box::pin(async move {
            let (mentor, student, booking) = student_in_auckland(&app).await;
            app.clock.set("2026-01-07T09:20:00Z".parse().unwrap()); // 22:20 in Auckland
            verified(&app, &twilio, &student, NUMBER).await;
            assert_eq!(twilio.sent().len(), 1, "a code goes at once, even at night");

            // Next week's session cancelled at night: held until 08:00 Auckland (19:00 UTC).
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 1)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 1, "held");
            let held = texts(&app, &student).await[0].clone();
            assert_eq!(held["status"], "PENDING");
            assert_eq!(held["sendAfter"], "2026-01-08T08:00:00+13:00");

            // The session starting in 40 minutes: texted now, night or not.
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 0)}))
                .await;
            app.jobs.drain().await.unwrap();
            texted(&twilio, 2, "Wed 7 Jan 23:00 NZDT");

            // Morning in Auckland: the held text goes.
            app.clock.set("2026-01-07T19:00:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            texted(&twilio, 3, "Wed 14 Jan 23:00 NZDT");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_tried_again_in_quiet_hours_waits_for_their_end_unless_its_session_is_near() {
    on_both(|app, twilio| {
        Box::pin(async move {
            use mentor_scheduler::entity::job;
            // Quiet hours from 21:00 in Auckland (08:00 UTC).
            let (mentor, student, booking) = student_in_auckland(&app).await;
            app.clock.set("2026-01-07T07:50:00Z".parse().unwrap()); // 20:50 in Auckland
            verified(&app, &twilio, &student, NUMBER).await;

            // Next week's session cancelled at 20:55: Twilio is down, the text waits for a retry.
            app.clock.set("2026-01-07T07:55:00Z".parse().unwrap());
            twilio.fail_next(Failure::Down(503));
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 1)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 1, "only the code");

            // The retry comes at 21:30: held until 08:00, that run not counted as a try.
            app.clock.set("2026-01-07T08:30:00Z".parse().unwrap());
            let report = app.jobs.drain().await.unwrap();
            assert_eq!(report.postponed, 1, "{report:?}");
            assert_eq!(twilio.sent().len(), 1, "held");
            assert_eq!(twilio.requests(), 2, "Twilio was not asked again");
            let held = texts(&app, &student).await[0].clone();
            assert_eq!(
                (held["status"].clone(), held["sendAfter"].clone()),
                (json!("PENDING"), json!("2026-01-08T08:00:00+13:00"))
            );
            assert_eq!(rows(&app).await.iter().map(|r| r.attempts).max(), Some(1));
            let queued = job::Entity::find()
                .all(app.services.db.conn())
                .await
                .unwrap()
                .into_iter()
                .find(|j| j.kind == "sms.send" && j.state == "queued")
                .expect("its job waits");
            assert_eq!(
                (queued.run_at, queued.attempts),
                ("2026-01-07T19:00:00Z".parse().unwrap(), 1)
            );

            // Tonight's session, 55 minutes away, cancelled at 22:05 while Twilio is down: its
            // retry in quiet hours goes at once.
            app.clock.set("2026-01-07T09:05:00Z".parse().unwrap());
            twilio.fail_next(Failure::Down(503));
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 0)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 1, "Twilio was down");
            app.clock.set("2026-01-07T09:20:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            texted(&twilio, 2, "Wed 7 Jan 23:00 NZDT");

            // Morning in Auckland: the held text goes, once.
            app.clock.set("2026-01-07T19:00:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            texted(&twilio, 3, "Wed 14 Jan 23:00 NZDT");
            app.clock.set("2026-01-08T19:00:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 3);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_wait_out_throttling_and_never_send_twice() {
    on_both(|app, twilio| {
        Box::pin(async move {
            let (mentor, student, booking) = texted_student(&app, &twilio, 3).await;
            let later = |app: &TestApp, minutes: i64| {
                use mentor_scheduler::clock::Clock;
                app.clock
                    .set(app.clock.now() + chrono::Duration::minutes(minutes));
            };

            // Twilio takes the text but the answer is lost (a 500 after the write): the retry asks
            // Twilio first, finds it, and does not send it again.
            twilio.fail_next(Failure::LostAnswer);
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 0)}))
                .await;
            app.jobs.drain().await.unwrap();
            assert_eq!(twilio.sent().len(), 2);
            let row = rows(&app)
                .await
                .into_iter()
                .find(|r| r.kind == "SESSION_CANCELLED")
                .unwrap();
            assert_eq!((row.status.as_str(), row.attempts), ("SENDING", 1));
            // Switched off meanwhile: the text went all the same, and is recorded as sent.
            let off =
                json!({"i": [{"type": "SESSION_CANCELLED", "channel": "SMS", "enabled": false}]});
            app.ok(&student, PREFS, off).await;
            later(&app, 30);
            app.jobs.drain().await.unwrap();
            opt_in(&app, &student, &["SESSION_CANCELLED"]).await;
            assert_eq!(twilio.sent().len(), 2, "not sent twice");
            assert_eq!(twilio.requests(), 2, "no second send request");
            let row = rows(&app)
                .await
                .into_iter()
                .find(|r| r.kind == "SESSION_CANCELLED")
                .unwrap();
            assert_eq!(row.status.as_str(), "SENT");
            assert_eq!(
                row.provider_sid.as_deref(),
                Some(twilio.sent()[1].sid.as_str())
            );

            // Throttled (429, Retry-After), then a 503: sent once, on the third try.
            twilio.fail_next(Failure::Throttle);
            twilio.fail_next(Failure::Down(503));
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 1)}))
                .await;
            app.jobs.drain().await.unwrap();
            let pending = |rows: Vec<sms_message::Model>| {
                rows.into_iter()
                    .filter(|r| r.kind == "SESSION_CANCELLED")
                    .max_by_key(|r| r.created_at.timestamp_nanos_opt())
                    .unwrap()
            };
            let row = pending(rows(&app).await);
            assert_eq!(
                (row.status.as_str(), row.attempts),
                ("PENDING", 1),
                "throttled: nothing was taken"
            );
            for _ in 0..2 {
                later(&app, 30);
                app.jobs.drain().await.unwrap();
            }
            let row = pending(rows(&app).await);
            assert_eq!((row.status.as_str(), row.attempts), ("SENT", 3));
            let sent = twilio.sent();
            assert_eq!(sent.len(), 3, "once");
            assert_eq!(sent.iter().filter(|s| s.body == row.body).count(), 1);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_whose_fate_stays_unknown_is_given_up_not_sent_again() {
    on_both(|app, twilio| {
        Box::pin(async move {
            let (mentor, _, booking) = texted_student(&app, &twilio, 3).await;
            // Taken but the answer lost, and Twilio cannot be asked afterwards.
            twilio.fail_next(Failure::LostAnswer);
            twilio.lookups_down();
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 0)}))
                .await;
            for _ in 0..8 {
                app.jobs.drain().await.unwrap();
                use mentor_scheduler::clock::Clock;
                app.clock.set(app.clock.now() + chrono::Duration::hours(2));
            }
            let row = rows(&app)
                .await
                .into_iter()
                .find(|r| r.kind == "SESSION_CANCELLED")
                .unwrap();
            assert_eq!(
                (row.status.as_str(), row.attempts),
                ("FAILED", 5),
                "{:?}",
                row.error_message
            );
            assert!(row.error_message.unwrap().contains("outcome is unknown"));
            assert_eq!(
                twilio.sent().len(),
                2,
                "the code and the one try: never sent again"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_text_is_skipped_if_the_number_stops_or_is_removed_before_it_goes() {
    on_both(|app, twilio| {
        Box::pin(async move {
            let (mentor, student, booking) = texted_student(&app, &twilio, 3).await;
            let morning = |at: &str| {
                app.clock.set(at.parse().unwrap());
            };
            // Cancelled at night (held for 08:00), then the number replies STOP.
            morning("2026-01-05T22:00:00Z");
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 0)}))
                .await;
            let inbound = app.url("/webhooks/sms/inbound");
            twilio
                .post_signed(&inbound, &FakeTwilio::inbound(NUMBER, "STOP"), None)
                .await;
            morning("2026-01-06T08:00:00Z");
            app.jobs.drain().await.unwrap();
            let held = texts(&app, &student).await[0].clone();
            assert_eq!(held["status"], "SKIPPED", "{held}");
            assert!(
                held["errorMessage"].as_str().unwrap().contains("STOP"),
                "{held}"
            );

            // Back in (the number stayed verified); held at night, then the number removed.
            twilio
                .post_signed(&inbound, &FakeTwilio::inbound(NUMBER, "START"), None)
                .await;
            morning("2026-01-06T22:00:00Z");
            app.ok(&mentor, CANCEL_SESSION, json!({"id": session(&booking, 1)}))
                .await;
            app.ok(&student, SET_PHONE, json!({"n": null})).await;
            morning("2026-01-07T08:00:00Z");
            app.jobs.drain().await.unwrap();
            let held = texts(&app, &student).await[0].clone();
            assert_eq!(held["status"], "SKIPPED", "{held}");
            assert!(
                held["errorMessage"].as_str().unwrap().contains("no longer"),
                "{held}"
            );
            assert!(
                twilio.sent().iter().all(|t| t.body.contains("code")),
                "only codes were sent"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_an_hour_and_ten_minutes_ahead_carry_the_join_link() {
    on_both(|app, twilio| {
        Box::pin(async move {
            app.clock.set("2026-01-05T10:00:00Z".parse().unwrap());
            let (mentor, student) = tutor_and_student(&app).await;
            book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
            opt_in(&app, &student, &["SESSION_REMINDER"]).await;
            verified(&app, &twilio, &student, NUMBER).await;
            // The mentor has a number but did not opt in: no reminders by text.
            verified(&app, &twilio, &mentor, "+447400123457").await;
            let before = twilio.sent().len();

            app.clock.set("2026-01-07T09:00:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            app.clock.set("2026-01-07T09:50:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            let sent: Vec<_> = twilio.sent().into_iter().skip(before).collect();
            assert_eq!(sent.len(), 2, "{sent:?}");
            assert!(sent.iter().all(|s| s.to == NUMBER));
            assert!(
                sent[0]
                    .body
                    .contains("starts in 1 hour (Wed 7 Jan 10:00 GMT). Join: http"),
                "{}",
                sent[0].body
            );
            assert!(
                sent[1]
                    .body
                    .contains("starts in 10 minutes (Wed 7 Jan 10:00 GMT). Join: http"),
                "{}",
                sent[1].body
            );
            assert!(sent.iter().all(|s| s.body.contains("/join/")));
            // The 10-minute one goes with the in-app "starting soon" notification.
            let notes = app.ok(&student, NOTIFICATIONS, json!({})).await;
            let linked = notes["notifications"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| {
                    e["node"]["type"] == "SESSION_REMINDER" && e["node"]["sms"]["status"] == "SENT"
                })
                .count();
            assert_eq!(linked, 1);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_text_written_ahead_is_skipped_when_its_session_is_cancelled() {
    on_both(|app, twilio| {
        Box::pin(async move {
            app.clock.set("2026-01-05T10:00:00Z".parse().unwrap());
            let (mentor, student) = tutor_and_student(&app).await;
            let booking = book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(2))).await;
            opt_in(&app, &student, &["SESSION_REMINDER"]).await;
            verified(&app, &twilio, &student, NUMBER).await;
            let before = twilio.sent().len();

            // Written a minute ahead, to go at its time.
            app.clock.set("2026-01-07T08:59:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            let texts = app.ok(&student, TEXTS, json!({})).await;
            let written = &texts["textMessages"][0];
            assert_eq!(written["kind"], "SESSION_REMINDER");
            assert_eq!(written["status"], "PENDING");
            assert_eq!(written["sendAfter"], "2026-01-07T09:00:00+00:00");
            app.ok(
                &mentor,
                CANCEL_SESSION,
                json!({"id": booking["sessions"][0]["id"]}),
            )
            .await;
            app.clock.set("2026-01-07T09:00:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            let texts = app.ok(&student, TEXTS, json!({})).await;
            let reminder = texts["textMessages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["kind"] == "SESSION_REMINDER")
                .unwrap()
                .clone();
            assert_eq!(reminder["status"], "SKIPPED", "{reminder}");
            assert_eq!(
                reminder["errorMessage"],
                "its session was cancelled or moved"
            );

            // Switched off after the next week's was written: skipped too.
            app.clock.set("2026-01-14T08:59:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            let off =
                json!({"i": [{"type": "SESSION_REMINDER", "channel": "SMS", "enabled": false}]});
            app.ok(&student, PREFS, off).await;
            app.clock.set("2026-01-14T09:00:00Z".parse().unwrap());
            app.jobs.drain().await.unwrap();
            let texts = app.ok(&student, TEXTS, json!({})).await;
            let reminders: Vec<&Value> = texts["textMessages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["kind"] == "SESSION_REMINDER")
                .collect();
            assert_eq!(reminders.len(), 2, "{reminders:?}");
            assert!(reminders.iter().all(|t| t["status"] == "SKIPPED"));
            assert!(reminders
                .iter()
                .any(|t| t["errorMessage"] == "the user switched these texts off"));
            let sent: Vec<_> = twilio.sent().into_iter().skip(before).collect();
            assert!(
                sent.iter().all(|t| !t.body.contains("starts in 1 hour")),
                "{sent:?}"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilios_webhooks_answer_only_what_twilio_sends() {
    let twilio = FakeTwilio::start().await;
    let app = app(Backend::Sqlite, &twilio, &[]).await.unwrap();
    let status_url = app.url("/webhooks/sms/status?sms=nope");
    let inbound = app.url("/webhooks/sms/inbound");
    // Not a form.
    let response = app
        .client
        .post(&inbound)
        .json(&json!({"Body": "STOP"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    // Signed, but without what Twilio always sends.
    let (status, _) = twilio
        .post_signed(&status_url, &[("MessageSid".into(), "SM1".into())], None)
        .await;
    assert_eq!(status, 400);
    let not_e164 = FakeTwilio::inbound("07400 123456", "STOP");
    assert_eq!(twilio.post_signed(&inbound, &not_e164, None).await.0, 400);
    // A callback for no text of ours is acknowledged and changes nothing.
    let params = [("MessageSid", "SM9"), ("MessageStatus", "delivered")]
        .map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(twilio.post_signed(&status_url, &params, None).await.0, 204);
    assert!(rows(&app).await.is_empty());

    // Without Twilio there is nothing to post to; texts go to files under DATA_DIR/sms/.
    let plain = TestApp::spawn(Backend::Sqlite).await.unwrap();
    assert_eq!(
        twilio
            .post_signed(
                &plain.url("/webhooks/sms/inbound"),
                &FakeTwilio::inbound("+447400123456", "STOP"),
                None
            )
            .await
            .0,
        404
    );
    let token = plain.user(STUDENT, Role::Student, "Europe/London").await;
    plain.ok(&token, SET_PHONE, json!({"n": NUMBER})).await;
    plain.jobs.drain().await.unwrap();
    let files: Vec<_> = std::fs::read_dir(plain.data_dir().join("sms"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(
        text.starts_with(&format!("To: {NUMBER}\n\n")) && text.contains("your code is"),
        "{text}"
    );
}

/// A token with phone claims as the platform would write them.
fn token_with_phone(sub: &str, phone: &str, verified: Option<bool>) -> String {
    let mut claims = json!({"sub": sub, "role": "STUDENT", "email": format!("{sub}@example.com"), "name": "Sam",
        "tz": "Europe/London", "exp": chrono::Utc::now().timestamp() + 3600, "phone_number": phone});
    if let Some(v) = verified {
        claims["phone_number_verified"] = json!(v);
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_the_platform_verified_needs_no_code_and_moves_are_texted_through_a_messaging_service(
) {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let twilio = FakeTwilio::start().await;
        let mut settings: Vec<(String, String)> = twilio
            .settings()
            .into_iter()
            .filter(|(k, _)| k != "TWILIO_FROM")
            .collect();
        settings.push((
            "TWILIO_MESSAGING_SERVICE_SID".into(),
            "MG00000000000000000000000000000001".into(),
        ));
        let Some(app) = spawn_reachable(backend, settings).await else {
            crate::helpers::say_skipped("sms::claims::postgres");
            continue;
        };
        app.clock.set("2026-01-05T10:00:00Z".parse().unwrap());
        let (mentor, _) = tutor_and_student(&app).await;
        // Claimed but not verified by the platform, or not a valid number: ignored, the token works.
        for token in [
            token_with_phone(STUDENT, NUMBER, None),
            token_with_phone(STUDENT, NUMBER, Some(false)),
            token_with_phone(STUDENT, "+44 12", Some(true)),
        ] {
            let status = app
                .ok(
                    &token,
                    "{ phoneNumber { phoneNumber verified } }",
                    json!({}),
                )
                .await;
            assert_eq!(status["phoneNumber"]["verified"], false, "{status}");
        }
        // Verified by the platform: the user's number at once, no code.
        let student = token_with_phone(STUDENT, "+44 7400 123456", Some(true));
        let status = app
            .ok(
                &student,
                "{ phoneNumber { phoneNumber verified } }",
                json!({}),
            )
            .await;
        assert_eq!(status["phoneNumber"]["phoneNumber"], NUMBER);
        let booking = book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(2))).await;
        opt_in(&app, &student, &["SESSION_RESCHEDULED"]).await;
        let moved = app.ok(&mentor, "mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id } }",
            json!({"id": session(&booking, 0), "s": "2026-01-08T11:00:00Z"})).await;
        assert!(moved["rescheduleSession"]["id"].is_string());
        app.jobs.drain().await.unwrap();
        let sent = twilio.sent();
        assert_eq!(sent.len(), 1, "no code, one move: {sent:?}");
        assert!(
            sent[0].body.contains("moved, now Thu 8 Jan 11:00 GMT."),
            "{}",
            sent[0].body
        );
        let listed = texts(&app, &student).await;
        assert_eq!(
            listed[0]["status"], "SENT",
            "`accepted` through a messaging service is taken"
        );
        // Through a service, a recipient who stopped is reported later, in a callback (21610):
        // the number is opted out here too.
        let (url, params) = twilio.callback(&sent[0], "failed", Some("21610"));
        assert_eq!(twilio.post_signed(&url, &params, None).await.0, 204);
        let stopped = mentor_scheduler::entity::sms_opt_out::Entity::find_by_id(NUMBER)
            .one(app.services.db.conn())
            .await
            .unwrap();
        assert!(stopped.is_some(), "opted out by the callback");
        assert_eq!(texts(&app, &student).await[0]["status"], "FAILED");
    }
}
