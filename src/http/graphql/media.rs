//! Which JSON media type a GraphQL answer is written in, from the request's `Accept`
//! (GraphQL over HTTP: `application/graphql-response+json`, or the legacy `application/json`, which is
//! also what a missing `Accept`, `*/*` and `application/*` get).

use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: request errors are 4xx and carry no `data`.
    GraphqlResponse,
    /// `application/json`: every GraphQL answer is 200.
    Json,
}

impl Media {
    pub fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        }
    }
}

/// One entry of `Accept`: its media range and quality.
struct Range<'a> {
    essence: &'a str,
    quality: f32,
}

fn ranges(accept: &str) -> impl Iterator<Item = Range<'_>> {
    accept.split(',').filter_map(|item| {
        let mut parts = item.split(';').map(str::trim);
        let essence = parts.next().filter(|e| !e.is_empty())?;
        let quality = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        Some(Range { essence, quality })
    })
}

fn media_of(essence: &str) -> Option<Media> {
    let essence = essence.to_ascii_lowercase();
    match essence.as_str() {
        "application/graphql-response+json" => Some(Media::GraphqlResponse),
        "application/json" | "application/*" | "*/*" => Some(Media::Json),
        _ => None,
    }
}

/// The media type to answer in; `None` when `Accept` names only types this endpoint cannot write
/// (406).
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let accept: Vec<&str> = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if accept.iter().all(|a| a.trim().is_empty()) {
        return Some(Media::Json);
    }
    let mut best: Option<(f32, Media)> = None;
    for range in accept.iter().flat_map(|a| ranges(a)) {
        let Some(media) = media_of(range.essence) else {
            continue;
        };
        // The first of equal quality wins, as the client listed them.
        if range.quality > 0.0 && best.is_none_or(|(q, _)| range.quality > q) {
            best = Some((range.quality, media));
        }
    }
    best.map(|(_, media)| media)
}

/// Whether a browser asks for a page (`text/html` before any JSON type).
pub fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let html = ranges(accept)
        .filter(|r| r.essence.eq_ignore_ascii_case("text/html"))
        .map(|r| r.quality)
        .fold(0.0, f32::max);
    let json = ranges(accept)
        .filter(|r| {
            matches!(
                r.essence.to_ascii_lowercase().as_str(),
                "application/json" | "application/graphql-response+json"
            )
        })
        .map(|r| r.quality)
        .fold(0.0, f32::max);
    html > 0.0 && html >= json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_best_acceptable_type_wins() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(negotiate(&accept("application/json")), Some(Media::Json));
        assert_eq!(negotiate(&accept("*/*")), Some(Media::Json));
        assert_eq!(
            negotiate(&accept("application/graphql-response+json")),
            Some(Media::GraphqlResponse)
        );
        // Apollo Client 4 and graphql-http's client.
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json,application/json;q=0.9"
            )),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            negotiate(&accept(
                "application/json;q=0.5, application/graphql-response+json;q=0.4"
            )),
            Some(Media::Json)
        );
        assert_eq!(
            negotiate(&accept("text/html,application/xhtml+xml,*/*;q=0.8")),
            Some(Media::Json)
        );
        assert_eq!(negotiate(&accept("text/html")), None);
        assert_eq!(negotiate(&accept("application/json;q=0")), None);
    }

    #[test]
    fn browsers_asking_for_pages_are_told_apart_from_api_clients() {
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("application/json, text/html;q=0.5")));
    }
}
