//! Counters by state, kept at every transition so count queries are O(1).

use crate::task::TaskState;
use serde::{Deserialize, Serialize};

/// How many tasks are in each state.
///
/// ```
/// use baton_kernel::{StateCounts, TaskState};
/// let c = StateCounts::default();
/// assert_eq!(c.get(TaskState::Queued), 0);
/// assert_eq!(c.total(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    by_state: [u64; 10],
}

impl StateCounts {
    /// Tasks in `state`. O(1).
    pub fn get(&self, state: TaskState) -> u64 {
        self.by_state.get(state.index()).copied().unwrap_or(0)
    }

    /// All tasks counted. O(1).
    pub fn total(&self) -> u64 {
        self.by_state.iter().sum()
    }

    /// Running plus cancelling: tasks holding a class slot. O(1).
    pub fn active(&self) -> u64 {
        self.get(TaskState::Running) + self.get(TaskState::Cancelling)
    }

    /// Queued plus backing off. O(1).
    pub fn waiting(&self) -> u64 {
        self.get(TaskState::Queued) + self.get(TaskState::Backoff)
    }

    /// Terminal records still retained. O(1).
    pub fn terminal(&self) -> u64 {
        TaskState::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .map(|s| self.get(*s))
            .sum()
    }

    pub(crate) fn add(&mut self, state: TaskState) {
        if let Some(c) = self.by_state.get_mut(state.index()) {
            *c = c.saturating_add(1);
        }
    }

    pub(crate) fn sub(&mut self, state: TaskState) {
        if let Some(c) = self.by_state.get_mut(state.index()) {
            debug_assert!(
                *c > 0,
                "counter for {state:?} would go below zero: {self:?}"
            );
            *c = c.saturating_sub(1);
        }
    }
}
