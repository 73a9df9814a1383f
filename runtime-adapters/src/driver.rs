//! The driver loop, written once for every runtime: sleep until the kernel's next deadline (or a
//! wake-up saying it changed), call `handle_timeout`, drain, re-arm. One timer is armed at a
//! time, and replaced only when `poll_timeout()` changes.

use crate::shared::Shared;
use baton_kernel::Instant;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::Poll;

/// Runs until the kernel has shut down and no deadline is left.
pub(crate) async fn drive(shared: Arc<Shared>) {
    let mut armed: Option<Instant> = None;
    let mut timer: Option<BoxFuture<'static, ()>> = None;
    loop {
        let fired = std::future::poll_fn(|cx| {
            if let Some(t) = timer.as_mut()
                && t.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(true);
            }
            if shared.wake.poll_notified(cx).is_ready() {
                return Poll::Ready(false);
            }
            Poll::Pending
        })
        .await;
        let mut core = shared.core.lock().await;
        if fired {
            timer = None;
            armed = None;
            let now = shared.now(&core.kernel);
            // Only `TimeWentBackwards` can fail, and `now` never goes backwards.
            let _ = core.kernel.handle_timeout(now);
        }
        let next = core.drain_for_driver(&shared);
        let stopped = core.kernel.is_stopped();
        drop(core);
        if stopped && next.is_none() {
            return;
        }
        if next != armed {
            armed = next;
            timer = next.map(|at| shared.runtime.sleep_until(shared.to_std(at)));
        }
    }
}
