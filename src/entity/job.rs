//! `jobs`: the background job queue (see `crate::jobs`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The job type's stable name (`Job::KIND`).
    pub kind: String,
    /// The job struct as JSON.
    pub payload: String,
    /// At most one queued or running job per key.
    pub unique_key: Option<String>,
    /// `queued`, `running`, `done` or `dead`.
    pub state: String,
    /// Claims so far, this one included while running.
    pub attempts: i32,
    pub max_attempts: i32,
    /// Not claimed before this instant.
    pub run_at: DateTimeUtc,
    /// While running: the lease. Past it, the worker is presumed dead and the job is claimable again.
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
