//! The oracle: checks DESIGN.md's properties after every kernel input.
//!
//! It sees exactly what a driver sees — the input, the kernel's answer, the actions it emitted —
//! plus the physical run intervals of the simulated world, and keeps its own predictive
//! [`model`] of the kernel. Per input:
//!
//! - **prediction**: the model computes the kernel's answer (`Ok`, or the exact error with its
//!   payload) and the complete list of actions the kernel must emit — catch-up deadlines first,
//!   then the input's own effects and the dispatch — and compares them with the kernel's, element
//!   by element. The first difference is reported with both lists, under the property the
//!   differing element belongs to (a `Start` → order, a missing `Start` → work conservation, a
//!   start past a class limit → limits, a deadline effect → deadlines, a cleanup effect →
//!   cleanup, a second terminal notice → accounting, …). After a difference the model and the
//!   kernel have parted ways, so prediction stops for the rest of the run (the physical checks go
//!   on);
//! - **robustness**: on *every* refused input the kernel must equal a copy taken before the
//!   input that did `handle_timeout(now)` instead (DESIGN: a refused input is exactly a catch-up),
//!   field by field (`Kernel: PartialEq`; in paranoid mode also the serialized bytes), and emit
//!   exactly what that copy emitted;
//! - **deadlines and cleanup**: `poll_timeout()` equals the model's next deadline;
//! - **accounting and limits**: counts by state, the registry size and class limits;
//! - **exclusivity / name exclusivity**: physical run intervals of exclusive tasks on one
//!   session, and (with `fence_reconnect`) on all generations of one session name, never overlap;
//! - **queries** (on the `deep_every` cadence, and after every input while the kernel is
//!   small): counts by state, class and session; `list` under every filter, paged through with
//!   its cursor; `explain` of every task, including the exact "behind m better tasks"; metrics
//!   with their histograms; `stuck()` and `fenced()`;
//! - **invariants**: `check_invariants()`.
//!
//! Liveness needs the world (which tasks are physical zombies), so the harness asks for it at
//! the end of a run; determinism and "sometimes" are campaign-level.

pub(crate) mod model;
mod queries;

use crate::property::{Property, PropertySet, Violation};
use crate::under_test::KernelUnderTest;
use baton_kernel::{Action, Applied, Error, Input, Instant, Notice, SessionId, TaskId, TaskState};
use model::{Due, Model, Prediction, TimerKind};
use std::collections::BTreeMap;

/// How thorough the oracle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OracleConfig {
    /// Properties checked.
    pub properties: PropertySet,
    /// Run `check_invariants()` every this many inputs (1: after every input). 0 adapts to the
    /// kernel's size: every input while it is small, every `(records + sessions) / 8` inputs
    /// when it is large, so the kernel's O(n log n) self-check costs about as much as the rest of the
    /// oracle instead of dominating it.
    pub invariants_every: u64,
    /// Compare metrics, counts, `list`, `explain`, `stuck()` and `fenced()` with the model every
    /// this many inputs (1: after every input; above 1 the cadence stretches on kernels larger
    /// than [`SMALL_KERNEL`] records).
    pub deep_every: u64,
}

/// A kernel with at most this many records gets the query check every `deep_every` inputs
/// exactly; a larger one every `max(deep_every, records / QUERY_STRETCH)` inputs.
pub const SMALL_KERNEL: u64 = 64;

/// See [`SMALL_KERNEL`].
pub const QUERY_STRETCH: u64 = 2;

/// Up to this many records the paranoid query check pages through every filter and explains
/// every task on every input (O(n²) per input); above, it rotates filters like `full` does.
pub const PARANOID_QUERIES_MAX: u64 = 64;

impl OracleConfig {
    /// Every property after every input; `check_invariants()` on the adaptive cadence.
    pub const fn full() -> Self {
        OracleConfig {
            properties: PropertySet::ALL,
            invariants_every: 0,
            deep_every: 16,
        }
    }

    /// Like [`OracleConfig::full`], with `check_invariants()` and the query check after
    /// literally every input.
    pub const fn paranoid() -> Self {
        OracleConfig {
            properties: PropertySet::ALL,
            invariants_every: 1,
            deep_every: 1,
        }
    }

