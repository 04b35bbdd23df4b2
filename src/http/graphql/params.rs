//! The parameters of a GraphQL-over-HTTP request, read from a JSON body (one object, or an array for a
//! batch) or from a GET query string, with a clear answer for everything malformed.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::http::error::code_of;

/// Why a request was refused before any GraphQL work: its status, code and message.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn bad(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "BAD_USER_INPUT",
            message: message.into(),
        }
    }

    /// A refusal whose code follows from its status (415, 413, 405... are `BAD_USER_INPUT`).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code: code_of(status),
            message: message.into(),
        }
    }

    /// An automatic persisted query this node has not seen: Apollo's client knows this message and
    /// code, and resends the query with its text.
    pub fn persisted_query_not_found() -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "PERSISTED_QUERY_NOT_FOUND",
            message: "PersistedQueryNotFound".into(),
        }
    }
}

/// One operation's parameters.
#[derive(Debug, Default, PartialEq)]
pub struct Params {
    /// Absent when an automatic persisted query sends only its hash.
    pub query: Option<String>,
    pub operation_name: Option<String>,
    /// A JSON object (empty when none were sent).
    pub variables: Map<String, Value>,
    pub extensions: Map<String, Value>,
}

/// A POST body must be JSON (`application/json`, in UTF-8): anything else, `text/plain` included
/// (what a cross-site form can send without a preflight), is 415.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let unsupported = |what: String| {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{what}; send the request as application/json"),
        )
    };
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Err(unsupported("the request has no Content-Type".into()));
    };
    let value = value
        .to_str()
        .map_err(|_| unsupported("the Content-Type is unreadable".into()))?;
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(unsupported(format!(
            "Content-Type {} is not supported",
            short(essence)
        )));
    }
    for param in parts {
        if let Some((key, charset)) = param.split_once('=') {
            let charset = charset.trim().trim_matches('"');
            if key.trim().eq_ignore_ascii_case("charset") && !charset.eq_ignore_ascii_case("utf-8")
            {
                return Err(unsupported(format!(
                    "charset {} is not supported (only utf-8)",
                    short(charset)
                )));
            }
        }
    }
    Ok(())
}

/// The operations of a JSON body, and whether it was a batch (an array).
pub fn from_body(body: &[u8], max_batch: usize) -> Result<(Vec<Params>, bool), Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::bad("the request body is empty"));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::bad(format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(object) => Ok((vec![params(object)?], false)),
        Value::Array(items) if items.is_empty() => {
            Err(Refusal::bad("a batch must hold at least one operation"))
        }
        Value::Array(items) if items.len() > max_batch => Err(Refusal::bad(format!(
            "a batch may hold at most {max_batch} operations (got {})",
            items.len()
        ))),
        Value::Array(items) => {
            let mut batch = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::Object(object) => batch.push(
                        params(object)
                            .map_err(|r| Refusal::bad(format!("operation {i}: {}", r.message)))?,
                    ),
                    _ => {
                        return Err(Refusal::bad(format!(
                            "operation {i} of the batch is not a JSON object"
                        )))
                    }
                }
            }
            Ok((batch, true))
        }
        _ => Err(Refusal::bad(
            "the request body must be a JSON object (or an array of them for a batch)",
        )),
    }
}

/// The operation of a GET query string (`query`, `operationName`, and JSON-encoded `variables` and
/// `extensions`).
pub fn from_query_string(raw: &str) -> Result<Params, Refusal> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| Refusal::bad("the query string is not valid URL encoding"))?;
    let mut object = Map::new();
    for (key, value) in pairs {
        let value = match key.as_str() {
            "variables" | "extensions" if !value.is_empty() => serde_json::from_str(&value)
                .map_err(|e| Refusal::bad(format!("{key} is not valid JSON: {e}")))?,
            _ => Value::String(value),
        };
        if object.insert(key.clone(), value).is_some() {
            return Err(Refusal::bad(format!("{} is given twice", short(&key))));
        }
    }
    params(object)
}

fn params(mut object: Map<String, Value>) -> Result<Params, Refusal> {
    let query = match object.remove("query") {
        None | Some(Value::Null) => None,
        Some(Value::String(q)) => Some(q),
        Some(_) => return Err(Refusal::bad("query must be a string")),
    };
    let operation_name = match object.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name).filter(|n| !n.is_empty()),
        Some(_) => return Err(Refusal::bad("operationName must be a string")),
    };
    let map = |key: &str, value: Option<Value>| match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(Refusal::bad(format!("{key} must be a JSON object"))),
    };
    let variables = map("variables", object.remove("variables"))?;
    let extensions = map("extensions", object.remove("extensions"))?;
    let params = Params {
        query,
        operation_name,
        variables,
        extensions,
    };
    if params.query.is_none() && !params.extensions.contains_key("persistedQuery") {
        return Err(Refusal::bad(
            "query is required (a GraphQL document as a string)",
        ));
    }
    Ok(params)
}

