//! Cleanup: closing a disconnected session or the whole kernel, and the reconnect fences.
//!
//! A disconnect or shutdown ends with every task of its scope out of the registry: tasks still
//! running are ended `Abandoned` (with an `Abort` if none was sent) and listed as stuck, and the
//! names of sessions whose exclusive work may still run stay fenced until the driver reports it
//! stopped.

use crate::action::Action;
use crate::deadline::Cleanup;
use crate::id::{SessionId, TaskId};
use crate::kernel::{Kernel, Lifecycle};
use crate::task::Outcome;

impl Kernel {
    /// Lifts an abandoned task's fence on the driver's late report.
    pub(crate) fn lift_fence(&mut self, id: TaskId) {
        if let Some(name) = self.fences.lift(id) {
            self.unfence(&name);
        }
    }

    /// The last fence of `name` is gone: its live generation (if any) may run exclusive work.
    pub(crate) fn unfence(&mut self, name: &str) {
        let Some(&sid) = self.session_names.get(name) else {
            return;
        };
        let free = match self.sessions.get_mut(&sid) {
            Some(s) if s.fenced => {
                s.fenced = false;
                s.is_free()
            }
            _ => false,
        };
        if free {
            self.session_free(sid);
        }
    }

    /// Ends a closing session: abandons what still runs, removes every record, reports.
    pub(crate) fn finalize_session(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let Some(deadline) = s.closing else { return };
        self.timers.remove_cleanup(deadline, Cleanup::Session(sid));
        let ids: Vec<TaskId> = s.tasks.iter(&self.tasks).collect();
        let stuck = self.abandon_active(&ids);
        for id in ids {
            self.remove_record(id);
        }
        self.sessions.remove(&sid);
        self.emit(Action::Notify(crate::Notice::Closed(
            crate::CleanupReport {
                scope: crate::Scope::Session(sid),
                at: self.now,
                stuck,
            },
        )));
    }

    /// Ends every active task in `ids` as Abandoned; returns the stuck-task report lines.
    pub(crate) fn abandon_active(&mut self, ids: &[TaskId]) -> Vec<crate::StuckTask> {
        let mut stuck = Vec::new();
        for &id in ids {
            let Some(t) = self.tasks.get(&id) else {
                continue;
            };
            if !t.state.is_active() {
                continue;
            }
            stuck.push(crate::StuckTask {
                task: id,
                class: t.class,
                parent: t.parent,
                age: self.now.saturating_since(t.created_at),
                reason: t.cancel().map(|c| c.reason),
            });
            let aborted = t.cancel().is_some_and(|c| c.abort_requested_at.is_some());
            let attempt = t.attempt;
            let held = t
                .session
                .and_then(|s| self.sessions.get(&s))
                .filter(|s| s.holder == Some(id))
                .map(|s| s.name.clone());
            // Exclusivity survives the record: the name stays fenced until the driver reports.
            if self.config.fence_reconnect
                && let Some(name) = held
            {
                self.fences.add(id, &name, attempt);
                self.fences.abandon(id);
            }
            // Every driver drops the future, whatever the grace left.
            if !aborted {
                self.emit(Action::Abort { task: id });
            }
            self.end_task(id, Outcome::Abandoned);
        }
        // Children elsewhere learn of it now, within this cleanup.
        while let Some((id, reason)) = self.pending_cancels.pop_front() {
            self.cancel_one(id, reason);
        }
        stuck
    }

    pub(crate) fn finalize_shutdown(&mut self) {
        let closing: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.closing.is_some())
            .map(|s| s.id)
            .collect();
        for s in closing {
            self.finalize_session(s);
        }
        let ids: Vec<TaskId> = self.tasks.keys().collect();
        let stuck = self.abandon_active(&ids);
        let ids: Vec<TaskId> = self.tasks.keys().collect();
        for id in ids {
            self.remove_record(id);
        }
        self.sessions.clear();
        self.session_names.clear();
        for g in &mut self.groups {
            g.members.clear();
            g.free.clear();
        }
        if let Lifecycle::ShuttingDown { deadline } = self.lifecycle {
            self.timers.remove_cleanup(deadline, Cleanup::Shutdown);
        }
        self.lifecycle = Lifecycle::Stopped;
        self.emit(Action::Notify(crate::Notice::Closed(
            crate::CleanupReport {
                scope: crate::Scope::Shutdown,
                at: self.now,
                stuck,
            },
        )));
    }
}
