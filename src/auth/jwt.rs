//! HS256 JWTs: verifying the platform's tokens and minting development ones.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Principal, Role};
use crate::config::Secret;
use crate::domain::sms::phone::PhoneNumber;
use crate::domain::time::TimeZone;

/// The claims this service reads. `tz` may be missing (UTC is assumed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// The user's phone number (OpenID Connect's claim); used only with `phone_number_verified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
}

impl JwtKeys {
    pub fn new(secret: &Secret, issuer: Option<String>, audience: Option<String>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        // A token that is not valid yet (`nbf` ahead, beyond the leeway) is refused.
        validation.validate_nbf = true;
        // A configured issuer or audience must be present in the token, not merely not contradicted.
        let mut required = vec!["exp", "sub"];
        required.extend(issuer.as_ref().map(|_| "iss"));
        required.extend(audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match &issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let key = secret.expose().as_bytes();
        JwtKeys {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            issuer,
            audience,
        }
    }

    /// Verifies signature, expiry (always), issuer and audience (when configured), then the claims.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// [`verify`](Self::verify), with the instant the token expires (a socket lives no longer).
    pub fn verify_until(&self, token: &str) -> Result<(Principal, DateTime<Utc>), String> {
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => "token has expired".to_string(),
                    ErrorKind::InvalidSignature => "bad signature".to_string(),
                    ErrorKind::InvalidIssuer => "wrong issuer".to_string(),
                    ErrorKind::InvalidAudience => "wrong audience".to_string(),
                    ErrorKind::ImmatureSignature => "token is not valid yet".to_string(),
                    ErrorKind::InvalidAlgorithm => "unexpected signing algorithm".to_string(),
                    ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
                    _ => "malformed token".to_string(),
                }
            })?;
        let claims = data.claims;
        let texts = [&claims.sub, &claims.role, &claims.email, &claims.name];
        if texts.iter().any(|t| t.contains('\0'))
            || claims.tz.as_ref().is_some_and(|t| t.contains('\0'))
        {
            return Err("claims must not contain the NUL character".into());
        }
        let expires_at =
            DateTime::from_timestamp(claims.exp, 0).ok_or("exp is out of range".to_string())?;
        if claims.sub.trim().is_empty() || claims.sub.len() > 191 {
            return Err("sub must be 1 to 191 characters".into());
        }
        let role = claims.role.parse::<Role>()?;
        let time_zone = match claims.tz.as_deref() {
            None | Some("") => TimeZone::UTC,
            Some(name) => name.parse::<TimeZone>()?,
        };
        // A number the platform verified is the user's; any other claim is ignored (the user can
        // still set one and verify it by code).
        let phone = claims
            .phone_number
            .filter(|_| claims.phone_number_verified == Some(true))
            .and_then(|raw| PhoneNumber::parse(&raw).ok())
            .map(|n| n.to_string());
        let principal = Principal {
            user_id: claims.sub,
            role,
            email: claims.email,
            name: claims.name,
            time_zone,
            phone,
        };
        Ok((principal, expires_at))
    }

    /// Mints a token for `principal`, valid for `ttl`, with the configured issuer and audience.
    pub fn mint(&self, principal: &Principal, ttl: Duration) -> anyhow::Result<String> {
        let now = Utc::now();
        let claims = Claims {
            sub: principal.user_id.clone(),
            role: principal.role.as_str().into(),
            email: principal.email.clone(),
            name: principal.name.clone(),
            tz: Some(principal.time_zone.name().into()),
            phone_number: principal.phone.clone(),
            phone_number_verified: principal.phone.as_ref().map(|_| true),
            exp: (now + ttl).timestamp(),
            iat: Some(now.timestamp()),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            user_id: "ckv9x2m0a0000qz3l8h1b2c3d".into(),
            role: Role::Mentor,
            email: "m@example.com".into(),
            name: "Maya".into(),
            time_zone: "Asia/Kolkata".parse().unwrap(),
            phone: None,
        }
    }

    #[test]
    fn round_trips_and_rejects_what_it_should() {
        let keys = JwtKeys::new(
            &Secret::new("s3cret"),
            Some("platform".into()),
            Some("mentor-api".into()),
        );
        let token = keys.mint(&principal(), Duration::hours(1)).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), principal());

        let expired = keys.mint(&principal(), Duration::hours(-1)).unwrap();
        assert_eq!(keys.verify(&expired).unwrap_err(), "token has expired");
        let other_key = JwtKeys::new(
            &Secret::new("other"),
            Some("platform".into()),
            Some("mentor-api".into()),
        );
        assert_eq!(other_key.verify(&token).unwrap_err(), "bad signature");
        let other_issuer = JwtKeys::new(
            &Secret::new("s3cret"),
            Some("elsewhere".into()),
            Some("mentor-api".into()),
        );
        assert_eq!(other_issuer.verify(&token).unwrap_err(), "wrong issuer");
        let other_aud = JwtKeys::new(
            &Secret::new("s3cret"),
            Some("platform".into()),
            Some("billing".into()),
        );
        assert_eq!(other_aud.verify(&token).unwrap_err(), "wrong audience");
        assert_eq!(keys.verify("not-a-jwt").unwrap_err(), "malformed token");
        let without_claims = JwtKeys::new(&Secret::new("s3cret"), None, None)
            .mint(&principal(), Duration::hours(1))
            .unwrap();
        // Both iss and aud are missing; which one is named first is not specified.
        let why = keys.verify(&without_claims).unwrap_err();
        assert!(
            why == "missing claim iss" || why == "missing claim aud",
            "{why}"
        );
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let keys = JwtKeys::new(&Secret::new("s3cret"), None, None);
        let now = Utc::now().timestamp();
        let token = |nbf: i64| {
            let claims = serde_json::json!({
                "sub": "u1", "role": "student", "exp": now + 3600, "nbf": nbf,
            });
            encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        assert_eq!(
            keys.verify(&token(now + 600)).unwrap_err(),
            "token is not valid yet"
        );
        // Within the clock-skew leeway, and in the past, it is fine.
        assert!(keys.verify(&token(now + 10)).is_ok());
        assert!(keys.verify(&token(now - 60)).is_ok());
    }

    #[test]
    fn verify_until_tells_when_the_token_expires() {
        let keys = JwtKeys::new(&Secret::new("s3cret"), None, None);
        let token = keys.mint(&principal(), Duration::minutes(5)).unwrap();
        let (_, expires_at) = keys.verify_until(&token).unwrap();
        let left = expires_at - Utc::now();
        assert!(
            left > Duration::minutes(4) && left <= Duration::minutes(5),
            "{left}"
        );
    }
}
