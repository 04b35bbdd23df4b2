//! Text no store can hold is refused at the door: a NUL character (U+0000) in any string of a
//! request, whether a variable or a literal in the document, is `BAD_USER_INPUT` on every backend
//! (PostgreSQL cannot store it, and SQLite would keep a string that other systems truncate).

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Positioned, Request, ServerError, ServerResult};
use async_graphql_value::{ConstValue, Value};

/// Refuses a request whose text or variables hold a NUL (before anything is parsed).
pub fn check_request(request: &Request) -> ServerResult<()> {
    if request.query.contains('\0') || request.variables.values().any(const_has_nul) {
        return Err(refusal());
    }
    Ok(())
}

/// Refuses a document with a NUL in any literal (arguments, directives, variable defaults).
pub fn check_document(doc: &ExecutableDocument) -> ServerResult<()> {
    if document_has_nul(doc) {
        return Err(refusal());
    }
    Ok(())
}

fn refusal() -> ServerError {
    let mut error = ServerError::new("strings must not contain the NUL character (U+0000)", None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "BAD_USER_INPUT");
    error
}

pub fn const_has_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.contains('\0') || const_has_nul(v)),
        _ => false,
    }
}

fn value_has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(value_has_nul),
        Value::Object(fields) => fields.values().any(value_has_nul),
        _ => false,
    }
}

fn directives_have_nul(directives: &[Positioned<Directive>]) -> bool {
    directives
        .iter()
        .any(|d| d.node.arguments.iter().any(|(_, v)| value_has_nul(&v.node)))
}

fn set_has_nul(set: &Positioned<SelectionSet>) -> bool {
    set.node.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            field
                .node
                .arguments
                .iter()
                .any(|(_, v)| value_has_nul(&v.node))
                || directives_have_nul(&field.node.directives)
                || set_has_nul(&field.node.selection_set)
        }
        Selection::FragmentSpread(spread) => directives_have_nul(&spread.node.directives),
        Selection::InlineFragment(fragment) => {
            directives_have_nul(&fragment.node.directives)
                || set_has_nul(&fragment.node.selection_set)
        }
    })
}

fn document_has_nul(doc: &ExecutableDocument) -> bool {
    let operations: Vec<_> = match &doc.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    operations.into_iter().any(|op| {
        op.node.variable_definitions.iter().any(|v| {
            v.node
                .default_value
                .as_ref()
                .is_some_and(|d| const_has_nul(&d.node))
        }) || directives_have_nul(&op.node.directives)
            || set_has_nul(&op.node.selection_set)
    }) || doc
        .fragments
        .values()
        .any(|f| directives_have_nul(&f.node.directives) || set_has_nul(&f.node.selection_set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(query: &str) -> bool {
        document_has_nul(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn nul_in_any_literal_is_found() {
        assert!(!doc(r#"{ a(x: "fine", y: ["ok"], z: {k: "v"}) { b } }"#));
        for query in [
            r#"{ a(x: "bad\u0000") }"#,
            r#"{ a(x: ["ok", "bad\u0000"]) }"#,
            r#"{ a(x: {k: {k: "bad\u0000"}}) }"#,
            r#"{ a @include(if: "\u0000") }"#,
            r#"query($v: String = "\u0000") { a }"#,
            r#"{ ...F } fragment F on Q { a(x: "\u0000") }"#,
            r#"{ ... on Q { a(x: "\u0000") } }"#,
        ] {
            assert!(doc(query), "{query}");
        }
    }

    #[test]
    fn nul_in_any_variable_is_found() {
        let value = |json: serde_json::Value| ConstValue::from_json(json).unwrap();
        assert!(!const_has_nul(&value(
            serde_json::json!({"a": ["x", {"b": "y"}]})
        )));
        assert!(const_has_nul(&value(
            serde_json::json!({"a": ["x", {"b": "y\u{0}"}]})
        )));
        assert!(const_has_nul(&value(serde_json::json!({"k\u{0}": 1}))));
    }
}
