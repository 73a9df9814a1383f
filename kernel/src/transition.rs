//! Transitions: the one writer of task state.
//!
//! [`Kernel::set_state`] is the only place a task's state changes; it moves the global, class
//! and session counters from the old state to the new, the session task sets and the queue
//! lengths. Around it, each transition below also keeps the lanes (enqueue / dequeue), the
//! timers (arm / disarm) and the session holder in step: ending a task (`end_task`), giving back
//! what a running task holds (`stop_running`), retrying (`retry`, `requeue`), cancelling
//! (`cancel_one`, `abort`) and removing a record (`remove_record`).

use crate::action::Action;
use crate::counts::StateCounts;
use crate::deadline::TaskTimer;
use crate::id::TaskId;
use crate::kernel::{Kernel, Lifecycle, Tally};
use crate::task::{CancelReason, Outcome, RejectReason, Target, Task, TaskState};
use crate::time::{Duration, Instant};

impl Kernel {
    /// Adds a newly registered task to every counter and index that depends on its state.
    pub(crate) fn count_in(&mut self, id: TaskId) {
        self.tally(id, Tally::Add);
    }

    /// Removes a task that leaves the registry from every counter and index.
    pub(crate) fn count_out(&mut self, id: TaskId) {
        self.tally(id, Tally::Sub);
    }

    pub(crate) fn tally(&mut self, id: TaskId, tally: Tally) {
        let Some(t) = self.tasks.get(&id) else { return };
        let (state, class, target, session) = (t.state, t.class, t.target, t.counted_session());
        let bump = |c: &mut StateCounts| match tally {
            Tally::Add => c.add(state),
            Tally::Sub => c.sub(state),
        };
        bump(&mut self.counts);
        if let Some(cs) = self.classes.get_mut(class.index()) {
            bump(&mut cs.counts);
        }
        if let Some(s) = session.and_then(|s| self.sessions.get_mut(&s)) {
            bump(&mut s.counts);
            match tally {
                Tally::Add => s.tasks.insert(&mut self.tasks, id),
                Tally::Sub => s.tasks.remove(&mut self.tasks, id),
            };
        }
        if state.is_waiting() {
            self.bump_queue_len(target, tally);
        }
    }

    /// One more (or one fewer) task waiting for `target`.
    pub(crate) fn bump_queue_len(&mut self, target: Target, tally: Tally) {
        let len = match target {
            Target::Session(s) => self.sessions.get_mut(&s).map(|s| &mut s.queue_len),
            Target::Group(g) => self.groups.get_mut(g.0 as usize).map(|g| &mut g.queue_len),
            Target::None => Some(&mut self.background_queue_len),
        };
        if let Some(len) = len {
            *len = match tally {
                Tally::Add => len.saturating_add(1),
                Tally::Sub => len.saturating_sub(1),
            };
        }
    }

    /// Moves a task to `state`, keeping every counter right: the counters move from the old
    /// state to the new in one pass; the session task set changes only when the counted session
    /// does (a group task binding to or leaving its member). O(1), plus O(log n) on a move.
    pub(crate) fn set_state(&mut self, id: TaskId, state: TaskState) {
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        let (old, class, target) = (t.state, t.class, t.target);
        let from = t.counted_session();
        t.state = state;
        let to = t.counted_session();
        let shift = |c: &mut StateCounts| {
            c.sub(old);
            c.add(state);
        };
        shift(&mut self.counts);
        if let Some(cs) = self.classes.get_mut(class.index()) {
            shift(&mut cs.counts);
        }
        if from == to {
            if let Some(s) = from.and_then(|s| self.sessions.get_mut(&s)) {
                shift(&mut s.counts);
            }
        } else {
            if let Some(s) = from.and_then(|s| self.sessions.get_mut(&s)) {
                s.counts.sub(old);
                s.tasks.remove(&mut self.tasks, id);
            }
            if let Some(s) = to.and_then(|s| self.sessions.get_mut(&s)) {
                s.counts.add(state);
                s.tasks.insert(&mut self.tasks, id);
            }
        }
        match (old.is_waiting(), state.is_waiting()) {
            (true, false) => self.bump_queue_len(target, Tally::Sub),
            (false, true) => self.bump_queue_len(target, Tally::Add),
            _ => {}
        }
    }

