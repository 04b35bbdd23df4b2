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
            name: s.brand_name.clone(),
            primary_color: s.brand_primary_color.clone(),
            accent_color: s.brand_accent_color.clone(),
            logo_url: s.brand_logo_url.clone(),
            footer: s.brand_footer.clone(),
            support_email: s.brand_support_email.clone(),
            dashboard_url: s.dashboard_url.clone(),
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
