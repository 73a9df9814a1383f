//! The oracle: checks DESIGN.md's properties after every kernel input.
//!
//! It sees exactly what a driver sees — the input, the kernel's answer, the actions it emitted —
//! plus the physical run intervals of the simulated world, and keeps its own [`model`] of the
//! registry. Per input it checks:
//!
//! - **robustness**: an input the model says is bad must be refused with the right error, leave
//!   the kernel equal to a copy taken before (`Kernel: PartialEq`, every field) and emit nothing;
//!   a good input must be accepted;
//! - **order / work conservation**: each `Start` is the reference rule's best ready task (and
//!   session, for groups); none is left ready afterwards;
//! - **deadlines**: each deadline effect happens exactly at the model's deadline, in a
//!   `handle_timeout` call, and after `handle_timeout(t)` no model deadline `<= t` is pending;
//!   `poll_timeout()` is never later than the model's next deadline;
//! - **accounting**: every terminal notice is justified and unique; counts and metrics equal the
//!   model's; cancellation reaches children;
//! - **cleanup**: disconnect/shutdown effects, removals inside their window, closed sessions and
//!   a stopped kernel empty, registry size = active + retained;
//! - **limits**: no start past a class limit, refusals exactly at the bounds;
//! - **exclusivity**: physical run intervals on one session never overlap;
//! - **invariants**: `check_invariants()`.
//!
//! Liveness needs the world (which tasks are physical zombies), so the harness asks for it at
//! the end of a run; determinism and "sometimes" are campaign-level.
//!
//! A `handle_timeout(t)` that covers several deadline instants (after a clock jump) is split:
//! the oracle replays it on a copy of the kernel one deadline at a time, checks that the
//! concatenated actions and the final state equal the single call's (the kernel's contract that
//! "a late call behaves like calls at each deadline"), and judges each instant on its own.

pub(crate) mod model;

use crate::property::{Property, PropertySet, Violation};
use crate::reference;
use crate::under_test::KernelUnderTest;
use baton_kernel::{
    Action, Applied, CancelReason, Error, Exit, Input, Instant, Notice, Outcome, RejectReason,
    Scope, SessionId, TaskId, TaskState,
};
use model::{Due, Life, Model, TimerKind};
use std::collections::{BTreeMap, BTreeSet};

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
    /// Compare metrics, per-class counts and the stuck list every this many inputs.
    pub deep_every: u64,
}

impl OracleConfig {
    /// Every property after every input; `check_invariants()` on the adaptive cadence.
    pub const fn full() -> Self {
        OracleConfig {
            properties: PropertySet::ALL,
            invariants_every: 0,
            deep_every: 16,
        }
    }

    /// Like [`OracleConfig::full`], with `check_invariants()` after literally every input.
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

/// Cheap summary of the kernel's state, compared around refused inputs the model did not expect
/// to be refused (expected refusals get a full copy instead).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    counts: baton_kernel::StateCounts,
    registry: usize,
    now: Instant,
    timeout: Option<Instant>,
    pending: usize,
}

fn fingerprint(k: &dyn KernelUnderTest) -> Fingerprint {
    let kernel = k.kernel();
    Fingerprint {
        counts: kernel.counts(),
        registry: kernel.registry_len(),
        now: kernel.now(),
        timeout: kernel.poll_timeout(),
        pending: kernel.pending_actions(),
    }
}

/// A late `handle_timeout` replayed one deadline instant at a time on a copy: the actions of
/// each instant, and the copy's final state.
type Split = (Vec<(u64, Vec<Action>)>, Box<dyn KernelUnderTest>);

/// What the oracle noted before an input.
pub struct Before {
    predicted: Result<(), Error>,
    snapshot: Option<Box<dyn KernelUnderTest>>,
    fingerprint: Fingerprint,
    split: Option<Split>,
    /// For an input other than `handle_timeout` that arrives while deadlines `<= now` are
    /// pending: the actions `handle_timeout(now)` gives on a copy, which the input must emit
    /// first ("time keeps itself"). They are judged before the input is predicted.
    catch_up: Option<Vec<Action>>,
}

impl Before {
    /// For an input that caught up with due deadlines: how many actions `handle_timeout(now)`
    /// gives on a copy, which the input must emit first.
    pub fn catch_up_len(&self) -> Option<usize> {
        self.catch_up.as_ref().map(Vec::len)
    }
}

/// Replays `handle_timeout(now)` on a copy of `k` one deadline instant at a time.
fn split_timeout(k: &dyn KernelUnderTest, now: Instant) -> Split {
    let mut copy = k.box_clone();
    let mut groups = Vec::new();
    while let Some(at) = copy.poll_timeout().filter(|at| *at <= now) {
        let at = at.max(copy.kernel().now());
        if copy.apply(at, Input::Timeout).is_err() {
            break;
        }
        groups.push((
            at.as_nanos(),
            std::iter::from_fn(|| copy.poll_action()).collect(),
        ));
    }
    let _ = copy.apply(now, Input::Timeout);
    groups.push((
        now.as_nanos(),
        std::iter::from_fn(|| copy.poll_action()).collect(),
    ));
    (groups, copy)
}

/// What kind of exit a `finished` input reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExitKind {
    Completed,
    Failed { retryable: bool },
    Dropped,
}

/// The input that caused the effects being judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Timeout,
    Cancel(TaskId),
    Finished(TaskId, ExitKind),
    Disconnect(SessionId),
    Shutdown,
    Other,
}

