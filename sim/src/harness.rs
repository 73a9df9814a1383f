//! The harness: a virtual clock, the simulated world and a driver that runs the kernel exactly as
//! an adapter would — drain every action after every input, sleep until `poll_timeout()`.
//!
//! Shaped like quinn-proto's test `Pair`: [`Sim::step`] does one thing (the earliest kernel
//! deadline or world event) and says whether anything happened; [`Sim::drive_bounded`] steps
//! until the run is over, failing if it does not end within a step budget.
//!
//! A run has three phases: the **active** phase (workload and faults, `duration_ms`), the
//! **drain** (no new arrivals or faults; in-flight work finishes) up to the liveness bound, where
//! every task must have ended except physical zombies, which must be reported stuck; then a
//! **final** shutdown, after whose grace the kernel must be stopped and empty and every task must
//! have had exactly one terminal notice.

use crate::mutant::{Mutant, MutantKind};
use crate::oracle::{Oracle, OracleConfig};
use crate::property::{Property, Violation};
use crate::record::{Recorded, Recording};
use crate::rng::SimRng;
use crate::scenario::{Plan, Scenario};
use crate::sometimes::{Counters, Sometimes};
use crate::timing::TimingCheck;
use crate::trace::Trace;
use crate::under_test::{KernelUnderTest, RealKernel};
use crate::world::{Event, EventQueue, Exec, ExecId, ExecState, OnCancel};
use baton_kernel::{
    Action, Applied, CancelReason, ClassId, Error, Exit, GroupId, Input, Instant, Kernel, Notice,
    Outcome, RejectReason, SessionId, Target, TaskId,
};
use std::io::Write;

/// How a run is observed.
pub struct SimOptions {
    /// The oracle, or `None` to run without checks (fastest).
    pub oracle: Option<OracleConfig>,
    /// A planted bug.
    pub mutant: Option<MutantKind>,
    /// Where to write the JSONL trace (it is hashed either way).
    pub trace: Option<Box<dyn Write + Send>>,
    /// Keep the kernel input log (for shrinking).
    pub record: bool,
    /// Stop at the first input that breaks a property.
    pub stop_on_violation: bool,
    /// Give up after this many steps.
    pub max_steps: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            oracle: Some(OracleConfig::default()),
            mutant: None,
            trace: None,
            record: false,
            stop_on_violation: true,
            max_steps: 200_000_000,
        }
    }
}

impl std::fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimOptions")
            .field("oracle", &self.oracle)
            .field("mutant", &self.mutant)
            .field("record", &self.record)
            .finish()
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Kernel inputs applied.
    pub inputs: u64,
    /// Harness steps.
    pub steps: u64,
    /// FNV-1a of the trace.
    pub trace_hash: u64,
    /// Trace lines.
    pub trace_lines: u64,
    /// Broken properties (empty for a clean run).
    pub violations: Vec<Violation>,
    /// "Sometimes" counters.
    pub counters: Counters,
    /// Virtual time simulated.
    pub virtual_ns: u64,
    /// Tasks submitted (accepted).
    pub tasks: u64,
    /// Knobs drawn by swarm testing.
    pub knobs: Vec<String>,
    /// The kernel input log, if recorded.
    pub recording: Option<Recording>,
    /// Wall-clock time of the run.
    pub wall: std::time::Duration,
}

/// The phase of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Workload and faults.
    Active,
    /// No new work or faults; in-flight work ends.
    Drain,
    /// Final shutdown.
    Final,
    /// Over.
    Done,
}

/// The driver's view of a task.
#[derive(Clone, Debug, Default)]
pub(crate) struct SimTask {
    pub(crate) workload: usize,
    pub(crate) child: bool,
    pub(crate) exec: Option<ExecId>,
    pub(crate) notices: u32,
    pub(crate) group: bool,
    pub(crate) queued_since: u64,
    /// A replayed log job's exact run time.
    pub(crate) duration: Option<u64>,
}

/// A simulated run.
pub struct Sim {
    pub(crate) now: u64,
    pub(crate) plan: Plan,
    pub(crate) rng: SimRng,
    pub(crate) kernel: Box<dyn KernelUnderTest>,
    pub(crate) events: EventQueue,
    pub(crate) execs: Vec<Exec>,
    pub(crate) exec_begun_at: Vec<u64>,
    pub(crate) tasks: Vec<SimTask>,
    /// Per session name: the connected generation.
    pub(crate) current: Vec<Option<SessionId>>,
    /// `name#id` per session id.
    pub(crate) labels: Vec<String>,
    pub(crate) group_ids: Vec<Option<GroupId>>,
    pub(crate) group_names: Vec<String>,
    pub(crate) oracle: Option<Oracle>,
    pub(crate) trace: Trace,
    pub(crate) counters: Counters,
    pub(crate) inputs: u64,
    pub(crate) steps: u64,
    pub(crate) max_steps: u64,
    pub(crate) violations: Vec<Violation>,
    pub(crate) recording: Option<Recording>,
    pub(crate) phase: Phase,
    pub(crate) stop_on_violation: bool,
    pub(crate) drop_reports: bool,
    pub(crate) reports_seen: u64,
    pub(crate) actions: Vec<Action>,
    pub(crate) submitted: u64,
    pub(crate) started: std::time::Instant,
    /// Jobs of a replayed workload log (SWF), submitted at their instants.
    pub(crate) jobs: Vec<crate::swf::Job>,
    /// The late driver's timer: the deadline it is set for and when it wakes
    /// ([`SLEPT_THROUGH`]: not until the next input).
    pub(crate) timer: Option<(u64, u64)>,
    /// The kernel instant of each action in `actions`.
    pub(crate) action_at: Vec<u64>,
    /// Property 11: a lazy kernel beside the kernel under test.
    pub(crate) timing: Option<TimingCheck>,
    /// What a durable store would hold, when this run crashes (and its kernel is the real one).
    pub(crate) journal: Option<crate::crash::Journal>,
    /// Executions below this index died in a crash: their events never happen.
    pub(crate) dead_execs: usize,
    /// The planted `lossy_journal` bug: recovery loses the last journaled input.
    pub(crate) lossy_journal: bool,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("scenario", &self.plan.scenario)
            .field("seed", &self.plan.seed)
            .field("now", &self.now)
            .field("inputs", &self.inputs)
            .finish()
    }
}

