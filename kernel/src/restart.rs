//! Restart: the kernel state recovered from a journal, taken over by a new process.
//!
//! A durable store rebuilds the kernel from its snapshot and journal after the process that
//! drove it stopped (a crash, a kill, a deploy). The state it rebuilds still says that some
//! futures run and that some sessions are connected, but the process that ran those futures
//! and held those connections is gone. [`Kernel::restart`] says so, as one input:
//!
//! - every **connected session is detached**: it keeps its queue, its group memberships and its
//!   id, but starts nothing until [`Kernel::connect`] names it again (which re-attaches the
//!   same generation); what waits in it still times out at its queue deadline, so a name that
//!   never comes back rejects its queue as usual;
//! - every **attempt that was running ends** as the driver would report a future that failed
//!   `Failed { error: "interrupted …", retryable: true }`, in task-id order, so the class's
//!   retry policy applies (at-least-once: the process that ran it is gone, and whether it
//!   finished its side effects is unknown); an attempt that was already cancelling ends as its
//!   cancellation says (Cancelled, TimedOut, or Abandoned after an abort);
//! - every **reconnect fence** of an abandoned task is lifted: the future it stood for is gone.

use crate::error::Error;
use crate::id::TaskId;
use crate::kernel::Kernel;
use crate::task::Exit;
use crate::time::Instant;

/// The error text of an attempt that a restart interrupted.
pub const INTERRUPTED: &str = "interrupted: the process running it stopped";

impl Kernel {
    /// The process driving this kernel was replaced (see the module docs of `restart.rs`):
    /// detaches every connected session, ends every running attempt as interrupted (retryable),
    /// and lifts the fences of abandoned tasks. Emits what those ends emit (`Notify`, retries,
    /// and any start that becomes possible). O(n log n) for the n tasks and sessions involved.
    ///
    /// Errors: `TimeWentBackwards` only; allowed in every lifecycle (a kernel recovered while
    /// shutting down finishes its shutdown).
    ///
    /// ```
    /// use baton_kernel::{preset, Instant, Kernel, Submit, Target, TaskState};
    /// let mut k = Kernel::new(preset::session_manager()).unwrap();
    /// let s = k.connect(Instant::ZERO, "acct").unwrap();
    /// let scraping = k.class_id("scraping").unwrap();
    /// let running = k.submit(Instant::ZERO, Submit::new(scraping, Target::Session(s))).unwrap();
    /// let waiting = k.submit(Instant::ZERO, Submit::new(scraping, Target::Session(s))).unwrap();
    /// // The process dies; its successor recovers the state and says so.
    /// k.restart(Instant::from_nanos(1_000_000_000)).unwrap();
    /// // This class has no retry policy: the interrupted attempt was its last.
    /// assert_eq!(k.task(running).unwrap().state, TaskState::Failed);
    /// // The waiting task waits for "acct" to connect again, which re-attaches it.
    /// assert_eq!(k.task(waiting).unwrap().state, TaskState::Queued);
    /// assert_eq!(k.connect(Instant::from_nanos(2_000_000_000), "acct").unwrap(), s);
    /// assert_eq!(k.task(waiting).unwrap().state, TaskState::Running);
    /// ```
    pub fn restart(&mut self, now: Instant) -> Result<(), Error> {
        self.advance(now)?;
        self.now = now;
        let live: Vec<_> = self
            .sessions
            .values()
            .filter(|s| s.closing.is_none() && !s.detached)
            .map(|s| (s.id, s.is_free()))
            .collect();
        for (sid, free) in live {
            if free {
                self.session_busy(sid);
            }
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.detached = true;
            }
        }
        let abandoned: Vec<TaskId> = self
            .fences
            .tasks()
            .filter(|(_, f)| f.abandoned)
            .map(|(id, _)| *id)
            .collect();
        for id in abandoned {
            self.lift_fence(id);
        }
        let active: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.state.is_active())
            .map(|t| t.id)
            .collect();
        for id in active {
            // Still active: an earlier end in this loop (a parent's) may only have cancelled it.
            if self.tasks.get(&id).is_some_and(|t| t.state.is_active()) {
                let exit = Exit::Failed {
                    error: INTERRUPTED.to_owned(),
                    retryable: true,
                };
                self.stopped(id, exit);
            }
        }
        self.settle();
        Ok(())
    }
}
