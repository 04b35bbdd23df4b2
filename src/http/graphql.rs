//! `POST /graphql` (single or batched requests) and GraphiQL on `GET /graphql`.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse};

use super::{auth, AppState};
use crate::graphql::errors::gql;

pub async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

pub async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> GraphQLResponse {
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth::caller(&state, authorization).await {
        Ok(caller) => {
            let mut batch = request.into_inner();
            batch.iter_mut().for_each(|r| state.parsed.prepare(r));
            state.schema.execute_batch(batch.data(caller)).await.into()
        }
        Err(e) => {
            async_graphql::Response::from_errors(vec![gql(e).into_server_error(Default::default())])
                .into()
        }
    }
}
