//! The state every handle shares: the kernel and the adapter's tables behind one lock, the
//! runtime, the clock's epoch and the driver's wake-up; and `drain`, which turns the kernel's
//! actions into effects.
//!
//! The ground floor of the crate's own state (see "Layers" in the crate docs): it knows the
//! primitives below it and nothing above. What a `Start` runs is a [`Launch`] — a trait
//! declared here and implemented by the attempt floor — so the core starts attempts without
//! knowing what an attempt or a task context is.

use crate::fault::Fault;
use crate::holds::Holds;
use crate::runtime::Runtime;
use crate::signal::{Notify, Signal};
use crate::slot::Resolve;
use crate::telemetry;
use baton_kernel::{
    Action, Applied, CancelReason, ClassId, CleanupReport, Error, Exit, Input, Instant, Kernel,
    Notice, Scope, SessionId, TaskId,
};
use futures::future::BoxFuture;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The most actions whose effects (spawning an attempt, resolving a handle, setting a signal)
/// one lock hold performs. A larger batch — 100k tasks timing out at one instant — is performed
/// by the driver in slices of this size, releasing the lock and yielding to the executor in
/// between, so submitters, progress reports and the runtime's other tasks are not stalled
/// behind it.
pub(crate) const ACTIONS_PER_TURN: usize = 256;

/// Shared by the scheduler handles, task handles, task contexts and the driver.
pub(crate) struct Shared {
    /// The kernel and the adapter's tables. Never held across an `.await`: every critical section
    /// is one kernel input plus draining its actions, so every caller, sync or async, takes it
    /// directly (see [`crate::sync::CoreLock`]).
    pub(crate) core: crate::sync::CoreLock<Core>,
    pub(crate) runtime: Arc<dyn Runtime>,
    /// The runtime instant that is the kernel's `Instant::ZERO + offset`.
    epoch: std::time::Instant,
    /// The kernel instant at `epoch` (nanoseconds): 0 for a new kernel; for one recovered from
    /// a store, the time since the store's epoch, so deadlines count the downtime.
    offset: u64,
    /// Wakes the driver when the kernel's next deadline changed.
    pub(crate) wake: Notify,
    /// Class names by id (the config never changes, so lookups need no lock).
    class_names: Vec<String>,
    /// What a floor above keeps with the core, set once (the durable kinds of a durable
    /// scheduler), type-erased so the core names nothing above it.
    #[cfg(feature = "store")]
    pub(crate) upper: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
    /// The deliberate bug switched on by `Scheduler::inject_fault` (test-only).
    #[cfg(feature = "fault-injection")]
    pub(crate) fault: crate::fault::Switch,
    /// What `Scheduler::publish_metrics` last published of the histograms (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) published: crate::sync::Mutex<crate::metrics_bridge::Published>,
}

/// The kernel plus what the adapter keeps per task and per pending close.
pub(crate) struct Core {
    pub(crate) kernel: Kernel,
    /// Tasks that have not reached a terminal state: their body and handle.
    entries: BTreeMap<TaskId, Entry>,
    /// Disconnects waiting for their session's cleanup report.
    closing: BTreeMap<SessionId, Arc<Signal<CleanupReport>>>,
    /// Set once with the shutdown's cleanup report.
    pub(crate) shutdown: Arc<Signal<CleanupReport>>,
    /// The deadline the driver has armed (or has been told to arm).
    armed: Option<Instant>,
    /// Actions taken from the kernel (and recorded) whose effects are not performed yet, oldest
    /// first: at most [`ACTIONS_PER_TURN`] are performed per lock hold, the driver does the rest.
    /// Each action carries the journal seq of the last input applied before it was taken (0
    /// without a store): it is performed only once that input is durable.
    backlog: VecDeque<(u64, Instant, Action)>,
    /// The input log, when the scheduler records.
    pub(crate) recorder: Option<crate::record::Recorder>,
    /// The durable journal's in-memory side, when the scheduler has a store.
    #[cfg(feature = "store")]
    pub(crate) journal: Option<crate::journal::Journal>,
}

/// What the core knows of a task's body: how to launch one attempt of it. Implemented by the
/// attempt floor (`attempt.rs`) for every typed body.
pub(crate) trait Launch: Send + Sync + 'static {
    /// The future that runs one attempt, to be spawned on the runtime. Called under the lock, so
    /// it must not run user code: the body is called when the future is first polled.
    fn launch(self: Arc<Self>, shared: Arc<Shared>, start: Started) -> BoxFuture<'static, ()>;
}

