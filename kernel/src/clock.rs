//! Time keeps itself: every input first fires the deadlines that are due, in order.
//!
//! Deadlines are armed and disarmed here (the record's slots hold each armed kind's instant and
//! its links; the [`Timers`](crate::deadline::Timers) index keeps them in firing order), and
//! [`Kernel::advance`] fires every deadline `<= now` — dispatching after each distinct instant —
//! before the input itself applies.

use crate::deadline::{TaskTimer, TimerKind};
use crate::error::Error;
use crate::id::TaskId;
use crate::kernel::{CaughtUp, Kernel};
use crate::task::{CancelReason, Outcome, RejectReason, TaskState};
use crate::time::Instant;

impl Kernel {
    /// Time keeps itself: refuses a `now` earlier than the last one, then fires every deadline
    /// `<= now` in order (dispatching after each distinct instant, and going on while that arms
    /// new deadlines `<= now`), moves the clock to `now` and settles. Every input starts here.
    pub(crate) fn advance(&mut self, now: Instant) -> Result<(), Error> {
        self.check_time(now)?;
        let mut fired = false;
        while let Some((at, kind)) = self.timers.pop_due(&mut self.tasks, now) {
            fired = true;
            self.now = self.now.max(at);
            self.fire(kind);
            // Each deadline's consequences (children cancelled, cleanups closed) land before the
            // next deadline fires; dispatch waits until every deadline of this instant has.
            self.propagate();
            let next_same_instant = self.timers.any_due(self.now);
            if !next_same_instant {
                self.dispatch();
            }
        }
        self.now = now;
        // Between inputs the kernel is settled; only fired deadlines can leave work to do.
        if fired {
            self.settle();
            self.caught_up = CaughtUp(self.actions.len());
        }
        Ok(())
    }

    /// Arms (or re-arms) a task timer. O(1) (O(log n) for one out of its FIFO's order).
    pub(crate) fn arm(&mut self, id: TaskId, kind: TaskTimer, at: Instant) {
        self.timers.arm(&mut self.tasks, id, kind, at);
    }

    /// Disarms a task timer if armed: an unlink, O(1).
    pub(crate) fn disarm(&mut self, id: TaskId, kind: TaskTimer) {
        self.timers.disarm(&mut self.tasks, id, kind);
    }

    /// Disarms every timer of a task. O(kinds armed).
    pub(crate) fn disarm_all(&mut self, id: TaskId) {
        self.timers.disarm_all(&mut self.tasks, id);
    }

    /// Fires one due timer.
    pub(crate) fn fire(&mut self, kind: TimerKind) {
        let (id, timer) = match kind {
            TimerKind::Task(id, timer) => (id, timer),
            TimerKind::SessionCleanup(s) => {
                self.finalize_session(s);
                return;
            }
            TimerKind::ShutdownCleanup => {
                self.finalize_shutdown();
                return;
            }
        };
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        let state = t.state;
        match (timer, state) {
            (TaskTimer::Queue | TaskTimer::Total, TaskState::Queued) => {
                self.end_task(id, Outcome::Rejected(RejectReason::QueueTimeout));
            }
            (TaskTimer::Total, TaskState::Backoff) => {
                self.end_task(id, Outcome::TimedOut(CancelReason::Timeout));
            }
            (TaskTimer::Total | TaskTimer::Run, TaskState::Running) => {
                self.cancel_one(id, CancelReason::Timeout);
            }
            (TaskTimer::Heartbeat, TaskState::Running) => {
                self.cancel_one(id, CancelReason::Stalled);
            }
            (TaskTimer::Grace, TaskState::Cancelling) => self.abort(id),
            (TaskTimer::Backoff, TaskState::Backoff) => self.requeue(id),
            (TaskTimer::Retention, s) if s.is_terminal() => self.remove_record(id),
            _ => debug_assert!(false, "timer {timer:?} fired for {id} in state {state:?}"),
        }
    }
}