/// A timer wake-up the late driver sleeps through (it wakes with the next input).
const SLEPT_THROUGH: u64 = u64::MAX;

/// The run did not end within its step budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalled {
    /// Steps taken.
    pub steps: u64,
}

impl Sim {
    /// A run of `scenario` with `seed`.
    pub fn new(scenario: &Scenario, seed: u64, options: SimOptions) -> Result<Sim, String> {
        let mut rng = SimRng::new(seed);
        let plan = scenario.plan(seed, &mut rng);
        Sim::from_plan(plan, rng, options)
    }

    /// A run that submits `jobs` (a replayed workload log) instead of drawing arrivals.
    pub fn with_jobs(
        plan: Plan,
        jobs: Vec<crate::swf::Job>,
        options: SimOptions,
    ) -> Result<Sim, String> {
        let mut sim = Sim::from_plan(plan, SimRng::new(0), options)?;
        for (i, j) in jobs.iter().enumerate() {
            sim.events.push(j.at_ns, Event::Job(i));
        }
        sim.jobs = jobs;
        Ok(sim)
    }

    /// A run of a concrete plan, with the generator positioned after the plan's draws.
    pub fn from_plan(plan: Plan, rng: SimRng, options: SimOptions) -> Result<Sim, String> {
        let kernel: Box<dyn KernelUnderTest> = match options.mutant {
            Some(kind) if !kind.is_driver_bug() => Box::new(
                Mutant::new(kind, plan.config.clone()).map_err(|e| format!("config: {e}"))?,
            ),
            _ => Box::new(RealKernel::new(
                Kernel::new(plan.config.clone()).map_err(|e| format!("config: {e}"))?,
            )),
        };
        let oracle = options.oracle.map(|cfg| Oracle::new(&plan.config, cfg));
        let timing = options
            .oracle
            .filter(|cfg| cfg.properties.has(Property::TimingIndependence))
            .map(|_| TimingCheck::new(kernel.box_clone()));
        let mut trace = Trace::new(options.trace);
        trace.config(&plan.config);
        let sessions = plan.session_names.len();
        let groups = plan.groups.len();
        let journal = (plan.faults.crash_gap_ns > 0
            && options.mutant.is_none_or(|m| m == MutantKind::LossyJournal))
        .then(|| crate::crash::Journal::new(kernel.kernel()));
        let mut sim = Sim {
            now: 0,
            recording: options.record.then(|| Recording {
                scenario: plan.scenario.clone(),
                seed: plan.seed,
                mutant: options.mutant.map(|m| m.name().to_owned()),
                property: None,
                config: plan.config.clone(),
                inputs: Vec::new(),
            }),
            plan,
            rng,
            kernel,
            events: EventQueue::default(),
            execs: Vec::new(),
            exec_begun_at: Vec::new(),
            tasks: vec![SimTask::default()],
            current: vec![None; sessions],
            labels: vec![String::new()],
            group_ids: vec![None; groups],
            group_names: Vec::new(),
            oracle,
            trace,
            counters: Counters::default(),
            inputs: 0,
            steps: 0,
            max_steps: options.max_steps,
            violations: Vec::new(),
            phase: Phase::Active,
            stop_on_violation: options.stop_on_violation,
            drop_reports: options.mutant == Some(MutantKind::DropReport),
            reports_seen: 0,
            actions: Vec::new(),
            submitted: 0,
            started: std::time::Instant::now(),
            jobs: Vec::new(),
            timer: None,
            action_at: Vec::new(),
            timing,
            journal,
            dead_execs: 0,
            lossy_journal: options.mutant == Some(MutantKind::LossyJournal),
        };
        sim.schedule_start();
        Ok(sim)
    }

    /// Virtual now, in nanoseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The kernel under test.
    pub fn kernel(&self) -> &Kernel {
        self.kernel.kernel()
    }

    /// Violations so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Kernel inputs applied so far.
    pub fn inputs(&self) -> u64 {
        self.inputs
    }

    fn schedule_start(&mut self) {
        let plan = &self.plan;
        for i in 0..plan.session_names.len() {
            let at = self.rng.below(plan.connect_spread_ns + 1);
            self.events.push(at, Event::Connect(i));
        }
        for (w, wl) in plan.workloads.iter().enumerate() {
            if wl.mean_gap_ns > 0 {
                let at = self.rng.below(2 * wl.mean_gap_ns + 1);
                self.events.push(at, Event::Arrival(w));
            }
            if let Some((every, _)) = wl.burst {
                self.events.push(every, Event::Burst(w));
            }
        }
        let f = plan.faults.clone();
        for (gap, ev) in [
            (f.disconnect_gap_ns, Event::RandomDisconnect),
            (f.unknown_report_gap_ns, Event::UnknownReport),
            (f.bad_input_gap_ns, Event::BadInput),
            (f.clock_jump_gap_ns, Event::ClockJump),
            (f.crash_gap_ns, Event::Crash),
        ] {
            if gap > 0 {
                let at = self.rng.below(2 * gap + 1);
                self.events.push(at, ev);
            }
        }
        if let Some((at, ..)) = f.storm {
            self.events.push(at, Event::Storm(0));
        }
        if let Some((at, _)) = f.shutdown {
            self.events.push(at, Event::Shutdown);
        }
        self.events.push(self.plan.duration_ns, Event::PhaseEnd);
    }