    /// Ends a task with `outcome`: leaves its queue or gives back its slot and session, records
    /// metrics, notifies, arms retention and cancels its children unless it completed.
    pub(crate) fn end_task(&mut self, id: TaskId, outcome: Outcome) {
        let Some(t) = self.tasks.get(&id) else { return };
        if t.state.is_terminal() {
            return;
        }
        let (state, class, parent) = (t.state, t.class, t.parent);
        if state == TaskState::Queued {
            self.dequeue(id);
        }
        if state.is_active() {
            self.stop_running(id);
        }
        self.disarm_all(id);
        self.stuck.remove(&id);
        let now = self.now;
        let children = match self.tasks.get_mut(&id) {
            Some(t) => {
                t.finished_at = Some(now);
                t.outcome = Some(outcome);
                t.take_children()
            }
            None => Vec::new(),
        };
        if let Some(s) = self.tasks.get(&id).and_then(Task::counted_session)
            && self.sessions.get(&s).is_some_and(|s| s.closing.is_some())
        {
            self.closing_checks.push(s);
        }
        self.set_state(id, outcome.state());
        if let Some(cs) = self.classes.get_mut(class.index()) {
            cs.totals.record_outcome(outcome);
        }
        if let Some(p) = parent.and_then(|p| self.tasks.get_mut(&p)) {
            p.cold_mut().children.retain(|c| *c != id);
        }
        self.emit(Action::Notify(crate::Notice::Finished {
            task: id,
            outcome,
        }));
        let retention = self
            .class_config(class)
            .map_or(Duration::ZERO, |c| c.retention);
        let at = self.gc_instant(now + retention);
        self.arm(id, TaskTimer::Retention, at);
        if outcome != Outcome::Completed {
            for child in children {
                self.pending_cancels
                    .push_back((child, CancelReason::Parent));
            }
        }
        // A completed parent's children run on, like detached spawned tasks: the list of active
        // children is simply dropped.
    }

    /// The batched removal instant for a record due at `due` (see `Config::cleanup_interval`).
    pub(crate) fn gc_instant(&self, due: Instant) -> Instant {
        let interval = self.config.cleanup_interval.as_nanos();
        if interval == 0 {
            return due;
        }
        let n = due.as_nanos();
        Instant::from_nanos(n.div_ceil(interval).saturating_mul(interval).max(n))
    }

    /// Gives back a stopping task's class slot (by leaving the active states, done by the caller)
    /// and its session, and records its run time.
    pub(crate) fn stop_running(&mut self, id: TaskId) {
        let Some(t) = self.tasks.get(&id) else { return };
        let (class, session) = (t.class, t.session);
        let started = t.started_at.unwrap_or(self.now);
        if let Some(name) = self.fences.lift_reported(id) {
            self.unfence(&name);
        }
        let exclusive = self.class_config(class).is_some_and(|c| c.exclusive);
        let run_time = self.now.saturating_since(started);
        if let Some(cs) = self.classes.get_mut(class.index()) {
            cs.totals.run_time.record(run_time);
        }
        if let Some(sid) = session.filter(|_| exclusive) {
            let freed = match self.sessions.get_mut(&sid) {
                Some(s) if s.holder == Some(id) => {
                    s.holder = None;
                    s.is_free()
                }
                _ => false,
            };
            if freed {
                self.session_free(sid);
            }
        }
    }

    pub(crate) fn may_retry(&self, id: TaskId) -> bool {
        let Some(t) = self.tasks.get(&id) else {
            return false;
        };
        let Some(class) = self.class_config(t.class) else {
            return false;
        };
        let limits = &self.config.limits;
        // A retry re-enters its queue, so it needs room there like a submit does: a retry that
        // finds its queue full (or its session closing) is not made, and the task ends Failed.
        let has_room = match t.target {
            Target::Session(s) => self
                .sessions
                .get(&s)
                .is_some_and(|s| s.closing.is_none() && s.queue_len < limits.queue_len_max),
            Target::Group(g) => self
                .groups
                .get(g.0 as usize)
                .is_some_and(|g| g.queue_len < limits.queue_len_max),
            Target::None => self.background_queue_len < limits.background_queue_len_max,
        };
        t.attempt < class.retry.max_attempts && self.lifecycle == Lifecycle::Open && has_room
    }

