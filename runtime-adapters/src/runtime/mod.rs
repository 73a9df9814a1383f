//! What a runtime contributes: spawning, blocking jobs, a timer and a clock. Everything else —
//! the driver loop, handles, cancellation — is written once against `futures`.
//!
//! Each runtime is one file behind its feature: [`TokioRuntime`] (`tokio`) and [`SmolRuntime`]
//! (`smol`). Implement [`Runtime`] to drive the kernel anywhere else (a test harness, another
//! executor).

use futures::future::BoxFuture;
use std::fmt::Debug;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The runtime services the scheduler needs.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// Runs `future` to completion in the background.
    fn spawn(&self, future: BoxFuture<'static, ()>);

    /// Runs `job` on a thread where blocking is allowed.
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>);

    /// A future that resolves at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: std::time::Instant) -> BoxFuture<'static, ()>;

    /// The current time. Override it to run the kernel on a virtual clock (tokio's paused time
    /// does, through [`TokioRuntime`]).
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }

    /// A timer the driver keeps for its whole life and moves with [`Timer::reset`] whenever the
    /// kernel's next deadline changes, so a moving deadline allocates nothing. `None` (the
    /// default) makes the driver fall back on [`Runtime::sleep_until`], one boxed future per
    /// change; [`TokioRuntime`] and [`SmolRuntime`] both provide one.
    fn timer(&self) -> Option<Box<dyn Timer>> {
        None
    }

    /// A future that lets the executor run its other tasks once, then resolves: the driver
    /// awaits it between two slices of a large batch of work. The default returns `Pending`
    /// once after waking itself (the task goes to the back of the run queue); [`TokioRuntime`]
    /// uses `tokio::task::yield_now`, which also lets the runtime poll its I/O and timers
    /// first.
    fn yield_now(&self) -> BoxFuture<'static, ()> {
        Box::pin(yield_once())
    }
}

/// Returns `Pending` once (after asking to be polled again), then `Ready`.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// A resettable timer (see [`Runtime::timer`]).
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use baton_runtime::{Runtime, TokioRuntime};
/// use std::time::Duration;
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let runtime = TokioRuntime::new(rt.handle().clone());
/// let mut timer = runtime.timer().unwrap();
/// let start = runtime.now();
/// timer.reset(start + Duration::from_secs(60));
/// // Moved earlier before it fired: the same timer now expires after 2 ms.
/// timer.reset(start + Duration::from_millis(2));
/// rt.block_on(std::future::poll_fn(|cx| timer.poll_expired(cx)));
/// let waited = runtime.now() - start;
/// assert!(waited >= Duration::from_millis(2) && waited < Duration::from_secs(60));
/// # }
/// ```
pub trait Timer: Send {
    /// Moves the timer to `deadline` (in the past: it expires at once). It stays ready once
    /// expired until it is reset again.
    fn reset(&mut self, deadline: std::time::Instant);

    /// Ready once the deadline set by the last [`Timer::reset`] has passed. Before the first
    /// reset it is never ready.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// The fallback [`Timer`] for runtimes without one: a new [`Runtime::sleep_until`] per reset.
pub(crate) struct SleepTimer {
    runtime: Arc<dyn Runtime>,
    sleep: Option<BoxFuture<'static, ()>>,
}

impl SleepTimer {
    pub(crate) fn new(runtime: Arc<dyn Runtime>) -> Self {
        SleepTimer {
            runtime,
            sleep: None,
        }
    }
}

impl Timer for SleepTimer {
    fn reset(&mut self, deadline: std::time::Instant) {
        self.sleep = Some(self.runtime.sleep_until(deadline));
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

/// The runtime [`Scheduler::new`](crate::Scheduler::new) picks: tokio if the `tokio` feature is
/// on and the caller is inside a tokio runtime, else smol if the `smol` feature is on.
pub fn default_runtime() -> Option<Arc<dyn Runtime>> {
    #[cfg(feature = "tokio")]
    if let Some(rt) = TokioRuntime::try_current() {
        return Some(Arc::new(rt));
    }
    #[cfg(feature = "smol")]
    {
        Some(Arc::new(SmolRuntime::global()))
    }
    #[cfg(not(feature = "smol"))]
    {
        None
    }
}

#[cfg(feature = "smol")]
mod smol;
#[cfg(feature = "smol")]
pub use self::smol::SmolRuntime;

#[cfg(feature = "tokio")]
mod tokio;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioRuntime;
