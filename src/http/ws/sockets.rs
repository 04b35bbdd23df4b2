//! Open sockets per user on this node, so that one account cannot hold an unbounded number of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Counts of open sockets by user id.
#[derive(Clone)]
pub struct SocketsPerUser {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One counted socket; dropping it gives the place back.
pub struct SocketSlot {
    user_id: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl SocketsPerUser {
    pub fn new(max: usize) -> Self {
        SocketsPerUser {
            max,
            open: Default::default(),
        }
    }

    /// A place for one more socket of `user_id`, or `None` when the user already has `max` open.
    pub fn take(&self, user_id: &str) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user_id.to_string()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            user_id: user_id.to_string(),
            open: self.open.clone(),
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_max_sockets_and_closed_ones_free_their_place() {
        let sockets = SocketsPerUser::new(2);
        let a = sockets.take("u1").unwrap();
        let _b = sockets.take("u1").unwrap();
        assert!(sockets.take("u1").is_none());
        assert!(sockets.take("u2").is_some(), "another user is not affected");
        drop(a);
        assert!(sockets.take("u1").is_some());
    }

    #[test]
    fn users_without_sockets_leave_nothing_behind() {
        let sockets = SocketsPerUser::new(1);
        drop(sockets.take("u1"));
        assert!(sockets.open.lock().unwrap().is_empty());
    }
}
