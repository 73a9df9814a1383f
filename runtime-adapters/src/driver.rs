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
        }
        // What is due fires one deadline instant per lock hold, yielding in between, so a
        // wake-up with many instants due cannot hold the lock (and the executor thread) for all
        // of them at once. Stepping through the instants decides exactly what one
        // `handle_timeout(now)` would ("time keeps itself"). The usual wake-up, with one instant
        // due, is one lock hold.
        let (next, stopped) = loop {
            match turn(&shared, fired) {
                Turn::Stepped => yield_now().await,
                Turn::Done { next, stopped } => break (next, stopped),
            }
        };
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

/// What one lock hold of the driver did.
enum Turn {
    /// Fired one deadline instant earlier than now; more may be due.
    Stepped,
    /// Caught up (or was only woken): the deadline to arm next, and whether the kernel stopped.
    Done {
        next: Option<Instant>,
        stopped: bool,
    },
}

/// One lock hold: when the timer `fired`, fires the earliest deadline instant if it is before
/// now and hands back if another one is due too; else (or then) catches up to now. Then
/// performs the actions.
fn turn(shared: &Arc<Shared>, fired: bool) -> Turn {
    let mut core = shared.core.lock();
    if fired {
        let now = shared.now(&core.kernel);
        // Only `TimeWentBackwards` can fail, and neither `due` (never before the kernel's clock:
        // every input fires what is due at its instant first) nor `now` goes backwards.
        if let Some(due) = core.kernel.poll_timeout().filter(|d| *d < now) {
            let _ = core.apply(due, baton_kernel::Input::Timeout);
            core.drain_for_driver(shared);
            if core.kernel.poll_timeout().is_some_and(|d| d < now) {
                return Turn::Stepped;
            }
        }
        let _ = core.apply(now, baton_kernel::Input::Timeout);
    }
    let next = core.drain_for_driver(shared);
    Turn::Done {
        next,
        stopped: core.kernel.is_stopped(),
    }
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
