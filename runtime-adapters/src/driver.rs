//! The driver loop, written once for every runtime: sleep until the kernel's next deadline (or a
//! wake-up saying it changed), call `handle_timeout`, drain, re-arm. One timer for the driver's
//! whole life ([`Runtime::timer`](crate::Runtime::timer)), reset — not re-allocated — when
//! `poll_timeout()` changes. Bounded work per wake-up: one deadline instant and at most
//! [`ACTIONS_PER_TURN`] actions per lock hold, with a yield to the executor in between.

use crate::runtime::{SleepTimer, Timer};
use crate::shared::{ACTIONS_PER_TURN, Shared};
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
        // What is due fires one deadline instant per lock hold, and at most `ACTIONS_PER_TURN`
        // actions are performed per lock hold, yielding in between: a wake-up with many
        // instants due, or one instant with a huge batch of actions, cannot hold the lock (and
        // the executor thread) for all of it at once. Stepping through the instants decides
        // exactly what one `handle_timeout(now)` would ("time keeps itself"). The usual
        // wake-up, with one instant due and a few actions, is one lock hold.
        let mut catch_up = fired;
        let (next, stopped) = loop {
            match turn(&shared, &mut catch_up) {
                Turn::More => shared.runtime.yield_now().await,
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
    /// Performed a slice of the work; more is left (actions, or deadline instants before now).
    More,
    /// Caught up (or was only woken) and performed every action: the deadline to arm next, and
    /// whether the kernel stopped.
    Done {
        next: Option<Instant>,
        stopped: bool,
    },
}

/// One lock hold, performing at most [`ACTIONS_PER_TURN`] actions: first what is left of earlier
/// actions; then, while `catch_up` (the timer fired), the earliest deadline instant if it is
/// before now — handing back if another is due too — else `handle_timeout(now)`, which clears
/// `catch_up`; then what that produced.
fn turn(shared: &Arc<Shared>, catch_up: &mut bool) -> Turn {
    let mut budget = ACTIONS_PER_TURN;
    let mut core = shared.core.lock();
    core.perform(shared, &mut budget);
    if core.has_backlog() {
        return Turn::More;
    }
    if *catch_up {
        let now = shared.now(&core.kernel);
        // Only `TimeWentBackwards` can fail, and neither `due` (never before the kernel's clock:
        // every input fires what is due at its instant first) nor `now` goes backwards.
        if let Some(due) = core.kernel.poll_timeout().filter(|d| *d < now) {
            let _ = core.apply(due, baton_kernel::Input::Timeout);
            core.drain_for_driver(shared, &mut budget);
            if core.has_backlog() || core.kernel.poll_timeout().is_some_and(|d| d < now) {
                return Turn::More;
            }
        }
        let _ = core.apply(now, baton_kernel::Input::Timeout);
        *catch_up = false;
    }
    let next = core.drain_for_driver(shared, &mut budget);
    if core.has_backlog() {
        return Turn::More;
    }
    Turn::Done {
        next,
        // Actions still waiting for their inputs to be durable keep the driver alive: the
        // committer wakes it to perform them.
        stopped: core.kernel.is_stopped() && core.backlog_is_empty(),
    }
}
