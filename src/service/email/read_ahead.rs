//! Reads started ahead of their sends (when their jobs were claimed), kept by email id until each
//! send takes its own: used only while fresh, forgotten when their sends never come.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Longest a read started ahead is used: a send that starts later reads again.
pub(super) const FRESH: Duration = Duration::from_millis(500);

/// Reads started ahead whose sends never came (their jobs were given back, or taken over by
/// another runner) are forgotten this long after.
const FORGOTTEN: Duration = Duration::from_secs(60);

/// Each email's read started ahead (`R`, its answer to come), with when it started.
pub(super) struct ReadsAhead<R> {
    started: HashMap<String, (DateTime<Utc>, R)>,
}

impl<R> Default for ReadsAhead<R> {
    fn default() -> Self {
        ReadsAhead {
            started: HashMap::new(),
        }
    }
}

impl<R> ReadsAhead<R> {
    /// Keeps `reads`, started at `now` (a later one for the same email replaces the earlier), and
    /// forgets those [`FORGOTTEN`] by now.
    pub(super) fn add(&mut self, reads: impl IntoIterator<Item = (String, R)>, now: DateTime<Utc>) {
        self.started
            .retain(|_, (at, _)| younger(*at, now, FORGOTTEN));
        self.started
            .extend(reads.into_iter().map(|(id, read)| (id, (now, read))));
    }

    /// The read started ahead for `email_id`, if there is one and it is still [`FRESH`] at `now`;
    /// either way it is no longer kept.
    pub(super) fn take(&mut self, email_id: &str, now: DateTime<Utc>) -> Option<R> {
        let (at, read) = self.started.remove(email_id)?;
        younger(at, now, FRESH).then_some(read)
    }

    /// How many are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.started.len()
    }
}

/// Whether what happened `at` is less than `age` old at `now` (not if the clock went back).
fn younger(at: DateTime<Utc>, now: DateTime<Utc>, age: Duration) -> bool {
    (now - at).to_std().is_ok_and(|elapsed| elapsed < age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::milliseconds(1_800_000_000_000 + millis)
    }

    fn read(id: &str, n: u32) -> (String, u32) {
        (id.to_string(), n)
    }

    #[test]
    fn a_read_is_taken_once_while_fresh() {
        let mut ahead = ReadsAhead::default();
        ahead.add([read("a", 1), read("b", 2)], at(0));
        assert_eq!(ahead.take("a", at(499)), Some(1));
        assert_eq!(ahead.take("a", at(499)), None, "taken already");
        assert_eq!(ahead.take("c", at(0)), None, "never started");
        assert_eq!(ahead.len(), 1);
    }

    #[test]
    fn a_stale_read_is_not_used_and_not_kept() {
        let mut ahead = ReadsAhead::default();
        ahead.add([read("a", 1)], at(0));
        assert_eq!(ahead.take("a", at(500)), None);
        assert_eq!(ahead.len(), 0);
    }

    #[test]
    fn a_read_from_after_now_is_not_used() {
        // The clock went back between the claim and the send: what was read cannot be dated.
        let mut ahead = ReadsAhead::default();
        ahead.add([read("a", 1)], at(1_000));
        assert_eq!(ahead.take("a", at(999)), None);
    }

    #[test]
    fn a_later_read_of_the_same_email_replaces_the_earlier() {
        let mut ahead = ReadsAhead::default();
        ahead.add([read("a", 1)], at(0));
        ahead.add([read("a", 2)], at(400));
        assert_eq!(ahead.take("a", at(800)), Some(2));
    }

    #[test]
    fn reads_whose_sends_never_came_are_forgotten_at_the_next_add() {
        let mut ahead = ReadsAhead::default();
        ahead.add([read("a", 1), read("b", 2)], at(0));
        ahead.add([read("c", 3)], at(59_999));
        assert_eq!(ahead.len(), 3, "not yet a minute old");
        ahead.add([read("d", 4)], at(60_000));
        assert_eq!(ahead.len(), 2, "a and b are forgotten, c and d kept");
        assert_eq!(ahead.take("c", at(60_499)), None, "kept, but stale by now");
        assert_eq!(ahead.take("d", at(60_499)), Some(4));
    }
}
