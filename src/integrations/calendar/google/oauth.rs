//! Google's OAuth 2.0 web-server flow, with the `oauth2` crate: the consent URL (PKCE S256,
//! `access_type=offline`, `prompt=consent`, the configured scopes, our `state`), the code exchange and
//! the refresh. `invalid_grant` (revoked, expired, a reused code) is [`ProviderError::GrantRevoked`].

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
};

use crate::config::{GoogleSettings, Secret};
use crate::integrations::calendar::api::{Consent, Grant};
use crate::integrations::calendar::ProviderError;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct GoogleOAuth {
    client: Client,
    scopes: Vec<String>,
    revoke_url: String,
    http: reqwest::Client,
}

impl GoogleOAuth {
    pub fn new(settings: &GoogleSettings, http: reqwest::Client) -> anyhow::Result<Self> {
        let client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose().to_string(),
            ))
            .set_auth_uri(AuthUrl::new(settings.auth_url.clone())?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone())?)
            .set_redirect_uri(RedirectUrl::new(settings.redirect_uri.clone())?)
            // Google documents the client's credentials as form fields of the token request.
            .set_auth_type(AuthType::RequestBody);
        Ok(GoogleOAuth {
            client,
            scopes: settings.scopes.clone(),
            revoke_url: settings.revoke_url.clone(),
            http,
        })
    }

    /// Where to send the mentor: Google's consent page for our scopes, bound to `state`.
    pub fn consent(&self, state: &str) -> Consent {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let (url, _) = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .url();
        Consent {
            url: url.to_string(),
            verifier: Secret::new(verifier.secret().clone()),
        }
    }

    /// Trades the code Google sent back (with the verifier of its consent URL) for tokens.
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

impl GoogleOAuth {
    /// Revokes the whole grant (`POST {revoke}?token=...`); a token Google no longer knows (400
    /// `invalid_token`) is already revoked, which is what was wanted.
    pub async fn revoke(&self, token: &Secret) -> Result<(), ProviderError> {
        let answer = self
            .http
            .post(&self.revoke_url)
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

    fn settings() -> GoogleSettings {
        GoogleSettings {
            client_id: "client-1.apps".into(),
            client_secret: Secret::new("shh"),
            redirect_uri: "https://api.example.com/calendar/oauth/google/callback".into(),
            scopes: vec![
                "https://www.googleapis.com/auth/calendar".into(),
                "https://www.googleapis.com/auth/calendar.events".into(),
            ],
            auth_url: "https://accounts.example.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.example.com/token".into(),
            revoke_url: "https://oauth2.example.com/revoke".into(),
            calendar_api_url: "https://www.example.com/calendar/v3".into(),
            webhook_url: "https://api.example.com/calendar/webhook".into(),
        }
    }

    #[test]
    fn the_consent_url_asks_for_offline_access_with_pkce_and_our_state() {
        let oauth = GoogleOAuth::new(&settings(), reqwest::Client::new()).unwrap();
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
