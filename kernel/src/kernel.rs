//! The kernel: state, construction, and the input methods.
//!
//! Every input method validates completely before it mutates anything, so an `Err` leaves the
//! state exactly as it was. Every successful input ends with [`Kernel::settle`]: pending
//! cancellations are propagated, finished disconnects and shutdowns are closed, and the dispatch
//! rule runs until no task is ready.

use crate::action::Action;
use crate::config::Config;
use crate::counts::StateCounts;
use crate::deadline::{Cleanup, TaskTimer, Timers};
use crate::error::{ConfigError, Error};
use crate::id::{ClassId, GroupId, SessionId, TaskId};
use crate::metrics::ClassTotals;
use crate::queue::Lane;
use crate::rng::Rng;
use crate::session::{Group, Session};
use crate::task::{CancelReason, Exit, Outcome, Progress, RejectReason, Target, Task, TaskState};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A request to run a task. Build one with [`Submit::new`] and adjust the public fields.
///
/// ```
/// use baton_kernel::{ClassId, Submit, Target};
/// let s = Submit { priority: Some(9), ..Submit::new(ClassId(0), Target::None) };
/// assert_eq!(s.priority, Some(9));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submit {
    /// Its class.
    pub class: ClassId,
    /// Where it runs.
    pub target: Target,
    /// Overrides the class's default priority.
    pub priority: Option<u8>,
    /// The task that spawned it: cancelling the parent cancels it.
    pub parent: Option<TaskId>,
}

impl Submit {
    /// A submit with the class's priority and no parent.
    pub fn new(class: ClassId, target: Target) -> Self {
        Submit {
            class,
            target,
            priority: None,
            parent: None,
        }
    }
}

/// Whether the kernel accepts work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Lifecycle {
    Open,
    ShuttingDown { deadline: Instant },
    Stopped,
}

/// Per-class dispatch state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClassState {
    pub(crate) counts: StateCounts,
    /// Heads of this class's lanes whose resource is available (session free, group with a free
    /// member, or background). The dispatcher's candidates. An index: rebuilt on load.
    #[serde(skip)]
    pub(crate) ready: crate::ready::ReadySet,
    /// Queued background tasks of this class. An index: rebuilt on load.
    #[serde(skip)]
    pub(crate) background: Lane,
    pub(crate) totals: ClassTotals,
}

