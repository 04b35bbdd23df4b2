//! SendGrid's signed Event Webhook: `X-Twilio-Email-Event-Webhook-Signature` is base64 of a DER
//! ECDSA P-256/SHA-256 signature over `timestamp + raw body` (no separator), where the timestamp is
//! `X-Twilio-Email-Event-Webhook-Timestamp` (Unix seconds). The public key SendGrid shows is base64
//! of a DER SubjectPublicKeyInfo. SendGrid documents no tolerance; we take [`TOLERANCE_SECONDS`]
//! either way (the same age Stripe's libraries allow), so a captured delivery cannot be sent again
//! later, and one within that window is caught by its receipt (see `service::email::tracking`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::signature_error::SignatureError;

/// How far a signed timestamp may be from our clock, either way.
pub const TOLERANCE_SECONDS: i64 = 300;
/// A DER ECDSA P-256 signature is at most 72 bytes; base64 of more is not one.
const MAX_SIGNATURE_CHARS: usize = 128;

/// The verification key from `SENDGRID_WEBHOOK_PUBLIC_KEY`.
#[derive(Clone)]
pub struct SendgridKey(VerifyingKey);

impl std::fmt::Debug for SendgridKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendgridKey(P-256)")
    }
}

impl SendgridKey {
    /// Reads the key as SendGrid shows it (base64 DER, no PEM armour); PEM armour is forgiven.
    pub fn parse(text: &str) -> Result<SendgridKey, String> {
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|_| "is not base64".to_string())?;
        VerifyingKey::from_public_key_der(&der)
            .map(SendgridKey)
            .map_err(|_| "is not an ECDSA P-256 public key (DER SubjectPublicKeyInfo)".to_string())
    }

    /// Checks one delivery at `now` (Unix seconds).
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(SignatureError::Missing);
        };
        let seconds: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::Malformed)?;
        if signature.len() > MAX_SIGNATURE_CHARS {
            return Err(SignatureError::Malformed);
        }
        let der = STANDARD
            .decode(signature.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::Malformed)?;
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.extend_from_slice(body);
        self.0
            .verify(&signed, &signature)
            .map_err(|_| SignatureError::Mismatch)?;
        if (now - seconds).abs() > TOLERANCE_SECONDS {
            return Err(SignatureError::Stale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SendGrid's own SDK test vector (sendgrid-nodejs `eventwebhook.spec.js`).
    const KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    const TIMESTAMP: &str = "1588788367";
    const BODY: &str =
        r#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    const SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const NOW: i64 = 1588788367;

    fn check(
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        SendgridKey::parse(KEY)
            .unwrap()
            .verify(signature, timestamp, body.as_bytes(), now)
    }

    #[test]
    fn the_sdk_vector_verifies() {
        assert_eq!(check(Some(SIGNATURE), Some(TIMESTAMP), BODY, NOW), Ok(()));
        let armoured = format!("-----BEGIN PUBLIC KEY-----\n{KEY}\n-----END PUBLIC KEY-----\n");
        assert!(SendgridKey::parse(&armoured).is_ok());
    }

    #[test]
    fn one_changed_byte_anywhere_is_a_mismatch() {
        let body = BODY.replace("test_event", "test_evenu");
        assert_eq!(
            check(Some(SIGNATURE), Some(TIMESTAMP), &body, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(Some(SIGNATURE), Some("1588788368"), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        let mut der = STANDARD.decode(SIGNATURE).unwrap();
        der[12] ^= 1;
        let other = STANDARD.encode(der);
        assert_eq!(
            check(Some(&other), Some(TIMESTAMP), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_or_future_timestamps_and_bad_headers_are_refused() {
        assert_eq!(
            check(Some(SIGNATURE), Some(TIMESTAMP), BODY, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(Some(SIGNATURE), Some(TIMESTAMP), BODY, NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(Some(SIGNATURE), Some(TIMESTAMP), BODY, NOW + 300),
            Ok(())
        );
        assert_eq!(
            check(None, Some(TIMESTAMP), BODY, NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(Some(SIGNATURE), None, BODY, NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(Some("not base64!"), Some(TIMESTAMP), BODY, NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check(Some("AAAA"), Some(TIMESTAMP), BODY, NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check(Some(SIGNATURE), Some("soon"), BODY, NOW),
            Err(SignatureError::Malformed)
        );
        let long = "A".repeat(4096);
        assert_eq!(
            check(Some(&long), Some(TIMESTAMP), BODY, NOW),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn keys_that_are_not_p256_are_refused() {
        assert!(SendgridKey::parse("not base64!").is_err());
        assert!(SendgridKey::parse("AAAA").is_err());
    }
}
