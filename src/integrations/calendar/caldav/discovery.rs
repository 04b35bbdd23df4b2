//! Finding an account's calendars from a server URL (RFC 6764 §6, RFC 5397, RFC 4791 §6.2.1):
//! `current-user-principal` asked of the URL given, else of `/.well-known/caldav` (its redirect
//! followed by hand); then the principal's `calendar-home-set`; then the home's members that are
//! calendars taking events, each with its `getctag` and `sync-token` when the server keeps them.
//!
//! The password goes only to the server's own host, or (for a calendar home elsewhere, as
//! iCloud's `pNN-caldav.icloud.com`) to an https host in the same parent domain.

use super::xml::{self, Entry, CALDAV, CS, DAV};
use super::{failure, multistatus, send, Account, CalDav};
use crate::integrations::calendar::ProviderError;

/// A calendar collection of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavCalendar {
    pub url: url::Url,
    pub name: String,
    pub ctag: Option<String>,
    /// Present where the server offers RFC 6578 `sync-collection`.
    pub sync_token: Option<String>,
}

/// What discovery found.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub principal: url::Url,
    pub home: url::Url,
    pub calendars: Vec<DavCalendar>,
}

/// Why an account could not be connected, in words the mentor can act on.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the server refused the username or password")]
    BadCredentials,
    #[error("this is not a CalDAV server ({0})")]
    NotCalDav(String),
    #[error("{0}")]
    BadUrl(&'static str),
    #[error("the server could not be reached or failed: {0}")]
    Unreachable(String),
}

impl From<ProviderError> for DiscoveryError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::AccessExpired
            | ProviderError::GrantRevoked { .. }
            | ProviderError::Upstream {
                status: Some(403), ..
            } => DiscoveryError::BadCredentials,
            ProviderError::NotFound => DiscoveryError::NotCalDav("nothing there".into()),
            other => DiscoveryError::Unreachable(other.to_string()),
        }
    }
}

/// Redirects followed from `/.well-known/caldav` at most.
const MAX_REDIRECTS: usize = 3;

const PRINCIPAL: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:current-user-principal/></D:prop></D:propfind>"#;
const HOME: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-home-set/></D:prop></D:propfind>"#;
const CALENDARS: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:resourcetype/><D:displayname/><CS:getctag/><D:sync-token/><C:supported-calendar-component-set/></D:prop></D:propfind>"#;

/// Whether the password may go to `to`, found from `server`: the same scheme, host and port, or
/// an https host sharing `server`'s parent domain (two labels or more, not an address).
pub fn may_follow(server: &url::Url, to: &url::Url) -> bool {
    let same = server.scheme() == to.scheme()
        && server.host_str() == to.host_str()
        && server.port_or_known_default() == to.port_or_known_default();
    if same {
        return true;
    }
    let (Some(url::Host::Domain(a)), Some(url::Host::Domain(b))) = (server.host(), to.host())
    else {
        return false;
    };
    let parent = |host: &str| -> Option<String> {
        let labels: Vec<&str> = host.split('.').collect();
        (labels.len() >= 3).then(|| labels[labels.len() - 2..].join("."))
    };
    to.scheme() == "https"
        && parent(a).is_some_and(|p| b.ends_with(&format!(".{p}")))
        && to.port_or_known_default() == Some(443)
}

impl CalDav {
    /// Finds the account's calendars from `server`.
    pub async fn discover(
        &self,
        server: &str,
        account: &Account,
    ) -> Result<Discovered, DiscoveryError> {
        let server = url::Url::parse(server.trim())
            .map_err(|_| DiscoveryError::BadUrl("the server URL is not a URL"))?;
        if let Some(why) = super::guard::refused(&server, self.allow_local) {
            return Err(DiscoveryError::BadUrl(why));
        }
        let principal = match self.principal_at(&server, &server, account).await {
            Ok(found) => found,
            Err(DiscoveryError::BadCredentials) => return Err(DiscoveryError::BadCredentials),
            Err(first) => {
                let well_known = server
                    .join("/.well-known/caldav")
                    .map_err(|_| DiscoveryError::BadUrl("the server URL is not a URL"))?;
                match self.well_known(&server, well_known, account).await {
                    Ok(found) => found,
                    Err(DiscoveryError::NotCalDav(_)) => return Err(first),
                    Err(other) => return Err(other),
                }
            }
        };
        let home = self.home_of(&server, &principal, account).await?;
        let calendars = self.calendars_in(&server, &home, account).await?;
        Ok(Discovered {
            principal,
            home,
            calendars,
        })
    }

