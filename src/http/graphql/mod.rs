//! GraphQL over HTTP on `/graphql`, as the GraphQL-over-HTTP spec and the dashboard's tools expect.
//!
//! - `POST` with an `application/json` body: one operation, or a batch (an array) of at most
//!   `GRAPHQL_MAX_BATCH`, sharing one cost budget and run one after another. Any other content type
//!   is 415; a body over `MAX_BODY_BYTES` is 413; malformed JSON or parameters are 400. Every such
//!   answer is a GraphQL error body with a code.
//! - `GET ?query=...&variables=...`: queries (Apollo's `useGETForQueries`, cacheable by a CDN when
//!   anonymous); a mutation over GET is 405. A browser asking for HTML without a query gets GraphiQL.
//! - `Accept: application/graphql-response+json` gets that type, with request errors (parse,
//!   validation, variables, cost) as 400 without `data`; `application/json` (also a missing `Accept`,
//!   `*/*`) gets 200 for every GraphQL answer; an `Accept` with neither is 406.
//! - Apollo's automatic persisted queries (see [`persisted`]).

mod media;
mod params;
pub(super) mod persisted;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Response as GqlResponse, ServerError, Variables};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{self, AUTHORIZATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::graphql::cost::Budget;
use crate::graphql::errors::gql;
use crate::http::auth;
use crate::http::state::AppState;
use media::Media;
use params::{Params, Refusal};
pub use persisted::PersistedQueries;

/// `GET /graphql`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    let asks_nothing = !raw.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or_default();
        key == "query" || key == "extensions"
    });
    if asks_nothing && media::wants_html(&headers) {
        return super::graphiql::page(&state);
    }
    let Some(media) = media::negotiate(&headers) else {
        return not_acceptable();
    };
    match params::from_query_string(&raw) {
        Ok(params) => run(&state, &headers, media, vec![params], Shape::Get).await,
        Err(refusal) => refused(media, refusal),
    }
}

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Some(media) = media::negotiate(&headers) else {
        return not_acceptable();
    };
    if let Err(refusal) = params::check_content_type(&headers) {
        return refused(media, refusal);
    }
    let bytes = match read_body(body, state.http.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refused(media, refusal),
    };
    match params::from_body(&bytes, state.graphql.max_batch) {
        Ok((ops, false)) => run(&state, &headers, media, ops, Shape::Single).await,
        Ok((ops, true)) => run(&state, &headers, media, ops, Shape::Batch).await,
        Err(refusal) => refused(media, refusal),
    }
}

/// Any other method on `/graphql`.
pub async fn other_method() -> Response {
    let mut response = error_body(
        Media::Json,
        StatusCode::METHOD_NOT_ALLOWED,
        "use GET for queries or POST",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// Reads the whole body, at most `limit` bytes (a chunked body over it too: 413).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        )),
        Err(e) if crate::http::body_deadline::is_timeout(e.as_ref()) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        )),
        Err(_) => Err(Refusal::bad("the request body could not be read")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Single,
    Batch,
    Get,
}

/// One operation's outcome.
enum Answer {
    /// Refused before GraphQL ran (persisted query unknown or mismatched).
    Refused(Refusal),
    Executed(GqlResponse),
}

impl Answer {
    /// A request error: nothing was executed, so the answer has no `data`.
    fn is_request_error(&self) -> bool {
        match self {
            Answer::Refused(_) => true,
            Answer::Executed(r) => {
                r.data == async_graphql::Value::Null
                    && !r.errors.is_empty()
                    && r.errors.iter().all(|e| e.path.is_empty())
            }
        }
    }

    fn status(&self, media: Media) -> StatusCode {
        match (self, media) {
            (Answer::Refused(r), Media::GraphqlResponse) => r.status,
            (Answer::Refused(r), Media::Json) if r.code == "PERSISTED_QUERY_NOT_FOUND" => {
                StatusCode::OK
            }
            (Answer::Refused(r), Media::Json) => r.status,
            (executed, Media::GraphqlResponse) if executed.is_request_error() => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::OK,
        }
    }

