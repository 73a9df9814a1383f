//! What a task body receives: its identity, progress reporting, its cancellation signal and
//! accounted blocking work. (Child tasks are submitted through a [`TaskBuilder`], so
//! [`TaskContext::child`] and [`TaskContext::spawn_child`] live with it, in `builder.rs`, a floor
//! above: see "Layers" in the crate docs.)
//!
//! [`TaskBuilder`]: crate::TaskBuilder

use crate::holds::Holds;
use crate::shared::Shared;
use crate::signal::{Signal, Wait};
use baton_kernel::{CancelReason, ClassId, Error, Input, Progress, SessionId, TaskId};
use futures::channel::oneshot;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The context of one attempt of a task, passed to its body. Cheap to clone.
///
/// - [`progress`](TaskContext::progress) records progress, which is also the task's heartbeat;
/// - [`cancelled`](TaskContext::cancelled) resolves when the kernel asks the task to stop
///   (user cancel, run or heartbeat timeout, disconnect, shutdown, parent ended): select on it
///   and return. A body that ignores it is aborted (its future dropped) after the class's grace;
/// - [`spawn_child`](TaskContext::spawn_child) submits a child task, cancelled with its parent;
/// - [`spawn_blocking`](TaskContext::spawn_blocking) runs blocking code on the runtime's blocking
///   pool *and keeps the task's session held until that code returns*, even after an abort.
#[derive(Clone)]
pub struct TaskContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    shared: Arc<Shared>,
    task: TaskId,
    class: ClassId,
    session: Option<SessionId>,
    attempt: u32,
    cancel: Arc<Signal<CancelReason>>,
    holds: Arc<Holds>,
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("task", &self.inner.task)
            .field("class", &self.inner.class)
            .field("session", &self.inner.session)
            .field("attempt", &self.inner.attempt)
            .field("cancelled", &self.inner.cancel.get())
            .finish()
    }
}

impl TaskContext {
    pub(crate) fn new(
        shared: Arc<Shared>,
        task: TaskId,
        class: ClassId,
        session: Option<SessionId>,
        attempt: u32,
        cancel: Arc<Signal<CancelReason>>,
        holds: Arc<Holds>,
    ) -> Self {
        TaskContext {
            inner: Arc::new(ContextInner {
                shared,
                task,
                class,
                session,
                attempt,
                cancel,
                holds,
            }),
        }
    }

    /// The scheduler's shared state (for the floors above: child submission).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.inner.task
    }

    /// The task's class.
    pub fn class(&self) -> ClassId {
        self.inner.class
    }

    /// The session it runs on (exclusive tasks; background tasks aimed at a session).
    pub fn session(&self) -> Option<SessionId> {
        self.inner.session
    }

    /// This attempt's number: 1 for the first run, 2 for the first retry, …
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// Records progress (`current` of `total` units, with a short message); it is also the
    /// task's heartbeat. Errors: `MessageTooLong`, `BadProgress` (current above total),
    /// `NotRunning` (the task has already ended, e.g. abandoned by cleanup).
    pub fn progress(
        &self,
        current: u64,
        total: impl Into<Option<u64>>,
        message: impl Into<String>,
    ) -> Result<(), Error> {
        let progress = Progress {
            current,
            total: total.into(),
            message: message.into(),
        };
        let shared = &self.inner.shared;
        let mut core = shared.core.lock();
        let now = shared.now(&core.kernel);
        let result = core.apply(
            now,
            Input::Progress {
                task: self.inner.task,
                progress,
            },
        );
        // A heartbeat re-arms the task's heartbeat deadline: let the driver know.
        core.drain(shared);
        result.map(|_| ())
    }

    /// Resolves with the reason once the kernel asks this task to stop. Select on it with the
    /// body's work and return when it fires; the handle then resolves with the cancellation.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            wait: Wait::new(self.inner.cancel.clone()),
        }
    }

    /// Why the task is being cancelled, if it is.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.inner.cancel.get()
    }

    /// Whether the task has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel_reason().is_some()
    }

    /// Runs blocking code on the runtime's blocking pool (`tokio::task::spawn_blocking`,
    /// `smol::unblock`) and resolves with its value (a panic in it resumes in the body).
    ///
    /// Unlike calling the runtime directly, the task stays *held* until `f` returns: if the task
    /// is aborted meanwhile, its future is dropped but its session is not freed, and the task is
    /// reported stuck (and listed in the disconnect or shutdown report) until `f` returns.
    pub fn spawn_blocking<R, F>(&self, f: F) -> BlockingJob<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let guard = HoldGuard::new(
            self.inner.holds.clone(),
            self.inner.shared.clone(),
            self.inner.task,
        );
        self.inner.shared.runtime.spawn_blocking(Box::new(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(result);
            // Released only now that `f` has returned: until then the session stays held.
            drop(guard);
        }));
        BlockingJob { rx }
    }

    /// Sleeps on the scheduler's runtime (handy for bodies written for both runtimes).
    pub fn sleep(&self, duration: std::time::Duration) -> impl Future<Output = ()> + Send {
        let runtime = &self.inner.shared.runtime;
        runtime.sleep_until(runtime.now() + duration)
    }
}

/// A hold on an attempt that releases itself on drop (carried by blocking jobs).
pub(crate) struct HoldGuard {
    holds: Arc<Holds>,
    shared: Arc<Shared>,
    task: TaskId,
}

impl HoldGuard {
    pub(crate) fn new(holds: Arc<Holds>, shared: Arc<Shared>, task: TaskId) -> Option<Self> {
        holds.acquire().then_some(HoldGuard {
            holds,
            shared,
            task,
        })
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        if let Some(exit) = self.holds.release(None) {
            // The last hold was a blocking job. Report from a small task on the runtime rather
            // than here: a guard can be dropped anywhere, and this thread may be one that
            // already holds the kernel's lock.
            let shared = self.shared.clone();
            let task = self.task;
            self.shared
                .runtime
                .spawn(Box::pin(async move { shared.report(task, exit) }));
        }
    }
}

/// The future of [`TaskContext::cancelled`]: resolves with the cancellation's reason.
#[must_use = "futures do nothing unless polled; select on this with the body's work"]
#[derive(Debug)]
pub struct Cancelled {
    wait: Wait<CancelReason>,
}

impl Future for Cancelled {
    type Output = CancelReason;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CancelReason> {
        Pin::new(&mut self.wait).poll(cx)
    }
}

/// A latch: it may be polled again after it resolved (it resolves again), so it never reports
/// itself terminated and works in `futures::select!` as is.
impl futures::future::FusedFuture for Cancelled {
    fn is_terminated(&self) -> bool {
        false
    }
}

/// The future of [`TaskContext::spawn_blocking`]: resolves with the closure's value.
#[must_use = "the blocking job runs anyway; await this to get its value"]
#[derive(Debug)]
pub struct BlockingJob<R> {
    rx: oneshot::Receiver<std::thread::Result<R>>,
}

impl<R> Future for BlockingJob<R> {
    type Output = R;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        match std::task::ready!(Pin::new(&mut self.rx).poll(cx)) {
            Ok(Ok(value)) => Poll::Ready(value),
            Ok(Err(payload)) => std::panic::resume_unwind(payload),
            // The runtime dropped the job without running it: it is shutting down.
            Err(oneshot::Canceled) => panic!("the runtime dropped a blocking job before it ran"),
        }
    }
}