    /// The principal, asked of `/.well-known/caldav` and wherever it redirects (same host).
    async fn well_known(
        &self,
        server: &url::Url,
        mut at: url::Url,
        account: &Account,
    ) -> Result<url::Url, DiscoveryError> {
        for _ in 0..=MAX_REDIRECTS {
            let response = send(self.dav("PROPFIND", &at, account, "0", PRINCIPAL)).await?;
            if response.status().is_redirection() {
                let to = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| at.join(l).ok())
                    .ok_or_else(|| {
                        DiscoveryError::NotCalDav("a redirect without a location".into())
                    })?;
                if !may_follow(server, &to) {
                    return Err(DiscoveryError::NotCalDav(format!(
                        "it sends us to another host ({})",
                        to.host_str().unwrap_or_default()
                    )));
                }
                at = to;
                continue;
            }
            return principal_of(&at, response).await;
        }
        Err(DiscoveryError::NotCalDav("too many redirects".into()))
    }

    async fn principal_at(
        &self,
        server: &url::Url,
        at: &url::Url,
        account: &Account,
    ) -> Result<url::Url, DiscoveryError> {
        let response = send(self.dav("PROPFIND", at, account, "0", PRINCIPAL)).await?;
        let principal = principal_of(at, response).await?;
        if !may_follow(server, &principal) {
            return Err(DiscoveryError::NotCalDav(
                "its principal is on another host".into(),
            ));
        }
        Ok(principal)
    }

    async fn home_of(
        &self,
        server: &url::Url,
        principal: &url::Url,
        account: &Account,
    ) -> Result<url::Url, DiscoveryError> {
        let response = send(self.dav("PROPFIND", principal, account, "0", HOME)).await?;
        let entries = entries_of(response).await?;
        let href = entries
            .iter()
            .find_map(|e| e.href(CALDAV, "calendar-home-set"))
            .ok_or_else(|| DiscoveryError::NotCalDav("no calendar-home-set".into()))?;
        let home = principal
            .join(href)
            .map_err(|_| DiscoveryError::NotCalDav("a calendar home that is not a URL".into()))?;
        if !may_follow(server, &home) {
            return Err(DiscoveryError::NotCalDav(
                "its calendar home is on another host".into(),
            ));
        }
        Ok(home)
    }

    /// The home's members that are calendars taking events.
    pub async fn calendars_in(
        &self,
        server: &url::Url,
        home: &url::Url,
        account: &Account,
    ) -> Result<Vec<DavCalendar>, DiscoveryError> {
        let response = send(self.dav("PROPFIND", home, account, "1", CALENDARS)).await?;
        let entries = entries_of(response).await?;
        let mut calendars = Vec::new();
        for e in entries.iter().filter(|e| e.is(CALDAV, "calendar")) {
            if !takes_events(e) {
                continue;
            }
            let Ok(url) = home.join(&e.href) else {
                continue;
            };
            if !may_follow(server, &url) {
                continue;
            }
            let fallback = url
                .path_segments()
                .and_then(|mut s| s.rfind(|p| !p.is_empty()))
                .unwrap_or("calendar")
                .to_string();
            calendars.push(DavCalendar {
                name: e
                    .text(DAV, "displayname")
                    .map(str::to_string)
                    .unwrap_or(fallback),
                ctag: e.text(CS, "getctag").map(str::to_string),
                sync_token: e.text(DAV, "sync-token").map(str::to_string),
                url,
            });
        }
        Ok(calendars)
    }
}

/// A calendar without a component set takes everything; with one, it must list `VEVENT`.
fn takes_events(e: &Entry) -> bool {
    match e.prop(CALDAV, "supported-calendar-component-set") {
        None => true,
        Some(set) if set.children.is_empty() => true,
        Some(set) => set.children.iter().any(|c| {
            c.namespace == CALDAV
                && c.name == "comp"
                && c.name_attribute.as_deref() == Some("VEVENT")
        }),
    }
}

async fn entries_of(response: reqwest::Response) -> Result<Vec<Entry>, DiscoveryError> {
    let status = response.status();
    if status.is_redirection() || status == reqwest::StatusCode::METHOD_NOT_ALLOWED {
        return Err(DiscoveryError::NotCalDav(format!("it answered {status}")));
    }
    if status != reqwest::StatusCode::MULTI_STATUS {
        return Err(failure(status).into());
    }
    let body = multistatus(response).await?;
    let (entries, _) = xml::parse(&body).map_err(DiscoveryError::NotCalDav)?;
    Ok(entries)
}

async fn principal_of(
    at: &url::Url,
    response: reqwest::Response,
) -> Result<url::Url, DiscoveryError> {
    let entries = entries_of(response).await?;
    let href = entries
        .iter()
        .find_map(|e| e.href(DAV, "current-user-principal"))
        .ok_or_else(|| DiscoveryError::NotCalDav("no current-user-principal".into()))?;
    at.join(href)
        .map_err(|_| DiscoveryError::NotCalDav("a principal that is not a URL".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_goes_to_the_server_or_its_own_domain_only() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let icloud = u("https://caldav.icloud.com/");
        assert!(may_follow(
            &icloud,
            &u("https://caldav.icloud.com/123/principal/")
        ));
        assert!(may_follow(
            &icloud,
            &u("https://p42-caldav.icloud.com/123/calendars/")
        ));
        assert!(!may_follow(&icloud, &u("http://p42-caldav.icloud.com/")));
        assert!(!may_follow(&icloud, &u("https://evil.example/")));
        assert!(!may_follow(&icloud, &u("https://icloud.com.evil.example/")));
        let local = u("http://127.0.0.1:5232/");
        assert!(may_follow(&local, &u("http://127.0.0.1:5232/alice/")));
        assert!(!may_follow(&local, &u("http://127.0.0.1:8080/alice/")));
        assert!(!may_follow(&local, &u("http://127.0.0.2:5232/alice/")));
        let short = u("https://example.com/");
        assert!(
            !may_follow(&short, &u("https://other.example.com/")),
            "a two-label host has no parent to share"
        );
    }
}
