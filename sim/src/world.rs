//! The simulated world: physical task executions and the queue of things that will happen.
//!
//! An [`Exec`] is one attempt's future as the driver runs it. Its *physical* interval starts at
//! its first poll (some driver latency after `Start`) and ends when it really stops — which for a
//! stubborn task is some time after it was cancelled, and for a zombie may be never. The kernel
//! only learns of the end through the driver's report, itself delayed. The oracle judges
//! exclusivity on these physical intervals, not on the kernel's bookkeeping.
//!
//! Everything is sans-IO: the world is data plus an event queue ordered by (instant, sequence).

use crate::rng::SimRng;
use crate::scenario::BehaviourPlan;
use baton_kernel::{ClassId, Exit, SessionId, TaskId};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Index of an execution in [`World::execs`].
pub type ExecId = u32;

/// How a task reacts to its cancellation signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnCancel {
    /// Stops shortly after it sees the signal.
    Cooperative,
    /// Stops only this long after it sees the signal.
    Stubborn(u64),
    /// Ignores the signal; stops when its future is dropped.
    Ignore,
}

/// Where an execution is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecState {
    /// Started by the kernel, not yet polled.
    Pending,
    /// Polled at least once: physically running.
    Running,
    /// Physically stopped (or dropped before its first poll).
    Ended,
}

/// One attempt of one task, as the driver runs it.
#[derive(Clone, Debug)]
pub struct Exec {
    /// The task.
    pub task: TaskId,
    /// Its attempt number.
    pub attempt: u32,
    /// Its class.
    pub class: ClassId,
    /// The session it runs on.
    pub session: Option<SessionId>,
    /// Whether it holds its session.
    pub exclusive: bool,
    /// Where it is.
    pub state: ExecState,
    /// Whether it was ever polled (has a physical interval).
    pub begun: bool,
    /// When it will end if nothing else happens.
    pub end_at: Option<u64>,
    /// What it reports when it ends on its own.
    pub exit: Exit,
    /// How it reacts to cancellation.
    pub on_cancel: OnCancel,
    /// Ignores abort too (blocking code).
    pub zombie: bool,
    /// A zombie's own stop, this long after its abort.
    pub zombie_stop: Option<u64>,
    /// The driver asked it to stop.
    pub cancelled: bool,
    /// The driver dropped (or tried to drop) its future.
    pub aborted: bool,
    /// Progress period (0: none).
    pub progress_every: u64,
    /// It stops sending progress at this instant.
    pub stall_at: Option<u64>,
    /// Progress reports sent.
    pub progress_sent: u64,
    /// Planned run time.
    pub duration: u64,
    /// Children it will submit.
    pub children: u32,
    /// Its finish report was handed to the kernel (or lost).
    pub reported: bool,
}

impl Exec {
    /// Draws an execution from a behaviour plan.
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        rng: &mut SimRng,
        plan: &BehaviourPlan,
        child: bool,
        task: TaskId,
        attempt: u32,
        class: ClassId,
        session: Option<SessionId>,
        exclusive: bool,
    ) -> Exec {
        let duration = if child {
            plan.child_duration.draw(rng)
        } else {
            plan.duration.draw(rng)
        };
        let exit = if rng.chance(plan.fail) {
            Exit::Failed {
                error: "simulated failure".to_owned(),
                retryable: rng.chance(plan.retryable),
            }
        } else {
            Exit::Completed
        };
        let zombie = rng.chance(plan.zombie);
        let on_cancel = if zombie || rng.chance(plan.ignore_cancel) {
            OnCancel::Ignore
        } else if rng.chance(plan.stubborn) {
            OnCancel::Stubborn(plan.stubborn_delay.draw(rng))
        } else {
            OnCancel::Cooperative
        };
        let zombie_stop = if zombie {
            plan.zombie_stop.map(|r| r.draw(rng))
        } else {
            None
        };
        let stall_at = if plan.progress_every_ns > 0 && rng.chance(plan.stall) {
            Some(duration / 2)
        } else {
            None
        };
        let children = if !child && rng.chance(plan.children) {
            rng.range(plan.children_count.0, plan.children_count.1) as u32
        } else {
            0
        };
        Exec {
            task,
            attempt,
            class,
            session,
            exclusive,
            state: ExecState::Pending,
            begun: false,
            end_at: None,
            exit,
            on_cancel,
            zombie,
            zombie_stop,
            cancelled: false,
            aborted: false,
            progress_every: plan.progress_every_ns,
            stall_at,
            progress_sent: 0,
            duration,
            children,
            reported: false,
        }
    }
}

/// Something that will happen in the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Connect session `i` (first time).
    Connect(usize),
    /// Submit job `j` of a replayed workload log.
    Job(usize),
    /// Reconnect session `i` (after a disconnect) and rejoin its groups.
    Reconnect(usize),
    /// A steady arrival of workload `w`.
    Arrival(usize),
    /// A burst of workload `w`.
    Burst(usize),
    /// The user cancels a task.
    UserCancel(TaskId),
    /// An execution is polled for the first time.
    Begin(ExecId),
    /// An execution reports progress.
    Tick(ExecId),
    /// An execution submits a child.
    Spawn(ExecId),
    /// An execution sees its cancellation signal.
    Signal(ExecId),
    /// An execution stops (if this is still its planned end).
    End(ExecId),
    /// The driver reports an execution's end to the kernel.
    Report(ExecId, Exit),
    /// The same report again (a duplicated report fault).
    DuplicateReport(ExecId, Exit),
    /// A random session disconnects.
    RandomDisconnect,
    /// The driving process crashes and a new one recovers the kernel.
    Crash,
    /// One round of a reconnect storm.
    Storm(u32),
    /// Shutdown mid-flight.
    Shutdown,
    /// The driver's clock jumps forward.
    ClockJump,
    /// A deliberately bad input.
    BadInput,
    /// A report for a task id the kernel never issued.
    UnknownReport,
    /// End of the active phase: workload and faults stop.
    PhaseEnd,
    /// The liveness bound: every task must have ended (zombies excepted); then shut down.
    LivenessCheck,
    /// Shutdown's grace is over: the kernel must be stopped and empty.
    FinalCheck,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    at: u64,
    seq: u64,
}

/// Pending events, earliest first; equal instants in scheduling order.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    slots: Vec<Option<Event>>,
    free: Vec<usize>,
    seq: u64,
}

impl EventQueue {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: u64, event: Event) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        self.seq += 1;
        self.heap.push(Reverse((Key { at, seq: self.seq }, slot)));
    }

    /// The earliest instant, if any.
    pub fn peek(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((k, _))| k.at)
    }

    /// Removes the earliest event.
    pub fn pop(&mut self) -> Option<(u64, Event)> {
        let Reverse((key, slot)) = self.heap.pop()?;
        let event = self.slots[slot].take()?;
        self.free.push(slot);
        Some((key.at, event))
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_by_time_then_insertion() {
        let mut q = EventQueue::default();
        q.push(5, Event::Shutdown);
        q.push(3, Event::ClockJump);
        q.push(5, Event::BadInput);
        assert_eq!(q.pop(), Some((3, Event::ClockJump)));
        assert_eq!(q.pop(), Some((5, Event::Shutdown)));
        q.push(4, Event::PhaseEnd);
        assert_eq!(q.pop(), Some((4, Event::PhaseEnd)));
        assert_eq!(q.pop(), Some((5, Event::BadInput)));
        assert!(q.is_empty());
    }
}
