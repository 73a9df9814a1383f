//! Reconnect fences: exclusivity across generations of one session name.
//!
//! A disconnected session's exclusive task may still be running physically — cancelling within
//! its grace, or abandoned by cleanup with blocking code that no abort can stop. A new
//! generation of the same name must not start exclusive work on top of it. So while the
//! `Config::fence_reconnect` rule is on, every exclusive task that held a session when it was
//! disconnected (or when the kernel shut down) *fences* the session's name until the driver
//! reports it stopped: while it is in the registry, through the ordinary `finished` report;
//! once cleanup has abandoned it and removed its record, through a late `finished` that the
//! kernel accepts for exactly this purpose.
//!
//! Bound: an abandoned entry outlives its registry record, so it counts toward
//! `Limits::tasks_max` until reported; entries of tasks still in the registry are already
//! counted there.

use crate::id::TaskId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One fencing task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fence {
    /// The session name it fences.
    pub(crate) name: String,
    /// The attempt that is (or may be) still running.
    pub(crate) attempt: u32,
    /// Cleanup abandoned it and removed its record: only a late report lifts the fence.
    pub(crate) abandoned: bool,
}

/// Every fence, by task and by name. The only writer of both indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fences {
    by_task: BTreeMap<TaskId, Fence>,
    by_name: BTreeMap<String, BTreeSet<TaskId>>,
    abandoned: u32,
}

impl Fences {
    /// Fences `name` with `task` (a no-op if the task already fences). O(log n).
    pub(crate) fn add(&mut self, task: TaskId, name: &str, attempt: u32) {
        if self.by_task.contains_key(&task) {
            return;
        }
        self.by_task.insert(
            task,
            Fence {
                name: name.to_owned(),
                attempt,
                abandoned: false,
            },
        );
        self.by_name
            .entry(name.to_owned())
            .or_default()
            .insert(task);
    }

    /// Marks a fencing task abandoned (its record is about to leave the registry). O(log n).
    pub(crate) fn abandon(&mut self, task: TaskId) {
        if let Some(f) = self.by_task.get_mut(&task)
            && !f.abandoned
        {
            f.abandoned = true;
            self.abandoned = self.abandoned.saturating_add(1);
        }
    }

    /// Removes a task's fence. Returns the name if that was its last fence. O(log n).
    pub(crate) fn lift(&mut self, task: TaskId) -> Option<String> {
        let fence = self.by_task.remove(&task)?;
        if fence.abandoned {
            self.abandoned = self.abandoned.saturating_sub(1);
        }
        let empty = match self.by_name.get_mut(&fence.name) {
            Some(set) => {
                set.remove(&task);
                set.is_empty()
            }
            None => false,
        };
        if empty {
            self.by_name.remove(&fence.name);
            return Some(fence.name);
        }
        None
    }

    /// Lifts the fence of a task that stopped while still in the registry (not abandoned).
    /// Returns the name if that was its last fence. O(log n).
    pub(crate) fn lift_reported(&mut self, task: TaskId) -> Option<String> {
        match self.by_task.get(&task) {
            Some(f) if !f.abandoned => self.lift(task),
            _ => None,
        }
    }

    /// The fence of an abandoned task (its record is gone). O(log n).
    pub(crate) fn abandoned(&self, task: TaskId) -> Option<&Fence> {
        self.by_task.get(&task).filter(|f| f.abandoned)
    }

    /// Whether any task fences `name`. O(log n).
    pub(crate) fn is_fenced(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The lowest fencing task of `name`. O(log n).
    pub(crate) fn first(&self, name: &str) -> Option<TaskId> {
        self.by_name.get(name).and_then(|s| s.first().copied())
    }

    /// Abandoned entries: records that left the registry but still count toward its bound.
    pub(crate) fn abandoned_len(&self) -> usize {
        self.abandoned as usize
    }

    /// Fenced names, in name order, with their fencing tasks in id order.
    pub(crate) fn names(&self) -> impl Iterator<Item = (&String, &BTreeSet<TaskId>)> {
        self.by_name.iter()
    }

    /// Every fence, by task.
    pub(crate) fn tasks(&self) -> impl Iterator<Item = (&TaskId, &Fence)> {
        self.by_task.iter()
    }

    /// Number of fenced names.
    pub(crate) fn names_len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the two indexes agree (for `check_invariants`).
    pub(crate) fn consistent(&self) -> Result<(), String> {
        let mut abandoned = 0u32;
        for (task, f) in &self.by_task {
            if !self.by_name.get(&f.name).is_some_and(|s| s.contains(task)) {
                return Err(format!("fence of {task} missing under {:?}", f.name));
            }
            if f.abandoned {
                abandoned = abandoned.saturating_add(1);
            }
        }
        let listed: usize = self.by_name.values().map(BTreeSet::len).sum();
        if listed != self.by_task.len() || self.by_name.values().any(BTreeSet::is_empty) {
            return Err("fence name index disagrees with task index".into());
        }
        if abandoned != self.abandoned {
            return Err(format!(
                "abandoned fences: counted {}, found {abandoned}",
                self.abandoned
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_fenced_until_its_last_task_is_lifted() {
        let mut f = Fences::default();
        f.add(TaskId(3), "alice", 1);
        f.add(TaskId(5), "alice", 2);
        f.abandon(TaskId(5));
        assert!(f.is_fenced("alice"));
        assert_eq!(f.first("alice"), Some(TaskId(3)));
        assert_eq!(f.abandoned_len(), 1);
        assert!(f.abandoned(TaskId(3)).is_none());
        assert_eq!(f.abandoned(TaskId(5)).map(|f| f.attempt), Some(2));
        assert_eq!(f.lift(TaskId(3)), None);
        assert!(f.is_fenced("alice"));
        assert_eq!(f.lift(TaskId(5)), Some("alice".to_owned()));
        assert!(!f.is_fenced("alice"));
        assert_eq!(f.abandoned_len(), 0);
        assert_eq!(f.lift(TaskId(5)), None);
        assert!(f.consistent().is_ok());
    }
}
