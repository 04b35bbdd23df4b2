//! What a job is, and how its handler fails.

use crate::error::AppError;

/// A kind of background job: its payload is the struct itself, stored as JSON.
pub trait Job: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    /// The stable name stored with each job; renaming it orphans jobs already queued.
    const KIND: &'static str;
    /// Runs (the first included) before the job is `dead`.
    const MAX_ATTEMPTS: i32 = 8;
}

/// How a job handler failed. The runner stores the whole cause chain as the job's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another try later (the default for `?` on an `anyhow::Error`).
    #[error(transparent)]
    Retry(#[from] anyhow::Error),
    /// Will never succeed: the job goes `dead` at once.
    #[error("permanent failure: {0:#}")]
    Permanent(anyhow::Error),
    /// Not to be done yet: queued again to run at this instant (a moment after now at the
    /// earliest), this run not counted among its attempts.
    #[error("postponed until {0}")]
    Postpone(chrono::DateTime<chrono::Utc>),
}

impl JobError {
    pub fn permanent(error: impl Into<anyhow::Error>) -> Self {
        JobError::Permanent(error.into())
    }
}

/// A service's failure, as the runner should take it: the database or a provider failing may pass
/// (another try), a request that makes no sense will not (dead at once). The cause goes along, so a
/// failed job says what failed.
impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(cause) => JobError::Retry(cause.context("internal error")),
            e @ (AppError::Upstream { .. } | AppError::RateLimited { .. }) => {
                JobError::Retry(anyhow::Error::new(e))
            }
            e => JobError::Permanent(anyhow::Error::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_job_keeps_what_failed() {
        let db = sea_orm::DbErr::Custom("connection refused".into());
        let failure = JobError::from(AppError::from(db));
        let JobError::Retry(cause) = failure else {
            panic!("a database failure is worth another try");
        };
        let shown = format!("{cause:#}");
        assert!(
            shown.contains("internal error") && shown.contains("connection refused"),
            "{shown}"
        );
        let provider = JobError::from(AppError::Upstream {
            provider: "Google Calendar",
            message: "answered 503".into(),
            cause: Some(anyhow::anyhow!("backend error")),
        });
        assert!(matches!(provider, JobError::Retry(_)));
        assert!(format!("{provider:#}").contains("backend error"));
        let pointless = JobError::from(AppError::NotFound("there is no such booking".into()));
        assert!(matches!(pointless, JobError::Permanent(_)));
        assert!(pointless.to_string().contains("no such booking"));
    }
}
