//! Durable schedulers (feature `store`): a [`Scheduler`] whose every kernel input is journaled
//! in a [`baton_store`] database before anything it caused becomes visible, whose tasks can be
//! *durable* — a registered kind plus serde parameters, so they can run again after a restart —
//! and which recovers its state when it opens an existing database.
//!
//! - **Acknowledged means durable**: [`Scheduler::submit_durable`] returns once the submit's
//!   journal entry is committed. Submits and reports are group-committed by one committer
//!   thread (every input applied while a commit runs goes into the next transaction), so
//!   throughput does not collapse to one `fsync` per task.
//! - **Nothing visible before it is durable**: every action (a body starting, a handle
//!   resolving, a cancellation signal) waits until the input that caused it is committed.
//! - **Recovery**: [`Scheduler::open_durable`] rebuilds the kernel (newest valid snapshot +
//!   journal suffix), re-registers the bodies of unfinished durable tasks from their kinds, and
//!   applies [`Kernel::restart`](baton_kernel::Kernel::restart): attempts that were running end
//!   `Failed { interrupted, retryable }` and their retry policy applies (**at-least-once**: the
//!   process that ran them is gone, and whether their side effects happened is unknown);
//!   sessions wait, detached, for their names to connect again. Closure tasks (submitted with
//!   [`Scheduler::submit`]) cannot run again — their code died with the process — so a restart
//!   ends them `Failed` ("lost with the process") when they would start.
//! - **Closing is not shutting down**: dropping a durable scheduler (or [`Scheduler::close`])
//!   leaves its queue in the store for the next process; [`Scheduler::shutdown`] ends the
//!   kernel for good (it rejects what waits, durably), after which a reopened store refuses
//!   new work.
//! - **Fail-stop**: when a commit fails (disk full, I/O error), the store stops: nothing more
//!   becomes durable or visible, durable submits return [`DurableError::Store`]; restart and
//!   recover.

use crate::attempt::TypedBody;
use crate::builder::{ClassRef, IntoTarget, TaskBuilder};
use crate::context::TaskContext;
use crate::error::{TaskError, TaskFailure};
use crate::handle::TaskHandle;
use crate::journal::{Journal, Nudge, Taken};
use crate::runtime::{self, Runtime};
use crate::scheduler::Scheduler;
use crate::shared::{Launch, Shared};
use crate::signal::Wait;
use crate::slot::{Resolve, Slot};
use baton_kernel::{Config, Input, ListFilter, Submit, TaskId, TaskState};
use baton_store::{RecoveryReport, SqliteOptions, SqliteStore, Store, StoreError};
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// Why a durable operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// Opening, recovering or writing the store failed (after a failed write the store is
    /// stopped: restart and recover).
    #[error("store: {0}")]
    Store(String),
    /// No handler is registered for this kind.
    #[error("unknown task kind {0:?}")]
    UnknownKind(String),
    /// The parameters could not be turned into JSON.
    #[error("parameters of {kind:?} do not serialize: {error}")]
    Params {
        /// The kind.
        kind: String,
        /// serde's message.
        error: String,
    },
    /// The kernel refused the submit (queue full, unknown class or target, shutting down …).
    #[error("submit refused: {0}")]
    Refused(TaskError),
    /// No async runtime could be chosen.
    #[error(transparent)]
    Build(#[from] crate::BuildError),
}

impl From<StoreError> for DurableError {
    fn from(e: StoreError) -> Self {
        DurableError::Store(e.to_string())
    }
}

/// One registered kind: turns stored parameters into an attempt's body.
trait Handler: Send + Sync + 'static {
    fn call(
        &self,
        ctx: TaskContext,
        params: Value,
    ) -> BoxFuture<'static, Result<Value, TaskFailure>>;
}

struct Typed<F, P, O> {
    f: F,
    _types: std::marker::PhantomData<fn(P) -> O>,
}

impl<F, Fut, P, O, E> Handler for Typed<F, P, O>
where
    F: Fn(TaskContext, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    P: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: Into<TaskFailure> + 'static,
{
    fn call(
        &self,
        ctx: TaskContext,
        params: Value,
    ) -> BoxFuture<'static, Result<Value, TaskFailure>> {
        let params: P = match serde_json::from_value(params) {
            Ok(p) => p,
            Err(e) => {
                let failure = TaskFailure::new(format!("parameters do not decode: {e}"));
                return Box::pin(async move { Err(failure) });
            }
        };
        let future = (self.f)(ctx, params);
        Box::pin(async move {
            let output = future.await.map_err(Into::into)?;
            serde_json::to_value(output)
                .map_err(|e| TaskFailure::new(format!("result does not serialize: {e}")))
        })
    }
}

