//! The workload: tasks arriving by class (steady or in bursts), and children submitted by
//! running tasks.

use crate::harness::{Sim, SimTask};
use crate::scenario::TargetKind;
use crate::sometimes::Sometimes;
use crate::world::{Event, ExecState};
use baton_kernel::{Applied, Input, SessionId, Submit, Target, TaskId};

impl Sim {
    /// A random connected session, if any.
    pub(crate) fn random_session(&mut self) -> Option<SessionId> {
        let n = self.current.len();
        if n == 0 {
            return None;
        }
        let start = self.rng.index(n);
        (0..n).find_map(|k| self.current[(start + k) % n])
    }

    fn target_for(
        &mut self,
        kind: TargetKind,
        group: Option<usize>,
        parent_session: Option<SessionId>,
    ) -> Option<Target> {
        match kind {
            TargetKind::Session => self.random_session().map(Target::Session),
            TargetKind::ParentSession => parent_session
                .or_else(|| self.random_session())
                .map(Target::Session),
            TargetKind::Group => group.and_then(|g| self.group_ids[g]).map(Target::Group),
            TargetKind::None => Some(Target::None),
        }
    }

    /// Submits `count` tasks of workload `w`.
    pub(crate) fn submit_workload(&mut self, w: usize, count: u32) {
        for _ in 0..count {
            let plan = &self.plan.workloads[w];
            let (kind, group, class, priority) =
                (plan.target, plan.group, plan.class, plan.priority);
            let Some(target) = self.target_for(kind, group, None) else {
                continue;
            };
            let priority =
                priority.map(|(lo, hi)| self.rng.range(u64::from(lo), u64::from(hi)) as u8);
            let submit = Submit {
                class,
                target,
                priority,
                parent: None,
            };
            self.submit(w, submit, false, None);
        }
    }

    /// Submits job `j` of a replayed workload log.
    pub(crate) fn submit_job(&mut self, j: usize) {
        if self.phase != crate::harness::Phase::Active {
            return;
        }
        let job = self.jobs[j].clone();
        let Some(session) = self.current.get(job.session).copied().flatten() else {
            return;
        };
        let submit = Submit::new(job.class, Target::Session(session));
        self.submit(job.class.index(), submit, false, Some(job.duration_ns));
    }

    /// Submits one task and registers it with the driver.
    fn submit(
        &mut self,
        w: usize,
        submit: Submit,
        child: bool,
        duration: Option<u64>,
    ) -> Option<TaskId> {
        let group = matches!(submit.target, Target::Group(_));
        let result = self.input(Input::Submit(submit));
        let id = match result {
            Ok(Applied::Task(id)) => {
                let idx = id.0 as usize;
                if self.tasks.len() <= idx {
                    self.tasks.resize(idx + 1, SimTask::default());
                }
                self.tasks[idx] = SimTask {
                    workload: w,
                    child,
                    exec: None,
                    notices: 0,
                    group,
                    queued_since: self.now,
                    duration,
                };
                self.submitted += 1;
                Some(id)
            }
            _ => None,
        };
        self.after_input();
        if let Some(id) = id {
            let (p, after) = self.plan.workloads[w].cancel;
            if !child && self.rng.chance(p) {
                let at = self.now + after.draw(&mut self.rng);
                self.events.push(at, Event::UserCancel(id));
            }
        }
        id
    }

    /// A running execution submits one child.
    pub(crate) fn spawn_child(&mut self, e: u32) {
        let exec = &self.execs[e as usize];
        if exec.state != ExecState::Running {
            return;
        }
        let (task, session) = (exec.task, exec.session);
        let w = self.tasks[task.0 as usize].workload;
        let b = &self.plan.workloads[w].behaviour;
        let (kind, class, group) = (b.child_target, b.child_class, self.plan.workloads[w].group);
        let Some(target) = self.target_for(kind, group, session) else {
            return;
        };
        let submit = Submit {
            class,
            target,
            priority: None,
            parent: Some(task),
        };
        if self.submit(w, submit, true, None).is_some() {
            self.counters.hit(Sometimes::Child);
        }
    }
}
