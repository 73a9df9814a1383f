//! The crash fault: the process driving the kernel dies and a new one recovers the kernel from
//! what a durable store would have committed (a snapshot and the journal of inputs after it),
//! then says so with [`Input::Restart`].
//!
//! At the crash, every execution stops with its process (a `run_end` for those that were
//! physically running), reports still on their way are lost, and the connections go with it.
//! The recovered kernel is the snapshot taken at the previous crash (or the empty kernel at the
//! start) with every journaled input since applied again; it must serialize exactly like the
//! kernel that crashed (property `determinism` otherwise). After the downtime the new process
//! applies `restart` — the oracle's model predicts its every action — and each session name
//! connects again some time later, which re-attaches its detached session.

use crate::harness::Sim;
use crate::property::Property;
use crate::sometimes::Sometimes;
use crate::world::{Event, ExecState};
use baton_kernel::{Input, Instant, Kernel};

/// What a durable store would hold: the last snapshot and the inputs journaled after it.
#[derive(Clone, Debug)]
pub(crate) struct Journal {
    /// The canonical form of the kernel at the last snapshot.
    base: String,
    /// Every input since, with its instant.
    inputs: Vec<(u64, Input)>,
}

impl Journal {
    /// A journal that starts from `kernel`.
    pub(crate) fn new(kernel: &Kernel) -> Journal {
        Journal {
            base: serde_json::to_string(kernel).unwrap_or_default(),
            inputs: Vec::new(),
        }
    }

    /// Journals one input (accepted or not: a refused input still fires due deadlines).
    pub(crate) fn push(&mut self, t: u64, input: Input) {
        self.inputs.push((t, input));
    }
}

impl Sim {
    /// The process crashes now and its successor takes over after the plan's downtime.
    pub(crate) fn crash(&mut self) {
        let downtime = self.plan.faults.crash_downtime.draw(&mut self.rng);
        // Everything the process ran stops with it; reports on their way are lost.
        let mut interrupted = false;
        for e in self.dead_execs..self.execs.len() {
            let exec = &mut self.execs[e];
            let running = exec.state == ExecState::Running;
            exec.state = ExecState::Ended;
            exec.end_at = None;
            let (task, session) = (exec.task, exec.session);
            if running {
                interrupted = true;
                self.trace
                    .begin(self.now, "run_end")
                    .num("task", task.0)
                    .end();
                if let Some(o) = self.oracle.as_mut() {
                    o.run_end(task, session);
                }
            }
        }
        self.dead_execs = self.execs.len();
        if interrupted {
            self.counters.hit(Sometimes::CrashMidRun);
        }
        self.recover();
        // The connections went with the process: each name comes back after the downtime.
        self.now += downtime;
        self.timer = None;
        let _ = self.input(Input::Restart);
        self.after_input();
        for i in 0..self.current.len() {
            if self.current[i].take().is_some() {
                let after = self.plan.faults.reconnect_after.draw(&mut self.rng);
                self.events.push(self.now + after, Event::Reconnect(i));
            }
        }
    }

    /// Rebuilds the kernel from the journal, checks it is the state that crashed, and (for the
    /// real kernel) carries on with the rebuilt one.
    fn recover(&mut self) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let mut rebuilt: Kernel = match serde_json::from_str(&journal.base) {
            Ok(k) => k,
            Err(e) => {
                let detail = format!("the snapshot does not load: {e}");
                self.violation(Property::Determinism, self.now, detail);
                return;
            }
        };
        if self.lossy_journal {
            journal.inputs.pop(); // the planted bug
        }
        for (t, input) in journal.inputs.drain(..) {
            let _ = rebuilt.apply(Instant::from_nanos(t), input);
            while rebuilt.poll_action().is_some() {}
        }
        let live = serde_json::to_string(self.kernel.kernel()).unwrap_or_default();
        let again = serde_json::to_string(&rebuilt).unwrap_or_default();
        journal.base = live.clone();
        if again != live {
            let detail = format!(
                "the state rebuilt from the snapshot and journal differs from the state that \
                 crashed ({} and {} bytes)",
                again.len(),
                live.len()
            );
            self.violation(Property::Determinism, self.now, detail);
            return;
        }
        self.kernel.replace_kernel(rebuilt);
    }
}
