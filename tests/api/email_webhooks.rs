//! Provider webhooks (SendGrid, SES through SNS) and the tracking links: what each report changes,
//! and every bad request refused with nothing changed.

use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::{email_notification as email, email_suppression};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, STUDENT};
use crate::helpers::mail::emails;
use crate::helpers::{Backend, TestApp};

const TOKEN: &str = "hook-secret";

async fn app(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, &[("EMAIL_WEBHOOK_TOKEN", TOKEN)]).await
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
) -> (u16, Value) {
    let url = match token {
        Some(t) => app.url(&format!("{path}?token={t}")),
        None => app.url(path),
    };
    let response = app
        .client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn snapshot(app: &TestApp) -> (Vec<email::Model>, u64) {
    let suppressions = email_suppression::Entity::find()
        .count(app.services.db.conn())
        .await
        .unwrap();
    (emails(app).await, suppressions)
}

fn sns(message: Value) -> String {
    json!({"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:x", "Message": message.to_string()}).to_string()
}

fn ses_mail(row: &email::Model) -> Value {
    json!({"timestamp": "2026-01-05T00:00:01.000Z", "messageId": "ses-1", "destination": [row.to_address],
           "headers": [{"name": "X-Mentor-Email-Id", "value": row.id}], "commonHeaders": {"messageId": row.message_id}})
}

async fn both(f: impl Fn(TestApp) -> futures::future::BoxFuture<'static, ()>) {
    f(app(Backend::Sqlite).await.unwrap()).await;
    match app(Backend::Postgres).await {
        Some(a) => f(a).await,
        None => crate::helpers::say_skipped("email_webhooks::postgres"),
    }
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
        let (status, body) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", events.to_string()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"applied": 3, "unmatched": 1, "suppressed": 1}));
        let now = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(now.status.as_str(), "DELIVERED");
        assert_eq!(now.delivered_at.unwrap().timestamp(), 1767571300);
        assert_eq!(now.opened_at.unwrap().timestamp(), 1767571400);
        assert_eq!(now.clicked_at.unwrap().timestamp(), 1767571500);
        let complaint = email_suppression::Entity::find_by_id("stranger@example.com").one(app.services.db.conn()).await.unwrap().unwrap();
        assert_eq!(complaint.reason, "COMPLAINT");

        // A report naming our email but another address is not applied to it.
        let elsewhere = json!([{"email": "someone@else.example", "timestamp": 1767571650, "event": "open", "email_id": row.id}]);
        let (status, body) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", elsewhere.to_string()).await;
        assert_eq!((status, body), (200, json!({"applied": 0, "unmatched": 1, "suppressed": 0})));

        // A hard bounce marks the email and suppresses the address: the next email is not sent.
        let bounce = json!([{"email": row.to_address.to_uppercase(), "timestamp": 1767571700, "event": "bounce", "type": "bounce", "reason": "550 5.1.1 unknown", "smtp-id": row.message_id}]);
        let (status, body) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", bounce.to_string()).await;
        assert_eq!((status, body["applied"].clone()), (200, json!(1)));
        let now = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(now.status.as_str(), "BOUNCED");
        let student = app.token(STUDENT, Role::Student, "Europe/London");
        book(&app, &student, request(&["2026-01-08T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        let last = emails(&app).await.into_iter().rev().find(|e| e.user_id == STUDENT).unwrap();
        assert_eq!(last.status.as_str(), "SUPPRESSED");
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_bounces_complaints_and_transient_bounces() {
    both(|app| Box::pin(async move {
        let row = sent_confirmation(&app).await;
        // Transient: the email goes back to the queue and is sent again later.
        let transient = sns(json!({"notificationType": "Bounce", "mail": ses_mail(&row),
            "bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull", "bouncedRecipients": [{"emailAddress": row.to_address}]}}));
        let (status, body) = post(&app, "/webhooks/email/ses", Some(TOKEN), "text/plain; charset=UTF-8", transient).await;
        assert_eq!((status, body["applied"].clone(), body["suppressed"].clone()), (200, json!(1), json!(0)), "{body}");
        let again = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!((again.status.as_str(), again.retry_count), ("PENDING", 1));
        app.clock.set("2026-01-05T01:00:00Z".parse().unwrap());
        app.jobs.drain().await.unwrap();
        let again = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(again.status.as_str(), "SENT", "sent again");

        let complaint = sns(json!({"eventType": "Complaint", "mail": ses_mail(&row),
            "complaint": {"complainedRecipients": [{"emailAddress": row.to_address}], "complaintFeedbackType": "abuse"}}));
        let (status, body) = post(&app, "/webhooks/email/ses", Some(TOKEN), "text/plain", complaint).await;
        assert_eq!((status, body["suppressed"].clone()), (200, json!(1)));
        let now = emails(&app).await.into_iter().find(|e| e.id == row.id).unwrap();
        assert_eq!(now.status.as_str(), "COMPLAINED");
        assert!(now.complained_at.is_some());

        let url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:ses&Token=abc";
        let confirm = json!({"Type": "SubscriptionConfirmation", "SubscribeURL": url}).to_string();
        let (status, body) = post(&app, "/webhooks/email/ses", Some(TOKEN), "text/plain", confirm).await;
        assert_eq!((status, body["confirm"].clone()), (202, json!(url)));
        // Anything but an https URL of Amazon SNS is not shown to an operator as the link to open.
        for forged in ["https://sns.example/confirm?x=1", "http://169.254.169.254/latest/meta-data/", "https://sns.eu-west-1.amazonaws.com/\nERROR forged line"] {
            let confirm = json!({"Type": "SubscriptionConfirmation", "SubscribeURL": forged}).to_string();
            let (status, body) = post(&app, "/webhooks/email/ses", Some(TOKEN), "text/plain", confirm).await;
            assert_eq!(status, 400, "{forged}: {body}");
            assert!(body.get("confirm").is_none());
        }
    })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_requests_change_nothing() {
    both(|app| Box::pin(async move {
        let row = sent_confirmation(&app).await;
        let before = snapshot(&app).await;
        let good = json!([{"email": row.to_address, "timestamp": 1, "event": "bounce", "type": "bounce", "email_id": row.id}]).to_string();
        // Token: missing or wrong.
        assert_eq!(post(&app, "/webhooks/email/sendgrid", None, "application/json", good.clone()).await.0, 401);
        assert_eq!(post(&app, "/webhooks/email/sendgrid", Some("nope"), "application/json", good.clone()).await.0, 401);
        assert_eq!(post(&app, "/webhooks/email/ses", Some("hook-secreT"), "text/plain", good.clone()).await.0, 401);
        // Not JSON by content type.
        assert_eq!(post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/xml", good.clone()).await.0, 415);
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
            let (status, answer) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", body.clone()).await;
            assert_eq!(status, 400, "{body}: {answer}");
            assert_eq!(answer["error"]["code"], "BAD_USER_INPUT");
        }
        let ses_bad = [
            "nope".to_string(),
            json!({"Type": "Mystery"}).to_string(),
            json!({"Type": "Notification", "Message": "{not json"}).to_string(),
            sns(json!({"notificationType": "Bounce", "mail": ses_mail(&row)})),
            sns(json!({"notificationType": "Bounce", "mail": ses_mail(&row), "bounce": {"bounceType": "Permanent", "bouncedRecipients": []}})),
            sns(json!({"notificationType": "Bounce", "mail": ses_mail(&row), "bounce": {"bounceType": "Maybe", "bouncedRecipients": [{"emailAddress": row.to_address}]}})),
            sns(json!({"notificationType": "Teleport", "mail": ses_mail(&row)})),
            sns(json!({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": row.to_address}]}})),
        ];
        for body in ses_bad {
            let (status, answer) = post(&app, "/webhooks/email/ses", Some(TOKEN), "text/plain", body.clone()).await;
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
        let (status, _) = post(&app, "/webhooks/email/sendgrid", Some(TOKEN), "application/json", complaint.to_string()).await;
        assert_eq!(status, 200);
        app.jobs.drain().await.unwrap();
        let row = emails(&app).await.into_iter().find(|e| e.id == queued.id).unwrap();
        assert_eq!(row.status.as_str(), "SUPPRESSED");
        assert!(row.sent_at.is_none());
        let outbox = app.data_dir().join("outbox").join(format!("{}.eml", row.id));
        assert!(!outbox.exists(), "nothing was written for it");
    })).await;
}
