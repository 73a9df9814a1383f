//! # baton-kernel
//!
//! A deterministic, sans-IO scheduling kernel for programs that drive many sessions
//! (connections, accounts, devices) whose operations need them exclusively.
//!
//! It replaces the usual pile — a lock per session, a priority queue, a semaphore per operation
//! type, a dict of tasks, ad-hoc timeouts and cleanup callbacks — with one state machine:
//!
//! - **sessions** run at most one exclusive task at a time; reconnecting a name makes a new
//!   generation; **groups** bind a task to whichever member frees first;
//! - **classes** give priority, deadlines (queue wait, run, heartbeat, total, cancel grace),
//!   a kernel-wide concurrency limit, retries with seeded jitter, and retention;
//! - one **dispatch rule**: after every input, start the best ready task (priority, then FIFO)
//!   until none is ready;
//! - **real cancellation**: `Cancel`, then `Abort` after the grace; a session is freed only when
//!   the driver reports the future gone, and tasks that never stop are reported *stuck*;
//! - a **registry** with O(1) counts, paged lists, `explain`, and metrics;
//! - every bound stated in [`Limits`] and enforced with typed rejections; every bad input a
//!   typed [`Error`] that changes nothing; no panics, no clock, no hashing, no threads.
//!
//! The kernel never reads a clock: every input takes `now`. It never runs anything: it emits
//! [`Action`]s for a driver (`baton-runtime` for async runtimes, or the `baton-sim` simulator).
//!
//! ```text
//!   inputs (now, …)                   actions
//!   connect / submit / cancel  ──►  ┌────────┐ ──► Start / Cancel / Abort / Notify ──► driver
//!   progress / finished        ──►  │ Kernel │                                         (spawns,
//!   handle_timeout(now)        ──►  └────────┘ ──► poll_timeout() ─► sleep until ─┐     drops,
//!        ▲                                                                        │     reports)
//!        └────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! See [`Kernel`] for the calling contract and a complete run loop, and the `walkthrough`
//! example for contention, timeouts and cancellation end to end.
//!
//! ## Where DESIGN.md was silent
//! - A completed parent's children keep running (like detached spawned tasks); a parent that is
//!   cancelled or ends any other way cancels its active children (reason `parent`).
//! - Session generations are numbered by the kernel-wide session id (`name#id`), so no per-name
//!   history is kept for ever.
//! - Terminal records are removed at the first multiple of `cleanup_interval` at or after
//!   `finished + retention` (batched like the source's periodic sweep, inside DESIGN's window).
//! - Error text longer than `error_len_max` is truncated rather than refused, so a finish report
//!   is never lost; an over-long progress message is refused (`MessageTooLong`).
//! - Time keeps itself: every input first does what `handle_timeout(now)` does (fires every
//!   deadline `<= now` in order, dispatching after each distinct instant), then applies itself,
//!   so decisions never depend on how punctual the driver's timer is. A refused input leaves
//!   exactly the state `handle_timeout(now)` leaves; `TimeWentBackwards` changes nothing.
//! - Cleanup that abandons a running task emits `Abort` first; an exclusive task abandoned (or
//!   still stopping) on a disconnected session fences its session *name* until the driver
//!   reports it (`Config::fence_reconnect`, on by default); the late report is accepted.
//! - A group task's terminal record stays with the member session it ran on.
//! - A recovered state is taken over with [`Kernel::restart`]: connected sessions detach (their
//!   queues wait for the name to connect again, which re-attaches the same generation), every
//!   running attempt ends `Failed { interrupted, retryable }` (its retry policy applies:
//!   at-least-once), and fences of abandoned tasks lift.
//! - Backing-off tasks count toward their queue's bound; a retry that finds its queue full (or
//!   its session closing, or the kernel shutting down) is not made: the task ends Failed.

#![forbid(unsafe_code)]
// The kernel never panics on input: no unwrap, expect, panic or unchecked indexing outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod action;
mod cleanup;
mod clock;
mod config;
mod counts;
mod deadline;
mod dispatch;
mod error;
mod fence;
mod id;
mod input;
mod invariants;
mod kernel;
mod log;
mod members;
mod metrics;
pub mod preset;
mod query;
mod queue;
mod ready;
mod registry;
mod restart;
mod rng;
mod session;
mod sessions;
mod snapshot;
mod task;
mod time;
mod transition;

pub use action::{Action, CleanupReport, Notice, Scope, StuckTask};
pub use config::{CLASSES_MAX, ClassConfig, Config, Limits, RetryPolicy};
pub use counts::StateCounts;
pub use error::{ConfigError, Error};
pub use id::{ClassId, GroupId, SessionId, TaskId};
pub use input::{Applied, Input};
pub use invariants::InvariantViolation;
pub use kernel::{Kernel, Submit};
pub use log::{LOG_FORMAT, LOG_VERSION, LogEntry, LogError, LogHeader};
pub use metrics::{ClassMetrics, ClassTotals, Histogram, Metrics};
pub use query::{Blocker, Explanation, ListFilter, Page, TaskView};
pub use restart::INTERRUPTED;
pub use task::{
    CancelInfo, CancelReason, Exit, Outcome, Progress, RejectReason, Target, TaskState,
};
pub use time::{Duration, Instant};
