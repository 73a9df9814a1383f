//! [`TaskHandle`]: the submitter's side of a task.

use crate::error::TaskError;
use crate::shared::Shared;
use crate::slot::Slot;
use baton_kernel::{Error, TaskId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A future of a task's result: `Ok(value)` if it completed, otherwise the [`TaskError`] that
/// says how the kernel ended it (rejected, timed out, cancelled, abandoned, failed …).
///
/// Dropping the handle does not cancel the task (like `tokio::task::JoinHandle`); call
/// [`cancel`](TaskHandle::cancel) for that, or [`detach`](TaskHandle::detach) to drop it on
/// purpose.
#[must_use = "dropping a TaskHandle detaches the task and loses its result: await it, or call .detach()"]
pub struct TaskHandle<T> {
    id: Option<TaskId>,
    slot: Arc<Slot<T>>,
    shared: Arc<Shared>,
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> TaskHandle<T> {
    pub(crate) fn new(id: Option<TaskId>, slot: Arc<Slot<T>>, shared: Arc<Shared>) -> Self {
        TaskHandle { id, slot, shared }
    }

    /// The task's id; `None` if the submit was refused (the handle then resolves with the
    /// refusal at once).
    pub fn id(&self) -> Option<TaskId> {
        self.id
    }

    /// Whether the task has reached its terminal state (awaiting the handle will not wait).
    pub fn is_finished(&self) -> bool {
        self.slot.is_resolved()
    }

    /// Cancels the task (and its children): a waiting task ends
    /// [`Cancelled`](TaskError::Cancelled) at once; a running one sees its context's
    /// [`cancelled()`](crate::TaskContext::cancelled) resolve, and is aborted after its class's
    /// grace if it does not stop. Errors: `AlreadyEnded`, `UnknownTask` (refused or removed).
    pub fn cancel(&self) -> Result<(), Error> {
        let Some(id) = self.id else {
            return Err(Error::UnknownTask(TaskId(0)));
        };
        cancel(&self.shared, id)
    }

    /// Drops the handle, letting the task run on unobserved.
    pub fn detach(self) {}
}

pub(crate) fn cancel(shared: &Arc<Shared>, id: TaskId) -> Result<(), Error> {
    let mut core = shared.core.lock();
    let now = shared.now(&core.kernel);
    let result = core.apply(now, baton_kernel::Input::Cancel { task: id });
    core.drain(shared);
    result.map(|_| ())
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll_take(cx)
    }
}
