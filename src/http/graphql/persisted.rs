//! Apollo's automatic persisted queries: a client sends only the SHA-256 of a query it sent before;
//! an unknown hash answers `PERSISTED_QUERY_NOT_FOUND`, and the client sends the text with its hash,
//! which must match. Texts are kept per node, bounded in count and bytes (oldest out first).
//!
//! Hand-rolled because async-graphql's `ApolloPersistedQueries` stores a text under whatever hash
//! the client claims, without checking it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::params::{Params, Refusal};

const MAX_ENTRIES: usize = 2000;
const MAX_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
pub struct PersistedQueries {
    inner: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    texts: HashMap<String, String>,
    order: VecDeque<String>,
    bytes: usize,
}

impl PersistedQueries {
    /// Fills in `params.query` from its persisted-query hash, or keeps a text sent with its hash.
    /// `Ok(false)`: the hash is unknown here (the client should send the text).
    pub fn resolve(&self, params: &mut Params) -> Result<bool, Refusal> {
        let Some(persisted) = params.extensions.get("persistedQuery") else {
            return Ok(true);
        };
        let version = persisted.get("version").and_then(Value::as_i64);
        if version != Some(1) {
            return Err(Refusal::bad("extensions.persistedQuery.version must be 1"));
        }
        let hash = persisted
            .get("sha256Hash")
            .and_then(Value::as_str)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                Refusal::bad("extensions.persistedQuery.sha256Hash must be 64 hex digits")
            })?
            .to_ascii_lowercase();
        match &params.query {
            Some(text) => {
                if hex::encode(Sha256::digest(text.as_bytes())) != hash {
                    return Err(Refusal::bad("provided sha does not match query"));
                }
                self.keep(hash, text.clone());
                Ok(true)
            }
            None => match self.lock().texts.get(&hash) {
                Some(text) => {
                    params.query = Some(text.clone());
                    Ok(true)
                }
                None => Ok(false),
            },
        }
    }

    fn keep(&self, hash: String, text: String) {
        let mut store = self.lock();
        if store.texts.contains_key(&hash) || text.len() > MAX_BYTES {
            return;
        }
        store.bytes += text.len();
        store.order.push_back(hash.clone());
        store.texts.insert(hash, text);
        while store.order.len() > MAX_ENTRIES || store.bytes > MAX_BYTES {
            let Some(oldest) = store.order.pop_front() else {
                break;
            };
            if let Some(text) = store.texts.remove(&oldest) {
                store.bytes -= text.len();
            }
        }
    }

    /// Every change is one call under the lock, so a poisoned lock still holds whole entries.
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(query: Option<&str>, hash: &str) -> Params {
        Params {
            query: query.map(str::to_owned),
            extensions: json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
                .as_object()
                .unwrap()
                .clone(),
            ..Params::default()
        }
    }

    fn sha(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn an_unknown_hash_asks_for_the_text_and_a_known_one_fills_it_in() {
        let store = PersistedQueries::default();
        let text = "{ me { id } }";
        assert_eq!(store.resolve(&mut params(None, &sha(text))), Ok(false));
        assert_eq!(store.resolve(&mut params(Some(text), &sha(text))), Ok(true));
        let mut later = params(None, &sha(text).to_uppercase());
        assert_eq!(store.resolve(&mut later), Ok(true));
        assert_eq!(later.query.as_deref(), Some(text));
    }

    #[test]
    fn a_hash_that_does_not_match_the_text_is_refused_and_not_kept() {
        let store = PersistedQueries::default();
        let refusal = store
            .resolve(&mut params(Some("{ me { id } }"), &sha("{ other }")))
            .unwrap_err();
        assert!(refusal.message.contains("does not match"));
        assert_eq!(
            store.resolve(&mut params(None, &sha("{ other }"))),
            Ok(false)
        );
        for bad in ["", "xyz", &"g".repeat(64)] {
            assert!(store.resolve(&mut params(None, bad)).is_err(), "{bad}");
        }
        let mut wrong_version = params(None, &sha("{ a }"));
        wrong_version.extensions["persistedQuery"]["version"] = json!(2);
        assert!(store.resolve(&mut wrong_version).is_err());
    }

    #[test]
    fn the_store_stays_bounded() {
        let store = PersistedQueries::default();
        for i in 0..MAX_ENTRIES + 50 {
            let text = format!("{{ a{i} }}");
            store
                .resolve(&mut params(Some(&text), &sha(&text)))
                .unwrap();
        }
        assert_eq!(store.lock().texts.len(), MAX_ENTRIES);
        let oldest = "{ a0 }";
        assert_eq!(store.resolve(&mut params(None, &sha(oldest))), Ok(false));
    }
}
