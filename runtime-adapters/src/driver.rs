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
        let mut core = shared.core.lock();
        if fired {
            armed = None;
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