    /// Only the given properties.
    pub const fn only(properties: PropertySet) -> Self {
        OracleConfig {
            properties,
            invariants_every: 1,
            deep_every: 1,
        }
    }
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig::full()
    }
}

/// What the oracle noted before an input.
pub struct Before {
    /// The model's answer, after its catch-up (`None` once prediction has stopped).
    predicted: Option<Result<(), Error>>,
    /// The catch-up's actions.
    caught_up: Vec<(Action, Property)>,
    /// A copy of the kernel before an input the model expects to be refused.
    snapshot: Option<Box<dyn KernelUnderTest>>,
}

/// Where violations go (a field of its own, so checks can borrow the model meanwhile).
struct Sink {
    properties: PropertySet,
    violations: Vec<Violation>,
    step: u64,
}

impl Sink {
    fn fail(&mut self, property: Property, now: u64, detail: String) {
        if self.properties.has(property) {
            self.violations.push(Violation {
                property,
                t: now,
                step: self.step.saturating_sub(1),
                detail,
            });
        }
    }
}

/// The oracle.
pub struct Oracle {
    cfg: OracleConfig,
    model: Model,
    sink: Sink,
    /// The model and the kernel parted ways: prediction (and the checks that need it) stopped.
    diverged: bool,
    /// Every session generation's name, learned at connect.
    names: BTreeMap<SessionId, String>,
    /// Exclusive tasks physically running, per session.
    physical: BTreeMap<SessionId, (TaskId, u64)>,
    /// Exclusive tasks physically running, per session name: (task, session, since).
    physical_names: BTreeMap<String, Vec<(TaskId, SessionId, u64)>>,
    /// Rotates the parent filters the query check pages through.
    parent_cursor: u64,
}

impl std::fmt::Debug for Oracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oracle")
            .field("step", &self.sink.step)
            .field("violations", &self.sink.violations.len())
            .field("diverged", &self.diverged)
            .finish()
    }
}

fn error_property(e: &Error) -> Property {
    match e {
        Error::Refused(
            baton_kernel::RejectReason::QueueFull | baton_kernel::RejectReason::Capacity,
        )
        | Error::TooManySessions(_)
        | Error::TooManyGroups(_)
        | Error::TooManyGroupsForSession(_) => Property::Limits,
        _ => Property::Robustness,
    }
}

fn deadline_property(due: Due) -> Property {
    match due {
        Due::Task(_, TimerKind::Retention) | Due::SessionClose(_) | Due::Shutdown => {
            Property::Cleanup
        }
        Due::Task(..) => Property::Deadlines,
    }
}

/// The id an accepted input handed out.
fn issued(applied: &Applied) -> Option<u64> {
    match applied {
        Applied::Session(s) => Some(s.0),
        Applied::Group(g) => Some(u64::from(g.0)),
        Applied::Task(t) => Some(t.0),
        Applied::Done => None,
    }
}

impl Oracle {
    /// An oracle for a kernel built with `config`.
    pub fn new(config: &baton_kernel::Config, cfg: OracleConfig) -> Self {
        Oracle {
            cfg,
            model: Model::new(config),
            sink: Sink {
                properties: cfg.properties,
                violations: Vec::new(),
                step: 0,
            },
            diverged: false,
            names: BTreeMap::new(),
            physical: BTreeMap::new(),
            physical_names: BTreeMap::new(),
            parent_cursor: 0,
        }
    }

    /// Violations found so far.
    pub fn violations(&self) -> &[Violation] {
        &self.sink.violations
    }

    /// Inputs judged so far.
    pub fn steps(&self) -> u64 {
        self.sink.step
    }

    /// Records a violation found outside the per-input checks (liveness, by the harness).
    pub fn report(&mut self, property: Property, now: u64, detail: String) {
        self.sink.fail(property, now, detail);
    }

    /// Whether the model thinks the task has ended (or left the registry).
    pub fn is_terminal(&self, task: TaskId) -> bool {
        self.model.task(task).is_none_or(|t| model::ended(t.state))
    }

