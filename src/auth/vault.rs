//! Secrets the service must keep (a calendar's OAuth tokens), sealed at rest with AES-256-GCM.
//!
//! A sealed value reads `{key id}.{base64url(nonce ‖ ciphertext ‖ tag)}`: the id of the key that sealed
//! it travels beside it, so keys can rotate (`CALENDAR_TOKEN_KEY` lists the current key first, then the
//! older ones still needed to open what they sealed). Each value is bound to where it is kept (the
//! `context`, say `calendar/google/{mentor}/refresh`): a ciphertext copied to another row, or another
//! field, does not open. Nonces are random (96 bits): far below the 2^32 seals per key where random
//! nonces start to be a worry.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;

use crate::config::Secret;

const NONCE_BYTES: usize = 12;

/// Why a sealed value could not be opened (or keys not read).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("sealed with key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value does not open with its key (tampered, or kept somewhere else)")]
    Forged,
    #[error("CALENDAR_TOKEN_KEY: {0}")]
    BadKeys(String),
}

struct VaultKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The keys: the first seals, all open.
pub struct TokenVault {
    keys: Vec<VaultKey>,
}

impl fmt::Debug for TokenVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("TokenVault").field("key_ids", &ids).finish()
    }
}

impl TokenVault {
    /// Reads `id:base64key[,id:base64key...]` (standard base64 of 32 bytes each; the first is current).
    /// A lone key without an id gets the id `k1`.
    pub fn from_setting(value: &Secret) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        for entry in value.expose().split(',').map(str::trim) {
            let (id, encoded) = entry.split_once(':').unwrap_or(("k1", entry));
            let id_ok = !id.is_empty()
                && id.len() <= 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(VaultError::BadKeys(format!(
                    "a key id must be 1-32 letters, digits, - or _ (got {:?})",
                    crate::error::clip(id).unwrap_or_else(|| id.to_string())
                )));
            }
            let bytes = STANDARD
                .decode(encoded)
                .map_err(|_| VaultError::BadKeys(format!("key {id:?} is not base64")))?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| {
                VaultError::BadKeys(format!("key {id:?} must be 32 bytes (AES-256)"))
            })?;
            if keys.iter().any(|k: &VaultKey| k.id == id) {
                return Err(VaultError::BadKeys(format!("key id {id:?} appears twice")));
            }
            keys.push(VaultKey::new(id, key));
        }
        Ok(TokenVault { keys })
    }

    /// The vault `CALENDAR_TOKEN_KEY` describes or, unset, the development key kept under `data_dir`
    /// (id `dev`).
    pub fn load(setting: Option<&Secret>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(value) = setting {
            return Ok(Self::from_setting(value)?);
        }
        let hex_key =
            super::dev_secret::load_or_create(data_dir, super::dev_secret::CALENDAR_TOKEN_FILE)?;
        let key: [u8; 32] = hex::decode(hex_key.expose())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} under {} is not 64 hex digits: delete it to make a new one",
                    super::dev_secret::CALENDAR_TOKEN_FILE,
                    data_dir.display()
                )
            })?;
        Ok(Self::single("dev", key))
    }

    /// One key, for development (generated under `DATA_DIR`) and tests.
    pub fn single(id: &str, key: [u8; 32]) -> Self {
        TokenVault {
            keys: vec![VaultKey::new(id, key)],
        }
    }

    /// Seals `plain` for `context` with the current key.
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM seals any message shorter than 64 GiB");
        let mut blob = Vec::with_capacity(NONCE_BYTES + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        format!("{}.{}", key.id, URL_SAFE_NO_PAD.encode(blob))
    }

    /// Opens what [`seal`](Self::seal) made for the same `context`, with whichever key sealed it.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Secret, VaultError> {
        let (id, encoded) = sealed.split_once('.').ok_or(VaultError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| VaultError::Malformed)?;
        if blob.len() < NONCE_BYTES + 16 {
            return Err(VaultError::Malformed);
        }
        let (nonce, body) = blob.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| VaultError::Malformed)?;
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Forged)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| VaultError::Malformed)
    }

    /// Whether `sealed` was sealed with an older key (worth sealing again with the current one).
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed
            .split_once('.')
            .is_some_and(|(id, _)| id != self.keys[0].id)
    }
}

