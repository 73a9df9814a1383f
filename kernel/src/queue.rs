//! Priority queues ("lanes"): tasks that share one readiness condition, best first.
//!
//! A lane holds the queued tasks of one class aimed at one session, one group, or no target.
//! Inside a lane the order is the dispatch rule's: higher priority first, then lower sequence
//! number (earlier submission). Every operation is O(log n).

use crate::id::{GroupId, SessionId, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A task's place in the dispatch order. Smaller is better: `urgency` is `255 - priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Rank {
    pub(crate) urgency: u8,
    pub(crate) seq: u64,
}

impl Rank {
    pub(crate) fn new(priority: u8, seq: u64) -> Self {
        Rank {
            urgency: u8::MAX - priority,
            seq,
        }
    }
}

/// Which lane family a queued task waits in (the class is the other half of the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum LaneRef {
    /// Exclusive tasks for one session.
    Session(SessionId),
    /// Exclusive tasks for one group.
    Group(GroupId),
    /// Background tasks (whatever their target).
    Background,
}

/// One priority queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lane {
    entries: BTreeSet<(Rank, TaskId)>,
}

impl Lane {
    /// O(log n).
    pub(crate) fn insert(&mut self, rank: Rank, task: TaskId) -> bool {
        self.entries.insert((rank, task))
    }

    /// O(log n).
    pub(crate) fn remove(&mut self, rank: Rank, task: TaskId) -> bool {
        self.entries.remove(&(rank, task))
    }

    /// The best entry. O(log n).
    pub(crate) fn head(&self) -> Option<(Rank, TaskId)> {
        self.entries.first().copied()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Rank, TaskId)> {
        self.entries.iter()
    }

    /// Entries strictly better than `rank`. O(m) in the answer.
    pub(crate) fn count_before(&self, rank: Rank) -> usize {
        self.entries.range(..(rank, TaskId(0))).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_fifo() {
        let mut lane = Lane::default();
        lane.insert(Rank::new(1, 1), TaskId(1));
        lane.insert(Rank::new(5, 3), TaskId(3));
        lane.insert(Rank::new(5, 2), TaskId(2));
        assert_eq!(lane.head().map(|h| h.1), Some(TaskId(2)));
        assert_eq!(lane.count_before(Rank::new(1, 1)), 2);
        assert!(lane.remove(Rank::new(5, 2), TaskId(2)));
        assert_eq!(lane.head().map(|h| h.1), Some(TaskId(3)));
        assert_eq!(lane.iter().count(), 2);
    }
}