    /// Call before applying `input` at `now`: the model catches up to `now` and predicts the
    /// kernel's answer; a copy of the kernel is kept if the answer is a refusal.
    pub fn before(&mut self, k: &dyn KernelUnderTest, now: Instant, input: &Input) -> Before {
        if self.diverged {
            return Before {
                predicted: None,
                caught_up: Vec::new(),
                snapshot: None,
            };
        }
        let (predicted, caught_up) = match self.model.catch_up(now.as_nanos()) {
            Err(e) => (Err(e), Vec::new()),
            Ok(Prediction { actions }) => (self.model.validate(input), actions),
        };
        let snapshot = (predicted.is_err() && self.cfg.properties.has(Property::Robustness))
            .then(|| k.box_clone());
        Before {
            predicted: Some(predicted),
            caught_up,
            snapshot,
        }
    }

    /// Call after applying `input` at `now` and draining its actions.
    pub fn after(
        &mut self,
        k: &dyn KernelUnderTest,
        now: Instant,
        input: &Input,
        result: &Result<Applied, Error>,
        actions: &[Action],
        before: Before,
    ) {
        let t = now.as_nanos();
        self.sink.step += 1;
        let Some(predicted) = before.predicted else {
            self.periodic(k, t);
            return;
        };
        let mut expected = before.caught_up;
        let mut follow = true;
        match (result, &predicted) {
            (Err(e), Ok(())) => {
                let detail = format!("refused a valid input {input:?}: {e:?}");
                self.sink.fail(Property::Robustness, t, detail);
                follow = false;
            }
            (Err(e), Err(p)) if e != p => {
                let detail = format!("refused {input:?} with {e:?}, the model expected {p:?}");
                self.sink.fail(error_property(p), t, detail);
            }
            (Ok(_), Err(p)) => {
                let detail = format!("accepted {input:?} though the model expected {p:?}");
                self.sink.fail(error_property(p), t, detail);
                follow = false;
            }
            (Ok(applied), Ok(())) => {
                let id = issued(applied);
                if let (Input::Connect { name }, Applied::Session(s)) = (input, applied) {
                    self.names.insert(*s, name.clone());
                }
                if let Some(reused) = self.reused(input, applied) {
                    self.sink.fail(Property::Accounting, t, reused);
                }
                expected.extend(self.model.apply(input, id).actions);
            }
            (Err(_), Err(_)) => {}
        }
        if let (Err(e), Some(copy)) = (result, before.snapshot) {
            self.check_refusal(k, t, input, e, actions, copy);
        }
        if !follow {
            self.diverged = true;
            return;
        }
        self.compare(t, input, &expected, actions);
        if self.diverged {
            return;
        }
        self.check_against_kernel(k, t);
        self.periodic(k, t);
    }

    /// An id handed out twice (ids are never reused; they need not be sequential).
    fn reused(&self, input: &Input, applied: &Applied) -> Option<String> {
        match (input, applied) {
            (Input::Submit(_), Applied::Task(id)) if self.model.issued_tasks.contains(id.0) => {
                Some(format!("submit returned {id}, which was handed out before"))
            }
            (Input::Connect { name }, Applied::Session(id))
                if self.model.issued_sessions.contains(id.0)
                    && self.model.reattaches(name) != Some(*id) =>
            {
                Some(format!(
                    "connect returned {id}, which was handed out before"
                ))
            }
            (Input::JoinGroup { group, .. }, Applied::Group(g)) => {
                let known = self.model.group_names.get(group);
                let taken = self.model.groups.get(g).is_some_and(|x| &x.name != group);
                (known.is_some_and(|k| k != g) || taken)
                    .then(|| format!("join {group:?} returned {g}, model has {known:?}"))
            }
            _ => None,
        }
    }

    /// Compares the predicted actions with the kernel's, element by element.
    fn compare(&mut self, t: u64, input: &Input, expected: &[(Action, Property)], got: &[Action]) {
        let same = expected.len() == got.len() && expected.iter().zip(got).all(|(e, g)| e.0 == *g);
        if same {
            return;
        }
        let i = expected
            .iter()
            .zip(got)
            .take_while(|(e, g)| e.0 == **g)
            .count();
        let property = self.classify(expected.get(i), got, i);
        let want: Vec<&Action> = expected.iter().map(|(a, _)| a).collect();
        let detail = format!(
            "after {input:?} at t={t} the kernel's actions differ from the model's at #{i}: kernel {:?}, model {:?}; kernel emitted {got:?}; model predicted {want:?}",
            got.get(i),
            want.get(i)
        );
        self.sink.fail(property, t, detail);
        self.diverged = true;
    }

