//! One run of a task's body: the future the runtime spawns on `Start`, its abort switch, and the
//! holds that keep the task's session busy until its code has really stopped.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::context::TaskContext;
use crate::error::TaskFailure;
use crate::shared::Shared;
use crate::signal::Signal;
use crate::slot::{Resolve, Slot};
use crate::sync::{Mutex, lock};
use baton_kernel::{Exit, TaskId};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What keeps a started attempt alive: its body's future (one hold) and every blocking job it
/// started through [`TaskContext::spawn_blocking`] (one hold each). The attempt's exit is
/// reported to the kernel — freeing its session — only when the last hold is released, so code
/// that cannot be aborted keeps the session held and shows up as stuck.
#[derive(Debug)]
pub struct Holds {
    state: Mutex<HoldState>,
}

#[derive(Debug)]
struct HoldState {
    holders: usize,
    exit: Option<Exit>,
}

impl Default for Holds {
    fn default() -> Self {
        Self::new()
    }
}

impl Holds {
    /// Holds for a new attempt: one, its body's.
    pub fn new() -> Self {
        Holds {
            state: Mutex::new(HoldState {
                holders: 1,
                exit: None,
            }),
        }
    }

    /// Takes one more hold. False if every hold was already released (the exit is reported):
    /// the caller then runs unheld.
    pub fn acquire(&self) -> bool {
        let mut state = lock(&self.state);
        if state.holders == 0 {
            return false;
        }
        state.holders += 1;
        true
    }

    /// Releases one hold, recording `exit` if given (the body's release gives it). Returns the
    /// exit to report if this was the last hold: exactly one release ever returns `Some`.
    pub fn release(&self, exit: Option<Exit>) -> Option<Exit> {
        let mut state = lock(&self.state);
        debug_assert!(
            state.holders > 0,
            "released more holds than taken: {state:?}"
        );
        if exit.is_some() {
            state.exit = exit;
        }
        state.holders = state.holders.saturating_sub(1);
        if state.holders == 0 {
            state.exit.take()
        } else {
            None
        }
    }

    #[cfg(loom)]
    /// Holds not yet released.
    pub fn holders(&self) -> usize {
        lock(&self.state).holders
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

/// A task body with its result type erased: each call starts one attempt.
pub(crate) trait ErasedBody: Send + Sync + 'static {
    fn call(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), TaskFailure>>;
}

/// A typed body and the slot its values go to.
pub(crate) struct TypedBody<F, T> {
    pub(crate) body: F,
    pub(crate) slot: Arc<Slot<T>>,
}

impl<F, Fut, T, E> ErasedBody for TypedBody<F, T>
where
    F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<TaskFailure> + 'static,
{
    fn call(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), TaskFailure>> {
        let future = (self.body)(ctx);
        let slot = self.slot.clone();
        Box::pin(async move {
            match future.await {
                Ok(value) => {
                    slot.stage(value);
                    Ok(())
                }
                Err(error) => Err(error.into()),
            }
        })
    }
}

/// A future that drops its inner future as soon as its abort signal is set.
pub struct Abortable<F> {
    future: Option<F>,
    abort: Arc<Signal<()>>,
    key: Option<u64>,
}

impl<F> Abortable<F> {
    /// Wraps `future`.
    pub fn new(future: F, abort: Arc<Signal<()>>) -> Self {
        Abortable {
            future: Some(future),
            abort,
            key: None,
        }
    }
}

impl<F: Future + Unpin> Future for Abortable<F> {
    /// `None` if aborted (the inner future has been dropped by then).
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.abort.poll_wait(&mut this.key, cx).is_ready() {
            // Dropping here, inside poll, is what makes an abort real: when the caller sees
            // `None` the body's future and everything it owned are gone — even if something it
            // owned panicked while being dropped.
            drop_catching(this.future.take());
            return Poll::Ready(None);
        }
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(None);
        };
        let output = std::task::ready!(Pin::new(future).poll(cx));
        // A finished future has already dropped what it owned (inside `poll`, where the
        // attempt's `catch_unwind` sees a panic); what is left is caught here all the same.
        drop_catching(this.future.take());
        if let Some(key) = this.key.take() {
            this.abort.unregister(key);
        }
        Poll::Ready(Some(output))
    }
}

/// Drops `value`, catching a panic from its `Drop`: the attempt must still end with a report,
/// or its session would stay held by a future that is gone. The panic's payload is forgotten,
/// not dropped (dropping it could panic again); it is at most a few bytes, once per such panic.
fn drop_catching<T>(value: T) {
    if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        std::mem::forget(payload);
    }
}

impl<F> Drop for Abortable<F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.abort.unregister(key);
        }
    }
}

/// Everything one attempt needs, moved into the spawned future.
pub(crate) struct Attempt {
    pub(crate) shared: Arc<Shared>,
    pub(crate) task: TaskId,
    pub(crate) body: Arc<dyn ErasedBody>,
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) ctx: TaskContext,
    pub(crate) abort: Arc<Signal<()>>,
    pub(crate) holds: Arc<Holds>,
}

impl Attempt {
    /// Runs the body to its end (or its abort), then releases the body's hold and, if it was
    /// the last, reports the exit to the kernel.
    pub(crate) async fn run(self) {
        let Attempt {
            shared,
            task,
            body,
            resolver,
            ctx,
            abort,
            holds,
        } = self;
        let exit = match std::panic::catch_unwind(AssertUnwindSafe(|| body.call(ctx))) {
            Err(payload) => failed(&*resolver, TaskFailure::from_panic(&*payload)),
            Ok(future) => {
                let guarded = AssertUnwindSafe(future).catch_unwind();
                match Abortable::new(guarded, abort).await {
                    None => Exit::Dropped,
                    Some(Ok(Ok(()))) => Exit::Completed,
                    Some(Ok(Err(failure))) => failed(&*resolver, failure),
                    Some(Err(payload)) => failed(&*resolver, TaskFailure::from_panic(&*payload)),
                }
            }
        };
        if let Some(exit) = holds.release(Some(exit)) {
            if matches!(exit, Exit::Failed { .. })
                && shared.injected(crate::fault::Fault::LoseFailedExit)
            {
                return;
            }
            shared.report(task, exit);
        }
    }
}

fn failed(resolver: &dyn Resolve, failure: TaskFailure) -> Exit {
    let exit = Exit::Failed {
        error: failure.message().to_owned(),
        retryable: failure.is_retryable(),
    };
    resolver.stage_failure(failure);
    exit
}
