//! What the adapter tells `tracing` (feature `tracing`, on by default): the `baton.attempt` span
//! every attempt's future runs in, and one debug event per action the adapter performs. Without
//! the feature every function here is empty. A floor-0 file: it knows only the kernel's ids.
//!
//! With no subscriber installed a span or event costs one callsite check.
#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use baton_kernel::{CancelReason, Instant, Outcome, SessionId, TaskId};
use std::future::Future;

/// Runs `future` inside the span `baton.attempt` (level INFO) with fields `task`, `class` (the
/// class's name), `session` (absent for a task without one) and `attempt` (1 for the first run).
pub(crate) fn in_attempt_span<F: Future>(
    future: F,
    task: TaskId,
    class: &str,
    session: Option<SessionId>,
    attempt: u32,
) -> impl Future<Output = F::Output> + use<F> {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::info_span!(
            "baton.attempt",
            task = task.0,
            class = class,
            session = session.map(|s| s.0),
            attempt = attempt,
        );
        tracing::Instrument::instrument(future, span)
    }
    #[cfg(not(feature = "tracing"))]
    {
        future
    }
}

/// The kernel started an attempt (`Action::Start`).
pub(crate) fn start(task: TaskId, attempt: u32) {
    #[cfg(feature = "tracing")]
    tracing::debug!(task = task.0, attempt, "baton.start");
}

/// The kernel asked a task to stop (`Action::Cancel`).
pub(crate) fn cancel(task: TaskId, reason: CancelReason) {
    #[cfg(feature = "tracing")]
    tracing::debug!(task = task.0, reason = reason.name(), "baton.cancel");
}

/// The kernel aborted a task: its future is dropped (`Action::Abort`).
pub(crate) fn abort(task: TaskId) {
    #[cfg(feature = "tracing")]
    tracing::debug!(task = task.0, "baton.abort");
}

/// A task ended (`Notice::Finished`).
pub(crate) fn finish(task: TaskId, outcome: Outcome) {
    #[cfg(feature = "tracing")]
    tracing::debug!(task = task.0, outcome = outcome.name(), "baton.finish");
}

/// A failed attempt will be retried once its backoff ends at `at` (`Notice::Retrying`).
pub(crate) fn retry(task: TaskId, attempt: u32, at: Instant) {
    #[cfg(feature = "tracing")]
    tracing::debug!(task = task.0, attempt, at_ns = at.as_nanos(), "baton.retry");
}