/// One attempt the kernel has started, with the signals and holds the core keeps for it.
pub(crate) struct Started {
    pub(crate) task: TaskId,
    pub(crate) class: ClassId,
    pub(crate) session: Option<SessionId>,
    pub(crate) attempt: u32,
    /// Set with the reason when the kernel asks the attempt to stop.
    pub(crate) cancel: Arc<Signal<CancelReason>>,
    /// Set when the kernel aborts the attempt: its future must be dropped.
    pub(crate) abort: Arc<Signal<()>>,
    /// The attempt's holds (its body's, plus one per blocking job).
    pub(crate) holds: Arc<Holds>,
}

struct Entry {
    body: Arc<dyn Launch>,
    resolver: Arc<dyn Resolve>,
    /// The current attempt's signals, once started.
    run: Option<Run>,
}

struct Run {
    cancel: Arc<Signal<CancelReason>>,
    abort: Arc<Signal<()>>,
}

impl Shared {
    pub(crate) fn new(
        kernel: Kernel,
        runtime: Arc<dyn Runtime>,
        recorder: Option<crate::record::Recorder>,
    ) -> Self {
        let offset = kernel.now().as_nanos();
        Self::with_offset(kernel, runtime, recorder, offset)
    }

    /// A core whose kernel instants run `offset` nanoseconds ahead of the runtime's clock since
    /// now (a recovered kernel: the time since its store's epoch).
    pub(crate) fn with_offset(
        kernel: Kernel,
        runtime: Arc<dyn Runtime>,
        recorder: Option<crate::record::Recorder>,
        offset: u64,
    ) -> Self {
        let class_names = kernel
            .config()
            .classes
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let epoch = runtime.now();
        Shared {
            core: crate::sync::CoreLock::new(Core {
                kernel,
                entries: BTreeMap::new(),
                closing: BTreeMap::new(),
                shutdown: Arc::new(Signal::new()),
                armed: None,
                backlog: VecDeque::new(),
                recorder,
                #[cfg(feature = "store")]
                journal: None,
            }),
            runtime,
            epoch,
            offset,
            // Notified from the start, so the driver's first wait returns at once and it reads
            // the kernel's first deadline.
            wake: Notify::new(true),
            class_names,
            #[cfg(feature = "store")]
            upper: std::sync::OnceLock::new(),
            #[cfg(feature = "fault-injection")]
            fault: crate::fault::Switch::default(),
            #[cfg(feature = "metrics")]
            published: crate::sync::Mutex::default(),
        }
    }

    /// Whether `fault` was injected (test-only, feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn injected(&self, fault: Fault) -> bool {
        self.fault.is(fault)
    }

    /// Without feature `fault-injection` no fault is ever injected.
    #[cfg(not(feature = "fault-injection"))]
    #[inline(always)]
    pub(crate) fn injected(&self, _fault: Fault) -> bool {
        false
    }

    /// The kernel's `now`: runtime time since the epoch, never earlier than an instant the kernel
    /// has seen (callers read it under the lock, so inputs reach the kernel in time order).
    pub(crate) fn now(&self, kernel: &Kernel) -> Instant {
        let elapsed = self.runtime.now().saturating_duration_since(self.epoch);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(nanos.saturating_add(self.offset)).max(kernel.now())
    }

    /// The runtime instant of a kernel instant.
    pub(crate) fn to_std(&self, at: Instant) -> std::time::Instant {
        let offset = std::time::Duration::from_nanos(at.as_nanos().saturating_sub(self.offset));
        // A deadline past what `std::time::Instant` can hold is "never": a year is as good.
        self.epoch
            .checked_add(offset)
            .unwrap_or_else(|| self.runtime.now() + std::time::Duration::from_secs(365 * 86_400))
    }

    pub(crate) fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Reports that an attempt's code has stopped. An error means the kernel had already ended
    /// the task (cleanup after disconnect or shutdown), which is expected for stuck tasks.
    pub(crate) fn report(self: &Arc<Self>, task: TaskId, exit: Exit) {
        let mut core = self.core.lock();
        let now = self.now(&core.kernel);
        let _ = core.apply(now, Input::Finished { task, exit });
        core.drain(self);
    }
}

impl Core {
    /// Applies one input to the kernel (recording it when the scheduler records). Every kernel
    /// input of the adapter goes through here; call [`Core::drain`] after it, accepted or not
    /// (a refused input may still have caught up with due deadlines).
    pub(crate) fn apply(&mut self, now: Instant, input: Input) -> Result<Applied, Error> {
        if self.recorder.is_none() && !self.journaled() {
            return self.kernel.apply(now, input);
        }
        let result = self.kernel.apply(now, input.clone());
        self.note(now, input, &result);
        result
    }

