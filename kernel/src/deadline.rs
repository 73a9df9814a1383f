//! Deadlines: one ordered set of every pending timer, so the next deadline is its first entry.
//!
//! Each task keeps the instants of its armed timers, which makes removal exact and O(log n)
//! (no lazy tombstones, no scans). Firing order at one instant is the set's order: task timers
//! before session and shutdown cleanups, task timers by task id, then by [`TaskTimer`] order.

use crate::id::{SessionId, TaskId};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Number of per-task timer kinds.
pub(crate) const TASK_TIMERS: usize = 7;

/// A per-task deadline kind, in firing order for equal instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum TaskTimer {
    /// Queued too long.
    Queue = 0,
    /// Total deadline since first submission.
    Total = 1,
    /// Running too long.
    Run = 2,
    /// No progress for too long.
    Heartbeat = 3,
    /// Cancel grace over: abort.
    Grace = 4,
    /// Backoff over: re-queue.
    Backoff = 5,
    /// Retention over: remove the record.
    Retention = 6,
}

impl TaskTimer {
    pub(crate) const ALL: [TaskTimer; TASK_TIMERS] = [
        TaskTimer::Queue,
        TaskTimer::Total,
        TaskTimer::Run,
        TaskTimer::Heartbeat,
        TaskTimer::Grace,
        TaskTimer::Backoff,
        TaskTimer::Retention,
    ];

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum TimerKind {
    Task(TaskId, TaskTimer),
    SessionCleanup(SessionId),
    ShutdownCleanup,
}

/// Every pending deadline, earliest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timers {
    set: BTreeSet<(Instant, TimerKind)>,
}

impl Timers {
    /// O(log n).
    pub(crate) fn insert(&mut self, at: Instant, kind: TimerKind) {
        self.set.insert((at, kind));
    }

    /// O(log n).
    pub(crate) fn remove(&mut self, at: Instant, kind: TimerKind) -> bool {
        self.set.remove(&(at, kind))
    }

    /// The earliest deadline. O(log n).
    pub(crate) fn first(&self) -> Option<(Instant, TimerKind)> {
        self.set.first().copied()
    }

    /// Removes and returns the earliest deadline if it is due at `now`. O(log n).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKind)> {
        match self.set.first() {
            Some(&(at, _)) if at <= now => self.set.pop_first(),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }

    pub(crate) fn contains(&self, at: Instant, kind: TimerKind) -> bool {
        self.set.contains(&(at, kind))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Instant, TimerKind)> {
        self.set.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_in_order_ties_by_task_then_kind() {
        let mut t = Timers::default();
        let at = Instant::from_nanos(10);
        t.insert(at, TimerKind::ShutdownCleanup);
        t.insert(at, TimerKind::Task(TaskId(2), TaskTimer::Queue));
        t.insert(at, TimerKind::Task(TaskId(1), TaskTimer::Retention));
        t.insert(at, TimerKind::Task(TaskId(1), TaskTimer::Run));
        t.insert(
            Instant::from_nanos(11),
            TimerKind::Task(TaskId(0), TaskTimer::Queue),
        );
        assert_eq!(t.pop_due(Instant::from_nanos(9)), None);
        let order: Vec<_> = std::iter::from_fn(|| t.pop_due(at))
            .map(|(_, k)| k)
            .collect();
        assert_eq!(
            order,
            vec![
                TimerKind::Task(TaskId(1), TaskTimer::Run),
                TimerKind::Task(TaskId(1), TaskTimer::Retention),
                TimerKind::Task(TaskId(2), TaskTimer::Queue),
                TimerKind::ShutdownCleanup,
            ]
        );
        assert_eq!(t.len(), 1);
    }
}