/// The deterministic scheduling state machine.
///
/// # Calling contract
///
/// Methods fall into four kinds, like quinn-proto's `Connection`:
/// - **inputs** take `now` and change state: [`connect`](Kernel::connect),
///   [`disconnect`](Kernel::disconnect), [`join_group`](Kernel::join_group),
///   [`leave_group`](Kernel::leave_group), [`submit`](Kernel::submit),
///   [`cancel`](Kernel::cancel), [`progress`](Kernel::progress),
///   [`finished`](Kernel::finished), [`shutdown`](Kernel::shutdown) and
///   [`handle_timeout`](Kernel::handle_timeout) (or all of them through [`apply`](Kernel::apply));
/// - **polls** say what to do: [`poll_action`](Kernel::poll_action) until `None`, then
///   [`poll_timeout`](Kernel::poll_timeout);
/// - **queries** (`&self`) answer from indexes and counters: [`task`](Kernel::task),
///   [`counts`](Kernel::counts), [`list`](Kernel::list), [`stuck`](Kernel::stuck),
///   [`explain`](Kernel::explain), [`metrics`](Kernel::metrics);
/// - [`check_invariants`](Kernel::check_invariants) cross-checks every index (for tests).
///
/// The rules a driver follows:
///
/// 1. After every input, drain `poll_action()` (or `poll_action_at()`, which also gives the
///    kernel instant each action was decided at) and act on every action, in order.
/// 2. `Start { task, session, attempt }`: run the task's body; remember `attempt`.
/// 3. `Cancel { task, reason }`: ask the body to stop (cooperatively); keep it running until it
///    does. `Abort { task }`: drop the body's future now — whatever grace is left; cleanup emits
///    it too, just before it ends the task `Abandoned`. A body that cannot be dropped (blocking
///    code) is still reported when it finally stops.
/// 4. When a body's future is gone — completed, failed, cancelled or dropped — report it once
///    with [`finished_attempt`](Kernel::finished_attempt) (or `finished`). This is the only
///    thing that frees a session; a report for a task that cleanup already abandoned is
///    accepted (it lifts that session name's reconnect fence). Report progress with
///    [`progress_attempt`](Kernel::progress_attempt) (or `progress`); it is the heartbeat.
/// 5. Sleep until `poll_timeout()` or the next input, then call `handle_timeout(now)`. It fires
///    every deadline `<= now` in deadline order (ties: task timers by task id and kind, then
///    session cleanups, then shutdown) and dispatches after each distinct instant. **Time
///    keeps itself**: every input first does exactly what `handle_timeout(now)` would, so a
///    timer that wakes late (or never) changes *when the driver learns* of a decision, never
///    the decision or its instant. Spurious calls are harmless.
/// 6. `now` never goes backwards (`TimeWentBackwards`, which changes nothing). Any other error
///    leaves the state exactly as `handle_timeout(now)` alone would.
/// 7. `Notify` tells what happened (a terminal outcome exactly once per task, a retry, a record
///    removed, a disconnect or shutdown report); nothing to do but resolve handles and log.
///
/// ```
/// use baton_kernel::{Action, ClassConfig, Config, Duration, Exit, Instant, Kernel, Submit, Target};
///
/// let config = Config::new(vec![ClassConfig::exclusive("io", 1)]);
/// let mut kernel = Kernel::new(config)?;
/// let mut now = Instant::ZERO;
/// let s = kernel.connect(now, "alice")?;
/// let a = kernel.submit(now, Submit::new(kernel.class_id("io").unwrap(), Target::Session(s)))?;
/// let b = kernel.submit(now, Submit::new(kernel.class_id("io").unwrap(), Target::Session(s)))?;
/// // The driver loop: drain actions after every input.
/// let mut started = vec![];
/// while let Some(action) = kernel.poll_action() {
///     if let Action::Start { task, .. } = action { started.push(task); }
/// }
/// assert_eq!(started, vec![a]); // b waits: the session is held
/// now = now + Duration::from_secs(1);
/// kernel.finished(now, a, Exit::Completed)?;
/// while let Some(action) = kernel.poll_action() {
///     if let Action::Start { task, .. } = action { started.push(task); }
/// }
/// assert_eq!(started, vec![a, b]);
/// // Nothing is due before the next deadline.
/// assert!(kernel.poll_timeout().unwrap() > now);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Snapshots
///
/// The whole state is `serde` serializable. Deserializing validates it with
/// [`check_invariants`](Kernel::check_invariants) first: a state that breaks an invariant (a
/// corrupt or doctored snapshot) is a deserialization error, never a kernel that misbehaves.
///
/// ```
/// use baton_kernel::{Instant, Kernel};
/// let mut k = Kernel::new(baton_kernel::preset::session_manager()).unwrap();
/// k.connect(Instant::ZERO, "alice").unwrap();
/// let json = serde_json::to_string(&k).unwrap();
/// let back: Kernel = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, k);
/// // A session that claims a holder that does not exist is refused.
/// let bad = json.replace("\"holder\":null", "\"holder\":7");
/// assert!(serde_json::from_str::<Kernel>(&bad).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Kernel {
    pub(crate) config: Config,
    pub(crate) now: Instant,
    pub(crate) next_task: u64,
    pub(crate) next_seq: u64,
    pub(crate) next_session: u64,
    pub(crate) rng: Rng,
    pub(crate) tasks: crate::registry::Registry,
    pub(crate) sessions: crate::registry::Slab<Session>,
    pub(crate) session_names: BTreeMap<String, SessionId>,
    pub(crate) groups: Vec<Group>,
    pub(crate) group_names: BTreeMap<String, GroupId>,
    pub(crate) classes: Vec<ClassState>,
    pub(crate) background_queue_len: u32,
    /// An index over the records' armed deadlines (and the cleanups): rebuilt on load.
    #[serde(skip)]
    pub(crate) timers: Timers,
    /// Actions not yet polled, with the kernel instant each was decided at.
    pub(crate) actions: VecDeque<(Instant, Action)>,
    /// Tasks asked to abort that have not reported.
    pub(crate) stuck: BTreeSet<TaskId>,
    pub(crate) counts: StateCounts,
    pub(crate) lifecycle: Lifecycle,
    /// Session names fenced by exclusive tasks of earlier generations (`Config::fence_reconnect`).
    #[serde(default)]
    pub(crate) fences: crate::fence::Fences,
    /// Cancellations still to propagate within the current input (empty between inputs).
    #[serde(skip)]
    pub(crate) pending_cancels: VecDeque<(TaskId, CancelReason)>,
    /// Closing sessions to re-check within the current input (empty between inputs).
    #[serde(skip)]
    pub(crate) closing_checks: Vec<SessionId>,
    /// How many of the queued actions, from the front, deadlines decided (not state).
    #[serde(skip)]
    pub(crate) caught_up: CaughtUp,
}