    /// The property a difference at `i` breaks.
    fn classify(
        &self,
        predicted: Option<&(Action, Property)>,
        got: &[Action],
        i: usize,
    ) -> Property {
        let kernel = got.get(i);
        // A second terminal notice for one task.
        if let Some(Action::Notify(Notice::Finished { task, .. })) = kernel {
            let twice = got[..i].iter().any(
                |a| matches!(a, Action::Notify(Notice::Finished { task: x, .. }) if x == task),
            );
            if twice {
                return Property::Accounting;
            }
        }
        // A start of a task whose class is at its limit.
        if let Some(Action::Start { task, .. }) = kernel
            && let Some(x) = self.model.task(*task)
            && x.state == TaskState::Queued
            && !self.model.slot_free(x.class)
        {
            return Property::Limits;
        }
        match (predicted, kernel) {
            (Some((Action::Start { .. }, _)), Some(Action::Start { .. })) => Property::Order,
            (Some((Action::Start { .. }, _)), _) => Property::WorkConservation,
            (Some((_, p)), _) => *p,
            (None, Some(Action::Start { .. })) => Property::Order,
            (None, Some(Action::Cancel { reason, .. })) => match reason {
                baton_kernel::CancelReason::Timeout | baton_kernel::CancelReason::Stalled => {
                    Property::Deadlines
                }
                baton_kernel::CancelReason::Disconnect | baton_kernel::CancelReason::Shutdown => {
                    Property::Cleanup
                }
                _ => Property::Accounting,
            },
            (None, Some(Action::Notify(Notice::Removed { .. } | Notice::Closed(_)))) => {
                Property::Cleanup
            }
            _ => Property::Accounting,
        }
    }

    /// A refused input: the kernel equals a copy that did `handle_timeout(now)` instead, and
    /// emitted what that copy emitted.
    fn check_refusal(
        &mut self,
        k: &dyn KernelUnderTest,
        t: u64,
        input: &Input,
        e: &Error,
        actions: &[Action],
        mut copy: Box<dyn KernelUnderTest>,
    ) {
        let _ = copy.apply(Instant::from_nanos(t), Input::Timeout);
        let emitted: Vec<Action> = std::iter::from_fn(|| copy.poll_action()).collect();
        if emitted != actions {
            let detail = format!(
                "refused {input:?} ({e}) and emitted {actions:?}; handle_timeout({t}) alone emits {emitted:?}"
            );
            self.sink.fail(Property::Robustness, t, detail);
        }
        let mut differs = copy.kernel() != k.kernel();
        if !differs && self.cfg.deep_every == 1 {
            // Paranoid: the serialized bytes too (what a snapshot would keep).
            differs = serde_json::to_vec(copy.kernel()).ok() != serde_json::to_vec(k.kernel()).ok();
        }
        if differs {
            let detail = format!(
                "refused {input:?} ({e}) but the state is not what handle_timeout({t}) alone leaves: {}",
                json_diff(copy.kernel(), k.kernel())
            );
            self.sink.fail(Property::Robustness, t, detail);
        }
    }

    /// Counters and the next wake-up against the model, after every input. O(classes).
    fn check_against_kernel(&mut self, k: &dyn KernelUnderTest, t: u64) {
        let kernel = k.kernel();
        let counts = kernel.counts();
        let kernel_counts = TaskState::ALL.map(|s| counts.get(s));
        if self.model.counts != kernel_counts {
            let detail = format!(
                "counts by state: kernel {kernel_counts:?}, model {:?}",
                self.model.counts
            );
            self.sink.fail(Property::Accounting, t, detail);
        }
        let registry = kernel.registry_len() as u64;
        if registry != self.model.registry() || counts.total() != registry {
            let detail = format!(
                "registry holds {registry} records, counts total {}, model {}",
                counts.total(),
                self.model.registry()
            );
            self.sink.fail(Property::Cleanup, t, detail);
        }
        if self.model.registry() > u64::from(self.model.config.limits.tasks_max) {
            let detail = format!("registry {} over its bound", self.model.registry());
            self.sink.fail(Property::Limits, t, detail);
        }
        let next = self.model.first_deadline();
        let polled = k.poll_timeout().map(Instant::as_nanos);
        if next.map(|(at, _)| at) != polled {
            let property = match (next, polled) {
                (Some((at, due)), Some(p)) if p > at => deadline_property(due),
                (Some((_, due)), None) => deadline_property(due),
                _ => Property::Deadlines,
            };
            let detail =
                format!("poll_timeout() is {polled:?}; the model's next deadline is {next:?}");
            self.sink.fail(property, t, detail);
        }
    }

