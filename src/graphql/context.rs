//! What resolvers take from the request context: the caller and the services.

use async_graphql::Context;

use super::errors::gql;
use crate::auth::{Caller, Principal};
use crate::service::Services;

static ANONYMOUS: Caller = Caller::Anonymous;

pub fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// The signed-in caller, or `UNAUTHENTICATED`.
pub fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Caller>()
        .unwrap_or(&ANONYMOUS)
        .principal()
        .map_err(gql)
}
