//! Time keeps itself: every input first fires the deadlines that are due, in order.
//!
//! Deadlines are armed and disarmed here (the record keeps the instant of each armed kind; the
//! [`Timers`](crate::deadline::Timers) index keeps them in firing order, with stale entries
//! dropped lazily), and [`Kernel::advance`] fires every deadline `<= now` — dispatching after
//! each distinct instant — before the input itself applies.

use crate::deadline::{TaskDeadline, TaskTimer, TimerKind};
use crate::error::Error;
use crate::id::TaskId;
use crate::kernel::{CaughtUp, Kernel};
use crate::task::{CancelReason, Outcome, RejectReason, TaskState};
use crate::time::Instant;

/// Whether a task deadline is still armed: its task records that timer at that instant.
pub(crate) fn live(tasks: &crate::registry::Registry, d: &TaskDeadline) -> bool {
    tasks
        .get(&d.task)
        .is_some_and(|t| t.timers.get(d.kind) == Some(d.at))
}

impl Kernel {
    /// Time keeps itself: refuses a `now` earlier than the last one, then fires every deadline
    /// `<= now` in order (dispatching after each distinct instant, and going on while that arms
    /// new deadlines `<= now`), moves the clock to `now` and settles. Every input starts here.
    pub(crate) fn advance(&mut self, now: Instant) -> Result<(), Error> {
        self.check_time(now)?;
        let mut fired = false;
        loop {
            let tasks = &self.tasks;
            let Some((at, kind)) = self.timers.pop_due(now, |d| live(tasks, d)) else {
                break;
            };
            fired = true;
            self.now = self.now.max(at);
            self.fire(kind, at);
            // Each deadline's consequences (children cancelled, cleanups closed) land before the
            // next deadline fires; dispatch waits until every deadline of this instant has.
            self.propagate();
            let tasks = &self.tasks;
            let next_same_instant = self.timers.any_due(self.now, |d| live(tasks, d));
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
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        let class = t.class;
        match t.timers.replace(kind, at) {
            Some(old) if old == at => return,
            Some(_) => self.timers.disarm(class, kind),
            None => {}
        }
        self.timers.arm(TaskDeadline {
            at,
            task: id,
            kind,
            class,
        });
    }

    /// Disarms a task timer if armed (lazily: its entry goes stale). O(1).
    pub(crate) fn disarm(&mut self, id: TaskId, kind: TaskTimer) {
        if let Some(t) = self.tasks.get_mut(&id)
            && t.timers.take(kind).is_some()
        {
            self.timers.disarm(t.class, kind);
        }
    }

    /// Disarms every timer of a task: one registry lookup. O(kinds armed).
    pub(crate) fn disarm_all(&mut self, id: TaskId) {
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        let armed = std::mem::take(&mut t.timers);
        for (kind, _) in armed.iter() {
            self.timers.disarm(t.class, kind);
        }
    }

    /// Drops deadlines that went stale in this input from the timer fronts, so that
    /// `poll_timeout` is exact between inputs.
    pub(crate) fn tidy_timers(&mut self) {
        let tasks = &self.tasks;
        self.timers.tidy(|d| live(tasks, d));
    }

    /// Fires one due timer.
    pub(crate) fn fire(&mut self, kind: TimerKind, at: Instant) {
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
        if t.timers.get(timer) == Some(at) {
            t.timers.take(timer);
        }
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