    /// Moves a failed running task to backoff.
    pub(crate) fn retry(&mut self, id: TaskId) {
        let Some(t) = self.tasks.get(&id) else { return };
        let (class, attempt) = (t.class, t.attempt);
        let Some(policy) = self.class_config(class).map(|c| c.retry.clone()) else {
            return;
        };
        self.stop_running(id);
        self.disarm(id, TaskTimer::Run);
        self.disarm(id, TaskTimer::Heartbeat);
        let shift = attempt.saturating_sub(1).min(63);
        let raw = policy.base.as_nanos().saturating_mul(1u64 << shift);
        let capped = raw.min(policy.cap.as_nanos());
        let jitter = u64::from(policy.jitter_permille);
        let factor = 1000 - self.rng.up_to(jitter).min(1000);
        let delay = (u128::from(capped) * u128::from(factor) / 1000) as u64;
        let at = self.now + Duration::from_nanos(delay);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.attempt = attempt.saturating_add(1);
        }
        self.set_state(id, TaskState::Backoff);
        // A group task binds to a member again only when it starts again.
        if let Some(t) = self.tasks.get_mut(&id)
            && matches!(t.target, Target::Group(_))
        {
            t.session = None;
        }
        self.arm(id, TaskTimer::Backoff, at);
        if let Some(cs) = self.classes.get_mut(class.index()) {
            cs.totals.retries = cs.totals.retries.saturating_add(1);
        }
        self.emit(Action::Notify(crate::Notice::Retrying {
            task: id,
            attempt: attempt.saturating_add(1),
            at,
        }));
    }

    /// Puts a task back into its queue with a fresh sequence number (end of backoff).
    pub(crate) fn requeue(&mut self, id: TaskId) {
        let Some(t) = self.tasks.get(&id) else { return };
        let class = t.class;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let now = self.now;
        if let Some(t) = self.tasks.get_mut(&id) {
            t.seq = seq;
            t.enqueued_at = now;
        }
        self.set_state(id, TaskState::Queued);
        if let Some(d) = self.class_config(class).and_then(|c| c.queue_timeout) {
            self.arm(id, TaskTimer::Queue, now + d);
        }
        self.enqueue(id);
    }

    /// Applies one cancellation (user, deadline, disconnect, shutdown or parent).
    pub(crate) fn cancel_one(&mut self, id: TaskId, reason: CancelReason) {
        let Some(t) = self.tasks.get(&id) else { return };
        match t.state {
            TaskState::Queued | TaskState::Backoff => {
                let outcome = match reason {
                    CancelReason::Disconnect => Outcome::Rejected(RejectReason::SessionClosed),
                    CancelReason::Shutdown => Outcome::Rejected(RejectReason::Shutdown),
                    r => Outcome::Cancelled(r),
                };
                self.end_task(id, outcome);
            }
            TaskState::Running => {
                let grace = self
                    .class_config(t.class)
                    .map_or(Duration::ZERO, |c| c.grace);
                let children = t.children().to_vec();
                let now = self.now;
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.cold_mut().cancel = Some(crate::task::CancelInfo {
                        reason,
                        requested_at: now,
                        abort_requested_at: None,
                    });
                }
                self.set_state(id, TaskState::Cancelling);
                self.disarm(id, TaskTimer::Run);
                self.disarm(id, TaskTimer::Heartbeat);
                self.disarm(id, TaskTimer::Total);
                self.arm(id, TaskTimer::Grace, now + grace);
                self.emit(Action::Cancel { task: id, reason });
                for child in children {
                    self.pending_cancels
                        .push_back((child, CancelReason::Parent));
                }
            }
            _ => {}
        }
    }

    pub(crate) fn abort(&mut self, id: TaskId) {
        let now = self.now;
        if let Some(c) = self
            .tasks
            .get_mut(&id)
            .and_then(|t| t.cold_mut().cancel.as_mut())
        {
            c.abort_requested_at = Some(now);
        }
        self.stuck.insert(id);
        self.emit(Action::Abort { task: id });
    }

    /// Removes a terminal record from the registry.
    pub(crate) fn remove_record(&mut self, id: TaskId) {
        let terminal = self.tasks.get(&id).is_some_and(|t| t.state.is_terminal());
        debug_assert!(terminal, "only terminal records leave the registry ({id})");
        if !terminal {
            return;
        }
        self.disarm_all(id);
        self.count_out(id);
        self.tasks.remove(&id);
        self.emit(Action::Notify(crate::Notice::Removed { task: id }));
    }
}
