//! One run of a task's body: the future the runtime spawns on `Start` (the core reaches it
//! through [`Launch`], which every typed body implements here), and its abort switch.
//!
//! Above the core and the task context (see "Layers" in the crate docs): it builds the context
//! an attempt's body receives, and releases the body's hold when the body is gone.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::context::TaskContext;
use crate::error::TaskFailure;
use crate::fault::Fault;
use crate::holds::Holds;
use crate::shared::{Launch, Shared, Started};
use crate::signal::Signal;
use crate::slot::{Resolve, Slot};
use crate::telemetry;
use baton_kernel::{Exit, TaskId};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A task body with its result type erased: each call starts one attempt.
trait ErasedBody: Send + Sync + 'static {
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

impl<F, Fut, T, E> Launch for TypedBody<F, T>
where
    F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<TaskFailure> + 'static,
{
    fn launch(self: Arc<Self>, shared: Arc<Shared>, start: Started) -> BoxFuture<'static, ()> {
        let Started {
            task,
            class,
            session,
            attempt,
            cancel,
            abort,
            holds,
        } = start;
        let ctx = TaskContext::new(
            shared.clone(),
            task,
            class,
            session,
            attempt,
            cancel,
            holds.clone(),
        );
        let resolver: Arc<dyn Resolve> = self.slot.clone();
        let run = Attempt {
            shared: shared.clone(),
            task,
            body: self,
            resolver,
            ctx,
            abort,
            holds,
        };
        let class_name = shared
            .class_names()
            .get(class.index())
            .map_or("", String::as_str);
        Box::pin(telemetry::in_attempt_span(
            run.run(),
            task,
            class_name,
            session,
            attempt,
        ))
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
struct Attempt {
    shared: Arc<Shared>,
    task: TaskId,
    body: Arc<dyn ErasedBody>,
    resolver: Arc<dyn Resolve>,
    ctx: TaskContext,
    abort: Arc<Signal<()>>,
    holds: Arc<Holds>,
}

impl Attempt {
    /// Runs the body to its end (or its abort), then releases the body's hold and, if it was
    /// the last, reports the exit to the kernel.
    async fn run(self) {
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
            if matches!(exit, Exit::Failed { .. }) && shared.injected(Fault::LoseFailedExit) {
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
