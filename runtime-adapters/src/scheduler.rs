//! [`Scheduler`], the user's handle: the top floor (see "Layers" in the crate docs). It builds
//! the core, spawns the driver, and wraps every kernel input and query.

use crate::builder::{ClassRef, IntoTarget, TaskBuilder};
use crate::context::TaskContext;
use crate::driver;
use crate::error::{BuildError, TaskFailure};
use crate::handle::{self, TaskHandle};
use crate::record::Recorder;
use crate::runtime::{self, Runtime};
use crate::shared::Shared;
use crate::signal::Wait;
use baton_kernel::{
    Applied, ClassId, CleanupReport, Config, Duration, Error, Explanation, GroupId, Input, Instant,
    Kernel, ListFilter, Metrics, Page, SessionId, StateCounts, TaskId, TaskView,
};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// A cloneable handle to a [`baton_kernel::Kernel`] driven on an async runtime.
///
/// The scheduler owns the kernel behind one lock and a driver task. Submitting a task registers
/// its body; when the kernel starts it, the body runs as a task of the runtime with a
/// [`TaskContext`]; cancellation signals the context, and an abort after the class's grace drops
/// the future; the returned [`TaskHandle`] resolves with the kernel's outcome. It is
/// `Clone + Send + Sync`; dropping the last clone shuts the kernel down (grace
/// `config.disconnect_grace`), and the driver stops once everything has left.
///
/// # Example
///
/// The messaging-account manager from the source systems: one exclusive operation per
/// account, monitoring before scraping before sending, at most 5 scrapes at once.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # mod example {
/// use baton_kernel::{preset, CancelReason, ListFilter, TaskState};
/// use baton_runtime::{Scheduler, TaskError, TaskFailure};
/// use std::time::Duration;
///
/// #[tokio::main]
/// pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let scheduler = Scheduler::new(preset::session_manager())?;
///     let alice = scheduler.connect("alice")?;
///
///     // A scrape that reports progress and returns a value.
///     let scrape = scheduler.submit(alice, "scraping", |ctx| async move {
///         for page in 1..=3 {
///             ctx.progress(page, 3, format!("page {page}"))?;
///             ctx.sleep(Duration::from_millis(5)).await;
///         }
///         Ok::<_, TaskFailure>(vec!["member-1", "member-2"])
///     });
///     // Waits: alice is held by the scrape. It stops as soon as it is cancelled.
///     let monitor = scheduler.submit(alice, "monitoring", |ctx| async move {
///         let reason = ctx.cancelled().await;
///         Ok::<_, TaskFailure>(reason)
///     });
///     // Queries answer from the kernel's registry.
///     let scrape_id = scrape.id().unwrap();
///     assert_eq!(scheduler.task(scrape_id).unwrap().class_name, "scraping");
///     println!("{}", scheduler.explain(monitor.id().unwrap()).unwrap());
///
///     assert_eq!(scrape.await?, vec!["member-1", "member-2"]);
///     monitor.cancel()?;
///     // Cancelled while running: its handle reports the cancellation, not its value.
///     assert_eq!(monitor.await, Err(TaskError::Cancelled(CancelReason::User)));
///
///     // A failing body: `?` turns any error into a (non-retryable) failure.
///     let send = scheduler.submit(alice, "sending", |_ctx| async move {
///         let n: u32 = "not a number".parse()?;
///         Ok::<_, TaskFailure>(n)
///     });
///     assert!(matches!(send.await, Err(TaskError::Failed(_))));
///
///     let counts = scheduler.counts();
///     assert_eq!(counts.get(TaskState::Completed), 1);
///     let page = scheduler.list(&ListFilter::default(), None, 10);
///     assert_eq!(page.items.len(), 3);
///
///     // Disconnect waits for the session's tasks to stop and reports the stuck ones.
///     let report = scheduler.disconnect("alice").await?;
///     assert!(report.stuck.is_empty());
///     scheduler.shutdown(Duration::from_secs(1)).await?;
///     Ok(())
/// }
/// # }
/// # fn main() {
/// #     #[cfg(feature = "tokio")]
/// #     example::main().unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    owner: Arc<Owner>,
}

