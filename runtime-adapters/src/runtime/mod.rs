//! What a runtime contributes: spawning, blocking jobs, a timer and a clock. Everything else —
//! the driver loop, handles, cancellation — is written once against `futures` and `async-lock`.
//!
//! Each runtime is one file behind its feature: [`TokioRuntime`] (`tokio`) and [`SmolRuntime`]
//! (`smol`). Implement [`Runtime`] to drive the kernel anywhere else (a test harness, another
//! executor).

use futures::future::BoxFuture;
use std::fmt::Debug;
use std::sync::Arc;

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