impl VaultKey {
    fn new(id: &str, key: [u8; 32]) -> Self {
        VaultKey {
            id: id.to_string(),
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &str = "calendar/google/mentor-1/refresh";

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn a_sealed_token_opens_only_where_it_was_kept() {
        let vault = TokenVault::single("dev", [7; 32]);
        let sealed = vault.seal(CONTEXT, "1//refresh-token");
        assert!(sealed.starts_with("dev.") && !sealed.contains("refresh-token"));
        assert_eq!(
            vault.open(CONTEXT, &sealed).unwrap().expose(),
            "1//refresh-token"
        );
        // Two seals of one value differ (fresh nonce each time).
        assert_ne!(sealed, vault.seal(CONTEXT, "1//refresh-token"));
        // Moved to another row or field: refused.
        assert_eq!(
            vault
                .open("calendar/google/mentor-2/refresh", &sealed)
                .unwrap_err(),
            VaultError::Forged
        );
        // Any flipped byte: refused.
        let (id, body) = sealed.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{id}.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            vault.open(CONTEXT, &tampered).unwrap_err(),
            VaultError::Forged
        );
        for junk in ["", "dev", "dev.", "dev.!!!", "dev.AAAA"] {
            assert_eq!(
                vault.open(CONTEXT, junk).unwrap_err(),
                VaultError::Malformed,
                "{junk}"
            );
        }
    }

    #[test]
    fn keys_rotate_old_ones_still_open() {
        let old = TokenVault::from_setting(&Secret::new(format!("2025:{}", key(1)))).unwrap();
        let sealed = old.seal(CONTEXT, "ya29.access");
        let rotated =
            TokenVault::from_setting(&Secret::new(format!("2026:{}, 2025:{}", key(2), key(1))))
                .unwrap();
        assert_eq!(
            rotated.open(CONTEXT, &sealed).unwrap().expose(),
            "ya29.access"
        );
        assert!(rotated.is_stale(&sealed));
        let resealed = rotated.seal(CONTEXT, "ya29.access");
        assert!(resealed.starts_with("2026.") && !rotated.is_stale(&resealed));
        // A key that was dropped: the value says which one it needs.
        let without = TokenVault::from_setting(&Secret::new(key(3))).unwrap();
        assert_eq!(
            without.open(CONTEXT, &sealed).unwrap_err(),
            VaultError::UnknownKey("2025".into())
        );
    }

    #[test]
    fn the_development_key_is_made_once_and_reopens_what_it_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = TokenVault::load(None, dir.path())
            .unwrap()
            .seal(CONTEXT, "t");
        assert!(sealed.starts_with("dev."));
        let again = TokenVault::load(None, dir.path()).unwrap();
        assert_eq!(again.open(CONTEXT, &sealed).unwrap().expose(), "t");
        let configured =
            TokenVault::load(Some(&Secret::new(format!("prod:{}", key(4)))), dir.path()).unwrap();
        assert!(configured.seal(CONTEXT, "t").starts_with("prod."));
    }

    #[test]
    fn bad_key_settings_are_refused_and_keys_never_shown() {
        for bad in [
            "k1:short".to_string(),
            format!("k1:{}", STANDARD.encode([0u8; 16])),
            format!("bad id:{}", key(1)),
            format!("a:{},a:{}", key(1), key(2)),
            "not base64 at all!".to_string(),
        ] {
            assert!(
                matches!(
                    TokenVault::from_setting(&Secret::new(bad.clone())),
                    Err(VaultError::BadKeys(_))
                ),
                "{bad}"
            );
        }
        let vault = TokenVault::from_setting(&Secret::new(format!("k9:{}", key(9)))).unwrap();
        let shown = format!("{vault:?}");
        assert_eq!(shown, r#"TokenVault { key_ids: ["k9"] }"#);
    }
}
