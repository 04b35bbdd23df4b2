//! Google: OAuth 2.0 with PKCE ([`oauth`]) and the Calendar API ([`api`]), every endpoint from the
//! settings (tests point them at a fake). Google's error bodies and statuses become the typed
//! [`ProviderError`](super::ProviderError) here, and nowhere else.

pub mod api;
pub mod channels;
pub mod events;
pub mod oauth;

use std::time::Duration;

/// One HTTP client for every call to Google: no redirects followed (OAuth endpoints must not be
/// redirected elsewhere), bounded time per call.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client with rustls and no custom certificates always builds")
}

/// Everything the service calls at Google, built from its settings.
pub struct Google {
    pub oauth: oauth::GoogleOAuth,
    pub api: api::GoogleCalendarApi,
    /// Where push channels post (`{PUBLIC_BASE_URL}/calendar/webhook`).
    pub webhook_url: String,
}

impl Google {
    pub fn new(settings: &crate::config::GoogleSettings) -> anyhow::Result<Self> {
        let http = http_client();
        Ok(Google {
            oauth: oauth::GoogleOAuth::new(settings, http.clone())?,
            api: api::GoogleCalendarApi::new(&settings.calendar_api_url, http),
            webhook_url: settings.webhook_url.clone(),
        })
    }
}
