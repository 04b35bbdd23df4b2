//! A worker process killed in the middle of a job: the job runs again once its lease lapses
//! (`JOB_LEASE_SECONDS`), and never while its worker lives and renews the lease, even with another
//! worker waiting for work on the same database. Real processes of the server binary, PostgreSQL,
//! and real SMTP servers: one that takes connections and never answers (where the first worker's
//! email hangs), and the tests' SMTP server (where the second worker sends it).

use std::process::Stdio;
use std::time::{Duration, Instant};

use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::{Principal, Role};
use mentor_scheduler::config::Secret;
use mentor_scheduler::entity::job;
use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::smtp::SmtpServer;
use crate::helpers::{free_port, fresh_postgres_database, say_skipped};

const SECRET: &str = "worker-crash-secret-0123456789abcdef";
const PATIENCE: Duration = Duration::from_secs(60);
const LEASE_SECONDS: u64 = 3;

fn token(sub: &str, role: Role) -> String {
    let p = Principal {
        user_id: sub.into(),
        role,
        email: format!("{sub}@crash.example"),
        name: sub.into(),
        time_zone: "UTC".parse().unwrap(),
        phone: None,
    };
    JwtKeys::new(&Secret::new(SECRET), None, None)
        .mint(&p, chrono::Duration::hours(1))
        .unwrap()
}

/// The server binary on `port`, one job worker, sending email to `smtp`.
async fn worker(database_url: &str, port: u16, smtp: &str, data_dir: &std::path::Path) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_mentor-scheduler"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", SECRET)
        .env("JOB_WORKERS", "1")
        .env("JOB_LEASE_SECONDS", LEASE_SECONDS.to_string())
        .env("SMTP_URL", smtp)
        .env("CALDAV_ENABLED", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < PATIENCE,
            "the worker on {port} became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

async fn email_jobs(db: &DatabaseConnection) -> Vec<job::Model> {
    job::Entity::find()
        .filter(job::Column::Kind.eq("email.send"))
        .all(db)
        .await
        .unwrap()
}

/// Waits (up to [`PATIENCE`]) until `condition` holds of the email jobs.
async fn until(
    db: &DatabaseConnection,
    what: &str,
    condition: impl Fn(&[job::Model]) -> bool,
) -> Vec<job::Model> {
    let started = Instant::now();
    loop {
        let jobs = email_jobs(db).await;
        if condition(&jobs) {
            return jobs;
        }
        assert!(started.elapsed() < PATIENCE, "waited for {what}: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_runs_again_after_its_lease_and_a_live_ones_never_does() {
    let Some(database_url) = fresh_postgres_database().await else {
        say_skipped("worker_crash::a_killed_workers_job_runs_again_after_its_lease_and_a_live_ones_never_does");
        return;
    };
    let Some(smtp) = SmtpServer::start(None) else {
        return;
    };
    // An SMTP server that takes connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let first_port = free_port();
    let mut first = worker(
        &database_url,
        first_port,
        &format!("smtp://127.0.0.1:{silent_port}"),
        &dir.path().join("first"),
    )
    .await;

    // One email (a support ticket is sent at once), claimed by the only worker: it hangs there.
    let http = reqwest::Client::new();
    let student = "clcrashstudent0000000001";
    let graphql = format!("http://127.0.0.1:{first_port}/graphql");
    let me = http
        .post(&graphql)
        .bearer_auth(token(student, Role::Student))
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    assert!(me.status().is_success());
    let sent = http
        .post(&graphql)
        .bearer_auth(token("clcrashadmin000000000001", Role::Admin))
        .json(&json!({
            "query": "mutation($i: SendNotificationInput!) { sendNotification(input: $i) { delivered } }",
            "variables": { "i": { "userIds": [student], "type": "SUPPORT_TICKET", "title": "Ticket #7", "body": "We answered.", "link": "/support/7" } }
        }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(sent.get("errors").is_none(), "{sent}");
    let db = Database::connect(&database_url).await.unwrap();
    let claimed = until(&db, "the first worker's claim", |jobs| {
        jobs.len() == 1 && jobs[0].state == "running" && jobs[0].attempts == 1
    })
    .await;
    let first_lease = claimed[0].locked_until.unwrap();

    // A second worker joins, with a working SMTP server. While the first lives, it renews its
    // lease, and the job is never claimed again, across several lease lengths.
    let second_port = free_port();
    let _second = worker(
        &database_url,
        second_port,
        &smtp.url(),
        &dir.path().join("second"),
    )
    .await;
    let renewed = until(&db, "two lease lengths of renewals", |jobs| {
        jobs[0]
            .locked_until
            .is_some_and(|l| l > first_lease + chrono::Duration::seconds(2 * LEASE_SECONDS as i64))
    })
    .await;
    assert_eq!(
        (renewed[0].state.as_str(), renewed[0].attempts),
        ("running", 1),
        "a live worker's job is not run twice"
    );
    assert!(smtp.messages().is_empty());

    // The first worker dies mid-job: once its lease lapses, the second runs the job, and the
    // email is sent once.
    first.kill().await.unwrap();
    let done = until(&db, "the job run again", |jobs| jobs[0].state == "done").await;
    assert_eq!(done[0].attempts, 2, "claimed again once");
    assert_eq!(smtp.wait_for(1).await.len(), 1);
}
