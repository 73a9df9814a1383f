//! Tasks: their states, outcomes, reasons and the registry record.

use crate::id::{ClassId, GroupId, SessionId, TaskId};
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// Where a task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Target {
    /// On this session (generation).
    Session(SessionId),
    /// On whichever member of the group frees first (late binding).
    Group(GroupId),
    /// Nowhere in particular: background work of a background class.
    None,
}

/// A task's lifecycle state (see DESIGN.md, "Task lifecycle").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    /// Waiting in its queue.
    Queued,
    /// Failed, waiting out its backoff before it re-enters its queue.
    Backoff,
    /// Started; holds its class slot and (if exclusive) its session.
    Running,
    /// Asked to stop; still holds everything it held until the driver reports it stopped.
    Cancelling,
    /// Ended successfully.
    Completed,
    /// Ended with an error and no retry left.
    Failed,
    /// Cancelled (user, disconnect, shutdown or parent) and stopped, or cancelled while queued.
    Cancelled,
    /// Stopped after a run, total or heartbeat deadline, or its total deadline passed in backoff.
    TimedOut,
    /// Never ran to the end of its queue wait: queue timeout, session closed or shutdown.
    Rejected,
    /// Aborted, or removed by disconnect/shutdown cleanup while still running.
    Abandoned,
}

impl TaskState {
    /// Every state, in counter order.
    pub const ALL: [TaskState; 10] = [
        TaskState::Queued,
        TaskState::Backoff,
        TaskState::Running,
        TaskState::Cancelling,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::TimedOut,
        TaskState::Rejected,
        TaskState::Abandoned,
    ];

    /// Position in [`TaskState::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the task has ended.
    pub const fn is_terminal(self) -> bool {
        (self as usize) >= (TaskState::Completed as usize)
    }

    /// Whether the task holds its class slot (and session, if exclusive).
    pub const fn is_active(self) -> bool {
        matches!(self, TaskState::Running | TaskState::Cancelling)
    }

    /// Whether the task is waiting (queued or backing off).
    pub const fn is_waiting(self) -> bool {
        matches!(self, TaskState::Queued | TaskState::Backoff)
    }

    /// The lowercase name used in traces.
    pub const fn name(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Backoff => "backoff",
            TaskState::Running => "running",
            TaskState::Cancelling => "cancelling",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::TimedOut => "timed_out",
            TaskState::Rejected => "rejected",
            TaskState::Abandoned => "abandoned",
        }
    }
}

/// Why a task is being cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The user asked.
    User,
    /// A run or total deadline passed.
    Timeout,
    /// No heartbeat (progress) within the heartbeat timeout.
    Stalled,
    /// Its session is disconnecting.
    Disconnect,
    /// The kernel is shutting down.
    Shutdown,
    /// Its parent was cancelled or ended unsuccessfully.
    Parent,
}

impl CancelReason {
    /// The lowercase name used in traces.
    pub const fn name(self) -> &'static str {
        match self {
            CancelReason::User => "user",
            CancelReason::Timeout => "timeout",
            CancelReason::Stalled => "stalled",
            CancelReason::Disconnect => "disconnect",
            CancelReason::Shutdown => "shutdown",
            CancelReason::Parent => "parent",
        }
    }

    /// Whether a task stopped for this reason ends TimedOut (otherwise Cancelled).
    pub const fn is_deadline(self) -> bool {
        matches!(self, CancelReason::Timeout | CancelReason::Stalled)
    }
}

/// Why a task was rejected (or a submit refused at the boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Its session's, group's or the background queue is full.
    QueueFull,
    /// The registry, or the parent's children, are at their bound.
    Capacity,
    /// It waited in its queue past its queue (or total) timeout.
    QueueTimeout,
    /// Its session disconnected.
    SessionClosed,
    /// The kernel is shutting down.
    Shutdown,
    /// The target session or group does not exist.
    UnknownTarget,
}

impl RejectReason {
    /// The lowercase name used in traces.
    pub const fn name(self) -> &'static str {
        match self {
            RejectReason::QueueFull => "queue_full",
            RejectReason::Capacity => "capacity",
            RejectReason::QueueTimeout => "queue_timeout",
            RejectReason::SessionClosed => "session_closed",
            RejectReason::Shutdown => "shutdown",
            RejectReason::UnknownTarget => "unknown_target",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It finished successfully.
    Completed,
    /// It failed and no retry was left (the error text is in the task view).
    Failed,
    /// It was cancelled for this reason and stopped (or never started).
    Cancelled(CancelReason),
    /// It stopped after a deadline (reason `Timeout` or `Stalled`).
    TimedOut(CancelReason),
    /// It was rejected for this reason before it ran.
    Rejected(RejectReason),
    /// It was aborted, or still running when disconnect/shutdown cleanup removed it.
    Abandoned,
}

impl Outcome {
    /// The terminal state this outcome puts a task in.
    pub const fn state(self) -> TaskState {
        match self {
            Outcome::Completed => TaskState::Completed,
            Outcome::Failed => TaskState::Failed,
            Outcome::Cancelled(_) => TaskState::Cancelled,
            Outcome::TimedOut(_) => TaskState::TimedOut,
            Outcome::Rejected(_) => TaskState::Rejected,
            Outcome::Abandoned => TaskState::Abandoned,
        }
    }

