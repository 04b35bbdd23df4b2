//! Reading one variable: a value that parses, with a default, or an error naming the variable.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;

/// The variables, with blank values taken as unset.
pub struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Vars<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Vars { lookup }
    }

    /// The trimmed value, if set and not blank.
    pub fn get(&self, key: &str) -> Option<String> {
        (self.lookup)(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_string())
    }

    pub fn parse<T: FromStr>(&self, key: &str, default: &str) -> anyhow::Result<T>
    where
        T::Err: fmt::Display,
    {
        let raw = self.or(key, default);
        raw.parse::<T>()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{key}={raw:?} is not valid"))
    }

    /// A whole number of seconds.
    pub fn seconds(&self, key: &str, default: &str) -> anyhow::Result<Duration> {
        Ok(Duration::from_secs(self.parse(key, default)?))
    }

    /// A `#rrggbb` colour (it goes into inline CSS, so nothing else is let through).
    pub fn color(&self, key: &str, default: &str) -> anyhow::Result<String> {
        let value = self.or(key, default);
        let ok = value.len() == 7
            && value.starts_with('#')
            && value[1..].chars().all(|c| c.is_ascii_hexdigit());
        anyhow::ensure!(ok, "{key}={value:?} is not valid: use #rrggbb");
        Ok(value.to_ascii_lowercase())
    }
}

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it in `Origin`.
pub fn origin(url: &str, key: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("{key}: {url:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some(),
        "{key}: {url:?} is not an http(s) origin"
    );
    Ok(parsed.origin().ascii_serialization())
}
