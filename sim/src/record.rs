//! Input logs: every kernel input of a run with its instant and the kernel's answer, replayable
//! without the world. Shrinking works on these logs, and `sim/regressions/` holds them.
//!
//! Ids in a log are the ones the original run's kernel handed out. When a log is replayed with
//! some inputs removed, the kernel hands out different ids, so the replayer maps every id an
//! input mentions through the answers it got (`submit` → task, `connect` → session, `join` →
//! group); an id whose creating input was removed maps to one no kernel ever issued.
//!
//! Physical run intervals are synthesized: a task begins running at its `Start` and ends when
//! its finish report is accepted.

use crate::mutant::{Mutant, MutantKind};
use crate::oracle::{Oracle, OracleConfig};
use crate::property::{Property, Violation};
use crate::timing::TimingCheck;
use crate::under_test::{KernelUnderTest, RealKernel};
use baton_kernel::{
    Action, Applied, Config, GroupId, Input, Instant, Kernel, SessionId, Submit, Target, TaskId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One input of a log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Virtual instant, nanoseconds.
    pub t: u64,
    /// The input.
    pub input: Input,
    /// What the kernel answered in the original run (`None` for an error).
    #[serde(default)]
    pub result: Option<Applied>,
}

/// A replayable log of kernel inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The scenario it came from.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The planted bug, if the run had one.
    #[serde(default)]
    pub mutant: Option<String>,
    /// The property the log breaks (or broke, for a fixed bug).
    #[serde(default)]
    pub property: Option<String>,
    /// The kernel configuration.
    pub config: Config,
    /// The inputs.
    pub inputs: Vec<Recorded>,
}

/// What a replay found.
#[derive(Clone, Debug, Default)]
pub struct ReplayOutcome {
    /// Violations, in order (the replay stops at the first input that has any).
    pub violations: Vec<Violation>,
    /// Inputs applied.
    pub inputs: u64,
}

/// Maps the ids a recorded run handed out to the ones a replaying kernel hands out.
#[derive(Default)]
pub(crate) struct IdMap {
    tasks: BTreeMap<u64, TaskId>,
    sessions: BTreeMap<u64, SessionId>,
    groups: BTreeMap<u32, GroupId>,
}

impl IdMap {
    pub(crate) fn task(&self, t: TaskId) -> TaskId {
        self.tasks
            .get(&t.0)
            .copied()
            .unwrap_or(TaskId(u64::MAX - t.0))
    }

    fn session(&self, s: SessionId) -> SessionId {
        self.sessions
            .get(&s.0)
            .copied()
            .unwrap_or(SessionId(u64::MAX - s.0))
    }

    fn group(&self, g: GroupId) -> GroupId {
        self.groups
            .get(&g.0)
            .copied()
            .unwrap_or(GroupId(u32::MAX - g.0))
    }

    fn target(&self, t: Target) -> Target {
        match t {
            Target::Session(s) => Target::Session(self.session(s)),
            Target::Group(g) => Target::Group(self.group(g)),
            Target::None => Target::None,
        }
    }

    pub(crate) fn input(&self, input: &Input) -> Input {
        match input.clone() {
            Input::JoinGroup { group, session } => Input::JoinGroup {
                group,
                session: self.session(session),
            },
            Input::LeaveGroup { group, session } => Input::LeaveGroup {
                group,
                session: self.session(session),
            },
            Input::Submit(s) => Input::Submit(Submit {
                target: self.target(s.target),
                parent: s.parent.map(|p| self.task(p)),
                ..s
            }),
            Input::Cancel { task } => Input::Cancel {
                task: self.task(task),
            },
            Input::Progress { task, progress } => Input::Progress {
                task: self.task(task),
                progress,
            },
            Input::ProgressAttempt {
                task,
                attempt,
                progress,
            } => Input::ProgressAttempt {
                task: self.task(task),
                attempt,
                progress,
            },
            Input::Finished { task, exit } => Input::Finished {
                task: self.task(task),
                exit,
            },
            Input::FinishedAttempt {
                task,
                attempt,
                exit,
            } => Input::FinishedAttempt {
                task: self.task(task),
                attempt,
                exit,
            },
            other => other,
        }
    }

    pub(crate) fn learn(
        &mut self,
        original: Option<Applied>,
        now: &Result<Applied, baton_kernel::Error>,
    ) {
        match (original, now) {
            (Some(Applied::Task(a)), Ok(Applied::Task(b))) => {
                self.tasks.insert(a.0, *b);
            }
            (Some(Applied::Session(a)), Ok(Applied::Session(b))) => {
                self.sessions.insert(a.0, *b);
            }
            (Some(Applied::Group(a)), Ok(Applied::Group(b))) => {
                self.groups.insert(a.0, *b);
            }
            _ => {}
        }
    }
}