    /// Does the next thing: the earliest kernel deadline or world event. Returns `false` when
    /// the run is over.
    pub fn step(&mut self) -> bool {
        if self.phase == Phase::Done {
            return false;
        }
        let deadline = self.kernel.poll_timeout().map(Instant::as_nanos);
        let event = self.events.peek();
        self.steps += 1;
        // After a clock jump both may be overdue: overdue deadlines are handled first, as an
        // adapter's timer would fire as soon as the process wakes.
        let now = self.now;
        let wake = deadline.map(|d| self.timer_wake(d));
        match (wake.map(|w| w.max(now)), event.map(|e| e.max(now))) {
            (Some(w), e) if e.is_none_or(|e| w <= e) => {
                // Sleep until the deadline (or, after a clock jump or with a late timer, wake
                // late).
                if deadline.is_some_and(|d| w > d.max(now)) {
                    self.counters.hit(Sometimes::LateTimer);
                }
                self.now = self.now.max(w);
                let _ = self.input(Input::Timeout);
                self.after_input();
            }
            (_, Some(_)) => {
                let Some((at, ev)) = self.events.pop() else {
                    return false;
                };
                self.now = self.now.max(at);
                let inputs = self.inputs;
                self.handle(at, ev);
                // A timer the driver slept through is noticed by the first input at or after
                // its deadline: the driver handles the deadline right after (if the input
                // left it due).
                if let Some((d, SLEPT_THROUGH)) = self.timer
                    && self.inputs > inputs
                    && d <= self.now
                {
                    self.timer = Some((d, self.now));
                }
            }
            _ => {
                self.phase = Phase::Done;
                return false;
            }
        }
        self.phase != Phase::Done
    }

    /// When the driver's timer set for deadline `d` fires. A punctual driver wakes at `d`; a
    /// late one (DESIGN.md, "Driver timing as a fault") wakes a seeded amount later, or sleeps
    /// through it until the first input at or after it (at the latest lateness if none comes).
    /// The draw is made once per deadline: re-arming the timer
    /// for the same deadline after an input keeps its wake-up.
    fn timer_wake(&mut self, d: u64) -> u64 {
        let Some(late) = self.plan.driver.late else {
            return d;
        };
        let wake = match self.timer {
            Some((armed, wake)) if armed == d => wake,
            _ => {
                let wake = if self.rng.chance(late.sleep_through) {
                    SLEPT_THROUGH
                } else {
                    d.saturating_add(self.rng.below(late.max_ns + 1))
                };
                self.timer = Some((d, wake));
                wake
            }
        };
        // A timer slept through wakes the driver at the latest lateness, unless an input at
        // or after the deadline comes first (see `step`): a driver whose timer never fires at
        // all would be a liveness bug of the driver, not of the kernel.
        match wake {
            SLEPT_THROUGH => d.saturating_add(late.max_ns),
            w => w,
        }
    }

    /// Extra delay of a `Start` delivery or a report under the late driver (0 without one).
    fn late_delivery(&mut self) -> u64 {
        let Some(late) = self.plan.driver.late else {
            return 0;
        };
        let extra = self.rng.below(late.max_ns + 1);
        if extra > 0 {
            self.counters.hit(Sometimes::LateDelivery);
        }
        extra
    }

    /// Steps until the run is over; fails if it takes more than the step budget.
    pub fn drive_bounded(&mut self) -> Result<u64, Stalled> {
        while self.step() {
            if self.steps >= self.max_steps {
                return Err(Stalled { steps: self.steps });
            }
        }
        Ok(self.steps)
    }

    /// Runs to the end and reports.
    pub fn run(mut self) -> RunReport {
        if let Err(s) = self.drive_bounded() {
            let now = self.now;
            self.violation(
                Property::Liveness,
                now,
                format!("the run did not end within {} steps", s.steps),
            );
        }
        self.finish()
    }

    /// The report of a run (finished or not).
    pub fn finish(mut self) -> RunReport {
        let _ = self.trace.finish();
        if let Some(r) = self.recording.as_mut() {
            r.property = self
                .violations
                .first()
                .map(|v| v.property.name().to_owned());
        }
        RunReport {
            scenario: self.plan.scenario.clone(),
            seed: self.plan.seed,
            inputs: self.inputs,
            steps: self.steps,
            trace_hash: self.trace.hash(),
            trace_lines: self.trace.lines(),
            violations: self.violations,
            counters: self.counters,
            virtual_ns: self.now,
            tasks: self.submitted,
            knobs: self.plan.knobs.clone(),
            recording: self.recording,
            wall: self.started.elapsed(),
        }
    }

    pub(crate) fn label(&self, s: SessionId) -> String {
        self.labels
            .get(s.0 as usize)
            .filter(|l| !l.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("unknown#{}", s.0))
    }

    pub(crate) fn group_name(&self, g: GroupId) -> String {
        self.group_names
            .get(g.0 as usize)
            .cloned()
            .unwrap_or_else(|| format!("unknown-group-{}", g.0))
    }

    pub(crate) fn task_mut(&mut self, id: TaskId) -> Option<&mut SimTask> {
        self.tasks.get_mut(id.0 as usize)
    }

