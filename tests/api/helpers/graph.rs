//! The application wired to the fake Microsoft identity platform and Graph ([`super::fake_graph`]):
//! an app per backend whose `PUBLIC_BASE_URL` is its own address (so Graph's handshakes and
//! notifications reach it), the fake on the app's clock, and a mentor connected through the
//! dashboard's mutation.

use serde_json::json;

use super::fake_graph::FakeGraph;

/// The application on `backend` with Microsoft pointed at a fresh fake, or `None` without
/// PostgreSQL.
pub async fn app_with_graph(backend: super::Backend) -> Option<(super::TestApp, FakeGraph)> {
    let graph = FakeGraph::start().await;
    let app = super::spawn_reachable(backend, graph.settings()).await?;
    graph.use_clock(app.clock.clone());
    Some((app, graph))
}

/// Runs `$body` with the app and its fake Microsoft, once per backend (as `on_both_backends!`).
#[macro_export]
macro_rules! with_fake_graph {
    ($(async fn $name:ident($app:ident, $graph:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(
                $app: $crate::helpers::TestApp,
                $graph: $crate::helpers::fake_graph::FakeGraph,
            ) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, graph) = $crate::helpers::graph::app_with_graph(
                    $crate::helpers::Backend::Sqlite,
                )
                .await
                .expect("sqlite always runs");
                run(app, graph).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::helpers::graph::app_with_graph($crate::helpers::Backend::Postgres).await {
                    Some((app, graph)) => run(app, graph).await,
                    None => $crate::helpers::say_skipped(concat!(module_path!(), "::postgres")),
                }
            }
        }
    )*};
}

/// Connects the signed-in mentor's Outlook account (the fake consents) through the dashboard's
/// mutations; returns the consent URL's query.
pub async fn connect_outlook(
    app: &super::TestApp,
    mentor: &str,
) -> std::collections::HashMap<String, String> {
    let start = app
        .ok(
            mentor,
            "mutation { connectCalendar(provider: OUTLOOK) { authorizationUrl state } }",
            json!({}),
        )
        .await["connectCalendar"]
        .clone();
    let url = start["authorizationUrl"].as_str().unwrap();
    let asked: std::collections::HashMap<String, String> = url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = client.get(url).send().await.unwrap();
    let location = consent.headers()["location"].to_str().unwrap().to_string();
    let code: String = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    app.ok(
        mentor,
        "mutation($c: String!, $s: String!) { completeCalendarConnection(provider: OUTLOOK, code: $c, state: $s) { connected } }",
        json!({ "c": code, "s": start["state"] }),
    )
    .await;
    asked
}

/// The application on `backend` with both Google and Microsoft pointed at fresh fakes, or `None`
/// without PostgreSQL.
pub async fn app_with_google_and_graph(
    backend: super::Backend,
) -> Option<(super::TestApp, super::fake_google::FakeGoogle, FakeGraph)> {
    let google = super::fake_google::FakeGoogle::start().await;
    let graph = FakeGraph::start().await;
    let mut settings = google.settings();
    settings.extend(graph.settings());
    let app = super::spawn_reachable(backend, settings).await?;
    graph.use_clock(app.clock.clone());
    Some((app, google, graph))
}
