//! Email end to end: bookings, moves and cancellations through a real SMTP server (the MIME, the
//! invite read back by an independent iCalendar parser, the links), reminders exactly once with two
//! workers racing, retries, final failure, suppression, digests, preferences, the `.eml` outbox.

use std::io::BufReader;

use chrono::{DateTime, Utc};
use mailparse::{MailHeaderMap, ParsedMail};
use mentor_scheduler::auth::{Principal, Role};
use mentor_scheduler::clock::Clock;
use mentor_scheduler::entity::{email_notification as email, email_suppression};
use mentor_scheduler::jobs::{JobRunner, RunnerConfig};
use mentor_scheduler::service::email::Sent;
use mentor_scheduler::startup::job_handlers;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};
use std::sync::Arc;

use crate::helpers::booking::{book, request, tutor_and_student, STUDENT, TUTOR};
use crate::helpers::mail::emails;
use crate::helpers::notify::{ADMIN, SEND};
use crate::helpers::smtp::SmtpServer;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const RESCHEDULE: &str =
    "mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id sequence } }";
const CANCEL_SESSION: &str =
    "mutation($id: ID!, $r: String) { cancelSession(id: $id, reason: $r) { id } }";
const SET_PREFS: &str = "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { type } }";

async fn smtp_app(backend: Backend) -> Option<(TestApp, SmtpServer)> {
    smtp_app_with(backend, None).await
}

async fn smtp_app_with(backend: Backend, auth: Option<&str>) -> Option<(TestApp, SmtpServer)> {
    let smtp = SmtpServer::start(auth)?;
    app_sending_to(backend, smtp, auth).await
}

async fn app_sending_to(
    backend: Backend,
    smtp: SmtpServer,
    auth: Option<&str>,
) -> Option<(TestApp, SmtpServer)> {
    let url = match auth {
        Some(credentials) => smtp
            .url()
            .replace("smtp://", &format!("smtp://{credentials}@")),
        None => smtp.url(),
    };
    let app = TestApp::spawn_with(
        backend,
        &[
            ("SMTP_URL", url.as_str()),
            ("EMAIL_MAX_ATTEMPTS", "3"),
            ("EMAIL_FROM", "Mentor Hub <bookings@mentors.example>"),
        ],
    )
    .await?;
    Some((app, smtp))
}

macro_rules! with_smtp {
    ($(async fn $name:ident($app:ident, $smtp:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: TestApp, $smtp: SmtpServer) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some((app, smtp)) = smtp_app(Backend::Sqlite).await {
                        run(app, smtp).await
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match smtp_app(Backend::Postgres).await {
                        Some((app, smtp)) => run(app, smtp).await,
                        None => crate::helpers::say_skipped(concat!(module_path!(), "::postgres")),
                    }
                }
            }
        )*
    };
}

async fn with_template(app: &TestApp, template: &str) -> Vec<email::Model> {
    email::Entity::find()
        .filter(email::Column::Template.eq(template))
        .order_by_asc(email::Column::Id)
        .all(app.services.db.conn())
        .await
        .unwrap()
}

/// Signs `sub` in again with another address (later tokens update the local copy).
/// Suppresses `address` (kept as given) as a hard bounce would, straight in the table.
async fn bounce(app: &TestApp, address: &str) {
    let bounced = email_suppression::ActiveModel {
        address: Set(address.into()),
        reason: Set("BOUNCE".into()),
        detail: Set(None),
        created_at: Set(app.clock.now()),
    };
    email_suppression::Entity::insert(bounced)
        .exec(app.services.db.conn())
        .await
        .unwrap();
}