    /// Records a violation found by the harness and writes it to the trace.
    pub(crate) fn violation(&mut self, property: Property, t: u64, detail: String) {
        if let Some(o) = self.oracle.as_mut() {
            o.report(property, t, detail);
        } else if property == Property::Liveness {
            // Without an oracle a stall is still worth reporting.
            self.violations.push(Violation {
                property,
                t,
                step: self.inputs,
                detail,
            });
        }
        self.flush_violations();
    }

    fn flush_violations(&mut self) {
        let Some(o) = self.oracle.as_ref() else {
            return;
        };
        let new: Vec<Violation> = o.violations()[self.violations.len()..].to_vec();
        for v in new {
            self.trace
                .begin(v.t, "violation")
                .str("property", v.property.name())
                .str("detail", &v.detail)
                .end();
            self.violations.push(v);
        }
        if self.stop_on_violation && !self.violations.is_empty() {
            self.phase = Phase::Done;
        }
    }

    /// Applies one input at the current instant: oracle before/after, trace, record. The actions
    /// are left in `self.actions` for [`Sim::after_input`] (so the caller can note the new task
    /// id first).
    pub(crate) fn input(&mut self, input: Input) -> Result<Applied, Error> {
        self.input_at(self.now, input)
    }

    pub(crate) fn input_at(&mut self, now: u64, input: Input) -> Result<Applied, Error> {
        let t = Instant::from_nanos(now);
        let keep = self.oracle.is_some() || self.recording.is_some();
        let copy = keep.then(|| input.clone());
        let before = match (self.oracle.as_mut(), copy.as_ref()) {
            (Some(o), Some(i)) => Some(o.before(&*self.kernel, t, i)),
            _ => None,
        };
        let summary = Summary::of(&input);
        // Time keeps itself: an input arriving while deadlines at or before it are due first
        // fires them. Their actions are written to the trace before the input's own line, so
        // the trace keeps the kernel's order; the kernel says how many they are
        // (`caught_up_actions`).
        let catch_up = if !matches!(input, Input::Timeout)
            && t >= self.kernel.kernel().now()
            && self.kernel.poll_timeout().is_some_and(|d| d <= t)
        {
            self.counters.hit(Sometimes::InputBeforeDueTimeout);
            usize::MAX // the kernel says how many after the input (`caught_up_actions`)
        } else {
            0
        };
        if let Some(j) = self.journal.as_mut() {
            j.push(now, input.clone());
        }
        let result = self.kernel.apply(t, input);
        let catch_up = catch_up.min(self.kernel.kernel().caught_up_actions());
        self.inputs += 1;
        self.actions.clear();
        self.action_at.clear();
        while let Some((at, a)) = self.kernel.poll_action_at() {
            if let Some(tc) = self.timing.as_mut() {
                tc.observed(at, &a);
            }
            self.actions.push(a);
            self.action_at.push(at.as_nanos());
        }
        let (actions, action_at) = (
            std::mem::take(&mut self.actions),
            std::mem::take(&mut self.action_at),
        );
        let catch_up = catch_up.min(actions.len());
        for (at, action) in action_at.iter().zip(&actions).take(catch_up) {
            self.trace_action(*at, action);
        }
        self.trace_input(now, summary, &result);
        for (at, action) in action_at.iter().zip(&actions).skip(catch_up) {
            self.trace_action(*at, action);
        }
        (self.actions, self.action_at) = (actions, action_at);
        if let (Some(o), Some(i), Some(b)) = (self.oracle.as_mut(), copy.as_ref(), before) {
            o.after(&*self.kernel, t, i, &result, &self.actions, b);
        }
        if let (Some(tc), Some(i)) = (self.timing.as_mut(), copy.as_ref())
            && let Some(detail) = tc.input(t, i, &result)
            && let Some(o) = self.oracle.as_mut()
        {
            o.report(Property::TimingIndependence, now, detail);
        }
        if let (Some(r), Some(i)) = (self.recording.as_mut(), copy) {
            r.inputs.push(Recorded {
                t: now,
                input: i,
                result: result.as_ref().ok().copied(),
            });
        }
        if self.oracle.is_some() {
            self.flush_violations();
        }
        result
    }

