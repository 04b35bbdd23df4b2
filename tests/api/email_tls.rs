//! Email over TLS: STARTTLS and TLS from the first byte against a real server whose certificate comes
//! from a private CA (`SMTP_TLS_CA_FILE`), and what happens when the TLS cannot be trusted or is skipped.

use mentor_scheduler::config::Settings;
use mentor_scheduler::startup::mailer;
use serde_json::json;

use crate::helpers::booking::{book, request, tutor_and_student};
use crate::helpers::mail::emails;
use crate::helpers::smtp::{SmtpServer, TestCertificate};
use crate::helpers::{Backend, TestApp};

/// An app sending through `url`, trusting `ca` when given.
async fn app_sending_to(url: &str, ca: Option<&std::path::Path>) -> TestApp {
    let ca = ca.map(|p| p.to_str().unwrap().to_string());
    let mut settings = vec![("SMTP_URL", url), ("EMAIL_MAX_ATTEMPTS", "3")];
    if let Some(ca) = &ca {
        settings.push(("SMTP_TLS_CA_FILE", ca.as_str()));
    }
    TestApp::spawn_with(Backend::Sqlite, &settings)
        .await
        .unwrap()
}

/// Books one session, which emails the student and the mentor, and runs the due jobs once.
async fn book_and_send(app: &TestApp) {
    let (_, student) = tutor_and_student(app).await;
    book(app, &student, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
    app.jobs.drain().await.unwrap();
}

#[tokio::test]
async fn starttls_and_tls_from_the_first_byte_with_a_private_ca() {
    let certificate = TestCertificate::issue();
    for (mode, scheme) in [
        ("starttls", "smtp://localhost:{}?tls=required"),
        ("implicit", "smtps://localhost:{}"),
    ] {
        let Some(smtp) = SmtpServer::start_tls(mode, &certificate) else {
            return;
        };
        let url = scheme.replace("{}", &smtp.port.to_string());
        let app = app_sending_to(&url, Some(&certificate.ca)).await;
        book_and_send(&app).await;
        let received = smtp.wait_for(2).await;
        assert_eq!(received.len(), 2, "{mode}");
        for message in received {
            let first = String::from_utf8_lossy(&message)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            assert!(
                first.starts_with("X-Test-TLS: TLSv1."),
                "{mode}: not received over TLS: {first}"
            );
        }
        assert!(
            emails(&app)
                .await
                .iter()
                .all(|e| e.status.as_str() == "SENT"),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_retried_and_a_skipped_starttls_is_refused() {
    let certificate = TestCertificate::issue();
    let Some(smtp) = SmtpServer::start_tls("starttls", &certificate) else {
        return;
    };
    // Without the private CA the certificate is not trusted: nothing goes out, and the email waits
    // for another try (a certificate can be fixed on the server's side).
    let url = format!("smtp://localhost:{}?tls=required", smtp.port);
    let app = app_sending_to(&url, None).await;
    book_and_send(&app).await;
    let rows = emails(&app).await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(
            (row.status.as_str(), row.retry_count),
            ("PENDING", 1),
            "{row:?}"
        );
        let error = row.error_message.as_deref().unwrap_or_default();
        assert!(error.to_lowercase().contains("certificate"), "{error}");
    }
    drop(app);

    // A client that does not ask for TLS is refused by a server that demands it: FAILED at once.
    let app = app_sending_to(&format!("smtp://localhost:{}", smtp.port), None).await;
    book_and_send(&app).await;
    for row in emails(&app).await {
        assert_eq!(
            (row.status.as_str(), row.retry_count),
            ("FAILED", 1),
            "{row:?}"
        );
        assert!(row.error_message.unwrap().contains("530"));
    }
    assert!(
        smtp.messages().is_empty(),
        "nothing was accepted without TLS"
    );
}

/// A runtime, because an SMTP transport starts its connection pool when it is built.
#[tokio::test]
async fn a_ca_file_needs_a_url_that_asks_for_tls_and_a_certificate_in_it() {
    let certificate = TestCertificate::issue();
    let not_pem = certificate.key.with_extension("txt");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let missing = certificate.key.with_extension("missing");
    let cases = [
        ("smtp://localhost:2525", &certificate.ca, "asks for no TLS"),
        (
            "smtps://localhost:2525",
            &not_pem,
            "holds no PEM certificate",
        ),
        (
            "smtps://localhost:2525",
            &missing,
            "SMTP_TLS_CA_FILE: reading",
        ),
    ];
    for (url, ca, expected) in cases {
        let error = match mailer(&smtp_settings(url, ca)) {
            Ok(_) => panic!("{url} with {ca:?} must be refused"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains(expected), "{error}");
    }
    // The same file with a URL that asks for TLS is fine.
    let fine = smtp_settings("smtp://localhost:2525?tls=required", &certificate.ca);
    assert!(mailer(&fine).is_ok());
}

/// Settings with only `SMTP_URL` and `SMTP_TLS_CA_FILE` set.
fn smtp_settings(url: &str, ca: &std::path::Path) -> Settings {
    let ca = ca.to_str().unwrap().to_string();
    Settings::from_lookup(|k| match k {
        "SMTP_URL" => Some(url.to_string()),
        "SMTP_TLS_CA_FILE" => Some(ca.clone()),
        _ => None,
    })
    .unwrap()
}
