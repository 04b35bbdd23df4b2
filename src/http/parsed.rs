//! Parsed GraphQL documents by query text. The dashboard sends the same few operations over and over
//! with different variables, so each text is parsed once; every request is still validated against the
//! schema and its limits.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;

/// Distinct texts kept; past it the cache starts again empty.
const MAX_QUERIES: usize = 512;
/// Longer texts are parsed every time (they are not the dashboard's).
const MAX_QUERY_BYTES: usize = 16 * 1024;

#[derive(Default)]
pub struct ParsedQueries {
    docs: Mutex<HashMap<String, ExecutableDocument>>,
}

impl ParsedQueries {
    /// Hands `request` its parsed document, parsing and keeping it on first sight. A text that does not
    /// parse is left alone: execution parses it again and answers with the syntax error.
    pub fn prepare(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_QUERY_BYTES {
            return;
        }
        let known = self.lock().get(&request.query).cloned();
        match known {
            Some(doc) => request.set_parsed_query(doc),
            None => {
                let Ok(doc) = request.parsed_query() else {
                    return;
                };
                let doc = doc.clone();
                let mut docs = self.lock();
                if docs.len() >= MAX_QUERIES {
                    docs.clear();
                }
                docs.insert(request.query.clone(), doc);
            }
        }
    }

    /// Every change is one call under the lock, so a poisoned lock still holds whole entries.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecutableDocument>> {
        self.docs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_parsed_once_and_handed_to_later_requests() {
        let cache = ParsedQueries::default();
        let mut first = async_graphql::Request::new("{ me { id } }");
        cache.prepare(&mut first);
        assert_eq!(cache.lock().len(), 1);
        let mut second = async_graphql::Request::new("{ me { id } }");
        cache.prepare(&mut second);
        assert_eq!(cache.lock().len(), 1);
        // The second request got the kept document without parsing: its text no longer matters.
        second.query = "not graphql".into();
        assert!(second.parsed_query().is_ok());
    }

    #[test]
    fn bad_and_huge_texts_are_not_kept() {
        let cache = ParsedQueries::default();
        let mut bad = async_graphql::Request::new("{ me { id ");
        cache.prepare(&mut bad);
        assert!(bad.parsed_query().is_err());
        let huge = format!("{{ me {{ id }} }}{}", " ".repeat(MAX_QUERY_BYTES));
        cache.prepare(&mut async_graphql::Request::new(huge));
        assert!(cache.lock().is_empty());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ParsedQueries::default();
        for i in 0..MAX_QUERIES + 10 {
            cache.prepare(&mut async_graphql::Request::new(format!("{{ a{i} }}")));
        }
        assert!(cache.lock().len() <= MAX_QUERIES);
    }
}