/// Whether a task enters or leaves the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tally {
    Add,
    Sub,
}

/// The length of the queue's prefix that caught-up deadlines decided. Bookkeeping for drivers
/// that log, not state: never serialized, and equal in every kernel.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CaughtUp(pub(crate) usize);

impl PartialEq for CaughtUp {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CaughtUp {}

impl Kernel {
    /// A kernel with `config`, validated first. O(classes²) for the duplicate-name check.
    ///
    /// ```
    /// let kernel = baton_kernel::Kernel::new(baton_kernel::preset::session_manager()).unwrap();
    /// assert_eq!(kernel.counts().total(), 0);
    /// ```
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let timers = Timers::new(config.classes.len());
        let classes = config
            .classes
            .iter()
            .map(|_| ClassState::default())
            .collect();
        Ok(Kernel {
            rng: Rng::new(config.seed),
            config,
            now: Instant::ZERO,
            next_task: 1,
            next_seq: 0,
            next_session: 1,
            tasks: crate::registry::Registry::default(),
            sessions: crate::registry::Slab::default(),
            session_names: BTreeMap::new(),
            groups: Vec::new(),
            group_names: BTreeMap::new(),
            classes,
            background_queue_len: 0,
            timers,
            actions: VecDeque::new(),
            stuck: BTreeSet::new(),
            counts: StateCounts::default(),
            lifecycle: Lifecycle::Open,
            fences: crate::fence::Fences::default(),
            pending_cancels: VecDeque::new(),
            closing_checks: Vec::new(),
            caught_up: CaughtUp::default(),
        })
    }

