//! Two server processes sharing PostgreSQL and a private Redis: a subscriber on one node hears what a
//! mutation on the other wrote, and nothing is lost when Redis restarts in the middle; slots cached
//! on one node follow changes made through the other, and a push from Google landing on one node.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use chrono::Duration as Span;
use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::{Principal, Role};
use mentor_scheduler::config::Secret;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::helpers::notify::SEND;
use crate::helpers::notify::{next_for, quiet, subscribe, COUNT, RECEIVED};
use crate::helpers::socket::signed_in_at;
use crate::helpers::{free_port, fresh_postgres_database};

const SECRET: &str = "two-nodes-test-secret-0123456789abcdef";

async fn wait_for_port(port: u16) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A private `redis-server` on `port`, killed when dropped.
struct Redis(Child);

impl Redis {
    async fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (CI installs it)");
        assert!(wait_for_port(port).await, "redis-server listens on {port}");
        Redis(child)
    }

    async fn stop(mut self) {
        self.0.kill().await.ok();
        self.0.wait().await.ok();
    }
}

/// One node: the real binary, `serve`, killed when dropped.
struct Node {
    addr: String,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(database_url: &str, redis_port: u16) -> Node {
        Self::start_with(database_url, redis_port, free_port(), &[]).await
    }

    /// A node on `port` with `extra` settings.
    async fn start_with(
        database_url: &str,
        redis_port: u16,
        port: u16,
        extra: &[(String, String)],
    ) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mentor-scheduler"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("JWT_SECRET", SECRET)
            .env("DATA_DIR", dir.path())
            .env("RUST_LOG", "info,sqlx=warn,hyper=warn,tower_http=warn")
            // Far longer than any wait below: only the bus can make another node's change seen.
            .env("SLOT_CACHE_SECONDS", "600")
            .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server binary runs");
        let addr = format!("127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let ready = client.get(format!("http://{addr}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Node {
                    addr,
                    _child: child,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node on {addr} did not become ready");
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body: Value = reqwest::Client::new()
            .post(format!("http://{}/graphql", self.addr))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }
}

fn token(sub: &str, role: Role) -> String {
    let keys = JwtKeys::new(&Secret::new(SECRET), None, None);
    keys.mint(
        &Principal {
            user_id: sub.into(),
            role,
            email: format!("{sub}@example.com"),
            name: sub.into(),
            time_zone: "UTC".parse().unwrap(),
            phone: None,
        },
        Span::hours(1),
    )
    .unwrap()
}

#[tokio::test]
async fn a_subscriber_on_one_node_hears_a_mutation_on_the_other_even_across_a_redis_restart() {
    let Some(database_url) = fresh_postgres_database().await else {
        crate::helpers::say_skipped("two_nodes");
        return;
    };
    let redis_port = free_port();
    let redis = Redis::start(redis_port).await;
    let a = Node::start(&database_url, redis_port).await;
    let b = Node::start(&database_url, redis_port).await;
    let student = token("cktwonodestudent00000001", Role::Student);
    let admin = token("cktwonodeadmin0000000001", Role::Admin);
    a.gql(&student, "{ me { id } }", json!({})).await;
    let send = |title: &str| {
        let (a, admin) = (&a, admin.clone());
        let variables = json!({"i": {"userIds": ["cktwonodestudent00000001"], "type": "SYSTEM_UPDATE", "title": title, "body": ""}});
        async move { a.gql(&admin, SEND, variables).await }
    };

    let mut socket = signed_in_at(&b.addr, &student).await;
    let mut stash = HashMap::new();
    subscribe(&mut socket, "n", RECEIVED, json!({})).await;
    subscribe(&mut socket, "c", COUNT, json!({})).await;
    assert_eq!(
        next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"],
        0
    );

    send("from node A").await;
    let got = next_for(&mut socket, "n", &mut stash).await;
    assert_eq!(got["notificationReceived"]["title"], "from node A");
    assert_eq!(
        next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"],
        1
    );

    // Redis goes away: node A still answers, the notification is stored, and node B's subscriber
    // gets it once Redis is back and the bus has reconnected.
    redis.stop().await;
    let sent = send("while Redis was down").await;
    assert_eq!(sent["sendNotification"]["delivered"], 1);
    let _redis = Redis::start(redis_port).await;
    let got = next_for(&mut socket, "n", &mut stash).await;
    assert_eq!(got["notificationReceived"]["title"], "while Redis was down");
    send("after the restart").await;
    let got = next_for(&mut socket, "n", &mut stash).await;
    assert_eq!(got["notificationReceived"]["title"], "after the restart");
    let mut count = next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"].clone();
    while count != 3 {
        count = next_for(&mut socket, "c", &mut stash).await["unreadNotificationCount"].clone();
    }
    quiet(&mut socket).await;
}

const SLOTS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!) { availableSlots(mentorId: $m, from: $from, to: $to, durationMinutes: 60) { start } }";

/// The slot starts node `at` offers now.
async fn slot_count(at: &Node, token: &str, variables: &Value) -> usize {
    at.gql(token, SLOTS, variables.clone()).await["availableSlots"]
        .as_array()
        .unwrap()
        .len()
}