/// Per-instant bookkeeping while judging one group of effects.
#[derive(Default)]
struct Group {
    removed: Vec<(TaskId, Option<SessionId>)>,
    closed: Vec<SessionId>,
    shutdown_closed: bool,
    abandoned: Vec<(TaskId, Option<SessionId>)>,
    cascade: Vec<(TaskId, TaskId)>,
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
    /// Exclusive tasks physically running, per session.
    physical: BTreeMap<SessionId, (TaskId, u64)>,
    /// Refusals seen per kind (for sampling full-state comparisons).
    refusals: BTreeMap<String, u64>,
}

impl std::fmt::Debug for Oracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oracle")
            .field("step", &self.sink.step)
            .field("violations", &self.sink.violations.len())
            .finish()
    }
}

fn error_property(e: &Error) -> Property {
    match e {
        Error::Refused(RejectReason::QueueFull | RejectReason::Capacity)
        | Error::TooManySessions(_)
        | Error::TooManyGroups(_)
        | Error::TooManyGroupsForSession(_) => Property::Limits,
        _ => Property::Robustness,
    }
}

/// A refusal's kind: the error variant, and the reason for refused submits.
fn refusal_kind(e: &Error) -> String {
    match e {
        Error::Refused(r) => format!("refused:{}", r.name()),
        other => {
            let text = format!("{other:?}");
            text.split([' ', '(', '{']).next().unwrap_or("").to_owned()
        }
    }
}

