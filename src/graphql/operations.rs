//! Operators' view of the job queue: dead jobs and clearing them (admins).

use async_graphql::{Context, Object, SimpleObject, ID};

use super::context::{principal, services};
use super::errors::gql;
use super::scalars::DateTime;

/// A job that failed for good, kept with its last error until an admin clears it.
#[derive(SimpleObject)]
pub struct DeadJob {
    pub id: ID,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTime>,
}

#[derive(Default)]
pub struct OperationsQuery;

#[Object]
impl OperationsQuery {
    /// The latest dead jobs (admins), `first` of them (1 to 200).
    async fn dead_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
    ) -> async_graphql::Result<Vec<DeadJob>> {
        let p = principal(ctx)?;
        let dead = services(ctx)
            .operations
            .dead_jobs(p, first)
            .await
            .map_err(gql)?;
        Ok(dead
            .into_iter()
            .map(|j| DeadJob {
                id: ID(j.id),
                kind: j.kind,
                attempts: j.attempts,
                last_error: j.last_error,
                finished_at: j.finished_at.map(|t| DateTime(t.fixed_offset())),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct OperationsMutation;

#[Object]
impl OperationsMutation {
    /// Deletes the dead jobs among `ids` once looked at (admins; at most 500); how many went.
    async fn clear_dead_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_items = 500))] ids: Vec<ID>,
    ) -> async_graphql::Result<i32> {
        let p = principal(ctx)?;
        let ids = ids.into_iter().map(|id| id.0).collect();
        let cleared = services(ctx)
            .operations
            .clear_dead_jobs(p, ids)
            .await
            .map_err(gql)?;
        Ok(i32::try_from(cleared).unwrap_or(i32::MAX))
    }
}