    /// The lowercase name used in traces (`completed`, `failed`, …).
    pub const fn name(self) -> &'static str {
        self.state().name()
    }

    /// Index of the outcome kind (0..6) for per-outcome counters.
    pub const fn index(self) -> usize {
        self.state().index() - TaskState::Completed.index()
    }
}

/// What the driver reports when a task's future has stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// The body returned successfully.
    Completed,
    /// The body returned an error (or panicked). `retryable` lets the class's retry policy apply.
    Failed {
        /// Error text (truncated to `limits.error_len_max`).
        error: String,
        /// Whether a retry may help.
        retryable: bool,
    },
    /// The future was dropped after an [`Action::Abort`](crate::Action::Abort).
    Dropped,
}

/// A task's progress, as last reported. Progress reports are also its heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Units done.
    pub current: u64,
    /// Units in all, if known.
    pub total: Option<u64>,
    /// A short message (at most `limits.message_len_max` bytes).
    pub message: String,
}

/// Cancellation bookkeeping of a task that was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelInfo {
    /// Why.
    pub reason: CancelReason,
    /// When the kernel asked it to stop.
    pub requested_at: Instant,
    /// When the grace ran out and the kernel asked for a hard abort; a task with this set and no
    /// report yet is *stuck*.
    pub abort_requested_at: Option<Instant>,
}

/// The per-task timers, indexed by [`TaskTimer`](crate::deadline::TaskTimer).
pub(crate) type TaskTimers = crate::deadline::Armed;

/// A task's registry record: the hot part, touched on every transition, inline; what only
/// some tasks ever have (progress, cancellation, an error, children) in a cold part allocated on
/// first use.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "TaskRecord", from = "TaskRecord")]
pub(crate) struct Task {
    pub(crate) id: TaskId,
    pub(crate) class: ClassId,
    pub(crate) target: Target,
    pub(crate) parent: Option<TaskId>,
    pub(crate) priority: u8,
    pub(crate) state: TaskState,
    /// 1 for the first attempt.
    pub(crate) attempt: u32,
    /// Sequence number of the current queue entry (fresh on every re-queue).
    pub(crate) seq: u64,
    pub(crate) created_at: Instant,
    pub(crate) enqueued_at: Instant,
    pub(crate) started_at: Option<Instant>,
    pub(crate) finished_at: Option<Instant>,
    pub(crate) last_heartbeat: Instant,
    /// The session it runs on while running or cancelling (for a session target, that session).
    pub(crate) session: Option<SessionId>,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) timers: TaskTimers,
    /// Its links in its lane while queued (an index: not in snapshots, rebuilt on load).
    pub(crate) links: crate::queue::Links,
    /// Its links in its counted session's task list (an index, rebuilt on load).
    pub(crate) member: crate::queue::Links,
    cold: Option<Box<Cold>>,
}

/// Records are equal when they say the same, whether or not a cold part was ever allocated.
impl PartialEq for Task {
    fn eq(&self, o: &Self) -> bool {
        (
            self.id,
            self.class,
            self.target,
            self.parent,
            self.priority,
            self.state,
            self.attempt,
            self.seq,
        ) == (
            o.id, o.class, o.target, o.parent, o.priority, o.state, o.attempt, o.seq,
        ) && (
            self.created_at,
            self.enqueued_at,
            self.started_at,
            self.finished_at,
            self.last_heartbeat,
            self.session,
            self.outcome,
            self.timers,
            self.links,
            self.member,
        ) == (
            o.created_at,
            o.enqueued_at,
            o.started_at,
            o.finished_at,
            o.last_heartbeat,
            o.session,
            o.outcome,
            o.timers,
            o.links,
            o.member,
        ) && self.progress() == o.progress()
            && self.cancel() == o.cancel()
            && self.error() == o.error()
            && self.children() == o.children()
    }
}

impl Eq for Task {}

/// The parts of a task record that most tasks never need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cold {
    pub(crate) progress: Progress,
    pub(crate) cancel: Option<CancelInfo>,
    pub(crate) error: Option<String>,
    /// Active (non-terminal) children.
    pub(crate) children: Vec<TaskId>,
}

static NO_PROGRESS: Progress = Progress {
    current: 0,
    total: None,
    message: String::new(),
};

