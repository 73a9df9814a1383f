//! The lock behind every piece of shared state, from `std` normally and from `loom` under
//! `--cfg loom`, so the loom suite model-checks the very code the runtimes use (completion
//! slots, cancellation and abort signals, the driver's wake-up, a running attempt's holders).
//! `Arc`s stay `std`'s: they hold trait objects, and loom only needs to see the locks.

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: no critical section in this crate runs user code, so a
/// poisoned lock can only come from a panic in a waker, and the state it guards is still whole.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The lock around the kernel and the adapter's tables: a synchronous mutex (`std`'s, or loom's
/// under `--cfg loom`, so the loom models check the lock that ships) that is never held across
/// an `.await`. Every critical section is one kernel input plus draining its actions, so every
/// entry point — async (the driver, reports, disconnect, shutdown) or sync (`submit`, `cancel`,
/// `progress`, queries, `Drop`) — takes it directly, from any thread and inside any executor,
/// current-thread runtimes included, and waits at most for one critical section. (An async
/// mutex taken with `lock_blocking` from sync entry points can deadlock a current-thread
/// runtime: a starved async waiter is handed the lock while the blocking caller parks the very
/// thread that would poll it; `tests/lock_starvation.rs` is that scenario.)
#[derive(Debug)]
pub(crate) struct CoreLock<T>(Mutex<T>);

impl<T> CoreLock<T> {
    pub(crate) fn new(value: T) -> Self {
        CoreLock(Mutex::new(value))
    }

    /// Takes the lock. Never call it with the guard of this lock held, and never hold the guard
    /// across an `.await` (the guard is not `Send`, so a spawned future that tries fails to
    /// compile).
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.0)
    }
}