async fn readdress(app: &TestApp, sub: &str, role: Role, address: &str) -> String {
    let token = app.token_for(&Principal {
        user_id: sub.into(),
        role,
        email: address.into(),
        name: format!("User {sub}"),
        time_zone: "Europe/London".parse().unwrap(),
        phone: None,
    });
    app.ok(&token, "{ me { id } }", json!({})).await;
    token
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn to_of(mail: &ParsedMail) -> String {
    mail.headers.get_first_value("To").unwrap_or_default()
}

fn find<'a>(mails: &'a [ParsedMail<'a>], to: &str) -> &'a ParsedMail<'a> {
    mails
        .iter()
        .find(|m| to_of(m).contains(to))
        .unwrap_or_else(|| panic!("no mail to {to}"))
}

/// The parts of a message, depth first, as (mime type, params, decoded body).
fn parts(mail: &ParsedMail) -> Vec<(String, std::collections::BTreeMap<String, String>, String)> {
    let mut out = Vec::new();
    fn walk(
        m: &ParsedMail,
        out: &mut Vec<(String, std::collections::BTreeMap<String, String>, String)>,
    ) {
        let params = m.ctype.params.clone().into_iter().collect();
        if m.subparts.is_empty() {
            out.push((
                m.ctype.mimetype.clone(),
                params,
                m.get_body().unwrap_or_default(),
            ));
        } else {
            out.push((m.ctype.mimetype.clone(), params, String::new()));
            for p in &m.subparts {
                walk(p, out);
            }
        }
    }
    walk(mail, &mut out);
    out
}

/// The invite read back with the `ical` crate: METHOD and each event's properties.
fn read_invite(ics: &str) -> (String, Vec<std::collections::HashMap<String, String>>) {
    let mut parser = ical::IcalParser::new(BufReader::new(ics.as_bytes()));
    let calendar = parser
        .next()
        .expect("one calendar")
        .expect("a valid calendar");
    let method = calendar
        .properties
        .iter()
        .find(|p| p.name == "METHOD")
        .and_then(|p| p.value.clone())
        .expect("METHOD");
    let events = calendar
        .events
        .iter()
        .map(|e| {
            e.properties
                .iter()
                .map(|p| {
                    let params = p
                        .params
                        .as_ref()
                        .map(|ps| {
                            ps.iter()
                                .map(|(k, v)| format!(";{k}={}", v.join(",")))
                                .collect::<String>()
                        })
                        .unwrap_or_default();
                    (
                        p.name.clone(),
                        format!("{params}:{}", p.value.clone().unwrap_or_default()),
                    )
                })
                .fold(std::collections::HashMap::new(), |mut m, (k, v)| {
                    m.entry(k)
                        .and_modify(|e: &mut String| e.push_str(&format!("\n{v}")))
                        .or_insert(v);
                    m
                })
        })
        .collect();
    (method, events)
}

fn value(event: &std::collections::HashMap<String, String>, name: &str) -> String {
    let raw = event
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {event:?}"));
    raw.rsplit_once(':')
        .map(|(_, v)| v)
        .unwrap_or(raw)
        .to_string()
}

/// The invite of a message: its `text/calendar` part (checked against the attachment).
fn invite_of(
    mail: &ParsedMail,
) -> (
    String,
    Vec<std::collections::HashMap<String, String>>,
    String,
) {
    let all = parts(mail);
    let (_, params, ics) = all
        .iter()
        .find(|(t, _, _)| t == "text/calendar")
        .expect("a text/calendar part")
        .clone();
    let attached = all
        .iter()
        .find(|(t, _, _)| t == "application/ics")
        .expect("an invite.ics attachment");
    assert_eq!(attached.2, ics, "the attachment is the same invite");
    let (method, events) = read_invite(&ics);
    assert_eq!(
        params.get("method"),
        Some(&method),
        "the part's method= matches METHOD"
    );
    (method, events, ics)
}

with_smtp! {
    async fn emails_claimed_together_are_read_in_one_statement(app, smtp) {
        const EMAILS: usize = 16;
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        let users: Vec<String> = (0..EMAILS).map(|i| format!("ckprefetch{i:015}")).collect();
        for user in &users {
            app.user(user, Role::Student, "UTC").await;
        }
        let input = json!({"i": {"userIds": users, "type": "SUPPORT_TICKET", "title": "Ticket #8", "body": "Answered."}});
        app.ok(&admin, SEND, input).await;
        assert_eq!(emails(&app).await.len(), EMAILS);
        // Eight workers and eight claimed ahead: the first claim takes all sixteen.
        let runner = JobRunner::new(
            app.services.db.clone(),
            app.services.clock.clone(),
            Arc::new(job_handlers::registry(&app.services)),
            RunnerConfig { workers: 8, batch_size: 16, ..RunnerConfig::default() },
        );
        app.services.db.record_statements();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = runner.start(stopped);
        assert_eq!(smtp.wait_for(EMAILS).await.len(), EMAILS);
        // Stopping waits for the jobs in flight, their `SENT` included.
        stop.send(true).unwrap();
        running.await.unwrap();
        let statements = app.services.db.recorded_statements();
        let reads = statements
            .iter()
            .filter(|sql| sql.starts_with("SELECT") && sql.contains(r#"FROM "email_notifications""#))
            .count();
        // One statement, or two when the batch started between the first read asked and the rest.
        assert!((1..=2).contains(&reads), "{reads} reads of {EMAILS} emails claimed together");
        assert!(emails(&app).await.iter().all(|e| e.status.as_str() == "SENT"));
    }

    async fn a_send_long_after_its_claim_reads_its_email_again(app, smtp) {
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        let user = "ckprefetchstale000000001";
        let address = "stale.reader@example.com";
        readdress(&app, user, Role::Student, address).await;
        let input = json!({"i": {"userIds": [user], "type": "SUPPORT_TICKET", "title": "Ticket #9", "body": "Answered."}});
        app.ok(&admin, SEND, input).await;
        let id = emails(&app).await.pop().unwrap().id;
        // Its read starts (as at a claim) and is done before the address bounces for good.
        app.services.db.record_statements();
        app.services.email.prefetch(vec![id.clone()]);
        let read = async {
            let reads = |sql: &String| sql.starts_with("SELECT") && sql.contains(r#"FROM "email_notifications""#);
            while !app.services.db.recorded_statements().iter().any(reads) {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), read).await.expect("the read runs");
        bounce(&app, address).await;
        // The send comes a second later: what was read then is too old to act on.
        app.clock.set(app.clock.now() + chrono::Duration::seconds(1));
        assert_eq!(app.services.email.send(&id).await.unwrap(), Sent::Settled);
        assert_eq!(emails(&app).await.pop().unwrap().status.as_str(), "SUPPRESSED");
        assert!(smtp.messages().is_empty());
    }

    async fn batched_reads_of_any_size_are_one_statement_text(app, smtp) {
        let _ = &smtp;
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        let users: Vec<String> = (0..6).map(|i| format!("ckonetext{i:016}")).collect();
        for user in &users {
            app.user(user, Role::Student, "UTC").await;
        }
        let input = json!({"i": {"userIds": users, "type": "SUPPORT_TICKET", "title": "Ticket #10", "body": "Answered."}});
        app.ok(&admin, SEND, input).await;
        let ids: Vec<String> = emails(&app).await.into_iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 6);
        // A read of one email, then of five: the same statement, prepared once per connection.
        app.services.db.record_statements();
        let reads = || {
            let reads = |sql: &String| sql.starts_with("SELECT") && sql.contains(r#"FROM "email_notifications""#);
            app.services.db.recorded_statements().into_iter().filter(reads).collect::<Vec<_>>()
        };
        for batch in [&ids[..1], &ids[1..]] {
            app.services.email.prefetch(batch.to_vec());
            // Each send takes its email's read started ahead, so every read has run after them.
            for id in batch {
                assert_eq!(app.services.email.send(id).await.unwrap(), Sent::Accepted);
            }
        }
        // The five go together, or in more batches when the batch task woke between them, but
        // hardly ever one at a time: with a parameter per email, the texts would differ.
        let texts = reads();
        assert!((2..=6).contains(&texts.len()), "{texts:?}");
        assert!(texts.iter().all(|t| *t == texts[0]), "one statement text for one email and for five: {texts:?}");
    }

    async fn a_booking_mails_invites_through_a_real_smtp_server(app, smtp) {
        let admin = app.user(ADMIN, Role::Admin, "America/New_York").await;
        let _ = admin;
        let (_mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(2))).await;
        let report = app.jobs.drain().await.unwrap();
        assert_eq!(report.dead, 0);
        let raw = smtp.wait_for(3).await;
        assert_eq!(raw.len(), 3, "student, mentor, admin");
        let mails: Vec<ParsedMail> = raw.iter().map(|r| mailparse::parse_mail(r).unwrap()).collect();

        let to_student = find(&mails, &format!("{STUDENT}@example.com"));
        assert_eq!(to_student.headers.get_first_value("Subject").unwrap(), format!("✅ Your session with User {TUTOR} is confirmed!"));
        assert!(to_student.headers.get_first_value("From").unwrap().contains("bookings@mentors.example"));
        let message_id = to_student.headers.get_first_value("Message-ID").unwrap();
        let row = emails(&app).await.into_iter().find(|e| e.to_address.starts_with(STUDENT)).unwrap();
        assert_eq!(message_id.trim(), row.message_id, "the Message-ID is the stored one");
        assert_eq!((row.status.as_str(), row.retry_count), ("SENT", 0));
        assert!(row.sent_at.is_some());
        let structure: Vec<String> = parts(to_student).into_iter().map(|(t, _, _)| t).collect();
        assert_eq!(structure, ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar", "application/ics"]);

        let (method, events, ics) = invite_of(to_student);
        assert_eq!(method, "REQUEST");
        assert_eq!(events.len(), 2, "one event per session");
        let ids: Vec<&str> = booking["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        for (event, id) in events.iter().zip(&ids) {
            assert_eq!(value(event, "UID"), format!("{id}@mentors.example"));
            assert_eq!(value(event, "SEQUENCE"), "0");
            assert_eq!(value(event, "STATUS"), "CONFIRMED");
            assert!(event["ORGANIZER"].contains("mailto:bookings@mentors.example"), "{event:?}");
            assert!(event["ATTENDEE"].contains(&format!("mailto:{STUDENT}@example.com")));
            assert!(event["ATTENDEE"].contains(&format!("mailto:{TUTOR}@example.com")));
            assert!(value(event, "LOCATION").contains(&format!("/join/{id}?token=")));
        }
        assert_eq!(value(&events[0], "DTSTART"), "20260107T100000Z");
        assert_eq!(value(&events[1], "DTSTART"), "20260114T100000Z");
        assert!(ics.contains("\r\n") && !ics.replace("\r\n", "").contains('\n'));

        let all = parts(to_student);
        let html = &all.iter().find(|(t, _, _)| t == "text/html").unwrap().2;
        let text = &all.iter().find(|(t, _, _)| t == "text/plain").unwrap().2;
        assert!(html.contains("/email/open/") && html.contains("/email/click/"), "tracked links in the HTML");
        assert!(text.contains("Wednesday 7 January 2026, 10:00 GMT (Europe/London)"), "{text}");
        assert!(text.contains(&format!("/join/{}?token=", ids[0])), "the student's own join link: {text}");

        let to_admin = find(&mails, &format!("{ADMIN}@example.com"));
        assert!(to_admin.headers.get_first_value("Subject").unwrap().starts_with("🆕 New booking"));
        assert!(parts(to_admin).iter().all(|(t, _, _)| t != "text/calendar"), "no invite for admins");
        let admin_text = parts(to_admin).into_iter().find(|(t, _, _)| t == "text/plain").unwrap().2;
        assert!(admin_text.contains("Wednesday 7 January 2026, 05:00 EST (America/New_York)"), "the admin's own zone: {admin_text}");
        assert_eq!(smtp.envelopes(), ["pipelined"; 3], "the server offers PIPELINING: MAIL, RCPT and DATA in one write");
    }

    async fn moves_and_cancellations_update_the_same_calendar_event(app, smtp) {
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(2))).await;
        let second = booking["sessions"][1]["id"].as_str().unwrap().to_string();
        app.jobs.drain().await.unwrap();
        smtp.wait_for(2).await;
        app.ok(&student, RESCHEDULE, json!({"id": second, "s": "2026-01-15T14:00:00Z"})).await;
        app.jobs.drain().await.unwrap();
        let raw = smtp.wait_for(4).await;
        assert_eq!(raw.len(), 4, "both participants hear of the move");
        let moved: Vec<ParsedMail> = raw[2..].iter().map(|r| mailparse::parse_mail(r).unwrap()).collect();
        for mail in &moved {
            assert!(mail.headers.get_first_value("Subject").unwrap().starts_with("🔁 Moved"));
            let (method, events, _) = invite_of(mail);
            assert_eq!(method, "REQUEST");
            assert_eq!(events.len(), 1);
            assert_eq!(value(&events[0], "UID"), format!("{second}@mentors.example"));
            assert_eq!(value(&events[0], "SEQUENCE"), "1", "raised by the move");
            assert_eq!(value(&events[0], "DTSTART"), "20260115T140000Z");
        }
        let text = parts(find(&moved, STUDENT)).into_iter().find(|(t, _, _)| t == "text/plain").unwrap().2;
        assert!(text.contains("Was: Wednesday 14 January 2026, 10:00 GMT") && text.contains("Now: Thursday 15 January 2026, 14:00 GMT"), "{text}");

        app.ok(&mentor, CANCEL_SESSION, json!({"id": second, "r": "Mentor <b>ill</b>"})).await;
        app.jobs.drain().await.unwrap();
        let raw = smtp.wait_for(6).await;
        assert_eq!(raw.len(), 6);
        for r in &raw[4..] {
            let mail = mailparse::parse_mail(r).unwrap();
            let (method, events, _) = invite_of(&mail);
            assert_eq!(method, "CANCEL");
            assert_eq!(value(&events[0], "UID"), format!("{second}@mentors.example"));
            assert_eq!(value(&events[0], "STATUS"), "CANCELLED");
            assert_eq!(value(&events[0], "SEQUENCE"), "2");
            let html = parts(&mail).into_iter().find(|(t, _, _)| t == "text/html").unwrap().2;
            assert!(html.contains("Mentor &#60;b&#62;ill&#60;/b&#62;") && !html.contains("<b>ill"), "the reason is escaped: {html}");
        }
    }

    async fn temporary_failures_back_off_and_permanent_ones_suppress(app, smtp) {
        let (_mentor, _) = tutor_and_student(&app).await;
        let student = readdress(&app, STUDENT, Role::Student, "flaky2-jane@example.com").await;
        book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
        let report = app.jobs.drain().await.unwrap();
        assert_eq!(report.retried, 1, "{report:?}");
        let mine = || async { emails(&app).await.into_iter().find(|e| e.to_address.starts_with("flaky2")).unwrap() };
        let row = mine().await;
        assert_eq!((row.status.as_str(), row.retry_count), ("PENDING", 1));
        assert!(row.error_message.as_deref().unwrap().contains("451"), "{:?}", row.error_message);
        // Not again before the backoff has passed...
        app.jobs.drain().await.unwrap();
        assert_eq!(mine().await.retry_count, 1);
        // ...then again, with the same Message-ID each time, until the server takes it.
        app.clock.set(at("2026-01-05T02:00:00Z"));
        app.jobs.drain().await.unwrap();
        assert_eq!(mine().await.retry_count, 2);
        app.clock.set(at("2026-01-05T04:00:00Z"));
        app.jobs.drain().await.unwrap();
        let row = mine().await;
        assert_eq!((row.status.as_str(), row.retry_count), ("SENT", 2));
        let raw = smtp.wait_for(2).await;
        let delivered = raw.iter().map(|r| mailparse::parse_mail(r).unwrap()).find(|m| to_of(m).contains("flaky2")).unwrap();
        assert_eq!(delivered.headers.get_first_value("Message-ID").unwrap().trim(), row.message_id);

        // Always 4xx: FAILED after EMAIL_MAX_ATTEMPTS (3) tries, with the last error.
        let student = readdress(&app, STUDENT, Role::Student, "tempfail@example.com").await;
        book(&app, &student, request(&["2026-01-08T10:00:00Z"], json!(1))).await;
        for hour in [6, 8, 10, 12] {
            app.jobs.drain().await.unwrap();
            app.clock.set(at(&format!("2026-01-05T{hour:02}:00:00Z")));
        }
        let row = emails(&app).await.into_iter().find(|e| e.to_address == "tempfail@example.com").unwrap();
        assert_eq!((row.status.as_str(), row.retry_count), ("FAILED", 3));
        assert!(row.error_message.unwrap().contains("451"));

        // 550: FAILED at once, and the address is suppressed for what comes next.
        let student = readdress(&app, STUDENT, Role::Student, "nosuchuser@example.com").await;
        book(&app, &student, request(&["2026-01-09T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        let row = emails(&app).await.into_iter().find(|e| e.to_address == "nosuchuser@example.com").unwrap();
        assert_eq!((row.status.as_str(), row.retry_count), ("FAILED", 1));
        let suppressed = email_suppression::Entity::find_by_id("nosuchuser@example.com").one(app.services.db.conn()).await.unwrap().unwrap();
        assert_eq!(suppressed.reason, "BOUNCE");
        let before = smtp.messages().len();
        book(&app, &student, request(&["2026-01-12T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        let rows: Vec<_> = emails(&app).await.into_iter().filter(|e| e.to_address == "nosuchuser@example.com").collect();
        assert_eq!(rows.last().unwrap().status.as_str(), "SUPPRESSED");
        assert_eq!(smtp.messages().len(), before + 1, "only the mentor's email went out");
        assert!(smtp.envelopes().iter().all(|e| e == "pipelined"), "{:?}", smtp.envelopes());
    }

    async fn digests_batch_non_urgent_emails_within_the_window(app, smtp) {
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        let (_, _) = tutor_and_student(&app).await;
        let other = app.user("ckdigestother00000000001", Role::Student, "UTC").await;
        let _ = other;
        let send = |user: &str, kind: &str, title: &str| json!({"i": {"userIds": [user], "type": kind, "title": title, "body": format!("About {title}"), "link": "/mentors/ana", "data": {"mentorName": "Ana"}}});
        app.ok(&admin, SEND, send(STUDENT, "NEW_MENTOR_MATCH", "Ana matches")).await;
        app.clock.set(at("2026-01-05T00:05:00Z"));
        app.ok(&admin, SEND, send(STUDENT, "SYSTEM_UPDATE", "Shared <notes>")).await;
        app.ok(&admin, SEND, send("ckdigestother00000000001", "NEW_MENTOR_MATCH", "Only one")).await;
        // An urgent kind is not held back.
        app.ok(&admin, SEND, send(STUDENT, "PAYMENT_RECEIPT", "Paid")).await;
        app.jobs.drain().await.unwrap();
        let raw = smtp.wait_for(1).await;
        assert_eq!(raw.len(), 1, "only the receipt before the window closes");
        let batched = emails(&app).await.into_iter().filter(|e| e.status.as_str() == "BATCHED").count();
        assert_eq!(batched, 3);
        // The windows (15 minutes from each user's first) close.
        app.clock.set(at("2026-01-05T00:15:00Z"));
        app.jobs.drain().await.unwrap();
        assert_eq!(smtp.wait_for(2).await.len(), 2, "the student's digest, not yet the other's");
        app.clock.set(at("2026-01-05T00:20:00Z"));
        app.jobs.drain().await.unwrap();
        let raw = smtp.wait_for(3).await;
        assert_eq!(raw.len(), 3, "one digest per user");
        let mails: Vec<ParsedMail> = raw.iter().map(|r| mailparse::parse_mail(r).unwrap()).collect();
        let digest = find(&mails, STUDENT);
        let digest = if digest.headers.get_first_value("Subject").unwrap().contains("Payment") {
            mails.iter().filter(|m| to_of(m).contains(STUDENT)).nth(1).unwrap()
        } else {
            digest
        };
        assert!(digest.headers.get_first_value("Subject").unwrap().starts_with("📬 2 updates"), "{:?}", digest.headers.get_first_value("Subject"));
        let html = parts(digest).into_iter().find(|(t, _, _)| t == "text/html").unwrap().2;
        assert!(html.contains("Ana matches") && html.contains("Shared &#60;notes&#62;"), "{html}");
        let single = find(&mails, "ckdigestother");
        assert!(single.headers.get_first_value("Subject").unwrap().starts_with("✨ New mentor match: Ana"), "a digest of one is the email itself");
        // A new match after the seal starts a new digest.
        app.ok(&admin, SEND, send(STUDENT, "NEW_MENTOR_MATCH", "Later")).await;
        let collecting = email::Entity::find().filter(email::Column::Status.eq("COLLECTING")).count(app.services.db.conn()).await.unwrap();
        assert_eq!(collecting, 1);
    }
}

/// Two runners claiming from the same queue at once, as two worker processes would.
async fn drain_racing(app: &TestApp) {
    let second = JobRunner::new(
        app.services.db.clone(),
        app.services.clock.clone(),
        Arc::new(job_handlers::registry(&app.services)),
        RunnerConfig {
            workers: 0,
            ..RunnerConfig::default()
        },
    );
    let (a, b) = tokio::join!(app.jobs.drain(), second.drain());
    a.unwrap();
    b.unwrap();
}

async fn count(app: &TestApp, template: &str) -> usize {
    with_template(app, template).await.len()
}

/// A server without PIPELINING gets one command at a time, and its refusals mean the same.
async fn a_server_without_pipelining_gets_one_command_at_a_time(backend: Backend) {
    let Some(smtp) = SmtpServer::start_without_pipelining() else {
        return;
    };
    let Some((app, smtp)) = app_sending_to(backend, smtp, None).await else {
        return crate::helpers::say_skipped(
            "email::a_server_without_pipelining_gets_one_command_at_a_time::postgres",
        );
    };
    let (_mentor, student) = tutor_and_student(&app).await;
    book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
    let student = readdress(&app, STUDENT, Role::Student, "nosuchuser@example.com").await;
    book(&app, &student, request(&["2026-01-08T10:00:00Z"], json!(1))).await;
    app.jobs.drain().await.unwrap();
    let rows = emails(&app).await;
    let bounced = rows
        .iter()
        .find(|e| e.to_address == "nosuchuser@example.com")
        .unwrap();
    assert_eq!(
        (bounced.status.as_str(), bounced.retry_count),
        ("FAILED", 1)
    );
    assert!(bounced.error_message.as_deref().unwrap().contains("550"));
    let sent = rows.iter().filter(|e| e.status.as_str() == "SENT").count();
    assert_eq!(sent, 3, "{rows:?}");
    assert_eq!(smtp.envelopes(), ["one-by-one"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_pipelining_gets_one_command_at_a_time_sqlite() {
    a_server_without_pipelining_gets_one_command_at_a_time(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_pipelining_gets_one_command_at_a_time_postgres() {
    a_server_without_pipelining_gets_one_command_at_a_time(Backend::Postgres).await;
}

on_both_backends! {
    async fn an_address_suppressed_after_its_email_was_queued_is_not_sent_to(app) {
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        // Suppressions are kept under the address with its ASCII letters lower-cased, and only
        // those: the check at sending must agree with the one at queueing, in every locale.
        let cases = [
            ("cksuppressmixedcase000001", "Mixed.Case@Example.COM", true),
            ("cksuppressunicode00000001", "Zoë.ÄNGSTRÖM@example.com", false),
        ];
        for (sub, address, _) in cases {
            readdress(&app, sub, Role::Student, address).await;
        }
        let users: Vec<&str> = cases.iter().map(|(sub, _, _)| *sub).collect();
        let input = json!({"i": {"userIds": users, "type": "SUPPORT_TICKET", "title": "Ticket #7", "body": "Answered."}});
        app.ok(&admin, SEND, input).await;
        let queued = emails(&app).await;
        assert_eq!(queued.len(), 2);
        assert!(queued.iter().all(|e| e.status.as_str() == "PENDING"));
        // Both bounced after their emails were queued (the second differs only in the case of
        // letters that are not ASCII, which the rule leaves alone).
        for address in ["mixed.case@example.com", "zoë.ängström@example.com"] {
            bounce(&app, address).await;
        }
        app.jobs.drain().await.unwrap();
        for (_, address, suppressed) in cases {
            let row = emails(&app).await.into_iter().find(|e| e.to_address == address).unwrap();
            let status = row.status.as_str();
            assert_eq!(status == "SUPPRESSED", suppressed, "{address}: {status}");
            assert_eq!(status == "SENT", !suppressed, "{address}: {status}");
        }
    }

    async fn producers_racing_for_one_user_share_one_digest(app) {
        let admin = app.user(ADMIN, Role::Admin, "UTC").await;
        tutor_and_student(&app).await;
        let sends = (0..12).map(|i| {
            let input = json!({"i": {"userIds": [STUDENT], "type": "NEW_MENTOR_MATCH", "title": format!("Match {i}"), "body": "b"}});
            let (app, admin) = (&app, &admin);
            async move { app.ok(admin, SEND, input).await }
        });
        futures::future::join_all(sends).await;
        let rows = emails(&app).await;
        let digests: Vec<_> = rows.iter().filter(|e| e.status.as_str() == "COLLECTING").collect();
        assert_eq!(digests.len(), 1, "one digest for the user");
        let items: Vec<_> = rows.iter().filter(|e| e.status.as_str() == "BATCHED").collect();
        assert_eq!(items.len(), 12);
        assert!(items.iter().all(|i| i.digest_id.as_deref() == Some(digests[0].id.as_str())));
        app.clock.set(at("2026-01-05T00:15:00Z"));
        app.jobs.drain().await.unwrap();
        let digest = emails(&app).await.into_iter().find(|e| e.id == digests[0].id).unwrap();
        assert_eq!(digest.status.as_str(), "SENT");
        assert!(digest.subject.starts_with("📬 12 updates"), "{}", digest.subject);
    }

    async fn reminders_go_once_follow_moves_and_stop_on_cancel(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(3))).await;
        let ids: Vec<String> = booking["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
        app.ok(&student, RESCHEDULE, json!({"id": ids[1], "s": "2026-01-15T14:00:00Z"})).await;
        app.ok(&mentor, CANCEL_SESSION, json!({"id": ids[2]})).await;
        drain_racing(&app).await;
        assert_eq!(count(&app, "reminder_24h_student").await, 0);

        app.clock.set(at("2026-01-06T10:00:00Z"));
        drain_racing(&app).await;
        drain_racing(&app).await;
        assert_eq!(count(&app, "reminder_24h_student").await, 1);
        assert_eq!(count(&app, "reminder_24h_mentor").await, 1);
        app.clock.set(at("2026-01-07T09:00:00Z"));
        drain_racing(&app).await;
        assert_eq!(count(&app, "reminder_1h").await, 2);

        // The moved session: nothing at its old time, a reminder of its new time.
        app.clock.set(at("2026-01-13T10:00:00Z"));
        drain_racing(&app).await;
        assert_eq!(count(&app, "reminder_24h_student").await, 1);
        app.clock.set(at("2026-01-14T14:00:00Z"));
        drain_racing(&app).await;
        let reminders = with_template(&app, "reminder_24h_student").await;
        assert_eq!(reminders.len(), 2);
        assert!(reminders[1].body_text.as_deref().unwrap().contains("Thursday 15 January 2026, 14:00 GMT"));
        assert_eq!(reminders[1].subject, format!("⏰ Reminder: Session tomorrow with User {TUTOR}"));
        app.clock.set(at("2026-01-15T13:00:00Z"));
        drain_racing(&app).await;
        // The cancelled one: nothing.
        app.clock.set(at("2026-01-21T09:00:00Z"));
        drain_racing(&app).await;
        assert_eq!(count(&app, "reminder_24h_student").await, 2);
        assert_eq!(count(&app, "reminder_1h").await, 4);
        assert_eq!(count(&app, "feedback_request").await, 2, "after each held session");
        // Every email went to the .eml outbox (no SMTP_URL), once.
        let sent = emails(&app).await.into_iter().filter(|e| e.status.as_str() == "SENT").count();
        let files = std::fs::read_dir(app.data_dir().join("outbox")).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml")).count();
        assert_eq!(files, sent);
    }

    async fn reminders_are_written_ahead_sent_on_time_and_withdrawn_when_no_longer_wanted(app) {
        let statuses = |rows: Vec<email::Model>| rows.into_iter().map(|e| (e.user_id, e.status.as_str().to_string())).collect::<Vec<_>>();
        let (mentor, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(4))).await;
        let ids: Vec<String> = booking["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();

        // Written a minute ahead, with their time; not sent before it.
        app.clock.set(at("2026-01-06T09:59:00Z"));
        drain_racing(&app).await;
        let written = with_template(&app, "reminder_24h_student").await;
        assert_eq!(statuses(written.clone()), [(STUDENT.to_string(), "PENDING".to_string())]);
        assert_eq!(written[0].scheduled_for, at("2026-01-06T10:00:00Z"));
        assert_eq!(written[0].created_at, at("2026-01-06T09:59:00Z"));
        app.clock.set(at("2026-01-06T09:59:59Z"));
        drain_racing(&app).await;
        assert_eq!(with_template(&app, "reminder_24h_student").await[0].status.as_str(), "PENDING");
        app.clock.set(at("2026-01-06T10:00:00Z"));
        drain_racing(&app).await;
        for template in ["reminder_24h_student", "reminder_24h_mentor"] {
            let sent = with_template(&app, template).await;
            assert_eq!(sent[0].status.as_str(), "SENT", "{template}");
            assert_eq!(sent[0].sent_at, Some(at("2026-01-06T10:00:00Z")));
        }

        // Cancelled after its reminders were written: both withdrawn.
        app.clock.set(at("2026-01-07T08:59:30Z"));
        drain_racing(&app).await;
        assert_eq!(with_template(&app, "reminder_1h").await.iter().filter(|e| e.status.as_str() == "PENDING").count(), 2);
        app.ok(&mentor, CANCEL_SESSION, json!({"id": ids[0]})).await;
        app.clock.set(at("2026-01-07T09:00:00Z"));
        drain_racing(&app).await;
        let withdrawn = with_template(&app, "reminder_1h").await;
        assert!(withdrawn.iter().all(|e| e.status.as_str() == "WITHDRAWN" && e.sent_at.is_none()), "{:?}", statuses(withdrawn));
        assert!(withdrawn.iter().all(|e| e.error_message.as_deref() == Some("its session was cancelled or moved")));

        // Moved after: withdrawn, and the new time is reminded.
        app.clock.set(at("2026-01-13T09:59:30Z"));
        drain_racing(&app).await;
        app.ok(&student, RESCHEDULE, json!({"id": ids[1], "s": "2026-01-15T14:00:00Z"})).await;
        app.clock.set(at("2026-01-13T10:00:00Z"));
        drain_racing(&app).await;
        let old = with_template(&app, "reminder_24h_student").await;
        assert_eq!(old[1].status.as_str(), "WITHDRAWN");
        app.clock.set(at("2026-01-14T14:00:00Z"));
        drain_racing(&app).await;
        let moved = with_template(&app, "reminder_24h_student").await;
        assert_eq!((moved.len(), moved[2].status.as_str()), (3, "SENT"));
        assert!(moved[2].body_text.as_deref().unwrap().contains("Thursday 15 January 2026, 14:00 GMT"));

        // Switched off after: the student's withdrawn, the mentor's sent.
        app.clock.set(at("2026-01-20T09:59:30Z"));
        drain_racing(&app).await;
        app.ok(&student, SET_PREFS, json!({"i": [{"type": "SESSION_REMINDER", "channel": "EMAIL", "enabled": false}]})).await;
        app.clock.set(at("2026-01-20T10:00:00Z"));
        drain_racing(&app).await;
        let off = with_template(&app, "reminder_24h_student").await.remove(3);
        assert_eq!((off.status.as_str(), off.error_message.as_deref()), ("WITHDRAWN", Some("the recipient switched these emails off")));
        assert_eq!(with_template(&app, "reminder_24h_mentor").await[3].status.as_str(), "SENT");

        // Nothing withdrawn reached the outbox.
        let sent = emails(&app).await.into_iter().filter(|e| e.status.as_str() == "SENT").count();
        let files = std::fs::read_dir(app.data_dir().join("outbox")).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml")).count();
        assert_eq!(files, sent);
    }

    async fn a_session_booked_30_minutes_ahead_gets_no_day_before_reminder(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let q = "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { timeZone } }";
        let blocks: Vec<Value> = ["MONDAY", "TUESDAY"].iter().map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"})).collect();
        app.ok(&mentor, q, json!({"i": {"timeZone": "Europe/London", "blocks": blocks, "minimumNoticeMinutes": 0}})).await;
        app.clock.set(at("2026-01-05T09:30:00Z"));
        book(&app, &student, request(&["2026-01-05T10:00:00Z"], json!(1))).await;
        drain_racing(&app).await;
        app.clock.set(at("2026-01-05T09:55:00Z"));
        drain_racing(&app).await;
        assert_eq!(count(&app, "reminder_24h_student").await + count(&app, "reminder_1h").await, 0);
        // One booked 23 hours ahead gets the 1-hour one only.
        book(&app, &student, request(&["2026-01-06T09:00:00Z"], json!(1))).await;
        app.clock.set(at("2026-01-06T08:00:00Z"));
        drain_racing(&app).await;
        assert_eq!(count(&app, "reminder_24h_student").await, 0);
        assert_eq!(count(&app, "reminder_1h").await, 2);
    }

    async fn preferences_decide_what_is_emailed(app) {
        let (_, student) = tutor_and_student(&app).await;
        app.ok(&student, SET_PREFS, json!({"i": [
            {"type": "SESSION_REMINDER", "channel": "EMAIL", "enabled": false},
            {"type": "SESSION_CONFIRMATION", "channel": "EMAIL", "enabled": false},
        ]})).await;
        book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
        app.clock.set(at("2026-01-07T09:00:00Z"));
        app.jobs.drain().await.unwrap();
        let to_student: Vec<String> = emails(&app).await.into_iter().filter(|e| e.user_id == STUDENT).map(|e| e.template).collect();
        assert!(to_student.is_empty(), "{to_student:?}");
        assert_eq!(count(&app, "reminder_1h").await, 1, "the mentor's");
        assert_eq!(count(&app, "booking_confirmation_mentor").await, 1);
    }
}

/// `SMTP_URL` credentials are used: the server refuses mail before AUTH, and takes it after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_authentication_from_the_url() {
    let Some((app, smtp)) = smtp_app_with(Backend::Sqlite, Some("mailer:s3cret")).await else {
        return;
    };
    let (_, student) = tutor_and_student(&app).await;
    book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
    app.jobs.drain().await.unwrap();
    assert_eq!(smtp.wait_for(2).await.len(), 2);
    assert!(emails(&app)
        .await
        .iter()
        .all(|e| e.status.as_str() == "SENT"));

    // The same kind of server, and a URL without credentials: refused (530), FAILED, not retried.
    let smtp = SmtpServer::start(Some("mailer:s3cret")).unwrap();
    let url = smtp.url();
    drop(app);
    let app = TestApp::spawn_with(Backend::Sqlite, &[("SMTP_URL", url.as_str())])
        .await
        .unwrap();
    let (_, student) = tutor_and_student(&app).await;
    book(&app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
    app.jobs.drain().await.unwrap();
    assert!(smtp.messages().is_empty(), "nothing accepted without AUTH");
    let rows = emails(&app).await;
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(row.status.as_str(), "FAILED");
        assert!(row.error_message.unwrap().contains("530"));
    }
}