/// A task record as snapshots carry it: every field flat, no index.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TaskRecord {
    id: TaskId,
    class: ClassId,
    target: Target,
    parent: Option<TaskId>,
    priority: u8,
    state: TaskState,
    attempt: u32,
    seq: u64,
    created_at: Instant,
    enqueued_at: Instant,
    started_at: Option<Instant>,
    finished_at: Option<Instant>,
    last_heartbeat: Instant,
    session: Option<SessionId>,
    progress: Progress,
    cancel: Option<CancelInfo>,
    outcome: Option<Outcome>,
    error: Option<String>,
    children: Vec<TaskId>,
    timers: [Option<Instant>; crate::deadline::TASK_TIMERS],
}

impl From<Task> for TaskRecord {
    fn from(t: Task) -> Self {
        let cold = t.cold.map(|c| *c).unwrap_or_default();
        TaskRecord {
            id: t.id,
            class: t.class,
            target: t.target,
            parent: t.parent,
            priority: t.priority,
            state: t.state,
            attempt: t.attempt,
            seq: t.seq,
            created_at: t.created_at,
            enqueued_at: t.enqueued_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            last_heartbeat: t.last_heartbeat,
            session: t.session,
            progress: cold.progress,
            cancel: cold.cancel,
            outcome: t.outcome,
            error: cold.error,
            children: cold.children,
            timers: t.timers.to_array(),
        }
    }
}

impl From<TaskRecord> for Task {
    fn from(r: TaskRecord) -> Self {
        let cold = Cold {
            progress: r.progress,
            cancel: r.cancel,
            error: r.error,
            children: r.children,
        };
        Task {
            id: r.id,
            class: r.class,
            target: r.target,
            parent: r.parent,
            priority: r.priority,
            state: r.state,
            attempt: r.attempt,
            seq: r.seq,
            created_at: r.created_at,
            enqueued_at: r.enqueued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            last_heartbeat: r.last_heartbeat,
            session: r.session,
            outcome: r.outcome,
            timers: TaskTimers::from_array(r.timers),
            links: Default::default(),
            member: Default::default(),
            // A record whose cold part is all defaults is stored without one, as the kernel
            // would have it: equality does not depend on whether it was ever touched.
            cold: (cold != Cold::default()).then(|| Box::new(cold)),
        }
    }
}

impl Task {
    /// A new Queued record for `submit`, first attempt, at `now`.
    pub(crate) fn new(
        id: TaskId,
        submit: &crate::Submit,
        priority: u8,
        seq: u64,
        now: Instant,
    ) -> Self {
        Task {
            id,
            class: submit.class,
            target: submit.target,
            parent: submit.parent,
            priority,
            state: TaskState::Queued,
            attempt: 1,
            seq,
            created_at: now,
            enqueued_at: now,
            started_at: None,
            finished_at: None,
            last_heartbeat: now,
            session: match submit.target {
                Target::Session(s) => Some(s),
                _ => None,
            },
            outcome: None,
            timers: Default::default(),
            links: Default::default(),
            member: Default::default(),
            cold: None,
        }
    }

    /// Its last progress report (the default before any).
    pub(crate) fn progress(&self) -> &Progress {
        self.cold.as_ref().map_or(&NO_PROGRESS, |c| &c.progress)
    }

    /// Its cancellation bookkeeping, once asked to stop.
    pub(crate) fn cancel(&self) -> Option<CancelInfo> {
        self.cold.as_ref().and_then(|c| c.cancel)
    }

    /// The error text of its last failed attempt.
    pub(crate) fn error(&self) -> Option<&str> {
        self.cold.as_ref().and_then(|c| c.error.as_deref())
    }

    /// Its active children.
    pub(crate) fn children(&self) -> &[TaskId] {
        self.cold.as_ref().map_or(&[], |c| &c.children)
    }

    /// The cold part, allocated on first use.
    pub(crate) fn cold_mut(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// Takes its children list, leaving it empty.
    pub(crate) fn take_children(&mut self) -> Vec<TaskId> {
        self.cold
            .as_mut()
            .map(|c| std::mem::take(&mut c.children))
            .unwrap_or_default()
    }

    /// The session whose counters and task set include this task: its target session, or for a
    /// group task, the member it is running on (or ended on: a terminal record stays with the
    /// member it ran on; one that ended waiting belongs to no session).
    pub(crate) fn counted_session(&self) -> Option<SessionId> {
        Self::counted_session_in(self.target, self.session, self.state)
    }

    pub(crate) fn counted_session_in(
        target: Target,
        bound: Option<SessionId>,
        state: TaskState,
    ) -> Option<SessionId> {
        match target {
            Target::Session(s) => Some(s),
            // A group task counts with the member it runs on, and its record stays there.
            Target::Group(_) if state.is_active() || state.is_terminal() => bound,
            _ => None,
        }
    }
}
