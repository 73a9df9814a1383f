//! What a task's handle resolves to when there is no value: [`TaskError`], one variant per way
//! the kernel can end a task; and [`TaskFailure`], what a body returns to fail (retryably or not).

use baton_kernel::{CancelReason, ConfigError, Outcome, RejectReason};
use std::fmt;

/// Why a [`TaskHandle`](crate::TaskHandle) resolved without a value: the kernel's outcome of
/// the task, or a refusal at submit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// Refused at submit: the target's queue (or the background queue) was full.
    #[error("rejected: the queue is full")]
    QueueFull,
    /// Refused at submit: the registry, or the parent's children, were at their bound.
    #[error("rejected: the registry or the parent's children are at their bound")]
    Capacity,
    /// It waited in its queue past its queue (or total) timeout.
    #[error("rejected: it waited past its queue timeout")]
    QueueTimeout,
    /// Its session disconnected before it ran (or was closing at submit).
    #[error("rejected: its session closed")]
    SessionClosed,
    /// The scheduler shut down before it ran (or was shutting down at submit).
    #[error("rejected: the scheduler is shutting down")]
    Shutdown,
    /// The target session or group does not exist.
    #[error("rejected: unknown session or group")]
    UnknownTarget,
    /// It ran past its run (or total) timeout, was cancelled and stopped.
    #[error("timed out: it ran past its run timeout")]
    RunTimeout,
    /// It reported no progress within its heartbeat timeout, was cancelled and stopped.
    #[error("timed out: no progress within its heartbeat timeout")]
    Stalled,
    /// It was cancelled for this reason (user, disconnect, shutdown, parent) and stopped, or was
    /// cancelled while it waited.
    #[error("cancelled ({})", .0.name())]
    Cancelled(CancelReason),
    /// It did not stop within its cancel grace and its future was dropped, or it was still
    /// running when disconnect or shutdown cleanup removed it.
    #[error("abandoned: it did not stop within its grace")]
    Abandoned,
    /// Its body returned an error (or panicked) and no retry was left.
    #[error("failed: {0}")]
    Failed(TaskFailure),
    /// No class has this name.
    #[error("unknown class {0:?}")]
    UnknownClass(String),
    /// The kernel refused the submit for another reason: an exclusive class without a target,
    /// a parent that is no longer active, time going backwards.
    #[error("refused: {0}")]
    Refused(baton_kernel::Error),
}

impl TaskError {
    /// The error for a task that ended with `outcome`; `None` for [`Outcome::Completed`].
    /// `failure` is the last attempt's failure, used for [`Outcome::Failed`].
    pub fn from_outcome(outcome: Outcome, failure: Option<TaskFailure>) -> Option<TaskError> {
        Some(match outcome {
            Outcome::Completed => return None,
            Outcome::Failed => TaskError::Failed(
                failure.unwrap_or_else(|| TaskFailure::new("failed (no error text)")),
            ),
            Outcome::Cancelled(reason) => TaskError::Cancelled(reason),
            Outcome::TimedOut(CancelReason::Stalled) => TaskError::Stalled,
            Outcome::TimedOut(_) => TaskError::RunTimeout,
            Outcome::Rejected(reason) => TaskError::from_rejection(reason),
            Outcome::Abandoned => TaskError::Abandoned,
        })
    }

    /// The error for a rejection (at submit or in the queue).
    pub fn from_rejection(reason: RejectReason) -> TaskError {
        match reason {
            RejectReason::QueueFull => TaskError::QueueFull,
            RejectReason::Capacity => TaskError::Capacity,
            RejectReason::QueueTimeout => TaskError::QueueTimeout,
            RejectReason::SessionClosed => TaskError::SessionClosed,
            RejectReason::Shutdown => TaskError::Shutdown,
            RejectReason::UnknownTarget => TaskError::UnknownTarget,
        }
    }

    /// The error for a submit the kernel refused.
    pub(crate) fn from_submit_error(error: baton_kernel::Error) -> TaskError {
        match error {
            baton_kernel::Error::Refused(reason) => TaskError::from_rejection(reason),
            other => TaskError::Refused(other),
        }
    }

    /// Whether the task never ran because it was rejected or refused.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self,
            TaskError::QueueFull
                | TaskError::Capacity
                | TaskError::QueueTimeout
                | TaskError::SessionClosed
                | TaskError::Shutdown
                | TaskError::UnknownTarget
                | TaskError::UnknownClass(_)
                | TaskError::Refused(_)
        )
    }

    /// Whether the task was cancelled (for any reason) or timed out.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            TaskError::Cancelled(_) | TaskError::RunTimeout | TaskError::Stalled
        )
    }
}

/// How a task body says it failed: an error text and whether a retry may help.
///
/// A body returns `Result<T, E>` with `E: Into<TaskFailure>`. Any `std::error::Error` converts
/// (so `?` works) into a **non-retryable** failure; return
/// [`TaskFailure::retryable`] to let the class's
/// [`RetryPolicy`](baton_kernel::RetryPolicy) run the body again after its backoff.
///
/// ```
/// use baton_runtime::TaskFailure;
/// let fatal: TaskFailure = std::io::Error::other("disk on fire").into();
/// assert!(!fatal.is_retryable());
/// let transient = TaskFailure::retryable("flood wait, try later");
/// assert!(transient.is_retryable());
/// assert_eq!(transient.to_string(), "flood wait, try later");
/// ```
///
/// `TaskFailure` deliberately does not implement `std::error::Error` itself (like
/// `anyhow::Error`), which is what lets every error type convert into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFailure {
    message: String,
    retryable: bool,
}

impl TaskFailure {
    /// A failure that no retry will fix.
    pub fn new(message: impl fmt::Display) -> Self {
        TaskFailure {
            message: message.to_string(),
            retryable: false,
        }
    }

    /// A failure that a retry may fix: the class's retry policy decides whether one is made.
    pub fn retryable(message: impl fmt::Display) -> Self {
        TaskFailure {
            message: message.to_string(),
            retryable: true,
        }
    }

    /// A panic in the task's body, with its message when the payload was a string.
    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_owned());
        TaskFailure::new(format_args!("panicked: {text}"))
    }

    /// The error text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether a retry may help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskFailure {
    fn from(error: E) -> Self {
        TaskFailure::new(error)
    }
}

/// Why a [`Scheduler`](crate::Scheduler) could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The kernel refused the configuration.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// No runtime was given and none could be chosen: enable the `tokio` feature and call from
    /// inside a tokio runtime, or enable the `smol` feature.
    #[error("no async runtime: enable the `smol` feature, or call from inside a tokio runtime")]
    NoRuntime,
    /// The input log's header could not be written.
    #[error("cannot start the input log: {0}")]
    Record(String),
}
