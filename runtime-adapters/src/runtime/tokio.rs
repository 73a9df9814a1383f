//! tokio: a runtime handle's `spawn`, `spawn_blocking` and `tokio::time`.

use super::Runtime;
use futures::future::BoxFuture;
use std::future::Future;
use tokio::runtime::Handle;

/// Runs the scheduler on a tokio runtime. Its clock is `tokio::time::Instant`, so a runtime
/// with paused time (`#[tokio::test(start_paused = true)]`) drives the kernel's deadlines
/// virtually. The runtime needs its time driver (`enable_time` or `enable_all`).
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The runtime of this handle.
    pub fn new(handle: Handle) -> Self {
        TokioRuntime { handle }
    }

    /// The runtime the caller runs in, if any.
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(Self::new)
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(future));
    }

    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        drop(self.handle.spawn_blocking(job));
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> BoxFuture<'static, ()> {
        // A sleep must be created inside the runtime's context to find its timer.
        let _guard = self.handle.enter();
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn timer(&self) -> Option<Box<dyn super::Timer>> {
        let _guard = self.handle.enter();
        // Far in the future until the first reset (`poll_expired` is only asked after one).
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365);
        Some(Box::new(TokioTimer(Box::pin(tokio::time::sleep_until(
            far,
        )))))
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        Box::pin(tokio::task::yield_now())
    }

    fn now(&self) -> std::time::Instant {
        let _guard = self.handle.enter();
        tokio::time::Instant::now().into_std()
    }
}

/// tokio's [`Sleep`](tokio::time::Sleep), allocated once and moved with `Sleep::reset`.
struct TokioTimer(std::pin::Pin<Box<tokio::time::Sleep>>);

impl super::Timer for TokioTimer {
    fn reset(&mut self, deadline: std::time::Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll_expired(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
