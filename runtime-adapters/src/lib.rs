//! # baton-runtime
//!
//! Drives the [`baton_kernel`] scheduling kernel with real futures on **tokio** or **smol**:
//! per-session exclusive operations, priority queues, class limits, deadlines, retries and a
//! task registry, with cancellation that really finishes.
//!
//! - [`Scheduler`] (clone it freely) owns the kernel behind one lock plus a driver task.
//!   [`submit`](Scheduler::submit) a body `|ctx| async move { … }` for a session, group or
//!   nothing, and await its [`TaskHandle`] for `Result<T, TaskError>`.
//! - The body's [`TaskContext`] reports [`progress`](TaskContext::progress) (the heartbeat),
//!   resolves [`cancelled()`](TaskContext::cancelled) when the kernel wants it to stop, spawns
//!   [children](TaskContext::spawn_child), and runs [blocking code](TaskContext::spawn_blocking)
//!   that keeps the session held until it returns.
//! - Cancellation is real: `Cancel` resolves `cancelled()`; after the class's grace, `Abort`
//!   drops the future; a session is freed only when the future is gone *and* its blocking jobs
//!   have returned. Code that cannot be stopped is reported [stuck](Scheduler::stuck) and listed
//!   in the [`disconnect`](Scheduler::disconnect) / [`shutdown`](Scheduler::shutdown) report.
//! - A panic in a body fails the task with the panic's message; it never reaches the driver.
//!
//! ```text
//!  Scheduler::submit ─┐            ┌──────────── one lock ────────────┐
//!  TaskHandle::cancel ├─ input ──► │ Kernel ── poll_action() ──► drain │──► spawn body (Start)
//!  ctx.progress       │            │                                   │──► ctx.cancelled() (Cancel)
//!  body stopped ──────┘            │   poll_timeout() changed? ──┐     │──► drop future (Abort)
//!                                  └─────────────────────────────┼─────┘──► resolve handle (Notify)
//!  driver task: sleep_until(deadline) ◄── wake-up ───────────────┘
//!               └─► handle_timeout(now) ─► drain ─► re-arm if the deadline changed
//! ```
//!
//! The driver is written once against `futures`; a runtime adds only the small [`Runtime`]
//! trait (spawn, spawn blocking, sleep until, now, a resettable [`Timer`]): [`TokioRuntime`]
//! behind feature `tokio`, [`SmolRuntime`] behind feature `smol`.
//!
//! See [`Scheduler`] for a complete example, and `examples/session_manager_{tokio,smol}.rs`.
//!
//! ## Observability
//!
//! **`tracing`** (feature `tracing`, on by default; with no subscriber installed each span or
//! event costs a callsite check). Every attempt's future runs inside the span `baton.attempt`
//! (level INFO) with fields `task` (the id, `u64`), `class` (its name), `session` (the session
//! id, absent for a task without one) and `attempt` (1 for the first run) — so whatever a body
//! logs carries them. Each action the adapter performs is a DEBUG event with field `task` and
//! message `baton.start` (+ `attempt`), `baton.cancel` (+ `reason`), `baton.abort`,
//! `baton.finish` (+ `outcome`) or `baton.retry` (+ `attempt`, `at_ns`).
//!
//! **`metrics`** (feature `metrics`): [`Scheduler::publish_metrics`] publishes a kernel
//! snapshot through the `metrics` facade, so any exporter installed as its recorder (Prometheus
//! or other) sees it. Call it periodically or before each scrape. Stable names:
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `baton_tasks` | gauge | `state` (`queued` … `abandoned`) | tasks in the registry by state |
//! | `baton_registry_len` | gauge | | records in the registry |
//! | `baton_sessions` | gauge | | connected or closing sessions |
//! | `baton_fenced_names` | gauge | | session names fenced by an unreported task |
//! | `baton_class_running` | gauge | `class` | running or cancelling now |
//! | `baton_class_queued` | gauge | `class` | queued or backing off now |
//! | `baton_class_stuck` | gauge | `class` | asked to abort, not stopped |
//! | `baton_class_submitted_total` | counter | `class` | tasks accepted |
//! | `baton_class_started_total` | counter | `class` | attempts started |
//! | `baton_class_retries_total` | counter | `class` | retries scheduled |
//! | `baton_class_ended_total` | counter | `class`, `outcome` (`completed` `failed` `cancelled` `timed_out` `rejected` `abandoned`) | tasks ended |
//! | `baton_class_queue_wait_seconds` | histogram | `class` | time from (re-)queue to start |
//! | `baton_class_run_time_seconds` | histogram | `class` | time from start to the stop report |
//!
//! Counters are set to the kernel's totals (`absolute`). The kernel's histograms count samples
//! in power-of-two nanosecond buckets; each publish records the samples added since the
//! previous one, each at its bucket's upper bound (so a value is exact to within a factor 2).
//!
//! ## Layers
//!
//! The crate's files form floors; each file imports only from floors below it (no cycles):
//!
//! | floor | files | what they hold |
//! |---|---|---|
//! | 4 | `scheduler.rs` | [`Scheduler`]: builds the core, spawns the driver, wraps inputs and queries |
//! | 3 | `builder.rs` | [`TaskBuilder`], [`IntoTarget`], [`ClassRef`]; submitting (also a context's children) |
//! | 2b | `attempt.rs`, `handle.rs`, `driver.rs` | one attempt's future (implements the core's `Launch`); [`TaskHandle`]; the driver loop |
//! | 2a | `context.rs` | [`TaskContext`]: progress, cancellation, blocking jobs |
//! | 1 | `shared.rs` | the core: the kernel and the adapter's tables behind one lock, and `drain` |
//! | 0 | `sync.rs`, `signal.rs`, `slot.rs`, `holds.rs`, `error.rs`, `fault.rs`, `record.rs`, `telemetry.rs`, `metrics_bridge.rs`, `runtime/` | primitives that know nothing of the core |
//!
//! Two seams keep the arrows pointing down. The core starts an attempt through the `Launch`
//! trait it declares and the attempt floor implements, so it never names an attempt or a
//! context. And [`TaskContext::child`] / [`TaskContext::spawn_child`] return a
//! [`TaskBuilder`], which sits above the context, so they are defined in `builder.rs`.
//!
//! ## Where DESIGN.md was silent
//! - Bodies are `Fn(TaskContext) -> impl Future<Output = Result<T, E>>` with
//!   `E: Into<TaskFailure>`: a retry calls the body again. Any `std::error::Error` becomes a
//!   non-retryable failure; [`TaskFailure::retryable`] asks for a retry.
//! - Dropping a [`TaskHandle`] detaches the task (like tokio's `JoinHandle`); it does not
//!   cancel it.
//! - A task the kernel abandons at cleanup without having aborted it (a disconnect grace shorter
//!   than the class's grace) is aborted by the adapter at that moment.
//! - A body's `ctx` may outlive it (moved into a detached future); blocking jobs it starts
//!   after the attempt was reported are not accounted.

