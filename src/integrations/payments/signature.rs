//! Stripe's webhook signature (`Stripe-Signature: t=…,v1=…[,v1=…]`): HMAC-SHA256 over
//! `"{t}." + raw body`, keyed with the whole endpoint secret (`whsec_` prefix included), lowercase
//! hex. Any `v1` under any of our secrets passes (several are sent, and we may hold several, while a
//! secret is rolled); every other scheme (`v0` on test events) is ignored. Compared in constant
//! time; then the timestamp may be at most [`TOLERANCE_SECONDS`] old (a future one passes, as in
//! Stripe's libraries).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// How old a signed delivery may be (Stripe's libraries' default).
pub const TOLERANCE_SECONDS: i64 = 300;
/// The most `v1` values looked at in one header (a handful during a roll; more is hostile).
const MAX_SIGNATURES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    #[error("no signature matches")]
    Mismatch,
    #[error("the signature is too old")]
    Stale,
}

/// Checks `header` for `body` at `now` (Unix seconds).
pub fn verify(
    secrets: &[Secret],
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" if signatures.len() < MAX_SIGNATURES => {
                if let Ok(bytes) = hex::decode(value) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = secrets.iter().any(|secret| {
        signatures.iter().any(|signature| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            // `verify_slice` compares in constant time.
            mac.verify_slice(signature).is_ok()
        })
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if now - timestamp > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The `v1` value for `body` at `timestamp` under `secret` (the fake Stripe in tests signs with it too).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const VECTOR: &str = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(s.to_string())).collect()
    }

    #[test]
    fn the_published_vector_signs_and_verifies() {
        assert_eq!(sign("whsec_test_secret", 1_700_000_000, BODY), VECTOR);
        let header = format!("t=1700000000,v1={VECTOR}");
        assert_eq!(
            verify(
                &secrets(&["whsec_test_secret"]),
                &header,
                BODY,
                1_700_000_010
            ),
            Ok(())
        );
    }

    #[test]
    fn any_v1_under_any_secret_passes_while_a_secret_is_rolled() {
        let header = format!("t=1700000000,v1={},v1={VECTOR},v0=abcd", "00".repeat(32));
        let both = secrets(&["whsec_new", "whsec_test_secret"]);
        assert_eq!(verify(&both, &header, BODY, 1_700_000_000), Ok(()));
        assert_eq!(
            verify(&secrets(&["whsec_new"]), &header, BODY, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn forged_altered_stale_and_malformed_headers_fail() {
        let key = secrets(&["whsec_test_secret"]);
        let good = format!("t=1700000000,v1={VECTOR}");
        // Another body, another timestamp, a v0 alone, nothing at all.
        assert_eq!(
            verify(
                &key,
                &good,
                br#"{"id":"evt_2","object":"event"}"#,
                1_700_000_000
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &key,
                &format!("t=1700000001,v1={VECTOR}"),
                BODY,
                1_700_000_001
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &key,
                &format!("t=1700000000,v0={VECTOR}"),
                BODY,
                1_700_000_000
            ),
            Err(SignatureError::Malformed)
        );
        assert_eq!(verify(&key, "", BODY, 0), Err(SignatureError::Malformed));
        assert_eq!(
            verify(&key, &format!("v1={VECTOR}"), BODY, 0),
            Err(SignatureError::Malformed)
        );
        // Five minutes old passes, a second more does not; a future timestamp passes.
        assert_eq!(verify(&key, &good, BODY, 1_700_000_300), Ok(()));
        assert_eq!(
            verify(&key, &good, BODY, 1_700_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(&key, &good, BODY, 1_699_990_000), Ok(()));
    }
}