    pub(crate) fn check_time(&self, now: Instant) -> Result<(), Error> {
        if now < self.now {
            return Err(Error::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        Ok(())
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        match self.lifecycle {
            Lifecycle::Open => Ok(()),
            _ => Err(Error::ShuttingDown),
        }
    }

    pub(crate) fn check_name(&self, name: &str) -> Result<(), Error> {
        if name.is_empty() || name.len() > self.config.limits.name_len_max as usize {
            return Err(Error::BadName(name.to_owned()));
        }
        Ok(())
    }

    /// Submits a task and returns its id. The task is registered Queued and, if it is the best
    /// ready task, started at once (look for [`Action::Start`]). O(1) amortized (O(log n) when
    /// its deadline falls out of order or its lane's head competes in a ready index past 32).
    ///
    /// Refusals (`Error::Refused`, nothing registered): `QueueFull` (target's queue at
    /// `queue_len_max`, or the background queue at its bound), `Capacity` (registry at
    /// `tasks_max`, or the parent at `children_max`), `SessionClosed`, `UnknownTarget`,
    /// `Shutdown`. Errors: `UnknownClass`, `TargetRequired`, `UnknownTask` (parent),
    /// `ParentNotActive`, `TimeWentBackwards`.
    pub fn submit(&mut self, now: Instant, submit: Submit) -> Result<TaskId, Error> {
        self.advance(now)?;
        let class = self
            .config
            .classes
            .get(submit.class.index())
            .ok_or(Error::UnknownClass(submit.class))?;
        if self.lifecycle != Lifecycle::Open {
            return Err(Error::Refused(RejectReason::Shutdown));
        }
        if class.exclusive && submit.target == Target::None {
            return Err(Error::TargetRequired(submit.class));
        }
        let limits = &self.config.limits;
        let queue_len = match submit.target {
            Target::Session(s) => match self.sessions.get(&s) {
                Some(sess) if sess.closing.is_none() => sess.queue_len,
                Some(_) => return Err(Error::Refused(RejectReason::SessionClosed)),
                None if s.0 < self.next_session && s.0 > 0 => {
                    return Err(Error::Refused(RejectReason::SessionClosed));
                }
                None => return Err(Error::Refused(RejectReason::UnknownTarget)),
            },
            Target::Group(g) => match self.groups.get(g.0 as usize) {
                Some(grp) => grp.queue_len,
                None => return Err(Error::Refused(RejectReason::UnknownTarget)),
            },
            Target::None => self.background_queue_len,
        };
        let queue_max = match submit.target {
            Target::None => limits.background_queue_len_max,
            _ => limits.queue_len_max,
        };
        if let Some(p) = submit.parent {
            let parent = self.tasks.get(&p).ok_or(Error::UnknownTask(p))?;
            if !(parent.state.is_waiting() || parent.state == TaskState::Running) {
                return Err(Error::ParentNotActive(p));
            }
            if parent.children().len() >= limits.children_max as usize {
                return Err(Error::Refused(RejectReason::Capacity));
            }
        }
        // Ids are never reused: once they run out (after 2^64 submits, or in a doctored
        // snapshot) the registry is full for good.
        // Abandoned tasks that still fence a name count too: they may still be running.
        let registered = self.tasks.len().saturating_add(self.fences.abandoned_len());
        if registered >= limits.tasks_max as usize || self.next_task == u64::MAX {
            return Err(Error::Refused(RejectReason::Capacity));
        }
        if queue_len >= queue_max {
            return Err(Error::Refused(RejectReason::QueueFull));
        }
        // Validated: from here on nothing fails.
        let priority = submit.priority.unwrap_or(class.priority);
        let (queue_timeout, total_timeout) = (class.queue_timeout, class.total_timeout);
        self.now = now;
        let id = TaskId(self.next_task);
        self.next_task += 1; // cannot overflow: checked above
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        self.tasks
            .insert(Task::new(id, &submit, priority, seq, now));
        self.count_in(id);
        if let Some(p) = submit.parent.and_then(|p| self.tasks.get_mut(&p)) {
            p.cold_mut().children.push(id);
        }
        if let Some(cs) = self.classes.get_mut(submit.class.index()) {
            cs.totals.submitted = cs.totals.submitted.saturating_add(1);
        }
        if let Some(d) = queue_timeout {
            self.arm(id, TaskTimer::Queue, now + d);
        }
        if let Some(d) = total_timeout {
            self.arm(id, TaskTimer::Total, now + d);
        }
        self.enqueue(id);
        self.settle();
        Ok(id)
    }

    /// Cancels a task (reason User) and, through it, its children. A waiting task ends
    /// Cancelled at once; a running one gets [`Action::Cancel`] and keeps its session until the
    /// driver reports it stopped. Cancelling a cancelling task changes nothing. O(log n) per
    /// task affected.
    pub fn cancel(&mut self, now: Instant, task: TaskId) -> Result<(), Error> {
        self.advance(now)?;
        let t = self.tasks.get(&task).ok_or(Error::UnknownTask(task))?;
        if t.state.is_terminal() {
            return Err(Error::AlreadyEnded(task));
        }
        self.now = now;
        self.pending_cancels.push_back((task, CancelReason::User));
        self.settle();
        Ok(())
    }

    /// Records progress of a running (or cancelling) task; it is also the task's heartbeat.
    /// O(1).
    pub fn progress(
        &mut self,
        now: Instant,
        task: TaskId,
        progress: Progress,
    ) -> Result<(), Error> {
        self.advance(now)?;
        let t = self.tasks.get(&task).ok_or(Error::UnknownTask(task))?;
        if !t.state.is_active() {
            return Err(Error::NotRunning {
                task,
                state: t.state,
            });
        }
        let max = self.config.limits.message_len_max;
        if progress.message.len() > max as usize {
            return Err(Error::MessageTooLong {
                len: progress.message.len(),
                max,
            });
        }
        if let Some(total) = progress.total
            && progress.current > total
        {
            return Err(Error::BadProgress {
                current: progress.current,
                total,
            });
        }
        let heartbeat = self
            .class_config(t.class)
            .and_then(|c| c.heartbeat_timeout)
            .filter(|_| t.state == TaskState::Running);
        self.now = now;
        if let Some(t) = self.tasks.get_mut(&task) {
            t.cold_mut().progress = progress;
            t.last_heartbeat = now;
        }
        if let Some(d) = heartbeat {
            self.arm(task, TaskTimer::Heartbeat, now + d);
            self.tidy_timers();
        }
        Ok(())
    }

    /// [`progress`](Kernel::progress) for one attempt: refused with `StaleReport` unless
    /// `attempt` is the attempt now running, so a late report of attempt k never counts as the
    /// heartbeat of attempt k + 1. O(1).
    pub fn progress_attempt(
        &mut self,
        now: Instant,
        task: TaskId,
        attempt: u32,
        progress: Progress,
    ) -> Result<(), Error> {
        self.advance(now)?;
        self.check_attempt(task, attempt)?;
        self.progress(now, task, progress)
    }

    /// `StaleReport` if `task` is active (or abandoned and fencing) with another attempt.
    fn check_attempt(&self, task: TaskId, attempt: u32) -> Result<(), Error> {
        let current = match self.tasks.get(&task) {
            Some(t) if t.state.is_active() => Some(t.attempt),
            Some(_) => None,
            None => self.fences.abandoned(task).map(|f| f.attempt),
        };
        match current {
            Some(current) if current != attempt => Err(Error::StaleReport {
                task,
                attempt,
                current,
            }),
            _ => Ok(()),
        }
    }

    /// The driver reports that a started task's future has stopped. This is the only thing that
    /// frees a session and a class slot (besides disconnect/shutdown cleanup).
    ///
    /// A running task: `Completed` ends Completed; `Failed` retries after backoff if the error is
    /// retryable and attempts remain (and its queue has room, its session is not closing and the
    /// kernel is not shutting down), else ends Failed. A cancelling task ends TimedOut (reasons timeout and
    /// stalled), Cancelled (other reasons) or Abandoned (after an abort), whatever it reports.
    /// Errors: `UnknownTask`, `NotRunning` (queued or already ended: double finish),
    /// `NotAborted` (`Dropped` without an abort). O(1) amortized to free the session and start
    /// the next task (O(log n) when a ready index past 32 entries or an out-of-order deadline is
    /// involved).
    pub fn finished(&mut self, now: Instant, task: TaskId, exit: Exit) -> Result<(), Error> {
        self.advance(now)?;
        if !self.tasks.contains_key(&task) && self.fences.abandoned(task).is_some() {
            self.lift_fence(task);
            self.settle();
            return Ok(());
        }
        let t = self.tasks.get(&task).ok_or(Error::UnknownTask(task))?;
        if !t.state.is_active() {
            return Err(Error::NotRunning {
                task,
                state: t.state,
            });
        }
        let aborted = t.cancel().is_some_and(|c| c.abort_requested_at.is_some());
        if exit == Exit::Dropped && !aborted {
            return Err(Error::NotAborted(task));
        }
        self.now = now;
        self.stopped(task, exit);
        Ok(())
    }

    /// An active task's future stopped with `exit` (checked by the caller): ends the attempt
    /// (retry, or the outcome its state and exit say) and settles.
    pub(crate) fn stopped(&mut self, task: TaskId, exit: Exit) {
        let error = match &exit {
            Exit::Failed { error, .. } => Some(truncate(error, self.config.limits.error_len_max)),
            _ => None,
        };
        if error.is_some()
            && let Some(t) = self.tasks.get_mut(&task)
        {
            t.cold_mut().error = error;
        }
        let t = match self.tasks.get(&task) {
            Some(t) => t,
            None => return,
        };
        let outcome = match (t.state, t.cancel(), exit) {
            (TaskState::Cancelling, Some(c), _) if c.abort_requested_at.is_some() => {
                Outcome::Abandoned
            }
            (TaskState::Cancelling, Some(c), _) if c.reason.is_deadline() => {
                Outcome::TimedOut(c.reason)
            }
            (TaskState::Cancelling, Some(c), _) => Outcome::Cancelled(c.reason),
            (_, _, Exit::Completed) => Outcome::Completed,
            (_, _, Exit::Failed { retryable, .. }) => {
                if retryable && self.may_retry(task) {
                    self.retry(task);
                    self.settle();
                    return;
                }
                Outcome::Failed
            }
            (_, _, Exit::Dropped) => Outcome::Abandoned,
        };
        self.end_task(task, outcome);
        self.settle();
    }

    /// [`finished`](Kernel::finished) for one attempt: the report is refused with
    /// `StaleReport` unless `attempt` is the attempt now running (as given in its
    /// [`Action::Start`]). Drivers that can deliver a late or duplicated report should use this
    /// form, so a stale report of attempt k can never free the session of attempt k + 1. O(1)
    /// amortized, like `finished`.
    pub fn finished_attempt(
        &mut self,
        now: Instant,
        task: TaskId,
        attempt: u32,
        exit: Exit,
    ) -> Result<(), Error> {
        self.advance(now)?;
        self.check_attempt(task, attempt)?;
        self.finished(now, task, exit)
    }

    /// Shuts the kernel down: waiting tasks are Rejected(Shutdown), running ones cancelled
    /// (reason Shutdown), new submits refused; by `now + grace` at the latest every task has left
    /// the registry (still-running ones Abandoned and reported as stuck) and a
    /// [`Notice::Closed`](crate::Notice::Closed) with scope `Shutdown` is emitted. O(n log n).
    pub fn shutdown(&mut self, now: Instant, grace: Duration) -> Result<(), Error> {
        self.advance(now)?;
        self.check_open()?;
        self.now = now;
        let deadline = now + grace;
        self.lifecycle = Lifecycle::ShuttingDown { deadline };
        let ids: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| t.id)
            .collect();
        for id in ids {
            self.pending_cancels.push_back((id, CancelReason::Shutdown));
        }
        self.timers.insert_cleanup(deadline, Cleanup::Shutdown);
        self.settle();
        Ok(())
    }

    /// Fires every deadline `<= now`, in order, dispatching after each distinct instant.
    /// Idempotent: a second call with the same `now` does nothing. O(k log n) for k deadlines.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.advance(now)
    }