mod attempt;
mod builder;
mod context;
mod driver;
#[cfg(feature = "store")]
mod durable;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(not(feature = "fault-injection"))]
mod fault;
mod handle;
mod holds;
#[cfg(feature = "store")]
mod journal;
#[cfg(feature = "metrics")]
mod metrics_bridge;
mod record;
pub mod runtime;
mod scheduler;
mod shared;
mod signal;
mod slot;
mod sync;
mod telemetry;

#[cfg(feature = "store")]
pub use baton_store::RecoveryReport;
pub use builder::{ClassRef, IntoTarget, TaskBuilder};
pub use context::{BlockingJob, Cancelled, TaskContext};
#[cfg(feature = "store")]
pub use durable::{DurableError, DurableOptions, Kinds};
pub use error::{BuildError, TaskError, TaskFailure};
#[cfg(feature = "fault-injection")]
pub use fault::Fault;
pub use handle::TaskHandle;
pub use record::MemoryLog;
#[cfg(feature = "smol")]
pub use runtime::SmolRuntime;
#[cfg(feature = "tokio")]
pub use runtime::TokioRuntime;
pub use runtime::{Runtime, Timer, default_runtime};
pub use scheduler::Scheduler;

/// The shared-state primitives, exported only to the loom suite (`tests/loom_*.rs`).
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_exports {
    pub use crate::attempt::Abortable;
    pub use crate::holds::Holds;
    pub use crate::signal::{Notify, Signal, Wait};
    pub use crate::slot::Slot;
}
