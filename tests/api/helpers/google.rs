//! The application wired to the fake Google ([`super::fake_google`]): an app per backend with its
//! `PUBLIC_BASE_URL` its own address (so the fake's pushes reach it), a mentor connected through the
//! dashboard's mutation, and the busy time read from Google.

use serde_json::json;

use super::fake_google::FakeGoogle;

/// The application on `backend` with Google pointed at a fresh fake, or `None` without PostgreSQL.
/// The app's `PUBLIC_BASE_URL` is its own address, so the fake's pushes reach its webhook.
pub async fn app_with_google(backend: super::Backend) -> Option<(super::TestApp, FakeGoogle)> {
    app_with_google_and(backend, &[]).await
}

/// [`app_with_google`] with `extra` settings.
pub async fn app_with_google_and(
    backend: super::Backend,
    extra: &[(&str, &str)],
) -> Option<(super::TestApp, FakeGoogle)> {
    let google = FakeGoogle::start().await;
    let mut settings = google.settings();
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = super::spawn_reachable(backend, settings).await?;
    Some((app, google))
}

/// Runs `$body` with the app and its fake Google, once per backend (as `on_both_backends!`).
#[macro_export]
macro_rules! with_fake_google {
    ($(async fn $name:ident($app:ident, $google:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(
                $app: $crate::helpers::TestApp,
                $google: $crate::helpers::fake_google::FakeGoogle,
            ) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, google) = $crate::helpers::google::app_with_google(
                    $crate::helpers::Backend::Sqlite,
                )
                .await
                .expect("sqlite always runs");
                run(app, google).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::helpers::google::app_with_google($crate::helpers::Backend::Postgres).await {
                    Some((app, google)) => run(app, google).await,
                    None => $crate::helpers::say_skipped(concat!(module_path!(), "::postgres")),
                }
            }
        }
    )*};
}

/// `mentor`'s busy blocks read from Google, by start.
pub async fn busy_from_google(
    app: &super::TestApp,
    mentor: &str,
) -> Vec<mentor_scheduler::entity::busy_block::Model> {
    use mentor_scheduler::entity::busy_block;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    busy_block::Entity::find()
        .filter(busy_block::Column::MentorId.eq(mentor))
        .filter(busy_block::Column::Source.eq("google"))
        .order_by_asc(busy_block::Column::StartAt)
        .all(app.services.db.conn())
        .await
        .unwrap()
}

/// Connects the signed-in mentor's Google account (the fake consents) through the dashboard's
/// mutation.
pub async fn connect(app: &super::TestApp, mentor: &str) {
    let start = app
        .ok(
            mentor,
            "mutation { connectCalendar(provider: GOOGLE) { authorizationUrl state } }",
            json!({}),
        )
        .await["connectCalendar"]
        .clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = client
        .get(start["authorizationUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
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
        "mutation($c: String!, $s: String!) { completeCalendarConnection(provider: GOOGLE, code: $c, state: $s) { connected } }",
        json!({ "c": code, "s": start["state"] }),
    )
    .await;
}
