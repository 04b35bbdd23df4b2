//! Provider webhooks (SendGrid, SES through SNS) and the tracking links: what each report changes,
//! and every bad request refused with nothing changed.

use std::ops::Deref;

use mentor_scheduler::auth::Role;
use mentor_scheduler::clock::Clock;
use mentor_scheduler::domain::email::EmailStatus;
use mentor_scheduler::entity::{email_notification as email, email_suppression};
use mentor_scheduler::service::email::{sent_marks, Sent};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, STUDENT};
use crate::helpers::mail::emails;
use crate::helpers::signed_webhooks::{SendgridSigner, SnsSigner};
use crate::helpers::{Backend, TestApp};

const TOKEN: &str = "hook-secret";
const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

type Headers = Vec<(&'static str, String)>;

/// An app with its webhooks on, and the providers' signers it trusts.
struct Hooked {
    app: TestApp,
    sendgrid: SendgridSigner,
    sns: SnsSigner,
}

impl Deref for Hooked {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

async fn app_with(backend: Backend, extra: &[(&str, &str)]) -> Option<Hooked> {
    let sendgrid = SendgridSigner::generate();
    let sns = SnsSigner::start().await;
    let mut settings = vec![
        ("EMAIL_WEBHOOK_TOKEN", TOKEN.to_string()),
        ("SENDGRID_WEBHOOK_PUBLIC_KEY", sendgrid.public_key()),
    ];
    settings.extend(sns.settings());
    settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &settings).await?;
    Some(Hooked { app, sendgrid, sns })
}

async fn app(backend: Backend) -> Option<Hooked> {
    app_with(backend, &[]).await
}

/// A booking whose student confirmation was sent (to the `.eml` outbox); returns it.
async fn sent_confirmation(app: &TestApp) -> email::Model {
    let (_, student) = tutor_and_student(app).await;
    book(app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
    app.jobs.drain().await.unwrap();
    let row = emails(app)
        .await
        .into_iter()
        .find(|e| e.user_id == STUDENT)
        .unwrap();
    assert_eq!(row.status.as_str(), "SENT");
    row
}

async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: String,
    headers: &[(&str, String)],
) -> (u16, Value) {
    let url = match token {
        Some(t) => app.url(&format!("{path}?token={t}")),
        None => app.url(path),
    };
    let mut request = app
        .client
        .post(url)
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// SendGrid's signature headers for `body` sent at `at` (Unix seconds).
fn signed_at(h: &Hooked, at: i64, body: &str) -> Headers {
    vec![
        (SIGNATURE, h.sendgrid.sign(at, body)),
        (TIMESTAMP, at.to_string()),
    ]
}

/// Posts `events` to SendGrid's webhook as SendGrid sends them now.
async fn sendgrid(h: &Hooked, events: String) -> (u16, Value) {
    let headers = signed_at(h, h.clock.now().timestamp(), &events);
    post(
        h,
        "/webhooks/email/sendgrid",
        Some(TOKEN),
        "application/json",
        events,
        &headers,
    )
    .await
}

/// Posts an SNS envelope, signed (version 2) by Amazon's stand-in.
async fn ses(h: &Hooked, envelope: Value) -> (u16, Value) {
    let signed = h.sns.sign(envelope, 2);
    post_sns(h, &signed).await
}

async fn post_sns(h: &Hooked, envelope: &Value) -> (u16, Value) {
    post(
        h,
        "/webhooks/email/ses",
        Some(TOKEN),
        "text/plain; charset=UTF-8",
        envelope.to_string(),
        &[],
    )
    .await
}

async fn snapshot(app: &TestApp) -> (Vec<email::Model>, u64) {
    let suppressions = email_suppression::Entity::find()
        .count(app.services.db.conn())
        .await
        .unwrap();
    (emails(app).await, suppressions)
}

/// An SNS notification envelope (unsigned) published now, with a fresh `MessageId`.
fn sns(h: &Hooked, message: Value) -> Value {
    json!({"Type": "Notification", "MessageId": uuid::Uuid::new_v4().to_string(),
           "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses", "Message": message.to_string(),
           "Timestamp": h.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
           "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"})
}

/// An SNS subscription message (unsigned) naming `subscribe_url`.
fn subscription(h: &Hooked, kind: &str, subscribe_url: &str) -> Value {
    json!({"Type": kind, "MessageId": uuid::Uuid::new_v4().to_string(), "Token": "2336412f37",
           "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses", "Message": "You have chosen to subscribe.",
           "SubscribeURL": subscribe_url, "Timestamp": h.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()})
}

fn ses_mail(row: &email::Model) -> Value {
    json!({"timestamp": "2026-01-05T00:00:01.000Z", "messageId": "ses-1", "destination": [row.to_address],
           "headers": [{"name": "X-Mentor-Email-Id", "value": row.id}], "commonHeaders": {"messageId": row.message_id}})
}

async fn both(f: impl Fn(Hooked) -> futures::future::BoxFuture<'static, ()>) {
    f(app(Backend::Sqlite).await.unwrap()).await;
    match app(Backend::Postgres).await {
        Some(a) => f(a).await,
        None => crate::helpers::say_skipped("email_webhooks::postgres"),
    }
}

/// The provider can report an email delivered before the commit that marks it sent (the SMTP
/// server's answer comes first, then the job's completion): it ends `DELIVERED`, not `SENT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_reported_before_the_email_is_marked_sent_is_kept() {
    both(|app| Box::pin(async move {
        let (_, student) = tutor_and_student(&app).await;
        book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
        let row = emails(&app).await.into_iter().find(|e| e.user_id == STUDENT).unwrap();
        assert_eq!(app.services.email.send(&row.id).await.unwrap(), Sent::Accepted);
        let events = json!([{"email": row.to_address, "timestamp": 1767571300, "event": "delivered", "email_id": row.id}]);
        let (status, body) = sendgrid(&app, events.to_string()).await;
        assert_eq!((status, body["applied"].clone()), (200, json!(1)), "{body}");
        let reported = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!((reported.status.as_str(), reported.sent_at), ("DELIVERED", Some(app.clock.now())));

        // What the job's completion writes for it, then, changes nothing.
        let conn = app.services.db.conn();
        let backend = conn.get_database_backend();
        conn.execute(backend.build(&sent_marks(backend, std::slice::from_ref(&row.id), app.clock.now()))).await.unwrap();
        let marked = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!((marked.status.as_str(), marked.delivered_at.unwrap().timestamp()), ("DELIVERED", 1767571300));
        assert_eq!(marked.sent_at, Some(app.clock.now()));
        // Its job, run now, finds nothing left to send.
        app.jobs.drain().await.unwrap();
        assert_eq!(emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap().status.as_str(), "DELIVERED");

        // A worker that died after the SMTP server took the mentor's email, before marking it
        // sent: the provider's report says it arrived, so its job, run again, does not resend it.
        let mentor = emails(&app).await.into_iter().find(|e| e.user_id != STUDENT && e.status.as_str() == "SENT").unwrap();
        let reset = email::ActiveModel { id: sea_orm::Set(mentor.id.clone()), status: sea_orm::Set(EmailStatus::Pending), sent_at: sea_orm::Set(None), ..Default::default() };
        email::Entity::update(reset).exec(conn).await.unwrap();
        let events = json!([{"email": mentor.to_address, "timestamp": 1767571400, "event": "delivered", "email_id": mentor.id}]);
        assert_eq!(sendgrid(&app, events.to_string()).await.0, 200);
        let file = app.data_dir().join("outbox").join(format!("{}.eml", mentor.id));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(app.services.email.send(&mentor.id).await.unwrap(), Sent::Settled);
        assert!(!file.exists(), "not sent again");
        let reported = emails(&app).await.into_iter().find(|e| e.id == mentor.id).unwrap();
        assert_eq!((reported.status.as_str(), reported.sent_at), ("DELIVERED", Some(app.clock.now())));

        // One marked sent before and due again (a transient bounce after its delivery report) is
        // sent, and marked `SENT`.
        let before = app.clock.now() - chrono::Duration::hours(1);
        let again = email::ActiveModel { id: sea_orm::Set(mentor.id.clone()), status: sea_orm::Set(EmailStatus::Pending), sent_at: sea_orm::Set(Some(before)), ..Default::default() };
        email::Entity::update(again).exec(conn).await.unwrap();
        assert_eq!(app.services.email.send(&mentor.id).await.unwrap(), Sent::Accepted);
        assert!(file.exists(), "sent again");
        conn.execute(backend.build(&sent_marks(backend, std::slice::from_ref(&mentor.id), app.clock.now()))).await.unwrap();
        let resent = emails(&app).await.into_iter().find(|e| e.id == mentor.id).unwrap();
        assert_eq!((resent.status.as_str(), resent.sent_at), ("SENT", Some(app.clock.now())));
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_reports_update_emails_and_suppress_addresses() {
    both(|app| Box::pin(async move {
        let row = sent_confirmation(&app).await;
        let events = json!([
            {"email": row.to_address, "timestamp": 1767571300, "event": "delivered", "email_id": row.id, "smtp-id": row.message_id},
            {"email": row.to_address, "timestamp": 1767571400, "event": "open", "email_id": row.id},
            {"email": row.to_address, "timestamp": 1767571500, "event": "click", "email_id": row.id, "url": "https://x.example"},
            {"email": "stranger@example.com", "timestamp": 1767571600, "event": "spamreport"}
        ]);
        let (status, body) = sendgrid(&app, events.to_string()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"applied": 3, "unmatched": 1, "suppressed": 1, "replayed": false}));
        let now = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(now.status.as_str(), "DELIVERED");
        assert_eq!(now.delivered_at.unwrap().timestamp(), 1767571300);
        assert_eq!(now.opened_at.unwrap().timestamp(), 1767571400);
        assert_eq!(now.clicked_at.unwrap().timestamp(), 1767571500);
        let complaint = email_suppression::Entity::find_by_id("stranger@example.com").one(app.services.db.conn()).await.unwrap().unwrap();
        assert_eq!(complaint.reason, "COMPLAINT");

        // A report naming our email but another address is not applied to it.
        let elsewhere = json!([{"email": "someone@else.example", "timestamp": 1767571650, "event": "open", "email_id": row.id}]);
        let (status, body) = sendgrid(&app, elsewhere.to_string()).await;
        assert_eq!((status, body), (200, json!({"applied": 0, "unmatched": 1, "suppressed": 0, "replayed": false})));

        // A hard bounce marks the email and suppresses the address: the next email is not sent.
        let bounce = json!([{"email": row.to_address.to_uppercase(), "timestamp": 1767571700, "event": "bounce", "type": "bounce", "reason": "550 5.1.1 unknown", "smtp-id": row.message_id}]);
        let (status, body) = sendgrid(&app, bounce.to_string()).await;
        assert_eq!((status, body["applied"].clone()), (200, json!(1)));
        let now = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(now.status.as_str(), "BOUNCED");
        let student = app.token(STUDENT, Role::Student, "Europe/London");
        book(&app, &student, request(&["2026-01-08T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        let last = emails(&app).await.into_iter().rev().find(|e| e.user_id == STUDENT).unwrap();
        assert_eq!(last.status.as_str(), "SUPPRESSED");

        // Receipts are kept 48 hours: a delivery 49 hours on forgets the older ones.
        let receipts = || async {
            mentor_scheduler::entity::webhook_receipt::Entity::find().count(app.services.db.conn()).await.unwrap()
        };
        assert!(receipts().await >= 3);
        app.clock.set(app.clock.now() + chrono::Duration::hours(49));
        let late = json!([{"email": row.to_address, "timestamp": 1767571800, "event": "open", "email_id": row.id}]);
        let (status, body) = sendgrid(&app, late.to_string()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(receipts().await, 1, "only the newest is kept");
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_bounces_complaints_and_transient_bounces() {
    both(|app| Box::pin(async move {
        let row = sent_confirmation(&app).await;
        // Transient: the email goes back to the queue and is sent again later.
        let transient = sns(&app, json!({"notificationType": "Bounce", "mail": ses_mail(&row),
            "bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull", "bouncedRecipients": [{"emailAddress": row.to_address}]}}));
        let (status, body) = ses(&app, transient).await;
        assert_eq!((status, body["applied"].clone(), body["suppressed"].clone()), (200, json!(1), json!(0)), "{body}");
        let again = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!((again.status.as_str(), again.retry_count), ("PENDING", 1));
        app.clock.set("2026-01-05T01:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        let again = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(again.status.as_str(), "SENT", "sent again");

        let complaint = sns(&app, json!({"eventType": "Complaint", "mail": ses_mail(&row),
            "complaint": {"complainedRecipients": [{"emailAddress": row.to_address}], "complaintFeedbackType": "abuse"}}));
        let (status, body) = ses(&app, complaint).await;
        assert_eq!((status, body["suppressed"].clone()), (200, json!(1)));
        let now = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(now.status.as_str(), "COMPLAINED");
        assert!(now.complained_at.is_some());

        // (The trusted host here is the test's https host standing in for sns.<region>.amazonaws.com.)
        let url = app.sns.url("/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:ses&Token=abc");
        let (status, body) = ses(&app, subscription(&app, "SubscriptionConfirmation", &url)).await;
        assert_eq!((status, body["confirm"].clone()), (202, json!(url)));
        // Even signed, anything but an https URL on the trusted host is not shown to an operator.
        let plain = url.replace("https://", "http://");
        let forged_line = format!("{url}\nERROR forged line");
        for forged in ["https://sns.example/confirm?x=1", "http://169.254.169.254/latest/meta-data/", &plain, &forged_line] {
            let (status, body) = ses(&app, subscription(&app, "SubscriptionConfirmation", forged)).await;
            assert_eq!(status, 400, "{forged}: {body}");
            assert!(body.get("confirm").is_none());
        }
        let (status, body) = ses(&app, subscription(&app, "UnsubscribeConfirmation", &url)).await;
        assert_eq!((status, body["applied"].clone()), (200, json!(0)), "{body}");
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_requests_change_nothing() {
    both(|app| Box::pin(async move {
        let row = sent_confirmation(&app).await;
        let before = snapshot(&app).await;
        let good = json!([{"email": row.to_address, "timestamp": 1, "event": "bounce", "type": "bounce", "email_id": row.id}]).to_string();
        let signed = signed_at(&app, app.clock.now().timestamp(), &good);
        // Token: missing or wrong, even with a good signature.
        assert_eq!(post(&app, "/webhooks/email/sendgrid", None, "application/json", good.clone(), &signed).await.0, 401);
        assert_eq!(post(&app, "/webhooks/email/sendgrid", Some("nope"), "application/json", good.clone(), &signed).await.0, 401);
        let envelope = app.sns.sign(sns(&app, json!({"notificationType": "Delivery"})), 2).to_string();
        assert_eq!(post(&app, "/webhooks/email/ses", Some("hook-secreT"), "text/plain", envelope, &[]).await.0, 401);
        // Not JSON by content type.
        assert_eq!(post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/xml", good.clone(), &signed).await.0, 415);
        let sendgrid_bad = [
            "not json".to_string(),
            "{}".into(),
            "[]".into(),
            json!([{"email": row.to_address, "timestamp": 1, "event": "exploded"}]).to_string(),
            json!([{"email": row.to_address, "event": "bounce"}]).to_string(),
            json!([{"email": "not-an-address", "timestamp": 1, "event": "bounce"}]).to_string(),
            // One bad event spoils the batch: the good bounce before it is not applied either.
            json!([{"email": row.to_address, "timestamp": 1, "event": "bounce", "type": "bounce"}, {"event": "open"}]).to_string(),
        ];
        for body in sendgrid_bad {
            let (status, answer) = sendgrid(&app, body.clone()).await;
            assert_eq!(status, 400, "{body}: {answer}");
            assert_eq!(answer["error"]["code"], "BAD_USER_INPUT");
        }
        for unreadable in ["nope", "[1]"] {
            let (status, answer) = post(&app, "/webhooks/email/ses", Some(TOKEN), "text/plain", unreadable.to_string(), &[]).await;
            assert_eq!(status, 400, "{unreadable}: {answer}");
        }
        // Signed by Amazon's stand-in, but not what SES sends.
        let mut not_json = sns(&app, json!({}));
        not_json["Message"] = json!("{not json");
        let ses_bad = [
            not_json,
            sns(&app, json!({"notificationType": "Bounce", "mail": ses_mail(&row)})),
            sns(&app, json!({"notificationType": "Bounce", "mail": ses_mail(&row), "bounce": {"bounceType": "Permanent", "bouncedRecipients": []}})),
            sns(&app, json!({"notificationType": "Bounce", "mail": ses_mail(&row), "bounce": {"bounceType": "Maybe", "bouncedRecipients": [{"emailAddress": row.to_address}]}})),
            sns(&app, json!({"notificationType": "Teleport", "mail": ses_mail(&row)})),
            sns(&app, json!({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": row.to_address}]}})),
        ];
        for body in ses_bad {
            let (status, answer) = ses(&app, body.clone()).await;
            assert_eq!(status, 400, "{body}: {answer}");
        }
        assert_eq!(snapshot(&app).await, before, "nothing changed");
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_off_without_a_token() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (status, body) = post(
        &app,
        "/webhooks/email/sendgrid",
        Some("x"),
        "application/json",
        "[]".into(),
        &[],
    )
    .await;
    // Off: there is nothing to post to.
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("NOT_FOUND")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_pixel_and_click_redirect_are_signed() {
    both(|app| {
        Box::pin(async move {
            let row = sent_confirmation(&app).await;
            let html = row.body_html.clone().unwrap();
            let pixel = html
                .split("src=\"")
                .filter_map(|s| s.split('"').next())
                .find(|u| u.contains("/email/open/"))
                .unwrap()
                .replace("&#38;", "&");
            let click = html
                .split("href=\"")
                .filter_map(|s| s.split('"').next())
                .find(|u| u.contains("/email/click/"))
                .unwrap()
                .replace("&#38;", "&");
            let path = |u: &str| u[u.find("/email/").unwrap()..].to_string();
            let no_redirect = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();

            // Forged: another email's id, a changed target, no signature.
            let forged_open = path(&pixel).replace(&row.id, "someone-else");
            assert_eq!(
                no_redirect
                    .get(app.url(&forged_open))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                403
            );
            let forged_click =
                path(&click).replace("url=http", "url=https%3A%2F%2Fevil.example%2F%3Fx%3Dhttp");
            assert_eq!(
                no_redirect
                    .get(app.url(&forged_click))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                403
            );
            let unsigned = format!("/email/click/{}?url=https%3A%2F%2Fevil.example", row.id);
            assert_eq!(
                no_redirect
                    .get(app.url(&unsigned))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                400
            );
            let fresh = emails(&app)
                .await
                .into_iter()
                .find(|e| e.id == row.id)
                .unwrap();
            assert!(fresh.opened_at.is_none() && fresh.clicked_at.is_none());

            let response = no_redirect
                .get(app.url(&path(&pixel)))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "image/gif");
            assert!(emails(&app)
                .await
                .into_iter()
                .find(|e| e.id == row.id)
                .unwrap()
                .opened_at
                .is_some());

            app.clock.set("2026-01-05T03:00:00Z".parse().unwrap());
            let response = no_redirect
                .get(app.url(&path(&click)))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 303);
            let target = response.headers()["location"].to_str().unwrap().to_string();
            assert!(
                target.starts_with("http://localhost:3000/") || target.contains("/join/"),
                "{target}"
            );
            let fresh = emails(&app)
                .await
                .into_iter()
                .find(|e| e.id == row.id)
                .unwrap();
            assert_eq!(
                fresh.clicked_at.unwrap().to_rfc3339(),
                "2026-01-05T03:00:00+00:00"
            );
            assert!(
                fresh.opened_at.unwrap() < fresh.clicked_at.unwrap(),
                "the first open is kept"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_suppressed_after_queueing_is_not_mailed() {
    both(|app| Box::pin(async move {
        let (_, student) = tutor_and_student(&app).await;
        book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
        let queued = emails(&app).await.into_iter().find(|e| e.user_id == STUDENT).unwrap();
        assert_eq!(queued.status.as_str(), "PENDING");
        // A complaint about an earlier email arrives before the worker gets to this one.
        let complaint = json!([{"email": queued.to_address, "timestamp": 1767571300, "event": "spamreport"}]);
        let (status, _) = sendgrid(&app, complaint.to_string()).await;
        assert_eq!(status, 200);
        app.jobs.drain().await.unwrap();
        let row = emails(&app).await.into_iter().find(|e| e.id == queued.id).unwrap();
        assert_eq!(row.status.as_str(), "SUPPRESSED");
        assert!(row.sent_at.is_none());
        let outbox = app.data_dir().join("outbox").join(format!("{}.eml", row.id));
        assert!(!outbox.exists(), "nothing was written for it");
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_deliveries_must_be_signed_fresh_and_new() {
    both(|app| Box::pin(async move {
        let row = sent_confirmation(&app).await;
        let before = snapshot(&app).await;
        let bounce = json!([{"email": row.to_address, "timestamp": 1767571700, "event": "bounce", "type": "bounce", "email_id": row.id}]).to_string();
        let now = app.clock.now().timestamp();
        let stranger = SendgridSigner::generate();
        let mut altered = bounce.clone().into_bytes();
        let at = altered.iter().position(|b| *b == b'7').unwrap();
        altered[at] = b'8';
        let altered = String::from_utf8(altered).unwrap();
        let forgeries: Vec<(&str, String, Headers)> = vec![
            ("no signature", bounce.clone(), vec![]),
            ("no timestamp", bounce.clone(), vec![(SIGNATURE, app.sendgrid.sign(now, &bounce))]),
            ("another key", bounce.clone(), vec![(SIGNATURE, stranger.sign(now, &bounce)), (TIMESTAMP, now.to_string())]),
            ("a byte altered", altered.clone(), signed_at(&app, now, &bounce)),
            ("another timestamp", bounce.clone(), vec![(SIGNATURE, app.sendgrid.sign(now, &bounce)), (TIMESTAMP, (now - 1).to_string())]),
            ("stale", bounce.clone(), signed_at(&app, now - 301, &bounce)),
            ("from the future", bounce.clone(), signed_at(&app, now + 301, &bounce)),
            ("garbage", bounce.clone(), vec![(SIGNATURE, "MEUCIQ==".into()), (TIMESTAMP, now.to_string())]),
        ];
        for (what, body, headers) in forgeries {
            let (status, answer) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", body, &headers).await;
            assert_eq!((status, answer["error"]["code"].clone()), (403, json!("FORBIDDEN")), "{what}: {answer}");
        }
        assert_eq!(snapshot(&app).await, before, "nothing changed");

        // Signed now by the right key: applied once. Sent again, as is or with the other encoding
        // of the same signature, it changes nothing.
        let headers = signed_at(&app, now, &bounce);
        let (status, answer) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", bounce.clone(), &headers).await;
        assert_eq!((status, answer), (200, json!({"applied": 1, "unmatched": 0, "suppressed": 1, "replayed": false})));
        email_suppression::Entity::delete_many().exec(app.services.db.conn()).await.unwrap();
        let (status, answer) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", bounce.clone(), &headers).await;
        assert_eq!((status, answer), (200, json!({"applied": 0, "unmatched": 0, "suppressed": 0, "replayed": true})));
        let twin = vec![(SIGNATURE, SendgridSigner::other_form(&headers[0].1)), headers[1].clone()];
        let (status, answer) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", bounce.clone(), &twin).await;
        assert_eq!((status, answer["replayed"].clone()), (200, json!(true)), "{answer}");
        assert_eq!(snapshot(&app).await.1, 0, "the replays suppressed nothing again");
        // The same events signed afresh a second later are a new delivery.
        app.clock.set(app.clock.now() + chrono::Duration::seconds(1));
        let (status, answer) = sendgrid(&app, bounce.clone()).await;
        assert_eq!((status, answer["suppressed"].clone()), (200, json!(1)), "{answer}");
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_is_off_without_its_public_key() {
    let sns = SnsSigner::start().await;
    let mut settings = sns.settings();
    settings.push(("EMAIL_WEBHOOK_TOKEN", TOKEN.to_string()));
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(Backend::Sqlite, &settings)
        .await
        .unwrap();
    let (status, body) = post(
        &app,
        "/webhooks/email/sendgrid",
        Some(TOKEN),
        "application/json",
        "[]".into(),
        &[],
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SENDGRID_WEBHOOK_PUBLIC_KEY"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_messages_are_checked_under_amazons_certificate() {
    both(|app| {
        Box::pin(async move {
            let row = sent_confirmation(&app).await;
            let complaint = |app: &Hooked| {
                sns(
                    app,
                    json!({"notificationType": "Complaint", "mail": ses_mail(&row),
            "complaint": {"complainedRecipients": [{"emailAddress": row.to_address}]}}),
                )
            };
            let before = snapshot(&app).await;
            let refused = |status: u16, answer: &Value, what: &str| {
                assert_eq!(
                    (status, answer["error"]["code"].clone()),
                    (403, json!("FORBIDDEN")),
                    "{what}: {answer}"
                );
            };

            // Forgeries: nothing fetched from a host that is not trusted, nothing applied.
            let mut tampered = app.sns.sign(complaint(&app), 2);
            tampered["Message"] = json!(tampered["Message"]
                .as_str()
                .unwrap()
                .replace("Complaint", "Delivery"));
            let mut unsigned = complaint(&app);
            unsigned["SignatureVersion"] = json!("2");
            unsigned["SigningCertURL"] = json!(app.sns.url("/cert.pem"));
            let mut version_3 = app.sns.sign(complaint(&app), 2);
            version_3["SignatureVersion"] = json!("3");
            let mut as_other_version = app.sns.sign(complaint(&app), 1);
            as_other_version["SignatureVersion"] = json!("2");
            let mut stale = complaint(&app);
            stale["Timestamp"] = json!((app.clock.now() - chrono::Duration::hours(25))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string());
            let stale = app.sns.sign(stale, 2);
            let cases = vec![
                ("tampered Message", tampered),
                ("no signature", unsigned),
                ("SignatureVersion 3", version_3),
                ("signed as 1, claimed 2", as_other_version),
                ("stale", stale),
                (
                    "http certificate",
                    app.sns.sign_at(
                        complaint(&app),
                        2,
                        &app.sns.url("/cert.pem").replace("https:", "http:"),
                    ),
                ),
                (
                    "untrusted host",
                    app.sns
                        .sign_at(complaint(&app), 2, "https://s3.amazonaws.com/cert.pem"),
                ),
                (
                    "not .pem",
                    app.sns
                        .sign_at(complaint(&app), 2, &app.sns.url("/cert.txt")),
                ),
                (
                    "certificate 404",
                    app.sns
                        .sign_at(complaint(&app), 2, &app.sns.url("/gone.pem")),
                ),
                (
                    "not an RSA certificate",
                    app.sns.sign_at(complaint(&app), 2, &app.sns.url("/ec.pem")),
                ),
            ];
            for (what, envelope) in cases {
                let (status, answer) = post_sns(&app, &envelope).await;
                refused(status, &answer, what);
            }
            assert_eq!(
                app.sns.fetches("/cert.txt"),
                0,
                "an untrusted URL is never fetched"
            );
            // Forged again, naming the same certificates that were no good: refused without
            // fetching them again.
            for path in ["/gone.pem", "/ec.pem"] {
                let forged = app.sns.sign_at(complaint(&app), 2, &app.sns.url(path));
                let (status, answer) = post_sns(&app, &forged).await;
                refused(status, &answer, path);
                assert_eq!(app.sns.fetches(path), 1, "{path} fetched once");
            }
            // The certificate host failing is not a refusal: SNS should try again, and the next
            // try fetches again.
            for tries in 1..=2 {
                let (status, answer) = post_sns(
                    &app,
                    &app.sns
                        .sign_at(complaint(&app), 2, &app.sns.url("/down.pem")),
                )
                .await;
                assert_eq!(status, 503, "{answer}");
                assert_eq!(app.sns.fetches("/down.pem"), tries);
            }
            assert_eq!(snapshot(&app).await, before, "nothing changed");

            // Genuine, both versions, with and without a Subject; the certificate fetched once.
            let delivered = sns(
                &app,
                json!({"notificationType": "Delivery", "mail": ses_mail(&row),
            "delivery": {"recipients": [row.to_address], "timestamp": "2026-01-05T00:00:02.000Z"}}),
            );
            let (status, answer) = post_sns(&app, &app.sns.sign(delivered, 1)).await;
            assert_eq!(
                (status, answer["applied"].clone()),
                (200, json!(1)),
                "{answer}"
            );
            let mut with_subject = complaint(&app);
            with_subject["Subject"] = json!("Amazon SES Email Event Notification");
            let genuine = app.sns.sign(with_subject, 2);
            let (status, answer) = post_sns(&app, &genuine).await;
            assert_eq!(
                (status, answer["suppressed"].clone()),
                (200, json!(1)),
                "{answer}"
            );
            assert_eq!(app.sns.fetches("/cert.pem"), 1, "fetched once, then cached");

            // Replayed (SNS's own retry keeps the MessageId): nothing changes again.
            email_suppression::Entity::delete_many()
                .exec(app.services.db.conn())
                .await
                .unwrap();
            let (status, answer) = post_sns(&app, &genuine).await;
            assert_eq!(
                (status, answer),
                (
                    200,
                    json!({"applied": 0, "unmatched": 0, "suppressed": 0, "replayed": true})
                )
            );
            assert_eq!(snapshot(&app).await.1, 0);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_messages_from_other_topics_are_refused_when_topics_are_named() {
    let topic = "arn:aws:sns:eu-west-1:123456789012:ses";
    let app = app_with(
        Backend::Sqlite,
        &[(
            "SNS_TOPIC_ARNS",
            &format!("arn:aws:sns:us-east-1:1:other, {topic}"),
        )],
    )
    .await
    .unwrap();
    let row = sent_confirmation(&app).await;
    let message = json!({"notificationType": "Delivery", "mail": ses_mail(&row), "delivery": {"recipients": [row.to_address]}});
    let mut elsewhere = sns(&app, message.clone());
    elsewhere["TopicArn"] = json!("arn:aws:sns:eu-west-1:999999999999:ses");
    let (status, answer) = ses(&app, elsewhere).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        app.sns.fetches("/cert.pem"),
        0,
        "refused before anything was fetched"
    );
    let (status, answer) = ses(&app, sns(&app, message)).await;
    assert_eq!(
        (status, answer["applied"].clone()),
        (200, json!(1)),
        "{answer}"
    );
}

/// Deliveries that forget old receipts at the same time do not queue behind each other: each
/// passes over the rows another is deleting (`SKIP LOCKED`), and between them all go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_forgetting_old_receipts_at_once_do_not_wait_for_each_other() {
    use mentor_scheduler::db::forget_before;
    use mentor_scheduler::entity::webhook_receipt::{self as receipt, Column};
    use sea_orm::TransactionTrait;

    let Some(app) = app(Backend::Postgres).await else {
        return crate::helpers::say_skipped("email_webhooks::postgres");
    };
    let conn = app.services.db.conn();
    let old = app.clock.now() - chrono::Duration::days(3);
    let rows = (0..200).map(|i| receipt::ActiveModel {
        source: sea_orm::Set("sendgrid".into()),
        id: sea_orm::Set(format!("old-{i:03}")),
        received_at: sea_orm::Set(old),
    });
    receipt::Entity::insert_many(rows).exec(conn).await.unwrap();
    let before = app.clock.now() - chrono::Duration::hours(48);
    let key = [Column::Source, Column::Id];

    // The first has deleted a hundred and not committed yet.
    let first = conn.begin().await.unwrap();
    let gone = forget_before::<receipt::Entity>(&first, &key, Column::ReceivedAt, before, 100);
    assert_eq!(gone.await.unwrap(), 100);
    // The second, meanwhile, takes the other hundred without waiting for the first.
    let second = conn.begin().await.unwrap();
    let gone = forget_before::<receipt::Entity>(&second, &key, Column::ReceivedAt, before, 100);
    let gone = tokio::time::timeout(std::time::Duration::from_secs(10), gone).await;
    assert_eq!(
        gone.expect("the second did not wait for the first")
            .unwrap(),
        100
    );
    second.commit().await.unwrap();
    first.commit().await.unwrap();
    assert_eq!(receipt::Entity::find().count(conn).await.unwrap(), 0);
}
