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

/// The lock around the kernel: `async_lock::Mutex`, so async callers (the driver, reports,
/// disconnect, shutdown) wait without blocking a thread, while sync callers (`submit`, `cancel`,
/// `progress`, queries) use `lock_blocking` — fine because no critical section awaits.
#[cfg(not(loom))]
pub(crate) type CoreLock<T> = async_lock::Mutex<T>;

/// Under loom the kernel's lock is loom's own mutex with `async_lock`'s API: `async_lock`'s
/// mutex reads the real clock to detect starvation, which makes a model non-deterministic (loom
/// refuses it), and its own correctness is `async_lock`'s to check. What the models check is
/// this crate's use of the lock: what is done under it and what is signalled after.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct CoreLock<T>(Mutex<T>);

#[cfg(loom)]
impl<T> CoreLock<T> {
    pub(crate) fn new(value: T) -> Self {
        CoreLock(Mutex::new(value))
    }

    pub(crate) async fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.0)
    }

    pub(crate) fn lock_blocking(&self) -> MutexGuard<'_, T> {
        lock(&self.0)
    }
}