    /// The slower checks, on a cadence.
    fn periodic(&mut self, k: &dyn KernelUnderTest, t: u64) {
        let every = match self.cfg.invariants_every {
            0 => ((self.model.registry() + self.model.sessions.len() as u64) / 8).max(1),
            n => n,
        };
        if self.sink.step % every == 0
            && self.cfg.properties.has(Property::Invariants)
            && let Err(e) = k.check_invariants()
        {
            self.sink.fail(Property::Invariants, t, e.to_string());
        }
        if self.diverged {
            return;
        }
        // The query check is O(n) (O(n + 64·q) with `explain`): on a large kernel its cadence
        // stretches with the registry so that it costs O(1) per input on average.
        let every = match self.cfg.deep_every {
            0 | 1 => 1,
            n if self.model.registry() <= SMALL_KERNEL => n,
            n => n.max(self.model.registry() / QUERY_STRETCH),
        };
        if self.sink.step % every == 0 {
            self.deep_check(k, t);
        }
    }

    /// Metrics, counts, lists, `explain`, `stuck()` and `fenced()` against the model.
    pub fn deep_check(&mut self, k: &dyn KernelUnderTest, t: u64) {
        if self.diverged {
            return;
        }
        self.parent_cursor += 1;
        // Paranoid: every filter and every task, while the kernel is small enough for O(n²).
        let everything = self.cfg.deep_every == 1 && self.model.registry() <= PARANOID_QUERIES_MAX;
        let found = queries::check(&self.model, k, self.parent_cursor, everything);
        for (property, detail) in found {
            self.sink.fail(property, t, detail);
        }
    }

    /// The world says an exclusive task's future was polled for the first time.
    pub fn run_begin(
        &mut self,
        now: u64,
        task: TaskId,
        session: Option<SessionId>,
        exclusive: bool,
    ) {
        let Some(s) = session.filter(|_| exclusive) else {
            return;
        };
        if let Some((other, since)) = self.physical.get(&s).copied()
            && other != task
        {
            self.sink.fail(
                Property::Exclusivity,
                now,
                format!("{task} began running on {s} while {other} (running since t={since}) has not stopped"),
            );
        }
        self.physical.insert(s, (task, now));
        let Some(name) = self.names.get(&s) else {
            return;
        };
        let running = self.physical_names.entry(name.clone()).or_default();
        if self.model.config.fence_reconnect
            && let Some((other, on, since)) = running
                .iter()
                .find(|(x, on, _)| *x != task && *on != s)
                .copied()
        {
            let detail = format!(
                "{task} began running on {s} ({name:?}) while {other} of an earlier generation {on} (running since t={since}) has not stopped"
            );
            self.sink.fail(Property::NameExclusivity, now, detail);
        }
        running.retain(|(x, _, _)| *x != task);
        running.push((task, s, now));
    }

    /// The world says a task's future really stopped.
    pub fn run_end(&mut self, task: TaskId, session: Option<SessionId>) {
        let Some(s) = session else { return };
        if self.physical.get(&s).is_some_and(|(t, _)| *t == task) {
            self.physical.remove(&s);
        }
        if let Some(name) = self.names.get(&s)
            && let Some(running) = self.physical_names.get_mut(name)
        {
            running.retain(|(x, _, _)| *x != task);
            if running.is_empty() {
                self.physical_names.remove(name);
            }
        }
    }
}

/// Names the top-level fields that differ between two kernels (for robustness messages).
fn json_diff(a: &baton_kernel::Kernel, b: &baton_kernel::Kernel) -> String {
    let (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return "kernels differ".to_owned();
    };
    let fields: Vec<&String> = x.keys().filter(|k| x.get(*k) != y.get(*k)).collect();
    if fields.is_empty() {
        "fields skipped by serde differ (pending work)".to_owned()
    } else {
        format!("fields {fields:?} differ")
    }
}