/// At most 64 characters of something the client sent, for a message.
pub fn short(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Result<(Vec<Params>, bool), Refusal> {
        from_body(s.as_bytes(), 3)
    }

    fn refused(s: &str) -> String {
        body(s).unwrap_err().message
    }

    #[test]
    fn one_operation_or_a_bounded_batch() {
        let (ops, batch) =
            body(r#"{"query":"{ me { id } }","variables":{"a":1},"operationName":"A"}"#).unwrap();
        assert!(!batch);
        assert_eq!(ops[0].query.as_deref(), Some("{ me { id } }"));
        assert_eq!(ops[0].operation_name.as_deref(), Some("A"));
        assert_eq!(ops[0].variables["a"], 1);
        let (ops, batch) = body(r#"[{"query":"{a}"},{"query":"{b}"}]"#).unwrap();
        assert!(batch && ops.len() == 2);
        assert!(
            refused(r#"[{"query":"{a}"},{"query":"{a}"},{"query":"{a}"},{"query":"{a}"}]"#)
                .contains("at most 3")
        );
        assert!(refused("[]").contains("at least one"));
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        for (input, says) in [
            ("", "empty"),
            ("  ", "empty"),
            ("{ \"not a JSON", "not valid JSON"),
            ("{}", "query is required"),
            ("[1]", "operation 0"),
            ("\"text\"", "JSON object"),
            ("42", "JSON object"),
            (r#"{"qeury":"{a}"}"#, "query is required"),
            (r#"{"query":{"obj":"ect"}}"#, "query must be a string"),
            (r#"{"query":0}"#, "query must be a string"),
            (r#"{"query":false}"#, "query must be a string"),
            (r#"{"query":["array"]}"#, "query must be a string"),
            (
                r#"{"query":"{a}","variables":[1]}"#,
                "variables must be a JSON object",
            ),
            (
                r#"{"query":"{a}","variables":"x"}"#,
                "variables must be a JSON object",
            ),
            (
                r#"{"query":"{a}","operationName":1}"#,
                "operationName must be a string",
            ),
            (
                r#"{"query":"{a}","extensions":3}"#,
                "extensions must be a JSON object",
            ),
        ] {
            let message = refused(input);
            assert!(message.contains(says), "{input:?}: {message}");
            assert!(!message.contains("Error("), "no debug text: {message}");
        }
    }

    #[test]
    fn a_persisted_query_may_come_without_its_text() {
        let (ops, _) =
            body(r#"{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"ab"}}}"#).unwrap();
        assert!(ops[0].query.is_none());
    }

    #[test]
    fn get_parameters_carry_json_encoded_maps() {
        let p = from_query_string(
            "query=query%20T(%24n%3A%20String!)%20%7B%20a%20%7D&variables=%7B%22n%22%3A%22x%22%7D&operationName=T",
        )
        .unwrap();
        assert_eq!(p.query.as_deref(), Some("query T($n: String!) { a }"));
        assert_eq!(p.variables["n"], "x");
        assert_eq!(p.operation_name.as_deref(), Some("T"));
        assert!(from_query_string("query=%7Ba%7D&variables=%7Bnope")
            .unwrap_err()
            .message
            .contains("variables is not valid JSON"));
        assert!(from_query_string("query=a&query=b")
            .unwrap_err()
            .message
            .contains("twice"));
        assert!(from_query_string("")
            .unwrap_err()
            .message
            .contains("query is required"));
    }

    #[test]
    fn only_json_in_utf8_is_accepted_as_a_body() {
        let headers = |ct: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(ct) = ct {
                h.insert(axum::http::header::CONTENT_TYPE, ct.parse().unwrap());
            }
            h
        };
        assert!(check_content_type(&headers(Some("application/json"))).is_ok());
        assert!(check_content_type(&headers(Some("Application/JSON; charset=UTF-8"))).is_ok());
        for bad in [
            None,
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/json; charset=latin1"),
        ] {
            let refusal = check_content_type(&headers(bad)).unwrap_err();
            assert_eq!(
                refusal.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn echoes_are_short() {
        assert_eq!(short("abc"), "abc");
        let long = "x".repeat(100_000);
        assert!(short(&long).chars().count() <= 65);
    }
}
