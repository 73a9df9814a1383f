//! Snapshots: the kernel's state in a canonical form.
//!
//! A snapshot carries what cannot be recomputed — the configuration, the clock, the id and
//! sequence generators, the random generator's state, every task record in id order (each with
//! its armed deadlines), the sessions and groups (with their holders, idle times, closing
//! deadlines and members), the counters, the per-class totals, the fences and the lifecycle — and
//! no index: the timer queues, the lanes (and the links through the records) and the ready sets
//! are rebuilt on load from the records, then everything is validated with
//! [`check_invariants`](Kernel::check_invariants). The form therefore depends on neither slot
//! numbers nor memory layout: two kernels in the same state serialize the same.

use crate::deadline::{Cleanup, TaskDeadline, TaskTimer, Timers};
use crate::id::{SessionId, TaskId};
use crate::kernel::{Kernel, Lifecycle};
use serde::{Deserialize, Serialize};

impl Serialize for Kernel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Kernel::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Kernel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut kernel = Kernel::deserialize(deserializer)?;
        kernel.rebuild_indexes();
        kernel
            .check_invariants()
            .map_err(|e| serde::de::Error::custom(format!("invalid kernel state: {}", e.0)))?;
        Ok(kernel)
    }
}

impl Kernel {
    /// Rebuilds every index that a snapshot does not carry (the timers) from the records.
    pub(crate) fn rebuild_indexes(&mut self) {
        let mut timers = Timers::new(self.classes.len());
        for t in self.tasks.values() {
            for kind in TaskTimer::ALL {
                if let Some(at) = t.timers.get(kind) {
                    timers.arm(TaskDeadline {
                        at,
                        task: t.id,
                        kind,
                        class: t.class,
                    });
                }
            }
        }
        for s in self.sessions.values() {
            if let Some(at) = s.closing {
                timers.insert_cleanup(at, Cleanup::Session(s.id));
            }
        }
        if let Lifecycle::ShuttingDown { deadline } = self.lifecycle {
            timers.insert_cleanup(deadline, Cleanup::Shutdown);
        }
        self.timers = timers;
        for s in self.sessions.values_mut() {
            s.tasks = Default::default();
        }
        let members: Vec<(TaskId, SessionId)> = self
            .tasks
            .values()
            .filter_map(|t| t.counted_session().map(|s| (t.id, s)))
            .collect();
        for (id, s) in members {
            if let Some(s) = self.sessions.get_mut(&s) {
                s.tasks.insert(&mut self.tasks, id);
            }
        }
        self.rebuild_lanes();
    }
}