fn same_error(a: &Error, b: &Error) -> bool {
    match (a, b) {
        (Error::Refused(x), Error::Refused(y)) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
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
            physical: BTreeMap::new(),
            refusals: BTreeMap::new(),
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

    /// Whether the model thinks the task has reached a terminal state.
    pub fn is_terminal(&self, task: TaskId) -> bool {
        self.model.task(task).is_some_and(|t| t.state.is_terminal())
    }

    /// Call before applying `input` at `now`.
    pub fn before(&mut self, k: &dyn KernelUnderTest, now: Instant, input: &Input) -> Before {
        // Time keeps itself: any other input at `now` first does exactly what
        // `handle_timeout(now)` does. Those effects are computed on a copy and judged as a
        // `handle_timeout` (one deadline instant at a time) before the input itself is
        // predicted; the input must then emit them first, and a refused input must leave the
        // kernel equal to the copy.
        let caught_up = match input {
            Input::Timeout => None,
            _ if now >= k.kernel().now() && k.poll_timeout().is_some_and(|d| d <= now) => {
                let (groups, copy) = split_timeout(k, now);
                for (at, group) in &groups {
                    self.judge_group(*at, Cause::Timeout, group);
                }
                self.model.now = now.as_nanos();
                let flat: Vec<Action> = groups.into_iter().flat_map(|(_, a)| a).collect();
                Some((flat, copy))
            }
            _ => None,
        };
        let basis: &dyn KernelUnderTest = match &caught_up {
            Some((_, copy)) => &**copy,
            None => k,
        };
        let predicted = self.model.predict(now.as_nanos(), input);
        // A full copy is compared around the first refusals of each kind in a run and then
        // around one in 64; the others are compared by fingerprint (counts, registry size,
        // clock, next deadline, pending actions). Copies are O(n), refusals can come in bursts.
        let snapshot = match &predicted {
            Err(e) if self.cfg.properties.has(Property::Robustness) => {
                let kind = refusal_kind(e);
                let seen = self.refusals.entry(kind).or_insert(0);
                *seen += 1;
                (*seen <= 32 || *seen % 64 == 0).then(|| {
                    // A refusal still moves the clock, as `handle_timeout(now)` would.
                    let mut copy = basis.box_clone();
                    if !matches!(input, Input::Timeout) && now >= copy.kernel().now() {
                        let _ = copy.apply(now, Input::Timeout);
                        while copy.poll_action().is_some() {}
                    }
                    copy
                })
            }
            _ => None,
        };
        let split = match (input, k.poll_timeout()) {
            (Input::Timeout, Some(first)) if first < now && predicted.is_ok() => {
                Some(split_timeout(k, now))
            }
            _ => None,
        };
        let mut fingerprint = fingerprint(basis);
        if !matches!(input, Input::Timeout) {
            fingerprint.now = fingerprint.now.max(now);
        }
        Before {
            predicted,
            snapshot,
            fingerprint,
            split,
            catch_up: caught_up.map(|(flat, _)| flat),
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
        let mut actions = actions;
        if let Some(first) = before.catch_up.as_deref() {
            let n = first.len();
            if actions.len() < n || actions[..n] != *first {
                let detail = format!(
                    "{input:?} at t={t} did not first fire the due deadlines as handle_timeout({t}) would: that gives {first:?}, the input emitted {actions:?}"
                );
                self.sink.fail(Property::Deadlines, t, detail);
                // The model has already taken the deadlines' effects; nothing after this
                // point can be judged against it.
                return;
            }
            actions = &actions[n..];
        }
        match (result, &before.predicted) {
            (Err(e), Ok(())) => self.sink.fail(
                Property::Robustness,
                t,
                format!("refused a valid input {input:?}: {e}"),
            ),
            (Err(e), Err(p)) if !same_error(e, p) => self.sink.fail(
                error_property(p),
                t,
                format!("refused {input:?} with {e:?}, the model expected {p:?}"),
            ),
            (Ok(_), Err(p)) => self.sink.fail(
                error_property(p),
                t,
                format!("accepted {input:?} though the model expected {p:?}"),
            ),
            _ => {}
        }
        if let Err(e) = result {
            // A refusal still moves the kernel's clock to `t` (time keeps itself), unless the
            // refusal is that time went backwards.
            if !matches!(e, Error::TimeWentBackwards { .. }) {
                self.model.now = self.model.now.max(t);
            }
            self.check_refusal(k, t, input, e, actions, before);
            self.periodic(k, t);
            return;
        }
        let Ok(applied) = result else { return };
        let cause = self.apply_input(t, input, applied);
        match (input, before.split) {
            (Input::Timeout, Some((groups, copy))) => {
                let flat: Vec<&Action> = groups.iter().flat_map(|(_, a)| a.iter()).collect();
                let same =
                    flat.len() == actions.len() && flat.iter().zip(actions).all(|(a, b)| *a == b);
                if !same || copy.kernel() != k.kernel() {
                    self.sink.fail(
                        Property::Deadlines,
                        t,
                        format!(
                            "a late handle_timeout({t}) is not the same as one call per deadline: {} actions batched vs {} stepwise, states equal: {}",
                            actions.len(),
                            flat.len(),
                            copy.kernel() == k.kernel()
                        ),
                    );
                    self.judge_group(t, Cause::Timeout, actions);
                } else {
                    for (at, group) in &groups {
                        self.judge_group(*at, Cause::Timeout, group);
                    }
                }
            }
            _ => self.judge_group(t, cause, actions),
        }
        self.model.now = t;
        self.check_against_kernel(k, t);
        self.periodic(k, t);
    }

    fn check_refusal(
        &mut self,
        k: &dyn KernelUnderTest,
        t: u64,
        input: &Input,
        e: &Error,
        actions: &[Action],
        before: Before,
    ) {
        if !actions.is_empty() {
            self.sink.fail(
                Property::Robustness,
                t,
                format!("refused {input:?} ({e}) but emitted {actions:?}"),
            );
        }
        let changed = match &before.snapshot {
            Some(copy) => copy.kernel() != k.kernel(),
            None => before.fingerprint != fingerprint(k),
        };
        if changed {
            let detail = match &before.snapshot {
                Some(copy) => json_diff(copy.kernel(), k.kernel()),
                None => format!("{:?} -> {:?}", before.fingerprint, fingerprint(k)),
            };
            self.sink.fail(
                Property::Robustness,
                t,
                format!("refused {input:?} ({e}) but the state changed: {detail}"),
            );
        }
    }

    /// Applies an accepted input's direct effect on the model; returns the cause for judging.
    fn apply_input(&mut self, t: u64, input: &Input, applied: &Applied) -> Cause {
        let m = &mut self.model;
        match (input, applied) {
            (Input::Connect { name }, Applied::Session(id)) => {
                if id.0 < m.next_session {
                    let detail = format!("connect {name:?} returned reused {id}");
                    self.sink.fail(Property::Accounting, t, detail);
                }
                self.model.connect(t, name, *id);
                Cause::Other
            }
            (Input::Disconnect { name }, Applied::Session(id)) => {
                if m.names.get(name) != Some(id) {
                    let detail = format!(
                        "disconnect {name:?} returned {id}, model has {:?}",
                        m.names.get(name)
                    );
                    self.sink.fail(Property::Accounting, t, detail);
                }
                self.model.disconnect(t, *id);
                Cause::Disconnect(*id)
            }
            (Input::JoinGroup { group, session }, Applied::Group(g)) => {
                let expected = m
                    .group_names
                    .get(group)
                    .copied()
                    .unwrap_or(baton_kernel::GroupId(m.groups.len() as u32));
                if expected != *g {
                    self.sink.fail(
                        Property::Accounting,
                        t,
                        format!("join {group:?} returned {g}, expected {expected}"),
                    );
                }
                self.model.join(group, *session, *g);
                Cause::Other
            }
            (Input::LeaveGroup { group, session }, _) => {
                m.leave(group, *session);
                Cause::Other
            }
            (Input::Submit(sub), Applied::Task(id)) => {
                if id.0 != m.next_task {
                    let detail = format!(
                        "submit returned {id}, expected task {} (ids increase, never reused)",
                        m.next_task
                    );
                    self.sink.fail(Property::Accounting, t, detail);
                }
                self.model.submit(t, sub, *id);
                Cause::Other
            }
            (Input::Cancel { task }, _) => Cause::Cancel(*task),
            (Input::Progress { task, .. }, _) => {
                m.progress(t, *task);
                Cause::Other
            }
            (Input::Finished { task, exit } | Input::FinishedAttempt { task, exit, .. }, _) => {
                Cause::Finished(
                    *task,
                    match exit {
                        Exit::Completed => ExitKind::Completed,
                        Exit::Failed { retryable, .. } => ExitKind::Failed {
                            retryable: *retryable,
                        },
                        Exit::Dropped => ExitKind::Dropped,
                    },
                )
            }
            (Input::Shutdown { grace }, _) => {
                m.shutdown(t, grace.as_nanos());
                Cause::Shutdown
            }
            (Input::Timeout, _) => Cause::Timeout,
            (i, a) => {
                let detail = format!("{i:?} answered with unexpected {a:?}");
                self.sink.fail(Property::Robustness, t, detail);
                Cause::Other
            }
        }
    }

    /// Judges the effects of one input (or one deadline instant of a late `handle_timeout`).
    fn judge_group(&mut self, d: u64, cause: Cause, actions: &[Action]) {
        self.model.now = d;
        if cause == Cause::Timeout {
            self.model.requeue_due(d);
        }
        let mut g = Group::default();
        for action in actions {
            match action {
                Action::Start {
                    task,
                    class,
                    session,
                    attempt,
                } => self.judge_start(d, *task, *class, *session, *attempt),
                Action::Cancel { task, reason } => {
                    self.judge_cancel(d, cause, *task, *reason, &mut g)
                }
                Action::Abort { task } => self.judge_abort(d, cause, *task),
                Action::Notify(Notice::Finished { task, outcome }) => {
                    self.judge_finish(d, cause, *task, *outcome, &mut g)
                }
                Action::Notify(Notice::Retrying { task, attempt, at }) => {
                    self.judge_retry(d, cause, *task, *attempt, at.as_nanos())
                }
                Action::Notify(Notice::Removed { task }) => self.judge_removed(d, *task, &mut g),
                Action::Notify(Notice::Closed(report)) => {
                    self.judge_closed(d, cause, report, &mut g)
                }
            }
        }
        self.end_group(d, cause, g);
    }

    fn judge_start(
        &mut self,
        d: u64,
        task: TaskId,
        class: baton_kernel::ClassId,
        session: Option<SessionId>,
        attempt: u32,
    ) {
        let Some(t) = self.model.live(task) else {
            self.sink.fail(
                Property::Order,
                d,
                format!("started {task}, which the model does not know"),
            );
            return;
        };
        if t.class != class || t.attempt != attempt {
            let detail = format!(
                "started {task} as {class} attempt {attempt}; the model has {} attempt {}",
                t.class, t.attempt
            );
            self.sink.fail(Property::Accounting, d, detail);
        }
        if !self.model.slot_free(t.class) {
            let limit = self.model.class(t.class).limit.unwrap_or(0);
            let detail = format!(
                "started {task} of class {:?} with {} of {limit} slots already taken",
                self.model.class(t.class).name,
                self.model.active[t.class.index()]
            );
            self.sink.fail(Property::Limits, d, detail);
        }
        let rank = (t.priority, t.seq);
        match reference::readiness(&self.model, t) {
            Err(why) => self.sink.fail(
                Property::Order,
                d,
                format!("started {task} (priority {}, seq {}) but it is not ready: {why:?}", rank.0, rank.1),
            ),
            Ok(place) if place != session => self.sink.fail(
                Property::Order,
                d,
                format!("started {task} on {session:?} but the rule places it on {place:?} (longest idle member)"),
            ),
            Ok(_) => {
                if let Some((best, _)) = reference::best_ready(&self.model)
                    && best != task
                {
                    let b = self.model.task(best).map(|b| (b.priority, b.seq)).unwrap_or_default();
                    self.sink.fail(
                        Property::Order,
                        d,
                        format!(
                            "started {task} (priority {}, seq {}) but {best} (priority {}, seq {}) is ready and better",
                            rank.0, rank.1, b.0, b.1
                        ),
                    );
                }
            }
        }
        self.model.start(d, task, session);
    }

    fn parent_gone(&self, task: TaskId) -> bool {
        self.model
            .task(task)
            .and_then(|t| t.parent)
            .and_then(|p| self.model.task(p))
            .is_some_and(|p| {
                p.state == TaskState::Cancelling
                    || p.outcome.is_some_and(|o| o != Outcome::Completed)
            })
    }

    fn note_cascade(&self, parent: TaskId, g: &mut Group) {
        if let Some(p) = self.model.task(parent) {
            g.cascade.extend(p.children.iter().map(|c| (parent, *c)));
        }
    }

    fn judge_cancel(
        &mut self,
        d: u64,
        cause: Cause,
        task: TaskId,
        reason: CancelReason,
        g: &mut Group,
    ) {
        let Some(t) = self.model.live(task) else {
            self.sink.fail(
                Property::Accounting,
                d,
                format!("Cancel({reason:?}) for unknown {task}"),
            );
            return;
        };
        let property = match reason {
            CancelReason::Timeout | CancelReason::Stalled => Property::Deadlines,
            CancelReason::Disconnect | CancelReason::Shutdown => Property::Cleanup,
            _ => Property::Accounting,
        };
        if t.state != TaskState::Running {
            let detail = format!("Cancel({reason:?}) for {task} in state {:?}", t.state);
            self.sink.fail(property, d, detail);
            return;
        }
        let timeout = cause == Cause::Timeout;
        let ok = match reason {
            CancelReason::User => cause == Cause::Cancel(task),
            CancelReason::Timeout => {
                timeout && (t.due(TimerKind::Run) == Some(d) || t.due(TimerKind::Total) == Some(d))
            }
            CancelReason::Stalled => timeout && t.due(TimerKind::Heartbeat) == Some(d),
            CancelReason::Disconnect => {
                matches!(cause, Cause::Disconnect(s) if t.counted_session() == Some(s))
            }
            CancelReason::Shutdown => cause == Cause::Shutdown,
            CancelReason::Parent => self.parent_gone(task),
        };
        if !ok {
            let detail = format!(
                "Cancel({reason:?}) for {task} is not justified at t={d} by {cause:?} (run due {:?}, total due {:?}, heartbeat due {:?})",
                t.due(TimerKind::Run),
                t.due(TimerKind::Total),
                t.due(TimerKind::Heartbeat)
            );
            self.sink.fail(property, d, detail);
        }
        self.note_cascade(task, g);
        self.model.cancel(d, task, reason);
    }

    fn judge_abort(&mut self, d: u64, cause: Cause, task: TaskId) {
        let ok = self.model.live(task).is_some_and(|t| {
            cause == Cause::Timeout
                && t.state == TaskState::Cancelling
                && t.abort_at.is_none()
                && t.due(TimerKind::Grace) == Some(d)
        });
        if !ok {
            let due = self.model.task(task).and_then(|t| t.due(TimerKind::Grace));
            let detail =
                format!("Abort for {task} at t={d} by {cause:?}; its grace ends at {due:?}");
            self.sink.fail(Property::Deadlines, d, detail);
        }
        self.model.abort(d, task);
    }

    fn judge_finish(
        &mut self,
        d: u64,
        cause: Cause,
        task: TaskId,
        outcome: Outcome,
        g: &mut Group,
    ) {
        let property = match outcome {
            Outcome::Rejected(RejectReason::QueueTimeout) | Outcome::TimedOut(_) => {
                Property::Deadlines
            }
            Outcome::Rejected(_) | Outcome::Abandoned => Property::Cleanup,
            _ => Property::Accounting,
        };
        let Some(t) = self.model.live(task) else {
            let detail =
                format!("terminal notice {outcome:?} for {task}, which is not in the registry");
            self.sink.fail(Property::Accounting, d, detail);
            return;
        };
        if let Some(o) = t.outcome {
            let detail = format!("second terminal notice for {task}: {outcome:?} after {o:?}");
            self.sink.fail(Property::Accounting, d, detail);
            return;
        }
        let timeout = cause == Cause::Timeout;
        let reported = matches!(cause, Cause::Finished(x, _) if x == task);
        let waiting = t.state.is_waiting();
        let cancelling = t.state == TaskState::Cancelling;
        let reason = t.cancel.map(|(r, _)| r);
        let aborted = t.abort_at.is_some();
        let mut by_cleanup = false;
        let ok = match outcome {
            Outcome::Completed => {
                t.state == TaskState::Running && cause == Cause::Finished(task, ExitKind::Completed)
            }
            Outcome::Failed => match cause {
                Cause::Finished(x, ExitKind::Failed { retryable }) if x == task => {
                    t.state == TaskState::Running && !(retryable && self.model.may_retry(task))
                }
                _ => false,
            },
            Outcome::Cancelled(r) => {
                (waiting
                    && match r {
                        CancelReason::User => cause == Cause::Cancel(task),
                        CancelReason::Parent => self.parent_gone(task),
                        _ => false,
                    })
                    || (cancelling && reported && reason == Some(r) && !aborted && !r.is_deadline())
            }
            Outcome::TimedOut(r) => {
                (cancelling && reported && reason == Some(r) && !aborted && r.is_deadline())
                    || (timeout
                        && r == CancelReason::Timeout
                        && t.due(TimerKind::Total) == Some(d)
                        && (t.state == TaskState::Backoff
                            || (t.state == TaskState::Queued && t.requeued_at == Some(d))))
            }
            Outcome::Rejected(RejectReason::QueueTimeout) => {
                timeout
                    && t.state == TaskState::Queued
                    && (t.due(TimerKind::Queue) == Some(d) || t.due(TimerKind::Total) == Some(d))
            }
            Outcome::Rejected(RejectReason::SessionClosed) => {
                waiting
                    && matches!(cause, Cause::Disconnect(s) if t.target == baton_kernel::Target::Session(s))
            }
            Outcome::Rejected(RejectReason::Shutdown) => waiting && cause == Cause::Shutdown,
            Outcome::Rejected(_) => false,
            Outcome::Abandoned => {
                let session = t.counted_session();
                let cleanup = timeout
                    && t.state.is_active()
                    && (session.is_some_and(|s| {
                        self.model.sessions.get(&s).and_then(|x| x.closing) == Some(d)
                    }) || self.model.life == Life::ShuttingDown(d));
                by_cleanup = cleanup;
                (cancelling && aborted && reported) || cleanup
            }
        };
        if !ok {
            let detail = format!(
                "{outcome:?} for {task} is not justified at t={d} by {cause:?} (state {:?}, cancel {:?}, dues {:?})",
                t.state, t.cancel, t.dues
            );
            self.sink.fail(property, d, detail);
        }
        if by_cleanup {
            g.abandoned.push((task, t.counted_session()));
        }
        if outcome != Outcome::Completed {
            self.note_cascade(task, g);
        }
        self.model.finish(d, task, outcome);
    }

    fn judge_retry(&mut self, d: u64, cause: Cause, task: TaskId, attempt: u32, at: u64) {
        let Some(t) = self.model.live(task) else {
            self.sink
                .fail(Property::Accounting, d, format!("retry of unknown {task}"));
            return;
        };
        let ok = t.state == TaskState::Running
            && cause == Cause::Finished(task, ExitKind::Failed { retryable: true })
            && self.model.may_retry(task)
            && attempt == t.attempt + 1;
        if !ok {
            let detail = format!(
                "retry of {task} as attempt {attempt} not justified by {cause:?} (state {:?}, attempt {}, may retry {})",
                t.state,
                t.attempt,
                self.model.may_retry(task)
            );
            self.sink.fail(Property::Accounting, d, detail);
        }
        let (lo, hi) = self.model.backoff_window(task, d);
        if !(lo..=hi).contains(&at) {
            self.sink.fail(
                Property::Deadlines,
                d,
                format!("backoff of {task} ends at {at}, outside [{lo}, {hi}]"),
            );
        }
        self.model.retry(d, task, attempt, at);
    }

    fn judge_removed(&mut self, d: u64, task: TaskId, g: &mut Group) {
        match self.model.live(task) {
            Some(t) if t.state.is_terminal() => {
                // A group task abandoned by its session's cleanup no longer counts against the
                // session, but the cleanup removes it with the session's other records.
                let session = t.counted_session().or_else(|| {
                    g.abandoned
                        .iter()
                        .find(|(x, _)| *x == task)
                        .and_then(|(_, s)| *s)
                });
                g.removed.push((task, session));
                self.model.remove(task);
            }
            Some(t) => {
                let detail = format!("{task} removed from the registry while {:?}", t.state);
                self.sink.fail(Property::Cleanup, d, detail);
            }
            None => self.sink.fail(
                Property::Cleanup,
                d,
                format!("{task} removed twice or never existed"),
            ),
        }
    }

    fn judge_closed(
        &mut self,
        d: u64,
        cause: Cause,
        report: &baton_kernel::CleanupReport,
        g: &mut Group,
    ) {
        let stuck: BTreeSet<TaskId> = report.stuck.iter().map(|s| s.task).collect();
        // Each stuck line names the task's class, parent and age (time since first submission).
        for line in &report.stuck {
            if let Some(t) = self.model.task(line.task) {
                let age = d.saturating_sub(t.created_at);
                if line.class != t.class
                    || line.parent != t.parent
                    || line.age.as_nanos() != age
                    || line.reason != t.cancel.map(|(r, _)| r)
                {
                    let detail = format!(
                        "cleanup report line {line:?} disagrees with the model: class {}, parent {:?}, age {age}ns, reason {:?}",
                        t.class,
                        t.parent,
                        t.cancel.map(|(r, _)| r)
                    );
                    self.sink.fail(Property::Cleanup, d, detail);
                }
            }
        }
        match report.scope {
            Scope::Session(s) => {
                let Some(sess) = self.model.sessions.get(&s) else {
                    self.sink
                        .fail(Property::Cleanup, d, format!("Closed for unknown {s}"));
                    return;
                };
                let due = sess.closing;
                let ok = due.is_some()
                    && ((cause == Cause::Timeout && due == Some(d))
                        || self.model.session_active(s) == 0);
                if !ok {
                    let detail = format!(
                        "{s} closed at t={d} by {cause:?}; due {due:?}, active {}",
                        self.model.session_active(s)
                    );
                    self.sink.fail(Property::Cleanup, d, detail);
                }
                if !sess.tasks.is_empty() {
                    let detail =
                        format!("{s} closed with tasks still registered: {:?}", sess.tasks);
                    self.sink.fail(Property::Cleanup, d, detail);
                }
                let expected: BTreeSet<TaskId> = g
                    .abandoned
                    .iter()
                    .filter(|(_, x)| *x == Some(s))
                    .map(|(t, _)| *t)
                    .collect();
                g.abandoned.retain(|(_, x)| *x != Some(s));
                if expected != stuck {
                    self.sink.fail(
                        Property::Cleanup,
                        d,
                        format!("cleanup report of {s} lists {stuck:?} as stuck; abandoned were {expected:?}"),
                    );
                }
                g.closed.push(s);
                self.model.close_session(s);
            }
            Scope::Shutdown => {
                let ok = match self.model.life {
                    Life::ShuttingDown(at) => {
                        (cause == Cause::Timeout && at == d) || !self.model.any_active()
                    }
                    _ => false,
                };
                if !ok {
                    let detail = format!(
                        "shutdown closed at t={d} by {cause:?} in {:?}",
                        self.model.life
                    );
                    self.sink.fail(Property::Cleanup, d, detail);
                }
                if self.model.registry != 0 {
                    let detail = format!(
                        "shutdown closed with {} records still registered",
                        self.model.registry
                    );
                    self.sink.fail(Property::Cleanup, d, detail);
                }
                let expected: BTreeSet<TaskId> = g.abandoned.drain(..).map(|(t, _)| t).collect();
                if expected != stuck {
                    self.sink.fail(
                        Property::Cleanup,
                        d,
                        format!(
                            "shutdown report lists {stuck:?} as stuck; abandoned were {expected:?}"
                        ),
                    );
                }
                g.shutdown_closed = true;
                self.model.stop();
            }
        }
    }

    fn end_group(&mut self, d: u64, cause: Cause, g: Group) {
        // Removals need a reason: retention window, or a cleanup closed in this group.
        for (task, session) in &g.removed {
            let Some(t) = self.model.task(*task) else {
                continue;
            };
            let retention = self.model.class(t.class).retention.as_nanos();
            let interval = self.model.config.cleanup_interval.as_nanos();
            let due = t.finished_at.unwrap_or(0).saturating_add(retention);
            let in_window =
                cause == Cause::Timeout && due <= d && d <= due.saturating_add(interval);
            let closed = g.shutdown_closed || session.is_some_and(|s| g.closed.contains(&s));
            if !(in_window || closed) {
                let detail = format!(
                    "{task} removed at t={d}; its retention window is [{due}, {}] and no cleanup closed its session",
                    due.saturating_add(interval)
                );
                self.sink.fail(Property::Cleanup, d, detail);
            }
        }
        // Cancellation reaches children.
        for (parent, child) in &g.cascade {
            if let Some(c) = self.model.live(*child)
                && matches!(
                    c.state,
                    TaskState::Queued | TaskState::Backoff | TaskState::Running
                )
            {
                let detail = format!(
                    "{child} is still {:?} after its parent {parent} was cancelled or failed",
                    c.state
                );
                self.sink.fail(Property::Accounting, d, detail);
            }
        }
        // What the input itself must have achieved.
        match cause {
            Cause::Cancel(x) => {
                if let Some(t) = self.model.live(x)
                    && !(t.state.is_terminal() || t.state == TaskState::Cancelling)
                {
                    let detail = format!("cancel({x}) accepted but it is still {:?}", t.state);
                    self.sink.fail(Property::Accounting, d, detail);
                }
            }
            Cause::Finished(x, _) => {
                if let Some(t) = self.model.live(x)
                    && t.state.is_active()
                {
                    let detail = format!("finished({x}) accepted but it is still {:?}", t.state);
                    self.sink.fail(Property::Accounting, d, detail);
                }
            }
            Cause::Disconnect(s) => {
                if let Some(sess) = self.model.sessions.get(&s) {
                    let left: Vec<(TaskId, TaskState)> = sess
                        .tasks
                        .iter()
                        .filter_map(|id| self.model.task(*id))
                        .filter(|t| t.state.is_waiting() || t.state == TaskState::Running)
                        .map(|t| (t.id, t.state))
                        .collect();
                    if !left.is_empty() {
                        self.sink.fail(Property::Cleanup, d, format!("after disconnect of {s}, tasks neither rejected nor cancelling: {left:?}"));
                    }
                }
            }
            Cause::Shutdown => {
                let left: Vec<TaskId> = self
                    .model
                    .tasks
                    .values()
                    .filter(|t| {
                        !t.removed && (t.state.is_waiting() || t.state == TaskState::Running)
                    })
                    .map(|t| t.id)
                    .take(8)
                    .collect();
                if !left.is_empty() {
                    self.sink.fail(
                        Property::Cleanup,
                        d,
                        format!("after shutdown, tasks neither rejected nor cancelling: {left:?}"),
                    );
                }
            }
            _ => {}
        }
        let idle_closing: Vec<SessionId> = self
            .model
            .closing
            .iter()
            .copied()
            .filter(|s| self.model.session_active(*s) == 0)
            .collect();
        if !idle_closing.is_empty() {
            self.sink.fail(
                Property::Cleanup,
                d,
                format!("closing sessions with nothing running were not closed: {idle_closing:?}"),
            );
        }
        if matches!(self.model.life, Life::ShuttingDown(_)) && !self.model.any_active() {
            self.sink.fail(
                Property::Cleanup,
                d,
                "shutting down with nothing running, but not stopped".to_owned(),
            );
        }
        // Work conservation: nothing ready is left queued.
        if let Some((task, place)) = reference::best_ready(&self.model) {
            let t = self
                .model
                .task(task)
                .map(|t| (t.priority, t.seq))
                .unwrap_or_default();
            self.sink.fail(
                Property::WorkConservation,
                d,
                format!(
                    "{task} (priority {}, seq {}) is ready on {place:?} but was left queued",
                    t.0, t.1
                ),
            );
        }
        // Nothing due at or before a handled instant is left pending.
        if cause == Cause::Timeout
            && let Some((at, due)) = self.model.first_deadline()
            && at <= d
        {
            let detail = format!("deadline {due:?} due at {at} was missed by handle_timeout({d})");
            self.sink.fail(deadline_property(due), d, detail);
        }
    }

    /// Cross-checks the kernel's counters and next wake-up against the model.
    fn check_against_kernel(&mut self, k: &dyn KernelUnderTest, t: u64) {
        let kernel = k.kernel();
        let counts = kernel.counts();
        let model_counts = self.model.counts;
        let kernel_counts = TaskState::ALL.map(|s| counts.get(s));
        if model_counts != kernel_counts {
            self.sink.fail(
                Property::Accounting,
                t,
                format!("counts by state: kernel {kernel_counts:?}, model {model_counts:?}"),
            );
        }
        let registry = kernel.registry_len() as u64;
        if registry != self.model.registry || counts.total() != registry {
            self.sink.fail(
                Property::Cleanup,
                t,
                format!(
                    "registry holds {registry} records, counts total {}, model {}",
                    counts.total(),
                    self.model.registry
                ),
            );
        }
        if self.model.registry > u64::from(self.model.config.limits.tasks_max) {
            self.sink.fail(
                Property::Limits,
                t,
                format!("registry {} over its bound", self.model.registry),
            );
        }
        for (i, a) in self.model.active.iter().enumerate() {
            if let Some(limit) = self.model.config.classes[i].limit
                && *a > u64::from(limit)
            {
                let detail = format!(
                    "class {:?} runs {a} tasks, limit {limit}",
                    self.model.config.classes[i].name
                );
                self.sink.fail(Property::Limits, t, detail);
            }
        }
        if let Some((at, due)) = self.model.first_deadline() {
            match k.poll_timeout() {
                Some(p) if p.as_nanos() <= at => {}
                other => {
                    let detail = format!(
                        "the model's next deadline is {due:?} at {at} but poll_timeout() is {other:?}"
                    );
                    self.sink.fail(deadline_property(due), t, detail);
                }
            }
        }
    }

    /// The slower checks, on a cadence.
    fn periodic(&mut self, k: &dyn KernelUnderTest, t: u64) {
        let every = match self.cfg.invariants_every {
            0 => ((self.model.registry + self.model.sessions.len() as u64) / 8).max(1),
            n => n,
        };
        if self.sink.step % every == 0
            && self.cfg.properties.has(Property::Invariants)
            && let Err(e) = k.check_invariants()
        {
            self.sink.fail(Property::Invariants, t, e.to_string());
        }
        if self.sink.step % self.cfg.deep_every.max(1) == 0 || !self.model.aborted.is_empty() {
            self.deep_check(k, t);
        }
    }

    /// Metrics, per-class counts and the stuck list against the model.
    pub fn deep_check(&mut self, k: &dyn KernelUnderTest, t: u64) {
        let kernel = k.kernel();
        let stuck: BTreeSet<TaskId> = kernel.stuck().iter().map(|v| v.id).collect();
        if stuck != self.model.aborted {
            let detail = format!(
                "stuck() lists {stuck:?}; aborted and not stopped: {:?}",
                self.model.aborted
            );
            self.sink.fail(Property::Accounting, t, detail);
        }
        if self.sink.step % self.cfg.deep_every.max(1) != 0 {
            return;
        }
        self.check_queries(k, t);
        let metrics = kernel.metrics();
        for (i, cm) in metrics.classes.iter().enumerate() {
            let Some(want) = self.model.totals.get(i) else {
                continue;
            };
            let got = &cm.totals;
            let cc = &self.model.class_counts[i];
            let running = cc[TaskState::Running.index()] + cc[TaskState::Cancelling.index()];
            let queued = cc[TaskState::Queued.index()] + cc[TaskState::Backoff.index()];
            if got.submitted != want.submitted
                || got.started != want.started
                || got.retries != want.retries
                || got.outcomes != want.outcomes
                || cm.running != running
                || cm.queued != queued
            {
                self.sink.fail(
                    Property::Accounting,
                    t,
                    format!(
                        "metrics of class {:?}: submitted {} started {} retries {} outcomes {:?} running {} queued {}; model {} {} {} {:?} {running} {queued}",
                        cm.name,
                        got.submitted,
                        got.started,
                        got.retries,
                        got.outcomes,
                        cm.running,
                        cm.queued,
                        want.submitted,
                        want.started,
                        want.retries,
                        want.outcomes
                    ),
                );
            }
            if let Some(kc) = kernel.class_counts(baton_kernel::ClassId(i as u16)) {
                let got: Vec<u64> = TaskState::ALL.iter().map(|s| kc.get(*s)).collect();
                if got[..] != cc[..] {
                    self.sink.fail(
                        Property::Accounting,
                        t,
                        format!("class {i} counts: kernel {got:?}, model {cc:?}"),
                    );
                }
            }
        }
    }

    /// Queries against the model: per-session counts, the paged list, and `explain` for the
    /// best queued task of each class.
    fn check_queries(&mut self, k: &dyn KernelUnderTest, t: u64) {
        let kernel = k.kernel();
        for (id, sess) in &self.model.sessions {
            let want: [u64; 10] = {
                let mut c = [0u64; 10];
                for task in &sess.tasks {
                    if let Some(x) = self.model.task(*task) {
                        c[x.state.index()] += 1;
                    }
                }
                c
            };
            let got = kernel
                .session_counts(*id)
                .map(|c| TaskState::ALL.map(|s| c.get(s)));
            if got != Some(want) {
                let detail = format!("session_counts({id}) is {got:?}, model {want:?}");
                self.sink.fail(Property::Accounting, t, detail);
            }
        }
        // The first page of queued tasks, by id.
        let filter = baton_kernel::ListFilter {
            state: Some(TaskState::Queued),
            ..baton_kernel::ListFilter::default()
        };
        let page = kernel.list(&filter, None, 8);
        let queued: BTreeSet<TaskId> = self
            .model
            .queued
            .iter()
            .flat_map(|q| q.iter().map(|(_, _, id)| *id))
            .collect();
        let want: Vec<TaskId> = queued.into_iter().take(8).collect();
        let got: Vec<TaskId> = page.items.iter().map(|v| v.id).collect();
        if got != want {
            let detail = format!("list(queued) gives {got:?}, model {want:?}");
            self.sink.fail(Property::Accounting, t, detail);
        }
        // `explain` names the blocker the reference rule sees.
        for queued in &self.model.queued {
            let Some(&(_, _, id)) = queued.first() else {
                continue;
            };
            let Some(task) = self.model.task(id) else {
                continue;
            };
            let why = reference::readiness(&self.model, task);
            let Some(baton_kernel::Explanation::Queued { blockers }) = kernel.explain(id) else {
                let detail = format!(
                    "explain({id}) does not say queued: {:?}",
                    kernel.explain(id)
                );
                self.sink.fail(Property::Accounting, t, detail);
                continue;
            };
            let named = match &why {
                Ok(_) => true,
                Err(reference::NotReady::SessionHeld(h)) => blockers
                    .iter()
                    .any(|b| matches!(b, baton_kernel::Blocker::SessionHeld { by, .. } if by == h)),
                Err(reference::NotReady::ClassAtLimit(_)) => blockers
                    .iter()
                    .any(|b| matches!(b, baton_kernel::Blocker::ClassAtLimit { .. })),
                Err(reference::NotReady::NoFreeMember) => blockers
                    .iter()
                    .any(|b| matches!(b, baton_kernel::Blocker::NoFreeMember { .. })),
                Err(_) => !blockers.is_empty(),
            };
            if !named {
                let detail = format!("explain({id}) gives {blockers:?}; the rule says {why:?}");
                self.sink.fail(Property::Accounting, t, detail);
            }
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
    }

    /// The world says a task's future really stopped.
    pub fn run_end(&mut self, task: TaskId, session: Option<SessionId>) {
        if let Some(s) = session
            && self.physical.get(&s).is_some_and(|(t, _)| *t == task)
        {
            self.physical.remove(&s);
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
