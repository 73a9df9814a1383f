//! Typed errors. A call that returns an error has changed nothing.

use crate::id::{ClassId, GroupId, SessionId, TaskId};
use crate::task::{RejectReason, TaskState};
use crate::time::Instant;
use thiserror::Error;

/// A configuration problem found by [`Config::validate`](crate::Config::validate).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// There must be at least one class.
    #[error("config.classes is empty")]
    NoClasses,
    /// More classes than [`CLASSES_MAX`](crate::CLASSES_MAX).
    #[error("config.classes has {count} classes, more than {max}")]
    TooManyClasses {
        /// Classes given.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A bound in `config.limits` is zero.
    #[error("config.limits.{field} must be at least 1")]
    ZeroBound {
        /// The field.
        field: &'static str,
    },
    /// A class name is empty or too long.
    #[error("class name {name:?} is empty or longer than limits.name_len_max")]
    BadClassName {
        /// The name.
        name: String,
    },
    /// Two classes share a name.
    #[error("class name {name:?} appears twice")]
    DuplicateClass {
        /// The name.
        name: String,
    },
    /// A concurrency limit of zero would never run anything.
    #[error("class {class:?}: limit must be at least 1 (use None for no limit)")]
    ZeroLimit {
        /// The class.
        class: String,
    },
    /// `retry.max_attempts` must count the first attempt.
    #[error("class {class:?}: retry.max_attempts must be at least 1")]
    ZeroAttempts {
        /// The class.
        class: String,
    },
    /// `retry.base` is larger than `retry.cap`.
    #[error("class {class:?}: retry.base is larger than retry.cap")]
    BaseAboveCap {
        /// The class.
        class: String,
    },
    /// `retry.jitter_permille` above 1000.
    #[error("class {class:?}: retry.jitter_permille must be at most 1000")]
    JitterTooLarge {
        /// The class.
        class: String,
    },
    /// A zero run, heartbeat or total timeout would cancel every task at once.
    #[error("class {class:?}: {field} must be positive (use None for no deadline)")]
    ZeroTimeout {
        /// The class.
        class: String,
        /// The field.
        field: &'static str,
    },
}

/// An input the kernel refused. The state is exactly as it was before the call.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// `now` is earlier than an instant the kernel has already seen.
    #[error("time went backwards: {now} is before {last}")]
    TimeWentBackwards {
        /// The instant given.
        now: Instant,
        /// The latest instant seen.
        last: Instant,
    },
    /// A submit was refused at the boundary: nothing was registered.
    #[error("submit refused: {0}")]
    Refused(RejectReason),
    /// No task with this id is in the registry (never existed, or already removed).
    #[error("unknown {0}")]
    UnknownTask(TaskId),
    /// No connected session with this name.
    #[error("unknown session {0:?}")]
    UnknownSession(String),
    /// No connected session with this id (it never existed, or it is closing or gone).
    #[error("unknown or closing {0}")]
    UnknownSessionId(SessionId),
    /// No class with this id.
    #[error("unknown {0}")]
    UnknownClass(ClassId),
    /// No group with this name.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// A session with this name is already connected.
    #[error("session {0:?} is already connected")]
    AlreadyConnected(String),
    /// A name is empty or longer than `limits.name_len_max`.
    #[error("name {0:?} is empty or too long")]
    BadName(String),
    /// `limits.sessions_max` sessions are already connected or closing.
    #[error("too many sessions (limit {0})")]
    TooManySessions(u32),
    /// `limits.groups_max` groups exist already.
    #[error("too many groups (limit {0})")]
    TooManyGroups(u32),
    /// The session belongs to `limits.groups_per_session_max` groups already.
    #[error("{0} is in too many groups")]
    TooManyGroupsForSession(SessionId),
    /// The session is already a member of the group.
    #[error("{session} is already in {group}")]
    AlreadyMember {
        /// The session.
        session: SessionId,
        /// The group.
        group: GroupId,
    },
    /// The session is not a member of the group.
    #[error("{session} is not in {group}")]
    NotMember {
        /// The session.
        session: SessionId,
        /// The group.
        group: GroupId,
    },
    /// An exclusive class needs a session or group target.
    #[error("{0} is exclusive and needs a session or group target")]
    TargetRequired(ClassId),
    /// The parent is not queued, backing off or running (children are refused once the parent
    /// is cancelling or has ended).
    #[error("parent {0} is not active")]
    ParentNotActive(TaskId),
    /// A report or progress for a task that is not running (`state` says where it is).
    #[error("{task} is {state:?}, not running")]
    NotRunning {
        /// The task.
        task: TaskId,
        /// Its state.
        state: TaskState,
    },
    /// `Exit::Dropped` reported for a task the kernel never asked to abort.
    #[error("{0} was not aborted, so it cannot have been dropped")]
    NotAborted(TaskId),
    /// A report for an earlier attempt of a task that has since been retried (a late duplicate).
    #[error("{task}: report for attempt {attempt}, but attempt {current} is the one running")]
    StaleReport {
        /// The task.
        task: TaskId,
        /// The attempt the report was for.
        attempt: u32,
        /// The attempt the kernel is running.
        current: u32,
    },
    /// Cancel of a task that has already ended.
    #[error("{0} has already ended")]
    AlreadyEnded(TaskId),
    /// A progress message longer than `limits.message_len_max`.
    #[error("progress message of {len} bytes exceeds {max}")]
    MessageTooLong {
        /// Its length.
        len: usize,
        /// The bound.
        max: u32,
    },
    /// Progress with `current > total`.
    #[error("progress current {current} exceeds total {total}")]
    BadProgress {
        /// Reported current.
        current: u64,
        /// Reported total.
        total: u64,
    },
    /// The kernel is shutting down or has shut down.
    #[error("the kernel is shutting down")]
    ShuttingDown,
}
