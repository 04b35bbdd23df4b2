//! The OAuth 2.0 authorization-code flow with PKCE that Google and Microsoft share, with the `oauth2`
//! crate: the consent URL (S256 challenge, the configured scopes, our `state`, the provider's own
//! parameters such as Google's `access_type=offline`), the code exchange and the refresh (a rotated
//! refresh token comes back in the [`Grant`]). `invalid_grant` (revoked, expired, a reused code) is
//! [`ProviderError::GrantRevoked`].

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
};

use crate::config::Secret;
use crate::integrations::calendar::api::{Consent, Grant};
use crate::integrations::calendar::ProviderError;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A provider's OAuth client: who we are there, its endpoints, what we ask for.
pub struct OAuthEndpoints<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
    pub auth_url: &'a str,
    pub token_url: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    /// Added to the consent URL (Google: `access_type=offline`, `prompt=consent`).
    pub consent_params: &'a [(&'static str, &'static str)],
    /// Where a token is given back; `None` where the provider has no such endpoint.
    pub revoke_url: Option<&'a str>,
}

pub struct OAuthClient {
    client: Client,
    scopes: Vec<String>,
    consent_params: Vec<(&'static str, &'static str)>,
    revoke_url: Option<String>,
    http: reqwest::Client,
}

impl OAuthClient {
    pub fn new(endpoints: &OAuthEndpoints<'_>, http: reqwest::Client) -> anyhow::Result<Self> {
        let client = BasicClient::new(ClientId::new(endpoints.client_id.to_string()))
            .set_client_secret(ClientSecret::new(
                endpoints.client_secret.expose().to_string(),
            ))
            .set_auth_uri(AuthUrl::new(endpoints.auth_url.to_string())?)
            .set_token_uri(TokenUrl::new(endpoints.token_url.to_string())?)
            .set_redirect_uri(RedirectUrl::new(endpoints.redirect_uri.to_string())?)
            // Google and Microsoft document the client's credentials as form fields of the token
            // request.
            .set_auth_type(AuthType::RequestBody);
        Ok(OAuthClient {
            client,
            scopes: endpoints.scopes.to_vec(),
            consent_params: endpoints.consent_params.to_vec(),
            revoke_url: endpoints.revoke_url.map(str::to_string),
            http,
        })
    }

    /// Where to send the mentor: the provider's consent page for our scopes, bound to `state`.
    pub fn consent(&self, state: &str) -> Consent {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        for (name, value) in &self.consent_params {
            request = request.add_extra_param(*name, *value);
        }
        let (url, _) = request.url();
        Consent {
            url: url.to_string(),
            verifier: Secret::new(verifier.secret().clone()),
        }
    }

    /// Trades the code the provider sent back (with the verifier of its consent URL) for tokens.
    pub async fn exchange(&self, code: &str, verifier: &Secret) -> Result<Grant, ProviderError> {
        let answer = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_string()))
            .request_async(&self.http)
            .await;
        grant_of(answer)
    }

    /// A fresh access token from the refresh token.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, ProviderError> {
        let token = RefreshToken::new(refresh_token.expose().to_string());
        let answer = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await;
        grant_of(answer)
    }
}

impl OAuthClient {
    /// Revokes the whole grant (`POST {revoke}?token=...`, RFC 7009 as Google takes it); a token
    /// the provider no longer knows (400 `invalid_token`) is already revoked, which is what was
    /// wanted. Without a revoke endpoint there is nothing to do.
    pub async fn revoke(&self, token: &Secret) -> Result<(), ProviderError> {
        let Some(revoke_url) = &self.revoke_url else {
            return Ok(());
        };
        let answer = self
            .http
            .post(revoke_url)
            .query(&[("token", token.expose())])
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            // The URL holds the token: never in an error (nor, through it, in a log).
            .map_err(|e| ProviderError::Upstream {
                status: None,
                message: format!("revoke endpoint unreachable: {}", e.without_url()),
            })?;
        match answer.status().as_u16() {
            200..=299 | 400 => Ok(()),
            code => Err(ProviderError::Upstream {
                status: Some(code),
                message: "revoke refused".into(),
            }),
        }
    }
}

type TokenError = RequestTokenError<
    oauth2::HttpClientError<reqwest::Error>,
    oauth2::StandardErrorResponse<BasicErrorResponseType>,
>;

fn grant_of(answer: Result<BasicTokenResponse, TokenError>) -> Result<Grant, ProviderError> {
    match answer {
        Ok(token) => Ok(Grant {
            access_token: Secret::new(token.access_token().secret().clone()),
            refresh_token: token
                .refresh_token()
                .map(|r| Secret::new(r.secret().clone())),
            expires_in: token.expires_in(),
            scopes: token
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        }),
        Err(RequestTokenError::ServerResponse(response)) => Err(match response.error() {
            BasicErrorResponseType::InvalidGrant => ProviderError::GrantRevoked {
                reason: response
                    .error_description()
                    .cloned()
                    .unwrap_or_else(|| "invalid_grant".to_string()),
            },
            other => ProviderError::Upstream {
                status: None,
                message: format!("token endpoint refused: {}", other.as_ref()),
            },
        }),
        Err(RequestTokenError::Request(e)) => Err(ProviderError::Upstream {
            status: None,
            message: format!("token endpoint unreachable: {e}"),
        }),
        Err(RequestTokenError::Parse(_, body)) => Err(ProviderError::Upstream {
            status: None,
            message: format!(
                "token endpoint answered something unreadable ({} bytes)",
                body.len()
            ),
        }),
        Err(RequestTokenError::Other(message)) => Err(ProviderError::Upstream {
            status: None,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consent_url_asks_for_offline_access_with_pkce_and_our_state() {
        let secret = Secret::new("shh");
        let scopes = [
            "https://www.googleapis.com/auth/calendar".to_string(),
            "https://www.googleapis.com/auth/calendar.events".to_string(),
        ];
        let endpoints = OAuthEndpoints {
            client_id: "client-1.apps",
            client_secret: &secret,
            auth_url: "https://accounts.example.com/o/oauth2/v2/auth",
            token_url: "https://oauth2.example.com/token",
            redirect_uri: "https://api.example.com/calendar/oauth/google/callback",
            scopes: &scopes,
            consent_params: &[("access_type", "offline"), ("prompt", "consent")],
            revoke_url: None,
        };
        let oauth = OAuthClient::new(&endpoints, reqwest::Client::new()).unwrap();
        let consent = oauth.consent("state-123");
        let url = url::Url::parse(&consent.url).unwrap();
        assert_eq!(url.host_str(), Some("accounts.example.com"));
        let params: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(params["client_id"], "client-1.apps");
        assert_eq!(params["response_type"], "code");
        assert_eq!(params["state"], "state-123");
        assert_eq!(params["access_type"], "offline");
        assert_eq!(params["prompt"], "consent");
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(
            params["redirect_uri"],
            "https://api.example.com/calendar/oauth/google/callback"
        );
        assert_eq!(
            params["scope"],
            "https://www.googleapis.com/auth/calendar https://www.googleapis.com/auth/calendar.events"
        );
        // The challenge is the S256 of the verifier we keep (RFC 7636).
        use base64::Engine as _;
        use sha2::Digest as _;
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(consent.verifier.expose().as_bytes()));
        assert_eq!(params["code_challenge"], expected);
        let verifier = consent.verifier.expose();
        assert!((43..=128).contains(&verifier.len()));
        assert!(!consent.url.contains(verifier));
    }
}
