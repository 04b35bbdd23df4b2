//! The platform's look in every email, from configuration.

use crate::config::Settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub name: String,
    /// `#rrggbb`, checked when the settings were read.
    pub primary_color: String,
    pub accent_color: String,
    pub logo_url: Option<String>,
    pub footer: String,
    pub support_email: String,
    /// Links to the dashboard are made absolute with this.
    pub dashboard_url: String,
}

impl Brand {
    pub fn from_settings(s: &Settings) -> Self {
        Brand {
            name: s.email.brand.name.clone(),
            primary_color: s.email.brand.primary_color.clone(),
            accent_color: s.email.brand.accent_color.clone(),
            logo_url: s.email.brand.logo_url.clone(),
            footer: s.email.brand.footer.clone(),
            support_email: s.email.brand.support_email.clone(),
            dashboard_url: s.server.dashboard_url.clone(),
        }
    }

    /// `path` (`/bookings/1`) under the dashboard; absolute URLs pass through.
    pub fn link(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/{}", self.dashboard_url, path.trim_start_matches('/'))
        }
    }
}
