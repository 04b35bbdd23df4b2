//! `me`.

use async_graphql::{Context, Object};

use super::context::{principal, services};
use super::errors::gql;
use super::types::User;
use crate::error::AppError;

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in user, as last seen in their token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let p = principal(ctx)?;
        let found = services(ctx).users.find(&p.user_id).await.map_err(gql)?;
        found
            .map(User)
            .ok_or_else(|| gql(AppError::NotFound("your user record is missing".into())))
    }
}