impl Recording {
    /// Reads a log from JSON.
    pub fn from_json(text: &str) -> Result<Recording, String> {
        serde_json::from_str(text).map_err(|e| format!("not an input log: {e}"))
    }

    /// Writes the log as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The kernel under test for this log.
    pub fn kernel(&self) -> Result<Box<dyn KernelUnderTest>, String> {
        match self.mutant.as_deref() {
            None => Ok(Box::new(RealKernel::new(
                Kernel::new(self.config.clone()).map_err(|e| e.to_string())?,
            ))),
            Some(name) => {
                let kind = MutantKind::from_name(name).ok_or(format!("unknown mutant {name:?}"))?;
                Ok(Box::new(
                    Mutant::new(kind, self.config.clone()).map_err(|e| e.to_string())?,
                ))
            }
        }
    }

    /// Replays every input through the bare kernel, without oracle or world: the kernel's own
    /// throughput. Returns the inputs applied and the wall time they took.
    pub fn replay_bare(&self) -> Result<(u64, std::time::Duration), String> {
        let mut kernel = self.kernel()?;
        let mut ids = IdMap::default();
        let inputs: Vec<Input> = self.inputs.iter().map(|r| r.input.clone()).collect();
        let started = std::time::Instant::now();
        // A complete log replays with the very ids it recorded; map them only once one differs.
        let mut identity = true;
        for (rec, input) in self.inputs.iter().zip(inputs) {
            let input = if identity { input } else { ids.input(&input) };
            let result = kernel.apply(Instant::from_nanos(rec.t), input);
            while kernel.poll_action().is_some() {}
            identity &= match (rec.result, &result) {
                (Some(a), Ok(b)) => a == *b,
                (None, Err(_)) => true,
                _ => false,
            };
            ids.learn(rec.result, &result);
        }
        Ok((self.inputs.len() as u64, started.elapsed()))
    }

    /// Replays the inputs whose indices are in `keep` (all when `None`) under the oracle.
    pub fn replay(
        &self,
        keep: Option<&[usize]>,
        oracle: OracleConfig,
    ) -> Result<ReplayOutcome, String> {
        let mut kernel = self.kernel()?;
        let mut timing = oracle
            .properties
            .has(Property::TimingIndependence)
            .then(|| TimingCheck::new(kernel.box_clone()));
        let mut oracle = Oracle::new(&self.config, oracle);
        let mut ids = IdMap::default();
        let mut running: BTreeMap<TaskId, Option<SessionId>> = BTreeMap::new();
        let all: Vec<usize>;
        let indices = match keep {
            Some(k) => k,
            None => {
                all = (0..self.inputs.len()).collect();
                &all
            }
        };
        let mut out = ReplayOutcome::default();
        for &i in indices {
            let Some(rec) = self.inputs.get(i) else {
                continue;
            };
            let input = ids.input(&rec.input);
            let now = Instant::from_nanos(rec.t);
            let before = oracle.before(&*kernel, now, &input);
            let result = kernel.apply(now, input.clone());
            out.inputs += 1;
            let mut actions: Vec<Action> = Vec::new();
            while let Some((at, a)) = kernel.poll_action_at() {
                if let Some(tc) = timing.as_mut() {
                    tc.observed(at, &a);
                }
                actions.push(a);
            }
            oracle.after(&*kernel, now, &input, &result, &actions, before);
            if let Some(detail) = timing
                .as_mut()
                .and_then(|tc| tc.input(now, &input, &result))
            {
                oracle.report(Property::TimingIndependence, rec.t, detail);
            }
            ids.learn(rec.result, &result);
            if let (Input::Finished { task, .. } | Input::FinishedAttempt { task, .. }, Ok(_)) =
                (&input, &result)
            {
                oracle.run_end(*task, running.remove(task).flatten());
            }
            for a in &actions {
                if let Action::Start {
                    task,
                    class,
                    session,
                    ..
                } = a
                {
                    let exclusive = self
                        .config
                        .classes
                        .get(class.index())
                        .is_some_and(|c| c.exclusive);
                    oracle.run_begin(rec.t, *task, *session, exclusive);
                    running.insert(*task, *session);
                }
            }
            if !oracle.violations().is_empty() {
                break;
            }
        }
        out.violations = oracle.violations().to_vec();
        Ok(out)
    }
}
