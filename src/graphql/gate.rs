//! The schema's one extension: every request passes the input guard (no NUL anywhere), is weighed
//! against its cost budget after validation, and has its errors labelled with codes on the way out
//! (subscription events too).
//!
//! One extension, not one per concern: async-graphql runs every field of every answer through the
//! whole chain of extensions as soon as there is one, so each extra extension costs a boxed future
//! per field (a 28-day slot list is hundreds of fields). The checks themselves live with their
//! concern ([`input_guard`](super::input_guard), [`cost`](super::cost), [`errors`](super::errors)).

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use futures::stream::{BoxStream, StreamExt};

use super::cost::{self, Budget};
use super::errors::label;
use super::input_guard;

pub struct Gate {
    /// `GRAPHQL_MAX_COMPLEXITY`: the budget of a subscription (a request brings its own [`Budget`]).
    pub max_cost: usize,
}

impl ExtensionFactory for Gate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Gatekeeper {
            max_cost: self.max_cost,
            introspection: Mutex::new(0),
        })
    }
}

/// One per operation run.
struct Gatekeeper {
    max_cost: usize,
    /// What the document's introspection costs, found at parse time, charged after validation.
    introspection: Mutex<usize>,
}

#[async_trait::async_trait]
impl Extension for Gatekeeper {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        label(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                label(&mut response);
                response
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        input_guard::check_request(&request)?;
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        input_guard::check_document(&doc)?;
        *self
            .introspection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = cost::introspection(&doc);
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let introspection = *self
            .introspection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let cost = result.complexity.saturating_add(introspection);
        cost::charge(cost, ctx.data_opt::<Budget>(), self.max_cost).map_err(|e| vec![e])?;
        Ok(result)
    }
}
