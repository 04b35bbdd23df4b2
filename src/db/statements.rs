//! What the database was asked: a count of statements, and on request their text (tests prove
//! with them how many queries a piece of work costs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Statements run through one connection pool. Cheap when not recording: one counter and one
/// flag read a statement.
#[derive(Default)]
pub(super) struct StatementLog {
    run: AtomicU64,
    recording: AtomicBool,
    recorded: Mutex<Vec<String>>,
}

impl StatementLog {
    pub(super) fn saw(&self, sql: &str) {
        self.run.fetch_add(1, Ordering::Relaxed);
        if self.recording.load(Ordering::Relaxed) {
            self.lock().push(sql.to_string());
        }
    }

    pub(super) fn run(&self) -> u64 {
        self.run.load(Ordering::Relaxed)
    }

    /// Keeps the text of every statement from now on, forgetting what was kept before.
    pub(super) fn start_recording(&self) {
        self.lock().clear();
        self.recording.store(true, Ordering::Relaxed);
    }

    /// The statements kept so far (recording goes on).
    pub(super) fn recorded(&self) -> Vec<String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
