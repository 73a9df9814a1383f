//! The driver loop, written once for every runtime: sleep until the kernel's next deadline (or a
//! wake-up saying it changed), call `handle_timeout`, drain, re-arm. One timer for the driver's
//! whole life ([`Runtime::timer`](crate::Runtime::timer)), reset — not re-allocated — when
//! `poll_timeout()` changes.

use crate::runtime::{SleepTimer, Timer};
use crate::shared::Shared;
use baton_kernel::Instant;
use std::sync::Arc;
use std::task::Poll;

/// Runs until the kernel has shut down and no deadline is left.
pub(crate) async fn drive(shared: Arc<Shared>) {
    let mut armed: Option<Instant> = None;
    let mut timer: Box<dyn Timer> = shared
        .runtime
        .timer()
        .unwrap_or_else(|| Box::new(SleepTimer::new(shared.runtime.clone())));
    loop {
        let fired = std::future::poll_fn(|cx| {
            if armed.is_some() && timer.poll_expired(cx).is_ready() {
                return Poll::Ready(true);
            }
            if shared.wake.poll_notified(cx).is_ready() {
                return Poll::Ready(false);
            }
            Poll::Pending
        })
        .await;
        if fired {
            armed = None;
            // Fire what is due one deadline instant per lock hold, yielding in between, so a
            // wake-up with many instants due cannot hold the lock (and the executor thread)
            // for all of them at once. Stepping through the instants decides exactly what one
            // `handle_timeout(now)` would ("time keeps itself").
            let now = {
                let core = shared.core.lock();
                shared.now(&core.kernel)
            };
            while step(&shared, now) {
                yield_now().await;
            }
        }
        let mut core = shared.core.lock();
        if fired {
            let now = shared.now(&core.kernel);
            // Only `TimeWentBackwards` can fail, and `now` never goes backwards.
            let _ = core.apply(now, baton_kernel::Input::Timeout);
        }
        let next = core.drain_for_driver(&shared);
        let stopped = core.kernel.is_stopped();
        drop(core);
        if stopped && next.is_none() {
            return;
        }
        if next != armed {
            armed = next;
            if let Some(at) = next {
                timer.reset(shared.to_std(at));
            }
        }
    }
}

/// Fires the kernel's earliest deadline if it is before `now` (with everything else due at that
/// same instant) and performs its actions. Whether it did.
fn step(shared: &Arc<Shared>, now: Instant) -> bool {
    let mut core = shared.core.lock();
    let Some(due) = core.kernel.poll_timeout().filter(|d| *d < now) else {
        return false;
    };
    // Only `TimeWentBackwards` can fail, and `due` is never before the kernel's clock (every
    // input fires what is due at its instant first).
    let _ = core.apply(due, baton_kernel::Input::Timeout);
    core.drain_for_driver(shared);
    true
}

/// Returns `Pending` once (after asking to be polled again), then `Ready`: lets the executor run
/// other tasks between two slices of the driver's work.
async fn yield_now() {
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
