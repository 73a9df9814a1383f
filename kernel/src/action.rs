//! What the kernel asks its driver to do, drained with [`Kernel::poll_action`](crate::Kernel::poll_action).

use crate::id::{ClassId, SessionId, TaskId};
use crate::task::{CancelReason, Outcome};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// One thing for the driver to do (or know).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Start running the task's body. For an exclusive task, `session` is the one it holds.
    Start {
        /// The task.
        task: TaskId,
        /// Its class.
        class: ClassId,
        /// The session it runs on (exclusive tasks, or background tasks aimed at a session).
        session: Option<SessionId>,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Ask the task's body to stop (cooperative); report with `finished` when it has.
    Cancel {
        /// The task.
        task: TaskId,
        /// Why.
        reason: CancelReason,
    },
    /// The grace ran out: drop the task's future now, then report `Exit::Dropped`.
    Abort {
        /// The task.
        task: TaskId,
    },
    /// Something happened that a submitter or observer may want to know.
    Notify(Notice),
}

/// Notifications: nothing to do, but handles to resolve and logs to write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// The task reached its terminal state (exactly once per task).
    Finished {
        /// The task.
        task: TaskId,
        /// How it ended.
        outcome: Outcome,
    },
    /// The attempt failed and the task will re-enter its queue at `at` as attempt `attempt`.
    Retrying {
        /// The task.
        task: TaskId,
        /// The next attempt's number.
        attempt: u32,
        /// When its backoff ends.
        at: Instant,
    },
    /// The task's record left the registry (retention or cleanup).
    Removed {
        /// The task.
        task: TaskId,
    },
    /// A disconnect or shutdown finished its cleanup.
    Closed(CleanupReport),
}

/// What was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One session.
    Session(SessionId),
    /// The whole kernel.
    Shutdown,
}

/// The end of a disconnect or shutdown: every task involved has left the registry; those listed
/// were still running when the grace ran out (blocking code that never stopped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupReport {
    /// What was closed.
    pub scope: Scope,
    /// When cleanup finished.
    pub at: Instant,
    /// Tasks that had not stopped, with their class, parent and age.
    pub stuck: Vec<StuckTask>,
}

/// A task that did not stop within its grace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckTask {
    /// The task.
    pub task: TaskId,
    /// Its class.
    pub class: ClassId,
    /// Its parent, if any.
    pub parent: Option<TaskId>,
    /// Time since it was first submitted.
    pub age: Duration,
    /// Why it was cancelled.
    pub reason: Option<CancelReason>,
}
