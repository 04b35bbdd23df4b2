//! Signed `/join/{sessionId}` links: a per-participant token in the link lets a browser in without a
//! bearer header.
//!
//! The token is an HS256 JWT under a key derived from `JWT_SECRET` for this purpose only (HKDF, see
//! [`keys`](super::keys)), so a join token is never accepted as an API token nor the other way round. It names the session and the
//! participant and expires a week after the session's end; whether the room is open is decided on
//! each visit from the session's current times. Expiry is checked against the service clock.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::{derive, Purpose};
use crate::config::Secret;

const AUDIENCE: &str = "join";
/// How long after a session's end its links stay valid (to show "this session has ended").
const VALID_AFTER_END_DAYS: i64 = 7;

#[derive(Debug, Serialize, Deserialize)]
struct JoinClaims {
    sub: String,
    sid: String,
    aud: String,
    exp: i64,
}

pub struct JoinLinks {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    base_url: String,
}

impl JoinLinks {
    pub fn new(secret: &Secret, public_base_url: &str) -> Self {
        let key = derive(secret, Purpose::JoinLinks);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["sub", "aud", "exp"]);
        validation.set_audience(&[AUDIENCE]);
        JoinLinks {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            base_url: public_base_url.trim_end_matches('/').to_string(),
        }
    }

    /// The link for `user_id` to session `session_id`, which ends at `session_end`.
    pub fn url(&self, session_id: &str, user_id: &str, session_end: DateTime<Utc>) -> String {
        let claims = JoinClaims {
            sub: user_id.into(),
            sid: session_id.into(),
            aud: AUDIENCE.into(),
            exp: (session_end + Duration::days(VALID_AFTER_END_DAYS)).timestamp(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing does not fail");
        format!("{}/join/{session_id}?token={token}", self.base_url)
    }

    /// The participant a token was issued to, if it is genuine, for this session, and not expired.
    pub fn verify(
        &self,
        token: &str,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let claims = decode::<JoinClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| "this link is not valid".to_string())?
            .claims;
        if claims.sid != session_id {
            return Err("this link is for another session".into());
        }
        if claims.exp < now.timestamp() {
            return Err("this link has expired; open the session from your dashboard".into());
        }
        Ok(claims.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> JoinLinks {
        JoinLinks::new(&Secret::new("s3cret"), "https://api.example.org/")
    }

    fn token_of(url: &str) -> &str {
        url.split("token=").nth(1).unwrap()
    }

    #[test]
    fn a_link_admits_its_participant_to_its_session_only() {
        let end: DateTime<Utc> = "2026-01-05T10:00:00Z".parse().unwrap();
        let url = links().url("sess1", "stu", end);
        assert!(url.starts_with("https://api.example.org/join/sess1?token="));
        let token = token_of(&url);
        assert_eq!(links().verify(token, "sess1", end).unwrap(), "stu");
        assert!(links().verify(token, "sess2", end).is_err());
        let later = end + Duration::days(VALID_AFTER_END_DAYS) + Duration::seconds(1);
        assert!(links().verify(token, "sess1", later).is_err());
        let other_key = JoinLinks::new(&Secret::new("other"), "https://x");
        assert!(other_key.verify(token, "sess1", end).is_err());
        assert!(links().verify("garbage", "sess1", end).is_err());
    }

    #[test]
    fn an_api_token_signed_with_the_same_secret_is_not_a_join_token() {
        let claims = JoinClaims {
            sub: "stu".into(),
            sid: "sess1".into(),
            aud: AUDIENCE.into(),
            exp: i64::MAX / 2,
        };
        let plain = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(links().verify(&plain, "sess1", Utc::now()).is_err());
    }
}