    /// The next action for the driver, oldest first. O(1).
    pub fn poll_action(&mut self) -> Option<Action> {
        self.poll_action_at().map(|(_, action)| action)
    }

    /// The next action with the kernel instant it was decided at, oldest first. O(1).
    ///
    /// A deadline-driven action carries its deadline even when the input that caught up with it
    /// came later (a late timer, a clock jump): this is the instant a trace should record.
    ///
    /// ```
    /// use baton_kernel::{Action, ClassConfig, Config, Duration, Instant, Kernel, Submit, Target};
    /// let config = Config::new(vec![ClassConfig::exclusive("io", 1).with_queue_timeout(Duration::from_secs(1))]);
    /// let mut kernel = Kernel::new(config)?;
    /// let io = kernel.class_id("io").unwrap();
    /// let s = kernel.connect(Instant::ZERO, "alice")?;
    /// let _a = kernel.submit(Instant::ZERO, Submit::new(io, Target::Session(s)))?;
    /// let b = kernel.submit(Instant::ZERO, Submit::new(io, Target::Session(s)))?;
    /// while kernel.poll_action().is_some() {}
    /// // The driver wakes 9 s late: b's queue deadline (1 s) is stamped with its own instant.
    /// kernel.handle_timeout(Instant::from_nanos(10_000_000_000))?;
    /// let (at, action) = kernel.poll_action_at().unwrap();
    /// assert_eq!(at, Instant::from_nanos(1_000_000_000));
    /// assert!(matches!(action, Action::Notify(baton_kernel::Notice::Finished { task, .. }) if task == b));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_action_at(&mut self) -> Option<(Instant, Action)> {
        self.caught_up.0 = self.caught_up.0.saturating_sub(1);
        self.actions.pop_front()
    }

    /// How many of the pending actions, from the front, were decided by deadlines that an input
    /// (or `handle_timeout`) caught up with before applying itself — for a driver that logs
    /// events in the kernel's order and drains after every input: those come before the input's
    /// own. O(1).
    ///
    /// ```
    /// use baton_kernel::{ClassConfig, Config, Duration, Instant, Kernel, Submit, Target};
    /// let config = Config::new(vec![ClassConfig::exclusive("io", 1).with_queue_timeout(Duration::from_secs(1))]);
    /// let mut kernel = Kernel::new(config)?;
    /// let io = kernel.class_id("io").unwrap();
    /// let s = kernel.connect(Instant::ZERO, "alice")?;
    /// let _a = kernel.submit(Instant::ZERO, Submit::new(io, Target::Session(s)))?;
    /// let _b = kernel.submit(Instant::ZERO, Submit::new(io, Target::Session(s)))?;
    /// while kernel.poll_action().is_some() {}
    /// // A submit 5 s later first rejects b (its queue deadline passed), then queues itself.
    /// kernel.submit(Instant::from_nanos(5_000_000_000), Submit::new(io, Target::Session(s)))?;
    /// assert_eq!(kernel.caught_up_actions(), 1);
    /// assert_eq!(kernel.pending_actions(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn caught_up_actions(&self) -> usize {
        self.caught_up.0.min(self.actions.len())
    }

    /// Queues an action stamped with the current kernel instant.
    pub(crate) fn emit(&mut self, action: Action) {
        self.actions.push_back((self.now, action));
    }

    /// The earliest pending deadline: call [`handle_timeout`](Kernel::handle_timeout) then.
    /// O(deadline queues in use).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first()
    }

    // ---- internal machinery shared by the inputs ----

    pub(crate) fn class_config(&self, class: ClassId) -> Option<&crate::config::ClassConfig> {
        self.config.classes.get(class.index())
    }

    /// Propagates cancellations, closes finished disconnects/shutdowns, then dispatches.
    pub(crate) fn settle(&mut self) {
        self.propagate();
        self.dispatch();
        self.tidy_timers();
    }

    /// Propagates cancellations (children) and closes disconnects and shutdowns whose tasks
    /// have all stopped.
    pub(crate) fn propagate(&mut self) {
        loop {
            while let Some((id, reason)) = self.pending_cancels.pop_front() {
                self.cancel_one(id, reason);
            }
            if let Some(s) = self.closing_checks.pop() {
                let done = self
                    .sessions
                    .get(&s)
                    .is_some_and(|sess| sess.closing.is_some() && sess.counts.active() == 0);
                if done {
                    self.finalize_session(s);
                }
                continue;
            }
            if matches!(self.lifecycle, Lifecycle::ShuttingDown { .. }) && self.counts.active() == 0
            {
                self.finalize_shutdown();
                continue;
            }
            if self.pending_cancels.is_empty() {
                break;
            }
        }
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: u32) -> String {
    let mut end = text.len().min(max as usize);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("").to_owned()
}