/// The handlers of durable task kinds, by name.
///
/// ```
/// use baton_runtime::{Kinds, TaskFailure};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Message { to: String, text: String }
///
/// let kinds = Kinds::new().register("send_message", |_ctx, m: Message| async move {
///     // … send it …
///     Ok::<_, TaskFailure>(format!("sent to {}", m.to))
/// });
/// assert!(kinds.contains("send_message"));
/// ```
#[derive(Clone, Default)]
pub struct Kinds {
    handlers: BTreeMap<String, Arc<dyn Handler>>,
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.handlers.keys()).finish()
    }
}

impl Kinds {
    /// No kinds.
    pub fn new() -> Self {
        Kinds::default()
    }

    /// Registers the handler of `kind`: `async fn(ctx, params) -> Result<Output, E>`. Its
    /// parameters and output travel as JSON (serde), so a task can run again after a restart.
    /// A later registration of the same name replaces the earlier one.
    pub fn register<F, Fut, P, O, E>(mut self, kind: &str, handler: F) -> Self
    where
        F: Fn(TaskContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        P: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        E: Into<TaskFailure> + 'static,
    {
        let typed = Typed {
            f: handler,
            _types: std::marker::PhantomData,
        };
        self.handlers.insert(kind.to_owned(), Arc::new(typed));
        self
    }

    /// Whether `kind` has a handler.
    pub fn contains(&self, kind: &str) -> bool {
        self.handlers.contains_key(kind)
    }
}

/// How a durable scheduler keeps its store.
#[derive(Clone, Debug)]
pub struct DurableOptions {
    /// Take a snapshot (and compact the journal behind the previous one) every this many
    /// journal entries. Default 10,000.
    pub snapshot_every: u64,
    /// The SQLite connection's options (busy timeout, size cap).
    pub sqlite: SqliteOptions,
}

impl Default for DurableOptions {
    fn default() -> Self {
        DurableOptions {
            snapshot_every: 10_000,
            sqlite: SqliteOptions::default(),
        }
    }
}

/// The body of one durable task: its kind's handler with its stored parameters. Its output is
/// handed to the journal (with the `Finished` report) and to the handle.
fn durable_body(
    handler: Arc<dyn Handler>,
    params: Value,
) -> impl Fn(TaskContext) -> BoxFuture<'static, Result<Value, TaskFailure>> + Send + Sync + 'static
{
    move |ctx: TaskContext| {
        let shared = ctx.shared().clone();
        let task = ctx.id();
        let future = handler.call(ctx, params.clone());
        Box::pin(async move {
            let value = future.await?;
            let mut core = shared.core.lock();
            if let Some(journal) = core.journal.as_mut() {
                journal.stage_result(task, value.clone());
            }
            Ok(value)
        })
    }
}

/// A body for a task whose code did not survive a restart.
fn lost_body(
    why: String,
) -> impl Fn(TaskContext) -> BoxFuture<'static, Result<Value, TaskFailure>> + Send + Sync + 'static
{
    move |_ctx: TaskContext| {
        let failure = TaskFailure::new(why.clone());
        Box::pin(async move { Err(failure) })
    }
}

fn launch_of<F>(body: F, slot: &Arc<Slot<Value>>) -> Arc<dyn Launch>
where
    F: Fn(TaskContext) -> BoxFuture<'static, Result<Value, TaskFailure>> + Send + Sync + 'static,
{
    Arc::new(TypedBody {
        body,
        slot: slot.clone(),
    })
}

/// Wall-clock nanoseconds since the Unix epoch (only to carry kernel time across restarts).
fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Scheduler {
    /// Opens (or creates) the durable store at `path` and a scheduler on it, on `runtime` (or
    /// the default runtime): a new store starts an empty kernel; an existing one is recovered
    /// and restarted (see the module docs) — the report says what recovery found. Kernel time
    /// runs on across the downtime (the store keeps its epoch), so queue deadlines count it.
    ///
    /// Errors: the store cannot be opened or recovered ([`DurableError::Store`], among them a
    /// `config` different from the one the store was created with), or no runtime.
    pub fn open_durable(
        path: impl AsRef<Path>,
        config: Config,
        kinds: Kinds,
        runtime: Option<Arc<dyn Runtime>>,
        options: DurableOptions,
    ) -> Result<(Scheduler, RecoveryReport), DurableError> {
        let runtime = match runtime {
            Some(rt) => rt,
            None => runtime::default_runtime().ok_or(crate::BuildError::NoRuntime)?,
        };
        let unix_now = unix_now_ns();
        let (store, recovered) = SqliteStore::open_with(path, &config, unix_now, &options.sqlite)?;
        let report = recovered.report.clone();
        let offset = unix_now
            .saturating_sub(recovered.epoch_unix_ns)
            .max(recovered.kernel.now().as_nanos());
        let fresh = recovered.report.created;
        let kernel = recovered.kernel;
        let live = live_tasks(&kernel);
        let shared = Arc::new(Shared::with_offset(kernel, runtime, None, offset));
        let nudge = Arc::new(Nudge::default());
        {
            let mut core = shared.core.lock();
            core.journal = Some(Journal::new(
                recovered.last_seq,
                options.snapshot_every,
                nudge.clone(),
            ));
            // Bodies for what is left: durable tasks from their kinds, the rest lost.
            let durable: BTreeMap<u64, (String, Value)> = recovered
                .durable
                .into_iter()
                .map(|(id, kind, params)| (id, (kind, params)))
                .collect();
            for id in live {
                let slot = Arc::new(Slot::new());
                let body = match durable.get(&id.0) {
                    Some((kind, params)) => match kinds.handlers.get(kind) {
                        Some(h) => launch_of(durable_body(h.clone(), params.clone()), &slot),
                        None => launch_of(
                            lost_body(format!("no handler for kind {kind:?} after restart")),
                            &slot,
                        ),
                    },
                    None => launch_of(
                        lost_body(
                            "lost with the process that submitted it (a closure task cannot run \
                             again after a restart)"
                                .to_owned(),
                        ),
                        &slot,
                    ),
                };
                let resolver: Arc<dyn Resolve> = slot;
                core.insert(id, body, resolver);
            }
            if !fresh {
                let now = shared.now(&core.kernel);
                let _ = core.apply(now, Input::Restart);
                core.drain(&shared);
            }
        }
        let _ = shared.upper.set(Arc::new(kinds));
        let scheduler = Scheduler::start(shared, Some(nudge.clone()));
        let committer = scheduler.shared_ref().clone();
        let thread = std::thread::Builder::new()
            .name("baton-commit".to_owned())
            .spawn(move || commit_loop(committer, Box::new(store), nudge))
            .map_err(|e| DurableError::Store(format!("cannot start the committer: {e}")))?;
        scheduler.keep_committer(thread);
        Ok((scheduler, report))
    }

    /// Submits a durable task of `kind` with `params` to `class` on `target`, and returns its
    /// handle once the submit is committed to the store (acknowledged = durable). The handle
    /// resolves with the handler's output as JSON. For a priority or a parent, use
    /// [`TaskBuilder::submit_durable`] (`scheduler.task_builder(target, class).priority(9)…`).
    ///
    /// Errors: no store ([`DurableError::Store`]), an unknown kind, parameters that do not
    /// serialize, the kernel's refusal, or the store's failure.
    pub async fn submit_durable(
        &self,
        target: impl IntoTarget,
        class: impl ClassRef,
        kind: &str,
        params: impl Serialize,
    ) -> Result<TaskHandle<Value>, DurableError> {
        self.task_builder(target, class)
            .submit_durable(kind, params)
            .await
    }

    /// Ends this handle of a durable scheduler the way a deploy ends a process: waits until
    /// everything applied so far is durable, then drops the handle. Nothing is shut down —
    /// queued tasks stay queued in the store, and attempts still running when the process exits
    /// run again after the next [`open_durable`](Scheduler::open_durable) (at-least-once). When
    /// the last handle is gone the committer stops. (`shutdown` instead ends everything for
    /// good: it rejects what waits and cancels what runs, durably.) When this was the last
    /// handle, `close` returns after the committer thread has stopped, so the same file can be
    /// reopened at once.
    pub async fn close(self) -> Result<(), DurableError> {
        let flushed = self.flush().await;
        drop(self);
        flushed
    }

    /// Waits until every input applied so far is durable. `Ok` at once without a store.
    pub async fn flush(&self) -> Result<(), DurableError> {
        let ack = {
            let mut core = self.shared_ref().core.lock();
            let seq = core.last_seq();
            core.journal.as_mut().map(|j| j.wait_for(seq))
        };
        match ack {
            Some(ack) => Wait::new(ack).await.map_err(DurableError::Store),
            None => Ok(()),
        }
    }
}

impl TaskBuilder {
    /// Submits a durable task of `kind` with `params` (see [`Scheduler::submit_durable`]) with
    /// this builder's class, target, priority and parent — from a task body too
    /// (`ctx.child("jobs").submit_durable(…)`), on a durable scheduler.
    pub async fn submit_durable(
        self,
        kind: &str,
        params: impl Serialize,
    ) -> Result<TaskHandle<Value>, DurableError> {
        let shared = self.shared.clone();
        let handler = shared
            .upper
            .get()
            .and_then(|u| u.downcast_ref::<Kinds>())
            .and_then(|k| k.handlers.get(kind).cloned())
            .ok_or_else(|| DurableError::UnknownKind(kind.to_owned()))?;
        let params = serde_json::to_value(params).map_err(|e| DurableError::Params {
            kind: kind.to_owned(),
            error: e.to_string(),
        })?;
        let class = self
            .class
            .map_err(|name| DurableError::Refused(TaskError::UnknownClass(name)))?;
        let slot: Arc<Slot<Value>> = Arc::new(Slot::new());
        let body = launch_of(durable_body(handler, params.clone()), &slot);
        let submit = Submit {
            class,
            target: self.target,
            priority: self.priority,
            parent: self.parent,
        };
        let (id, ack) = {
            let mut core = shared.core.lock();
            let Some(journal) = core.journal.as_mut() else {
                return Err(DurableError::Store(
                    "this scheduler has no store".to_owned(),
                ));
            };
            journal.stage(kind.to_owned(), params);
            let resolver: Arc<dyn Resolve> = slot.clone();
            let id = core
                .submit_task(&shared, submit, body, resolver)
                .map_err(|e| DurableError::Refused(TaskError::from_submit_error(e)))?;
            let seq = core.last_seq();
            let ack = core.journal.as_mut().map(|j| j.wait_for(seq));
            (id, ack)
        };
        if let Some(ack) = ack {
            Wait::new(ack).await.map_err(DurableError::Store)?;
        }
        Ok(TaskHandle::new(Some(id), slot, shared))
    }
}

/// Every task that has not ended, in id order.
fn live_tasks(kernel: &baton_kernel::Kernel) -> Vec<TaskId> {
    let mut out = Vec::new();
    for state in [
        TaskState::Queued,
        TaskState::Backoff,
        TaskState::Running,
        TaskState::Cancelling,
    ] {
        let filter = ListFilter {
            state: Some(state),
            ..ListFilter::default()
        };
        let mut after = None;
        loop {
            let page = kernel.list(&filter, after, 1_000);
            out.extend(page.items.iter().map(|v| v.id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    out.sort_unstable();
    out
}

/// The committer thread: takes whatever waits (under the lock), commits it in one transaction
/// (outside the lock), releases what waited for it and wakes the driver; snapshots now and
/// then. Stops when told to and nothing is left, or at the first failure (fail-stop).
fn commit_loop(shared: Arc<Shared>, mut store: Box<dyn Store>, nudge: Arc<Nudge>) {
    loop {
        let stop = nudge.wait();
        loop {
            let taken = {
                let mut core = shared.core.lock();
                let core = &mut *core;
                match core.journal.as_mut() {
                    Some(journal) => journal.take(&core.kernel),
                    None => None,
                }
            };
            let Some(Taken {
                batch,
                last,
                snapshot,
            }) = taken
            else {
                break;
            };
            let committed = store.commit(&batch);
            let snapshot = match (&committed, &snapshot) {
                (Ok(()), Some(kernel)) => store.snapshot(last, kernel),
                _ => Ok(()),
            };
            let mut core = shared.core.lock();
            if let Some(journal) = core.journal.as_mut() {
                if committed.is_ok() {
                    journal.committed_through(last);
                }
                if let Err(e) = committed.and(snapshot) {
                    journal.fail(e.to_string());
                    drop(core);
                    shared.wake.notify();
                    return;
                }
            }
            drop(core);
            // The driver performs the actions that were waiting for this commit.
            shared.wake.notify();
        }
        if stop {
            return;
        }
    }
}
