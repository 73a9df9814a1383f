//! The completion slot behind a [`TaskHandle`](crate::TaskHandle).
//!
//! The body's value is *staged* by the attempt that produced it, and the handle is *resolved*
//! only when the kernel announces the task's terminal outcome (a value staged by an attempt that
//! was being cancelled is dropped: the outcome says Cancelled). A slot is resolved at most once
//! and its result is taken at most once (checked by `tests/loom_slot.rs`).
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::error::{TaskError, TaskFailure};
use crate::sync::{Mutex, lock};
use baton_kernel::Outcome;
use std::task::{Context, Poll, Waker};

/// A one-shot completion slot with a single waiter (the handle).
#[derive(Debug)]
pub struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

#[derive(Debug)]
struct SlotState<T> {
    /// The value of the attempt whose body returned `Ok`.
    staged: Option<T>,
    /// The failure of the latest attempt whose body returned `Err` or panicked.
    failure: Option<TaskFailure>,
    result: Option<Result<T, TaskError>>,
    resolved: bool,
    waker: Option<Waker>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slot<T> {
    /// An empty slot.
    pub fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                staged: None,
                failure: None,
                result: None,
                resolved: false,
                waker: None,
            }),
        }
    }

    /// Keeps an attempt's value until the kernel says how the task ended.
    pub fn stage(&self, value: T) {
        lock(&self.state).staged = Some(value);
    }

    /// Keeps an attempt's failure (the text the handle reports if the task ends Failed).
    pub fn stage_failure(&self, failure: TaskFailure) {
        lock(&self.state).failure = Some(failure);
    }

    /// Resolves with the task's terminal outcome: the staged value for Completed, otherwise the
    /// matching [`TaskError`]. Returns false (and changes nothing) if already resolved.
    pub fn resolve_outcome(&self, outcome: Outcome) -> bool {
        let waker = {
            let mut state = lock(&self.state);
            if state.resolved {
                return false;
            }
            let result = match outcome {
                Outcome::Completed => match state.staged.take() {
                    Some(value) => Ok(value),
                    // Completed is only reported after a value was staged; if that ever breaks,
                    // say so rather than hang the handle.
                    None => Err(TaskError::Failed(TaskFailure::new(
                        "completed without a value (adapter bug)",
                    ))),
                },
                other => {
                    let failure = state.failure.take();
                    state.staged = None;
                    Err(TaskError::from_outcome(other, failure).unwrap_or(TaskError::Abandoned))
                }
            };
            state.result = Some(result);
            state.resolved = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Resolves with an error directly (a submit refused at the boundary). Returns false if
    /// already resolved.
    pub fn resolve_err(&self, error: TaskError) -> bool {
        let waker = {
            let mut state = lock(&self.state);
            if state.resolved {
                return false;
            }
            state.result = Some(Err(error));
            state.resolved = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Whether the slot has been resolved.
    pub fn is_resolved(&self) -> bool {
        lock(&self.state).resolved
    }

    /// Takes the result once resolved, or registers `cx`'s waker.
    ///
    /// # Panics
    /// If the result was already taken (a future polled after it returned `Ready`).
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let mut state = lock(&self.state);
        if state.resolved {
            let result = state.result.take();
            drop(state);
            return match result {
                Some(result) => Poll::Ready(result),
                None => panic!("TaskHandle polled after it returned its result"),
            };
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The type-erased side of a slot that the driver sees.
pub(crate) trait Resolve: Send + Sync + 'static {
    /// See [`Slot::resolve_outcome`].
    fn resolve_outcome(&self, outcome: Outcome) -> bool;
    /// See [`Slot::stage_failure`].
    fn stage_failure(&self, failure: TaskFailure);
}

impl<T: Send + 'static> Resolve for Slot<T> {
    fn resolve_outcome(&self, outcome: Outcome) -> bool {
        Slot::resolve_outcome(self, outcome)
    }
    fn stage_failure(&self, failure: TaskFailure) {
        Slot::stage_failure(self, failure)
    }
}