/// Shuts the kernel down when the last [`Scheduler`] clone is dropped.
struct Owner {
    shared: Arc<Shared>,
    /// Stops the committer once the final shutdown is durable (durable schedulers).
    #[cfg(feature = "store")]
    nudge: Option<Arc<crate::journal::Nudge>>,
    /// The committer thread, joined when the last handle goes (so the store is no longer
    /// written once a durable scheduler is gone, and the same file can be reopened at once).
    #[cfg(feature = "store")]
    pub(crate) committer: crate::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        #[cfg(feature = "store")]
        if let Some(nudge) = &self.nudge {
            // A durable scheduler is not shut down by being dropped: what waits stays queued
            // in the store for the next process (`Scheduler::shutdown` is the explicit way to
            // end it all). The committer writes what is pending, then stops; waiting for it
            // takes at most one commit.
            nudge.stop();
            if let Some(thread) = crate::sync::lock(&self.committer).take() {
                let _ = thread.join();
            }
            return;
        }
        let shared = &self.shared;
        let mut core = shared.core.lock();
        let now = shared.now(&core.kernel);
        let grace = core.kernel.config().disconnect_grace;
        // Already shutting down or stopped: nothing to do but drain what the refusal caught up.
        let _ = core.apply(now, Input::Shutdown { grace });
        core.drain(shared);
        if let Some(recorder) = core.recorder.as_mut() {
            // Nobody is left to ask for the error; the log ends where writing failed.
            let _ = recorder.flush();
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("runtime", &self.shared().runtime)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler on the default runtime: tokio if called inside a tokio runtime (feature
    /// `tokio`), otherwise smol's global executor (feature `smol`).
    pub fn new(config: Config) -> Result<Self, BuildError> {
        let runtime = runtime::default_runtime().ok_or(BuildError::NoRuntime)?;
        Self::with_runtime(config, runtime)
    }

    /// A scheduler on `runtime`. The driver task is spawned at once.
    pub fn with_runtime(config: Config, runtime: Arc<dyn Runtime>) -> Result<Self, BuildError> {
        Self::build(config, runtime, None)
    }

    /// A scheduler on `runtime` (or the default runtime, with `None`) that records every kernel
    /// input it applies — with its real instant, the kernel's answer and the actions it
    /// produced — to `log` as a JSON Lines input log (see `baton_kernel::LogHeader`). Replay it
    /// with `baton-sim replay-log`, or ask `baton-sim whatif` how another configuration would
    /// have done. Call [`Scheduler::flush_recording`] before reading the log while the
    /// scheduler lives; dropping the last clone flushes it.
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// use baton_kernel::{ClassConfig, Config, LogEntry, LogHeader};
    /// use baton_runtime::{Scheduler, TaskFailure};
    /// use std::io::BufRead;
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// let path = std::env::temp_dir().join(format!("baton-doc-{}.jsonl", std::process::id()));
    /// rt.block_on(async {
    ///     let config = Config::new(vec![ClassConfig::exclusive("send", 5)]);
    ///     let log = std::fs::File::create(&path).unwrap();
    ///     let s = Scheduler::recording(config, None, log).unwrap();
    ///     let alice = s.connect("alice").unwrap();
    ///     let sent = s.submit(alice, "send", |_| async { Ok::<_, TaskFailure>("sent") });
    ///     assert_eq!(sent.await, Ok("sent"));
    ///     s.flush_recording().unwrap();
    /// });
    /// let lines: Vec<String> = std::io::BufReader::new(std::fs::File::open(&path).unwrap())
    ///     .lines()
    ///     .map(Result::unwrap)
    ///     .collect();
    /// let header: LogHeader = serde_json::from_str(&lines[0]).unwrap();
    /// header.check().unwrap();
    /// let first: LogEntry = serde_json::from_str(&lines[1]).unwrap();
    /// assert!(matches!(first.input, baton_kernel::Input::Connect { .. }));
    /// # std::fs::remove_file(&path).unwrap();
    /// # }
    /// ```
    pub fn recording(
        config: Config,
        runtime: Option<Arc<dyn Runtime>>,
        log: impl std::io::Write + Send + 'static,
    ) -> Result<Self, BuildError> {
        let runtime = match runtime {
            Some(rt) => rt,
            None => runtime::default_runtime().ok_or(BuildError::NoRuntime)?,
        };
        let recorder =
            Recorder::new(Box::new(log), &config).map_err(|e| BuildError::Record(e.to_string()))?;
        Self::build(config, runtime, Some(recorder))
    }

    /// Writes out everything recorded so far; returns the first error the recording met (it
    /// stops at that error, the scheduler does not). `Ok` without a recording.
    pub fn flush_recording(&self) -> std::io::Result<()> {
        let mut core = self.shared().core.lock();
        match core.recorder.as_mut() {
            Some(recorder) => recorder.flush(),
            None => Ok(()),
        }
    }

    fn build(
        config: Config,
        runtime: Arc<dyn Runtime>,
        recorder: Option<Recorder>,
    ) -> Result<Self, BuildError> {
        let kernel = Kernel::new(config)?;
        let shared = Arc::new(Shared::new(kernel, runtime, recorder));
        #[cfg(feature = "store")]
        return Ok(Self::start(shared, None));
        #[cfg(not(feature = "store"))]
        Ok(Self::start(shared))
    }

    /// Spawns the driver of `shared` and hands out the first handle.
    #[cfg(feature = "store")]
    pub(crate) fn start(shared: Arc<Shared>, nudge: Option<Arc<crate::journal::Nudge>>) -> Self {
        shared
            .runtime
            .spawn(Box::pin(driver::drive(shared.clone())));
        Scheduler {
            owner: Arc::new(Owner {
                shared,
                nudge,
                committer: crate::sync::Mutex::new(None),
            }),
        }
    }

    /// Spawns the driver of `shared` and hands out the first handle.
    #[cfg(not(feature = "store"))]
    fn start(shared: Arc<Shared>) -> Self {
        shared
            .runtime
            .spawn(Box::pin(driver::drive(shared.clone())));
        Scheduler {
            owner: Arc::new(Owner { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// Hands the committer thread to the owner, which joins it when the last handle goes.
    #[cfg(feature = "store")]
    pub(crate) fn keep_committer(&self, thread: std::thread::JoinHandle<()>) {
        *crate::sync::lock(&self.owner.committer) = Some(thread);
    }

    /// The shared core (for the durable floor).
    #[cfg(feature = "store")]
    pub(crate) fn shared_ref(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// The runtime the scheduler spawns on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.shared().runtime
    }

    /// The kernel's current instant (runtime time since the scheduler was created).
    pub fn now(&self) -> Instant {
        let shared = self.shared();
        let core = shared.core.lock();
        shared.now(&core.kernel)
    }

    /// Gives the kernel one input through its typed method `f`, records it as `input` with the
    /// answer `answer` makes of the result, and drains, accepted or not.
    fn input<R: Copy>(
        &self,
        f: impl FnOnce(&mut Kernel, Instant) -> Result<R, Error>,
        input: impl FnOnce() -> Input,
        answer: impl FnOnce(R) -> Applied,
    ) -> Result<R, Error> {
        let shared = self.shared();
        let mut core = shared.core.lock();
        let now = shared.now(&core.kernel);
        let result = f(&mut core.kernel, now);
        core.log(now, input, &result, answer);
        core.drain(shared);
        result
    }

    /// Connects a session by name (a new generation if the name was used before).
    pub fn connect(&self, name: &str) -> Result<SessionId, Error> {
        self.input(
            |k, now| k.connect(now, name),
            || Input::Connect {
                name: name.to_owned(),
            },
            Applied::Session,
        )
    }

    /// Disconnects a session: its waiting tasks are rejected, its running tasks cancelled
    /// (reason `disconnect`), and once they have stopped — or `config.disconnect_grace` has
    /// passed, whichever is first — every task of it has left the registry. Resolves with the
    /// cleanup report, which lists the tasks that were still running (stuck) at the end.
    pub async fn disconnect(&self, name: &str) -> Result<CleanupReport, Error> {
        let shared = self.shared();
        let wait = {
            let mut core = shared.core.lock();
            let now = shared.now(&core.kernel);
            let result = core.kernel.disconnect(now, name);
            let input = || Input::Disconnect {
                name: name.to_owned(),
            };
            core.log(now, input, &result, Applied::Session);
            let session = match result {
                Ok(session) => session,
                Err(e) => {
                    core.drain(shared);
                    return Err(e);
                }
            };
            let signal = core.await_close(session);
            core.drain(shared);
            Wait::new(signal)
        };
        Ok(wait.await)
    }

    /// Adds a session to a group (created on first use): tasks aimed at the group run on
    /// whichever member frees first.
    pub fn join_group(&self, group: &str, session: SessionId) -> Result<GroupId, Error> {
        self.input(
            |k, now| k.join_group(now, group, session),
            || Input::JoinGroup {
                group: group.to_owned(),
                session,
            },
            Applied::Group,
        )
    }

    /// Removes a session from a group.
    pub fn leave_group(&self, group: &str, session: SessionId) -> Result<(), Error> {
        self.input(
            |k, now| k.leave_group(now, group, session),
            || Input::LeaveGroup {
                group: group.to_owned(),
                session,
            },
            |()| Applied::Done,
        )
    }

    /// Shuts down: new submits are refused, waiting tasks rejected, running ones cancelled
    /// (reason `shutdown`); resolves with the report once everything has left the registry
    /// (at most `grace` later; tasks still running then are abandoned and listed as stuck).
    /// Calling it again (or after the last clone was dropped) waits for the same report.
    pub async fn shutdown(&self, grace: std::time::Duration) -> Result<CleanupReport, Error> {
        let shared = self.shared();
        let wait = {
            let mut core = shared.core.lock();
            let now = shared.now(&core.kernel);
            let grace = Duration::from_nanos(u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX));
            let result = core.apply(now, Input::Shutdown { grace });
            core.drain(shared);
            match result {
                Ok(_) | Err(Error::ShuttingDown) => {}
                Err(e) => return Err(e),
            }
            Wait::new(core.shutdown.clone())
        };
        Ok(wait.await)
    }

    /// Submits a task of class `class` aimed at `target` (a [`SessionId`], a [`GroupId`], or
    /// [`Target::None`](baton_kernel::Target::None) for background work) with the class's priority.
    ///
    /// `body` is called once per attempt with a fresh [`TaskContext`] (so a retry runs it
    /// again) and returns `Result<T, E>`: `Ok` completes the task, `Err` fails the attempt —
    /// retried after a backoff if `E` converts into a [retryable](TaskFailure::retryable)
    /// failure and the class's retry policy has attempts left. A panic fails the attempt with
    /// its message (never retried) and never reaches the driver.
    ///
    /// A refused submit (queue full, unknown class, shutting down, …) returns a handle that
    /// resolves at once with the refusal and has no id.
    pub fn submit<T, E, F, Fut>(
        &self,
        target: impl IntoTarget,
        class: impl ClassRef,
        body: F,
    ) -> TaskHandle<T>
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<TaskFailure> + 'static,
    {
        self.task_builder(target, class).submit(body)
    }

    /// A builder for a task with options (priority, parent).
    pub fn task_builder(&self, target: impl IntoTarget, class: impl ClassRef) -> TaskBuilder {
        TaskBuilder::new(self.shared().clone(), target.into_target(), class)
    }

    /// Cancels a task by id (see [`TaskHandle::cancel`]).
    pub fn cancel(&self, task: TaskId) -> Result<(), Error> {
        handle::cancel(self.shared(), task)
    }

    /// Runs `f` on the kernel under its lock, for queries this type does not wrap. Keep it
    /// short: every input waits meanwhile.
    pub fn inspect<R>(&self, f: impl FnOnce(&Kernel) -> R) -> R {
        f(&self.shared().core.lock().kernel)
    }

    /// Runs a query under the lock and dates its views: a view's `age` is as of now (the
    /// kernel's own views are as of its latest input).
    fn query<R>(
        &self,
        f: impl FnOnce(&Kernel) -> R,
        views: impl FnOnce(&mut R) -> Vec<&mut TaskView>,
    ) -> R {
        let shared = self.shared();
        let core = shared.core.lock();
        let now = shared.now(&core.kernel);
        let mut result = f(&core.kernel);
        drop(core);
        for view in views(&mut result) {
            view.age = now.saturating_since(view.created_at);
        }
        result
    }

    /// A task's full view (state, class, session, parent, attempts, times, age, progress,
    /// error, whether it is stuck).
    pub fn task(&self, task: TaskId) -> Option<TaskView> {
        self.query(|k| k.task(task), |v| v.iter_mut().collect())
    }

    /// Counts by state over the whole registry.
    pub fn counts(&self) -> StateCounts {
        self.inspect(Kernel::counts)
    }

    /// Counts by state of one class.
    pub fn class_counts(&self, class: impl ClassRef) -> Option<StateCounts> {
        let class = self.class_id(class)?;
        self.inspect(|k| k.class_counts(class))
    }

    /// Counts by state of one session's tasks.
    pub fn session_counts(&self, session: SessionId) -> Option<StateCounts> {
        self.inspect(|k| k.session_counts(session))
    }

    /// A page of tasks matching `filter`, by id, after `after`, at most `limit`.
    pub fn list(&self, filter: &ListFilter, after: Option<TaskId>, limit: usize) -> Page {
        self.query(
            |k| k.list(filter, after, limit),
            |p| p.items.iter_mut().collect(),
        )
    }

    /// Tasks asked to abort that have not stopped (their code cannot be aborted).
    pub fn stuck(&self) -> Vec<TaskView> {
        self.query(Kernel::stuck, |v| v.iter_mut().collect())
    }

    /// Why a task is where it is (for a queued one: what blocks it).
    pub fn explain(&self, task: TaskId) -> Option<Explanation> {
        self.inspect(|k| k.explain(task))
    }

    /// A metrics snapshot.
    pub fn metrics(&self) -> Metrics {
        self.inspect(Kernel::metrics)
    }

    /// Publishes the kernel's metrics through the [`metrics`] facade (feature `metrics`): its
    /// counts by state, its per-class gauges and counters, and the queue-wait and run-time
    /// samples recorded since the previous publish, under the names listed in the crate docs
    /// ("Metrics"). Call it periodically (or before each scrape); with no `metrics` recorder
    /// installed it does nothing but read a snapshot. The kernel's lock is held only to read.
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        let (metrics, counts) = self.inspect(|k| (k.metrics(), k.counts()));
        let mut published = crate::sync::lock(&self.shared().published);
        crate::metrics_bridge::publish(&metrics, &counts, &mut published);
    }

    /// Records in the registry (active and retained).
    pub fn registry_len(&self) -> usize {
        self.inspect(Kernel::registry_len)
    }

    /// The id of the connected session with this name.
    pub fn session_id(&self, name: &str) -> Option<SessionId> {
        self.inspect(|k| k.session_id(name))
    }

    /// A class's id.
    pub fn class_id(&self, class: impl ClassRef) -> Option<ClassId> {
        class.class_id(self.shared().class_names()).ok()
    }

    /// A class's name.
    pub fn class_name(&self, class: ClassId) -> Option<String> {
        self.shared().class_names().get(class.index()).cloned()
    }

    /// Task bodies whose handle has not resolved yet (the adapter's table; for tests).
    pub fn pending_handles(&self) -> usize {
        self.shared().core.lock().live_entries()
    }

    /// **Test-only** (feature `fault-injection`): switches on a deliberate adapter bug for this
    /// scheduler (`None` switches it off), so a test can show that it catches the bug. See
    /// [`Fault`](crate::Fault).
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&self, fault: Option<crate::Fault>) {
        self.shared().fault.set(fault);
    }
}