    fn trace_input(&mut self, now: u64, summary: Summary, result: &Result<Applied, Error>) {
        match (summary, result) {
            (Summary::Connect(name), Ok(Applied::Session(id))) => {
                let label = format!("{name}#{}", id.0);
                if self.labels.len() <= id.0 as usize {
                    self.labels.resize(id.0 as usize + 1, String::new());
                }
                self.labels[id.0 as usize] = label.clone();
                self.trace
                    .begin(now, "connect")
                    .str("session", &label)
                    .end();
            }
            (Summary::Disconnect, Ok(Applied::Session(id))) => {
                let label = self.label(*id);
                self.trace
                    .begin(now, "disconnect")
                    .str("session", &label)
                    .end();
            }
            (Summary::Shutdown(grace_ns), Ok(_)) => {
                self.trace
                    .begin(now, "shutdown")
                    .num("grace_ns", grace_ns)
                    .end();
            }
            (Summary::Progress(task), Ok(_)) => {
                self.trace.begin(now, "progress").num("task", task.0).end();
            }
            (Summary::Restart, Ok(_)) => {
                self.trace.begin(now, "restart").end();
            }
            (
                Summary::Submit {
                    class,
                    target,
                    priority,
                    parent,
                },
                r,
            ) => {
                let class_config = self.plan.config.classes.get(class.index());
                let class_name = class_config
                    .map_or("unknown", |c| c.name.as_str())
                    .to_owned();
                let session = match target {
                    Target::Session(s) => Some(self.label(s)),
                    _ => None,
                };
                let group = match target {
                    Target::Group(g) => Some(self.group_name(g)),
                    _ => None,
                };
                match r {
                    Ok(Applied::Task(id)) => {
                        let priority = priority.unwrap_or(class_config.map_or(0, |c| c.priority));
                        self.trace
                            .begin(now, "submit")
                            .num("task", id.0)
                            .str("class", &class_name)
                            .num("priority", u64::from(priority))
                            .opt_str("session", session.as_deref())
                            .opt_str("group", group.as_deref())
                            .opt_num("parent", parent.map(|p| p.0))
                            .end();
                    }
                    Err(Error::Refused(reason)) => {
                        match reason {
                            RejectReason::QueueFull => self.counters.hit(Sometimes::QueueFull),
                            RejectReason::Capacity => self.counters.hit(Sometimes::Capacity),
                            _ => {}
                        }
                        self.trace
                            .begin(now, "submit_refused")
                            .str("class", &class_name)
                            .opt_str("session", session.as_deref())
                            .opt_str("group", group.as_deref())
                            .str("reason", reason.name())
                            .end();
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// The driver's reaction to the actions of the last input, like an adapter's loop.
    pub(crate) fn after_input(&mut self) {
        let actions = std::mem::take(&mut self.actions);
        for action in &actions {
            self.on_action(action);
        }
        self.actions = actions;
        self.actions.clear();
        // Contention on a class limit: a limited class is full while tasks of it wait.
        for (i, c) in self.plan.config.classes.iter().enumerate() {
            if let Some(limit) = c.limit
                && let Some(counts) = self.kernel.kernel().class_counts(ClassId(i as u16))
                && counts.active() >= u64::from(limit)
                && counts.get(baton_kernel::TaskState::Queued) > 0
            {
                self.counters.hit(Sometimes::ClassLimit);
            }
        }
    }

    /// Writes the trace line of one action, stamped with the kernel instant `at` it was
    /// decided at (a deadline's own instant, even when the driver woke later).
    fn trace_action(&mut self, at: u64, action: &Action) {
        match action {
            Action::Start {
                task,
                session,
                attempt,
                ..
            } => {
                let label = session.map(|s| self.label(s));
                self.trace
                    .begin(at, "start")
                    .num("task", task.0)
                    .opt_str("session", label.as_deref())
                    .num("attempt", u64::from(*attempt))
                    .end();
            }
            Action::Cancel { task, reason } => {
                self.trace
                    .begin(at, "cancel")
                    .num("task", task.0)
                    .str("reason", reason.name())
                    .end();
            }
            Action::Abort { task } => {
                self.trace.begin(at, "abort").num("task", task.0).end();
            }
            Action::Notify(Notice::Finished { task, outcome }) => {
                let t = self.trace.begin(at, "finish");
                t.num("task", task.0).str("outcome", outcome.name());
                if let Outcome::Rejected(r) = outcome {
                    t.str("reason", r.name());
                }
                t.end();
            }
            Action::Notify(Notice::Retrying { task, at: when, .. }) => {
                self.trace
                    .begin(at, "retry")
                    .num("task", task.0)
                    .num("at", when.as_nanos())
                    .end();
            }
            Action::Notify(Notice::Removed { task }) => {
                self.trace.begin(at, "gc").num("task", task.0).end();
            }
            Action::Notify(Notice::Closed(_)) => {}
        }
    }

    /// The driver's reaction to one action (its trace line is already written).
    fn on_action(&mut self, action: &Action) {
        let now = self.now;
        match action {
            Action::Start {
                task,
                class,
                session,
                attempt,
            } => {
                self.start_exec(*task, *class, *session, *attempt);
            }
            Action::Cancel { task, reason } => {
                match reason {
                    CancelReason::Timeout => self.counters.hit(Sometimes::RunTimeout),
                    CancelReason::Stalled => self.counters.hit(Sometimes::Stalled),
                    CancelReason::Parent => self.counters.hit(Sometimes::ParentCancel),
                    _ => {}
                }
                if let Some(e) = self.live_exec(*task) {
                    self.execs[e as usize].cancelled = true;
                    let at = now + self.plan.driver.signal_latency.draw(&mut self.rng);
                    self.events.push(at, Event::Signal(e));
                }
            }
            Action::Abort { task } => {
                self.counters.hit(Sometimes::Abort);
                if self.kernel.kernel().task(*task).is_some_and(|v| v.stuck) {
                    self.counters.hit(Sometimes::StuckReported);
                }
                if let Some(e) = self.live_exec(*task) {
                    self.abort_exec(e);
                }
            }
            Action::Notify(Notice::Finished { task, outcome }) => {
                match outcome {
                    Outcome::Rejected(RejectReason::QueueTimeout) => {
                        self.counters.hit(Sometimes::QueueTimeout)
                    }
                    Outcome::Cancelled(CancelReason::Parent) => {
                        self.counters.hit(Sometimes::ParentCancel)
                    }
                    _ => {}
                }
                if let Some(t) = self.task_mut(*task) {
                    t.notices += 1;
                }
            }
            Action::Notify(Notice::Retrying { task, at, .. }) => {
                self.counters.hit(Sometimes::Retry);
                if let Some(t) = self.task_mut(*task) {
                    t.queued_since = at.as_nanos();
                }
            }
            Action::Notify(Notice::Removed { .. }) => {
                self.counters.hit(Sometimes::RetentionGc);
            }
            Action::Notify(Notice::Closed(report)) => {
                if !report.stuck.is_empty() {
                    self.counters.hit(Sometimes::StuckReported);
                }
            }
        }
    }

    /// The current execution of a task, if it has not ended.
    pub(crate) fn live_exec(&self, task: TaskId) -> Option<ExecId> {
        let e = self.tasks.get(task.0 as usize)?.exec?;
        (self.execs[e as usize].state != ExecState::Ended).then_some(e)
    }

    fn start_exec(
        &mut self,
        task: TaskId,
        class: ClassId,
        session: Option<SessionId>,
        attempt: u32,
    ) {
        let Some(st) = self.tasks.get(task.0 as usize).cloned() else {
            return;
        };
        if self.now > st.queued_since {
            self.counters.hit(Sometimes::Contention);
        }
        if st.group {
            self.counters.hit(Sometimes::GroupStart);
        }
        let exclusive = self
            .plan
            .config
            .classes
            .get(class.index())
            .is_some_and(|c| c.exclusive);
        let behaviour = &self.plan.workloads[st.workload].behaviour;
        let exec = Exec::draw(
            &mut self.rng,
            behaviour,
            st.child,
            task,
            attempt,
            class,
            session,
            exclusive,
        );
        let mut exec = exec;
        if let Some(d) = st.duration {
            exec.duration = d;
        }
        let id = self.execs.len() as ExecId;
        self.execs.push(exec);
        self.exec_begun_at.push(0);
        if let Some(t) = self.task_mut(task) {
            t.exec = Some(id);
        }
        let at =
            self.now + self.plan.driver.start_latency.draw(&mut self.rng) + self.late_delivery();
        self.events.push(at, Event::Begin(id));
    }

    fn abort_exec(&mut self, e: ExecId) {
        let now = self.now;
        let exec = &mut self.execs[e as usize];
        exec.aborted = true;
        match exec.state {
            ExecState::Ended => {}
            ExecState::Pending => {
                // Dropped before its first poll: no physical interval at all.
                exec.state = ExecState::Ended;
                exec.end_at = None;
                self.schedule_report(e, Exit::Dropped);
            }
            ExecState::Running if exec.zombie => {
                self.counters.hit(Sometimes::Zombie);
                if let Some(stop) = exec.zombie_stop {
                    exec.end_at = Some(now + stop);
                    exec.exit = Exit::Dropped;
                    self.events.push(now + stop, Event::End(e));
                }
            }
            ExecState::Running => {
                exec.exit = Exit::Dropped;
                exec.end_at = Some(now);
                self.end_exec(e);
            }
        }
    }

    /// Physical end of an execution: `run_end`, then the report after the driver's latency.
    fn end_exec(&mut self, e: ExecId) {
        let now = self.now;
        let exec = &mut self.execs[e as usize];
        if exec.state == ExecState::Ended {
            return;
        }
        exec.state = ExecState::Ended;
        let (task, session, exit) = (exec.task, exec.session, exec.exit.clone());
        self.trace.begin(now, "run_end").num("task", task.0).end();
        if let Some(o) = self.oracle.as_mut() {
            o.run_end(task, session);
        }
        self.schedule_report(e, exit);
    }

    fn schedule_report(&mut self, e: ExecId, exit: Exit) {
        let mut at = self.now + self.plan.driver.report_latency.draw(&mut self.rng);
        at += self.late_delivery();
        let faults = self.phase == Phase::Active;
        if faults && self.rng.chance(self.plan.faults.late_report) {
            at += self.plan.faults.late_report_delay.draw(&mut self.rng);
            self.counters.hit(Sometimes::LateReport);
        }
        if faults && self.rng.chance(self.plan.faults.duplicate_report) {
            let again = at + 1 + self.plan.faults.late_report_delay.draw(&mut self.rng);
            self.events
                .push(again, Event::DuplicateReport(e, exit.clone()));
        }
        self.events.push(at, Event::Report(e, exit));
    }

    fn begin_exec(&mut self, e: ExecId) {
        let now = self.now;
        let exec = &mut self.execs[e as usize];
        if exec.state != ExecState::Pending {
            return;
        }
        exec.state = ExecState::Running;
        exec.begun = true;
        let end = now + exec.duration;
        exec.end_at = Some(end);
        let (task, session, exclusive) = (exec.task, exec.session, exec.exclusive);
        let (every, children, duration, signalled) = (
            exec.progress_every,
            exec.children,
            exec.duration,
            exec.cancelled,
        );
        self.exec_begun_at[e as usize] = now;
        self.trace.begin(now, "run_begin").num("task", task.0).end();
        if let Some(o) = self.oracle.as_mut() {
            o.run_begin(now, task, session, exclusive);
        }
        self.events.push(end, Event::End(e));
        if every > 0 {
            self.events.push(now + every, Event::Tick(e));
        }
        for _ in 0..children {
            let at = now + self.rng.below(duration + 1);
            self.events.push(at, Event::Spawn(e));
        }
        if signalled {
            // The cancellation arrived before the first poll: the body sees it at once.
            self.react_to_cancel(e);
        }
    }

    fn react_to_cancel(&mut self, e: ExecId) {
        let now = self.now;
        let stop = match self.execs[e as usize].on_cancel {
            OnCancel::Cooperative => Some(self.plan.driver.cancel_stop.draw(&mut self.rng)),
            OnCancel::Stubborn(d) => {
                self.counters.hit(Sometimes::StubbornStop);
                Some(d)
            }
            OnCancel::Ignore => None,
        };
        let exec = &mut self.execs[e as usize];
        if let Some(d) = stop
            && exec.end_at.is_none_or(|end| now + d < end)
        {
            exec.end_at = Some(now + d);
            exec.exit = Exit::Failed {
                error: "cancelled".to_owned(),
                retryable: false,
            };
            self.events.push(now + d, Event::End(e));
        }
    }

    /// Handles one world event at its (possibly late) instant `at`.
    fn handle(&mut self, at: u64, event: Event) {
        let active = self.phase == Phase::Active;
        if let Event::Begin(e)
        | Event::Tick(e)
        | Event::Spawn(e)
        | Event::Signal(e)
        | Event::End(e)
        | Event::Report(e, _)
        | Event::DuplicateReport(e, _) = &event
            && (*e as usize) < self.dead_execs
        {
            return; // its process died in a crash
        }
        match event {
            Event::Connect(i) => self.connect(i, false),
            Event::Job(j) => self.submit_job(j),
            Event::Reconnect(i) => {
                if self.phase != Phase::Final {
                    self.connect(i, true);
                }
            }
            Event::Arrival(w) => {
                if active {
                    self.submit_workload(w, 1);
                    let gap = self.plan.workloads[w].mean_gap_ns;
                    let next = self.now + self.rng.below(2 * gap + 1);
                    self.events.push(next, Event::Arrival(w));
                }
            }
            Event::Burst(w) => {
                if active && let Some((every, size)) = self.plan.workloads[w].burst {
                    self.submit_workload(w, size);
                    self.events.push(self.now + every, Event::Burst(w));
                }
            }
            Event::UserCancel(task) => {
                if self.phase != Phase::Final && self.tasks[task.0 as usize].notices == 0 {
                    if self.input(Input::Cancel { task }).is_ok() {
                        self.counters.hit(Sometimes::UserCancel);
                    }
                    self.after_input();
                }
            }
            Event::Begin(e) => self.begin_exec(e),
            Event::Tick(e) => self.tick(e),
            Event::Spawn(e) => self.spawn_child(e),
            Event::Signal(e) => {
                let exec = &self.execs[e as usize];
                if exec.state == ExecState::Running {
                    self.react_to_cancel(e);
                }
            }
            Event::End(e) => {
                if self.execs[e as usize].end_at == Some(at) {
                    self.end_exec(e);
                }
            }
            Event::Report(e, exit) => self.report(e, exit, false),
            Event::DuplicateReport(e, exit) => self.report(e, exit, true),
            Event::RandomDisconnect => {
                if active {
                    self.random_disconnect();
                    let gap = self.plan.faults.disconnect_gap_ns;
                    let next = self.now + self.rng.below(2 * gap + 1);
                    self.events.push(next, Event::RandomDisconnect);
                }
            }
            Event::Crash => {
                if active {
                    self.crash();
                    let gap = self.plan.faults.crash_gap_ns;
                    let next = self.now + self.rng.below(2 * gap + 1);
                    self.events.push(next, Event::Crash);
                }
            }
            Event::Storm(round) => {
                if active {
                    self.storm(round);
                }
            }
            Event::Shutdown => {
                if active {
                    self.shutdown_mid_flight();
                }
            }
            Event::ClockJump => {
                if active {
                    let jump = self.plan.faults.clock_jump.draw(&mut self.rng);
                    self.now += jump;
                    self.counters.hit(Sometimes::ClockJump);
                    let gap = self.plan.faults.clock_jump_gap_ns;
                    let next = self.now + self.rng.below(2 * gap + 1);
                    self.events.push(next, Event::ClockJump);
                }
            }
            Event::BadInput => {
                if active {
                    self.bad_input();
                    let gap = self.plan.faults.bad_input_gap_ns;
                    let next = self.now + self.rng.below(2 * gap + 1);
                    self.events.push(next, Event::BadInput);
                }
            }
            Event::UnknownReport => {
                if active {
                    self.unknown_report();
                    let gap = self.plan.faults.unknown_report_gap_ns;
                    let next = self.now + self.rng.below(2 * gap + 1);
                    self.events.push(next, Event::UnknownReport);
                }
            }
            Event::PhaseEnd => {
                self.phase = Phase::Drain;
                let at = self.now.saturating_add(self.plan.liveness_bound_ns);
                self.events.push(at, Event::LivenessCheck);
            }
            Event::LivenessCheck => self.liveness_check(),
            Event::FinalCheck => self.final_check(),
        }
    }

    fn tick(&mut self, e: ExecId) {
        let now = self.now;
        let exec = &self.execs[e as usize];
        if exec.state != ExecState::Running {
            return;
        }
        let begun = self.exec_begun_at[e as usize];
        if exec.stall_at.is_some_and(|s| now >= begun + s) {
            return;
        }
        let (task, every, sent) = (exec.task, exec.progress_every, exec.progress_sent + 1);
        self.execs[e as usize].progress_sent = sent;
        let progress = baton_kernel::Progress {
            current: sent,
            total: None,
            message: "working".to_owned(),
        };
        if self.input(Input::Progress { task, progress }).is_ok() {
            self.counters.hit(Sometimes::Heartbeat);
        }
        self.after_input();
        self.events.push(now + every, Event::Tick(e));
    }

    fn report(&mut self, e: ExecId, exit: Exit, duplicate: bool) {
        let task = self.execs[e as usize].task;
        let attempt = self.execs[e as usize].attempt;
        if duplicate {
            // Reports name their attempt (`finished_attempt`), so even a stale duplicate that
            // arrives while a newer attempt runs is refused instead of freeing its session.
            self.counters.hit(Sometimes::DuplicateReport);
        } else {
            self.execs[e as usize].reported = true;
            self.reports_seen += 1;
            if self.drop_reports && self.reports_seen % 20 == 0 {
                // The planted driver bug: this report is lost.
                return;
            }
        }
        let _ = self.input(Input::FinishedAttempt {
            task,
            attempt,
            exit,
        });
        self.after_input();
    }

    /// Connects session `i` and joins its groups.
    pub(crate) fn connect(&mut self, i: usize, again: bool) {
        if self.current[i].is_some() {
            return;
        }
        let name = self.plan.session_names[i].clone();
        let r = self.input(Input::Connect { name: name.clone() });
        if let Ok(Applied::Session(id)) = r {
            self.current[i] = Some(id);
            if again {
                self.counters.hit(Sometimes::Reconnect);
            }
        }
        self.after_input();
        let Some(id) = self.current[i] else { return };
        for g in 0..self.plan.groups.len() {
            if self.plan.groups[g].1.contains(&i) {
                let group = self.plan.groups[g].0.clone();
                let r = self.input(Input::JoinGroup {
                    group: group.clone(),
                    session: id,
                });
                if let Ok(Applied::Group(gid)) = r {
                    self.group_ids[g] = Some(gid);
                    if self.group_names.len() <= gid.0 as usize {
                        self.group_names.resize(gid.0 as usize + 1, String::new());
                    }
                    self.group_names[gid.0 as usize] = group;
                }
                self.after_input();
            }
        }
    }

    /// Disconnects session `i`; it reconnects after a delay.
    pub(crate) fn disconnect(&mut self, i: usize, reconnect_after: u64) {
        let Some(id) = self.current[i] else { return };
        let busy = self.kernel.kernel().session_holder(id).is_some();
        let name = self.plan.session_names[i].clone();
        if self.input(Input::Disconnect { name }).is_ok() {
            self.current[i] = None;
            if busy {
                self.counters.hit(Sometimes::DisconnectMidOp);
            }
            self.events
                .push(self.now + reconnect_after, Event::Reconnect(i));
        }
        self.after_input();
    }

    fn liveness_check(&mut self) {
        let now = self.now;
        if self.oracle.is_some() {
            let mut late = Vec::new();
            for id in 1..self.tasks.len() {
                let st = &self.tasks[id];
                if st.notices > 0 {
                    continue;
                }
                let task = TaskId(id as u64);
                let zombie = st.exec.is_some_and(|e| {
                    let x = &self.execs[e as usize];
                    x.zombie && x.aborted && x.state == ExecState::Running
                });
                let view = self.kernel.kernel().task(task);
                if zombie {
                    self.counters.hit(Sometimes::StuckReported);
                    if !view.as_ref().is_some_and(|v| v.stuck) {
                        late.push(format!("{task} is a zombie but not reported stuck"));
                    }
                    continue;
                }
                let why = self
                    .kernel
                    .kernel()
                    .explain(task)
                    .map_or_else(|| "not in the registry".to_owned(), |x| x.to_string());
                late.push(format!("{task}: {why}"));
            }
            if !late.is_empty() {
                let n = late.len();
                late.truncate(5);
                self.violation(
                    Property::Liveness,
                    now,
                    format!(
                        "{n} tasks not ended {}ns after faults stopped: {}",
                        self.plan.liveness_bound_ns,
                        late.join("; ")
                    ),
                );
            }
        }
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Final;
        let grace = self
            .plan
            .config
            .classes
            .iter()
            .map(|c| c.grace.as_nanos())
            .max()
            .unwrap_or(0)
            .max(self.plan.config.disconnect_grace.as_nanos());
        if !self.kernel.kernel().is_stopped() {
            let _ = self.input(Input::Shutdown {
                grace: baton_kernel::Duration::from_nanos(grace),
            });
            self.after_input();
        }
        self.events.push(now + grace + 1, Event::FinalCheck);
    }

    fn final_check(&mut self) {
        let now = self.now;
        if self.oracle.is_some() {
            let k = self.kernel.kernel();
            if !k.is_stopped() || k.registry_len() != 0 {
                let detail = format!(
                    "shutdown grace is over but the kernel is {} with {} records",
                    if k.is_stopped() {
                        "stopped"
                    } else {
                        "not stopped"
                    },
                    k.registry_len()
                );
                self.violation(Property::Liveness, now, detail);
            }
            let never: Vec<usize> = (1..self.tasks.len())
                .filter(|i| self.tasks[*i].notices == 0)
                .take(5)
                .collect();
            if !never.is_empty() {
                self.violation(
                    Property::Liveness,
                    now,
                    format!("tasks without a terminal notice after shutdown: {never:?}"),
                );
            }
            if let Some(o) = self.oracle.as_mut() {
                o.deep_check(&*self.kernel, now);
                if let Some(detail) = self
                    .timing
                    .as_mut()
                    .and_then(|tc| tc.finish(Instant::from_nanos(now)))
                {
                    o.report(Property::TimingIndependence, now, detail);
                }
            }
            self.flush_violations();
        }
        self.phase = Phase::Done;
    }
}

/// What the trace needs to know about an input, taken before the input is moved.
enum Summary {
    Connect(String),
    Disconnect,
    Shutdown(u64),
    Restart,
    Progress(TaskId),
    Submit {
        class: ClassId,
        target: Target,
        priority: Option<u8>,
        parent: Option<TaskId>,
    },
    Other,
}

impl Summary {
    fn of(input: &Input) -> Summary {
        match input {
            Input::Connect { name } => Summary::Connect(name.clone()),
            Input::Disconnect { .. } => Summary::Disconnect,
            Input::Shutdown { grace } => Summary::Shutdown(grace.as_nanos()),
            Input::Restart => Summary::Restart,
            Input::Progress { task, .. } => Summary::Progress(*task),
            Input::Submit(s) => Summary::Submit {
                class: s.class,
                target: s.target,
                priority: s.priority,
                parent: s.parent,
            },
            _ => Summary::Other,
        }
    }
}