/// Polls node `at` until it offers `want` slots (for at most 5 s, far less than the cache's expiry).
async fn until_slots(at: &Node, token: &str, variables: &Value, want: usize) {
    let mut got = 0;
    for _ in 0..100 {
        got = slot_count(at, token, variables).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node {} offers {got} slots, expected {want}", at.addr);
}

#[tokio::test]
async fn a_change_on_one_node_drops_the_slots_the_other_node_cached() {
    let Some(database_url) = fresh_postgres_database().await else {
        crate::helpers::say_skipped("two_nodes");
        return;
    };
    let redis_port = free_port();
    let _redis = Redis::start(redis_port).await;
    let a = Node::start(&database_url, redis_port).await;
    let b = Node::start(&database_url, redis_port).await;
    let mentor_id = "cktwonodementor000000001";
    let mentor = token(mentor_id, Role::Mentor);
    let student = token("cktwonodestudent00000002", Role::Student);
    let weekly = |end: &str| {
        let blocks = crate::helpers::schedule::every_day("09:00", end);
        json!({"i": {"timeZone": "UTC", "blocks": blocks, "bufferMinutes": 0, "minimumNoticeMinutes": 0, "horizonDays": 30}})
    };
    const SCHEDULE: &str =
        "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { mentorId } }";
    a.gql(&mentor, SCHEDULE, weekly("10:00")).await;
    let day = (chrono::Utc::now() + Span::days(2)).date_naive();
    let variables = json!({"m": mentor_id, "from": format!("{day}T00:00:00Z"), "to": format!("{day}T23:59:00Z")});
    // Node B reads, and keeps, one slot that day.
    assert_eq!(slot_count(&b, &student, &variables).await, 1);

    a.gql(&mentor, SCHEDULE, weekly("12:00")).await;
    until_slots(&b, &student, &variables, 3).await;

    let booked = a
        .gql(
            &student,
            "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id } }",
            json!({"i": {"mentorId": mentor_id, "frequency": "ONCE_WEEKLY", "slots": [format!("{day}T10:00:00Z")], "weeks": 1, "subject": "Two nodes"}}),
        )
        .await;
    until_slots(&b, &student, &variables, 2).await;
    a.gql(
        &student,
        "mutation($id: ID!) { cancelBooking(id: $id) { id } }",
        json!({"id": booked["createBooking"]["id"]}),
    )
    .await;
    until_slots(&b, &student, &variables, 3).await;
}

/// A push from Google landing on node A reaches node B's slots: A checks it and queues the read, a
/// worker (on either node) reads the calendar, and B drops the slots it had cached.
#[tokio::test]
async fn a_push_landing_on_one_node_updates_the_slots_another_node_serves() {
    use crate::helpers::fake_google::{timed, FakeGoogle, ACCOUNT};
    let Some(database_url) = fresh_postgres_database().await else {
        crate::helpers::say_skipped("two_nodes");
        return;
    };
    let redis_port = free_port();
    let _redis = Redis::start(redis_port).await;
    let google = FakeGoogle::start().await;
    google.accept_http_pushes();
    // Both nodes open the same sealed tokens.
    let key = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string();
    let node = |port: u16| {
        let mut settings = google.settings();
        settings.push(("CALENDAR_TOKEN_KEY".into(), key.clone()));
        settings.push(("PUBLIC_BASE_URL".into(), format!("http://127.0.0.1:{port}")));
        settings
    };
    let (port_a, port_b) = (free_port(), free_port());
    let a = Node::start_with(&database_url, redis_port, port_a, &node(port_a)).await;
    let b = Node::start_with(&database_url, redis_port, port_b, &node(port_b)).await;
    let mentor_id = "cktwonodementor000000002";
    let mentor = token(mentor_id, Role::Mentor);
    let student = token("cktwonodestudent00000003", Role::Student);
    let schedule = json!({"i": {"timeZone": "UTC", "blocks": crate::helpers::schedule::every_day("09:00", "12:00"),
        "bufferMinutes": 0, "minimumNoticeMinutes": 0, "horizonDays": 30}});
    a.gql(
        &mentor,
        "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { mentorId } }",
        schedule,
    )
    .await;
    let day = (chrono::Utc::now() + Span::days(2)).date_naive();
    let variables = json!({"m": mentor_id, "from": format!("{day}T00:00:00Z"), "to": format!("{day}T23:59:00Z")});

    // The mentor connects through node A; its workers (or B's) read the calendar and open a channel.
    let start = a
        .gql(
            &mentor,
            "mutation { connectCalendar(provider: GOOGLE) { authorizationUrl state } }",
            json!({}),
        )
        .await;
    let consent = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(
            start["connectCalendar"]["authorizationUrl"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    a.gql(&mentor, "mutation($c: String!, $s: String!) { completeCalendarConnection(provider: GOOGLE, code: $c, state: $s) { connected } }",
        json!({"c": code, "s": start["connectCalendar"]["state"]})).await;
    let mut opened = false;
    for _ in 0..100 {
        // Live once Google's answer to the watch is stored (the handshake comes before it).
        let status = a
            .gql(&mentor, "{ calendarStatus { pushActive } }", json!({}))
            .await;
        if status["calendarStatus"]["pushActive"] == true {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(opened, "a channel was opened on the primary calendar");
    assert_eq!(google.handshakes(), [200]);
    // Node B serves (and caches) three slots that day.
    until_slots(&b, &student, &variables, 3).await;

    // The mentor adds a meeting on Google: pushed to A, read by a worker, and B follows.
    let answers = google
        .put_event_and_push(
            ACCOUNT,
            timed(
                "two-nodes",
                &format!("{day}T09:00:00Z"),
                &format!("{day}T10:00:00Z"),
            ),
        )
        .await;
    assert_eq!(answers, [200]);
    until_slots(&b, &student, &variables, 2).await;
    // And a push that is not Google's changes nothing anywhere.
    let forged = reqwest::Client::new()
        .post(format!("http://{}/calendar/webhook", b.addr))
        .header("X-Goog-Channel-ID", google.open_channels()[0].1.as_str())
        .header("X-Goog-Resource-ID", "res-forged")
        .header("X-Goog-Resource-State", "exists")
        .header("X-Goog-Channel-Token", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
}
