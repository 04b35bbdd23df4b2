//! Keys derived from one secret, one per purpose: HKDF-SHA256 (RFC 5869) with a distinct label each,
//! so that no key can be turned into another and a token made for one purpose is refused by all the
//! others.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::config::Secret;

/// What a derived key is for; the label is part of the derivation, so changing it changes the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Signed `/join/{sessionId}` links.
    JoinLinks,
    /// Signed open pixels and click redirects in emails.
    EmailTracking,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::JoinLinks => b"mentor-scheduler/join-links/v1",
            Purpose::EmailTracking => b"mentor-scheduler/email-tracking/v1",
        }
    }
}

/// Salt for the extraction step: fixed, public, and this application's own.
const SALT: &[u8] = b"mentor-scheduler key derivation";

/// A 256-bit key for `purpose`, derived from `secret`.
pub fn derive(secret: &Secret, purpose: Purpose) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(Some(SALT), secret.expose().as_bytes());
    let mut key = [0u8; 32];
    hkdf.expand(purpose.label(), &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_and_each_secret_gets_its_own_key() {
        let secret = Secret::new("s3cret");
        let join = derive(&secret, Purpose::JoinLinks);
        let tracking = derive(&secret, Purpose::EmailTracking);
        assert_ne!(join, tracking);
        assert_eq!(join, derive(&Secret::new("s3cret"), Purpose::JoinLinks));
        assert_ne!(join, derive(&Secret::new("s3cret2"), Purpose::JoinLinks));
        // Not the secret itself, nor the old concatenation scheme.
        assert_ne!(&join[..], b"s3cret\0join-links".as_slice());
    }

    #[test]
    fn the_derivation_is_hkdf_sha256_as_rfc_5869_defines_it() {
        // RFC 5869, appendix A.1 (test case 1), through the same crate call.
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut okm = [0u8; 42];
        Hkdf::<Sha256>::new(Some(&salt), &ikm)
            .expand(&info, &mut okm)
            .unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }
}