    /// Writes the answer's JSON, straight from the response (no intermediate `Value` tree: a slot
    /// list is thousands of nodes).
    fn write(&self, out: &mut Vec<u8>) {
        let written = match self {
            Answer::Refused(r) => serde_json::to_writer(&mut *out, &refusal_body(r)),
            Answer::Executed(r) if self.is_request_error() => {
                serde_json::to_writer(&mut *out, &json!({ "errors": errors_json(&r.errors) }))
            }
            Answer::Executed(r) => serde_json::to_writer(&mut *out, r),
        };
        if written.is_err() {
            out.clear();
            out.extend_from_slice(
                br#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#,
            );
        }
    }
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    media: Media,
    ops: Vec<Params>,
    shape: Shape,
) -> Response {
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let caller = match auth::caller(state, authorization).await {
        Ok(caller) => caller,
        Err(e) => {
            let error = gql(e).into_server_error(Default::default());
            return respond(
                media,
                shape,
                false,
                vec![Answer::Executed(GqlResponse::from_errors(vec![error]))],
            );
        }
    };
    let anonymous = matches!(caller, Caller::Anonymous);
    let budget = Budget::new(state.graphql.max_complexity);
    let mut answers = Vec::with_capacity(ops.len());
    let max_query = state.graphql.max_query_bytes;
    for mut op in ops {
        if op.query.as_ref().is_some_and(|q| q.len() > max_query) {
            answers.push(Answer::Refused(Refusal::bad(format!(
                "the query is longer than {max_query} bytes"
            ))));
            continue;
        }
        match state.persisted.resolve(&mut op) {
            Err(refusal) => answers.push(Answer::Refused(refusal)),
            Ok(false) => answers.push(Answer::Refused(Refusal::persisted_query_not_found())),
            Ok(true) => {
                let mut request = request_of(op);
                state.parsed.prepare(&mut request);
                if shape == Shape::Get && is_mutation(&mut request) {
                    return mutation_over_get(media);
                }
                let request = request.data(caller.clone()).data(budget.clone());
                answers.push(Answer::Executed(state.schema.execute(request).await));
            }
        }
    }
    respond(media, shape, anonymous, answers)
}

fn request_of(op: Params) -> async_graphql::Request {
    let mut request = async_graphql::Request::new(op.query.unwrap_or_default())
        .variables(Variables::from_json(Value::Object(op.variables)));
    if let Some(name) = op.operation_name {
        request = request.operation_name(name);
    }
    request
}

/// Whether the operation a request would run is a mutation (unparsable documents are left to
/// execution, which answers with the syntax error).
fn is_mutation(request: &mut async_graphql::Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return false;
    };
    let kind = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name.as_str()).map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    };
    kind == Some(OperationType::Mutation)
}

fn respond(media: Media, shape: Shape, anonymous: bool, answers: Vec<Answer>) -> Response {
    let mut body = Vec::with_capacity(1024);
    let (status, clean) = match shape {
        Shape::Batch => {
            body.push(b'[');
            for (i, answer) in answers.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                let mut one = Vec::new();
                answer.write(&mut one);
                body.extend_from_slice(&one);
            }
            body.push(b']');
            (StatusCode::OK, false)
        }
        Shape::Single | Shape::Get => {
            let answer = &answers[0];
            let clean = matches!(answer, Answer::Executed(r) if r.errors.is_empty());
            answer.write(&mut body);
            (answer.status(media), clean)
        }
    };
    // Only an anonymous GET that worked may be shared by caches; everything else is per caller.
    let cache = if shape == Shape::Get && anonymous && clean {
        "public, max-age=60"
    } else {
        "private, no-store"
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    response
}

fn errors_json(errors: &[ServerError]) -> Value {
    serde_json::to_value(errors).unwrap_or_else(|_| json!([]))
}

fn refusal_body(r: &Refusal) -> Value {
    json!({ "errors": [{ "message": r.message, "extensions": { "code": r.code } }] })
}

fn error_body(media: Media, status: StatusCode, message: &str) -> Response {
    refused(media, Refusal::new(status, message))
}

fn refused(media: Media, refusal: Refusal) -> Response {
    let mut response = (refusal.status, refusal_body(&refusal).to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    response
}

fn not_acceptable() -> Response {
    error_body(
        Media::Json,
        StatusCode::NOT_ACCEPTABLE,
        "this endpoint answers application/graphql-response+json or application/json",
    )
}

fn mutation_over_get(media: Media) -> Response {
    let mut response = error_body(
        media,
        StatusCode::METHOD_NOT_ALLOWED,
        "mutations must be sent with POST",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}