    /// Whether inputs are journaled (a durable scheduler).
    fn journaled(&self) -> bool {
        #[cfg(feature = "store")]
        return self.journal.is_some();
        #[cfg(not(feature = "store"))]
        false
    }

    /// Gives an applied input to the recorder and the journal.
    fn note(&mut self, now: Instant, input: Input, result: &Result<Applied, Error>) {
        #[cfg(feature = "store")]
        if let Some(journal) = self.journal.as_mut() {
            journal.input(now, &input, result);
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.input(now, input, result, self.kernel.caught_up_actions());
        }
    }

    /// The seq of the last input applied (0 without a store).
    pub(crate) fn last_seq(&self) -> u64 {
        #[cfg(feature = "store")]
        if let Some(journal) = &self.journal {
            return journal.last();
        }
        0
    }

    /// Everything up to here is durable (everything, without a store).
    fn committed(&self) -> u64 {
        #[cfg(feature = "store")]
        if let Some(journal) = &self.journal {
            return journal.committed();
        }
        u64::MAX
    }

    /// Registers a submitted task's body and handle (before draining, so its `Start` finds it).
    pub(crate) fn insert(
        &mut self,
        task: TaskId,
        body: Arc<dyn Launch>,
        resolver: Arc<dyn Resolve>,
    ) {
        self.entries.insert(
            task,
            Entry {
                body,
                resolver,
                run: None,
            },
        );
    }

    /// Submits a task to the kernel (logged and journaled like every input), registers its body
    /// and resolver if it was accepted, and drains. The one submit path of every kind of task.
    pub(crate) fn submit_task(
        &mut self,
        shared: &Arc<Shared>,
        submit: baton_kernel::Submit,
        body: Arc<dyn Launch>,
        resolver: Arc<dyn Resolve>,
    ) -> Result<TaskId, Error> {
        let now = shared.now(&self.kernel);
        let result = self.kernel.submit(now, submit.clone());
        self.log(now, || Input::Submit(submit), &result, Applied::Task);
        if let Ok(id) = result {
            self.insert(id, body, resolver);
        }
        self.drain(shared);
        result
    }

    /// Registers a disconnect waiting for its report (before draining: the report may come at
    /// once).
    pub(crate) fn await_close(&mut self, session: SessionId) -> Arc<Signal<CleanupReport>> {
        self.closing.entry(session).or_default().clone()
    }

    /// Tasks whose handle is not resolved yet.
    pub(crate) fn live_entries(&self) -> usize {
        self.entries.len()
    }

    /// Takes every pending action from the kernel and performs at most [`ACTIONS_PER_TURN`]
    /// of them (the oldest first), then wakes the driver if the next deadline changed or
    /// actions are left for it. Called after every kernel input, under the lock.
    pub(crate) fn drain(&mut self, shared: &Arc<Shared>) {
        let mut budget = ACTIONS_PER_TURN;
        self.collect();
        self.perform(shared, &mut budget);
        let next = self.kernel.poll_timeout();
        if next != self.armed {
            self.armed = next;
            if !shared.injected(Fault::LostWakeup) {
                shared.wake.notify();
            }
        }
        if self.has_backlog() {
            // The driver performs the rest, a slice per lock hold.
            shared.wake.notify();
        }
    }

    /// The driver's side: takes every pending action and performs as many as `budget` allows.
    /// It arms the returned deadline itself, so no wake-up is needed.
    pub(crate) fn drain_for_driver(
        &mut self,
        shared: &Arc<Shared>,
        budget: &mut usize,
    ) -> Option<Instant> {
        self.collect();
        self.perform(shared, budget);
        self.armed = self.kernel.poll_timeout();
        self.armed
    }

    /// Whether no action waits at all (performable now or waiting for its input to be
    /// durable): the driver may stop only then.
    pub(crate) fn backlog_is_empty(&self) -> bool {
        self.backlog.is_empty()
    }

    /// Whether actions are waiting that may be performed now (with a store: whose causing
    /// input is durable).
    pub(crate) fn has_backlog(&self) -> bool {
        self.backlog
            .front()
            .is_some_and(|(seq, _, _)| *seq <= self.committed())
    }

    /// Moves the kernel's pending actions to the backlog, recording them, and ends the log
    /// entry of the input that produced them. Cheap: no effect is performed here.
    fn collect(&mut self) {
        let seq = self.last_seq();
        while let Some((at, action)) = self.kernel.poll_action_at() {
            if let Some(recorder) = self.recorder.as_mut() {
                recorder.action(at, &action);
            }
            #[cfg(feature = "store")]
            if let Some(journal) = self.journal.as_mut() {
                journal.action(&action);
            }
            self.backlog.push_back((seq, at, action));
        }
        self.end_log_entry();
    }

    /// Performs backlog actions, oldest first, while `budget` lasts (one unit each). An effect
    /// that gives the kernel an input itself (a report with no body, an injected fault) has its
    /// actions queued behind the backlog at once.
    pub(crate) fn perform(&mut self, shared: &Arc<Shared>, budget: &mut usize) {
        let committed = self.committed();
        while *budget > 0 {
            if self
                .backlog
                .front()
                .is_none_or(|(seq, _, _)| *seq > committed)
            {
                return; // nothing, or not durable yet: the committer wakes the driver
            }
            let Some((_, _, action)) = self.backlog.pop_front() else {
                return;
            };
            *budget -= 1;
            self.perform_one(shared, action);
            if self.kernel.pending_actions() > 0 {
                self.collect();
            }
        }
    }

    /// Records an input the kernel was given through its typed method (when recording): `input`
    /// builds it only then, `answer` turns the method's result into the kernel's answer.
    pub(crate) fn log<R: Copy>(
        &mut self,
        now: Instant,
        input: impl FnOnce() -> Input,
        result: &Result<R, Error>,
        answer: impl FnOnce(R) -> Applied,
    ) {
        if self.recorder.is_some() || self.journaled() {
            let result = match result {
                Ok(r) => Ok(answer(*r)),
                Err(e) => Err(e.clone()),
            };
            self.note(now, input(), &result);
        }
    }

    fn end_log_entry(&mut self) {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.end_entry();
        }
    }

    /// Performs one action's effect.
    fn perform_one(&mut self, shared: &Arc<Shared>, action: Action) {
        match action {
            Action::Start {
                task,
                class,
                session,
                attempt,
            } => {
                telemetry::start(task, attempt);
                self.start(shared, task, class, session, attempt);
            }
            Action::Cancel { task, reason } => {
                telemetry::cancel(task, reason);
                if shared.injected(Fault::IgnoreCancel) {
                    return;
                }
                let Some(run) = self.entries.get(&task).and_then(|e| e.run.as_ref()) else {
                    return;
                };
                run.cancel.set(reason);
                if shared.injected(Fault::ReleaseOnCancel) {
                    let now = shared.now(&self.kernel);
                    let exit = Exit::Failed {
                        error: "released on cancel (injected fault)".to_owned(),
                        retryable: false,
                    };
                    let _ = self.apply(now, Input::Finished { task, exit });
                }
            }
            Action::Abort { task } => {
                telemetry::abort(task);
                if let Some(run) = self.entries.get(&task).and_then(|e| e.run.as_ref()) {
                    run.abort.set(());
                }
            }
            Action::Notify(Notice::Finished { task, outcome }) => {
                telemetry::finish(task, outcome);
                // Cleanup that abandons a running task emits `Abort` first (handled above),
                // so the future is already being dropped: nothing to guess here.
                if let Some(entry) = self.entries.remove(&task) {
                    entry.resolver.resolve_outcome(outcome);
                }
            }
            Action::Notify(Notice::Closed(report)) => match report.scope {
                Scope::Session(session) => {
                    if let Some(signal) = self.closing.remove(&session) {
                        signal.set(report);
                    }
                }
                Scope::Shutdown => {
                    self.shutdown.set(report);
                }
            },
            Action::Notify(Notice::Retrying { task, attempt, at }) => {
                telemetry::retry(task, attempt, at);
            }
            Action::Notify(Notice::Removed { .. }) => {}
        }
    }

    fn start(
        &mut self,
        shared: &Arc<Shared>,
        task: TaskId,
        class: ClassId,
        session: Option<SessionId>,
        attempt: u32,
    ) {
        let Some(entry) = self.entries.get_mut(&task) else {
            // Every submit registers its entry before draining, so this cannot happen; if it
            // did, report at once rather than hold the session for ever.
            debug_assert!(false, "Start for {task} with no registered body");
            let now = self.kernel.now();
            let exit = Exit::Failed {
                error: "no body registered (adapter bug)".to_owned(),
                retryable: false,
            };
            let _ = self.apply(now, Input::Finished { task, exit });
            return;
        };
        let cancel = Arc::new(Signal::new());
        let abort = Arc::new(Signal::new());
        entry.run = Some(Run {
            cancel: cancel.clone(),
            abort: abort.clone(),
        });
        let started = Started {
            task,
            class,
            session,
            attempt,
            cancel,
            abort,
            holds: Arc::new(Holds::new()),
        };
        let future = entry.body.clone().launch(shared.clone(), started);
        shared.runtime.spawn(future);
    }
}
