//! "Sometimes" counters: events a scenario exists to provoke. A campaign fails a scenario whose
//! required events never happened over all its seeds, so no scenario silently tests nothing.

use serde::{Deserialize, Serialize};

/// An event worth counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sometimes {
    /// A task started after waiting in its queue.
    Contention,
    /// A class sat at its limit while tasks of it were queued.
    ClassLimit,
    /// A queued task was rejected at its queue timeout.
    QueueTimeout,
    /// A running task was cancelled at its run or total deadline.
    RunTimeout,
    /// A running task was cancelled for missing heartbeats.
    Stalled,
    /// A cancelling task outlived its grace and was aborted.
    Abort,
    /// A cleanup report or `stuck()` listed a stuck task.
    StuckReported,
    /// A submit was refused because a queue was full.
    QueueFull,
    /// A submit was refused for capacity (registry or children).
    Capacity,
    /// A failed attempt was retried.
    Retry,
    /// A group task was bound to a member session.
    GroupStart,
    /// A session was disconnected while it had a running task.
    DisconnectMidOp,
    /// A session name was connected again (a new generation).
    Reconnect,
    /// Shutdown was requested while tasks were running.
    ShutdownMidFlight,
    /// A finish report reached the kernel late.
    LateReport,
    /// A finish report was delivered twice.
    DuplicateReport,
    /// A report for a task the kernel never issued.
    UnknownReport,
    /// A deliberately bad input was refused.
    BadInput,
    /// The driver's clock jumped forward.
    ClockJump,
    /// A child was cancelled because its parent ended or was cancelled.
    ParentCancel,
    /// A running task submitted a child.
    Child,
    /// A user cancelled a task.
    UserCancel,
    /// A terminal record was removed after its retention.
    RetentionGc,
    /// A task ignored abort (blocking code).
    Zombie,
    /// A task stopped only some time after it was cancelled.
    StubbornStop,
    /// A progress report (heartbeat) was accepted.
    Heartbeat,
    /// The late driver's timer woke after the deadline it was set for.
    LateTimer,
    /// An input reached the kernel while a deadline at or before it was due and not yet
    /// handled (the late driver slept through it, or woke too late).
    InputBeforeDueTimeout,
    /// The late driver delayed a `Start` delivery or a finish report.
    LateDelivery,
    /// The process crashed while a task was physically running (recovered, then restarted).
    CrashMidRun,
}

impl Sometimes {
    /// Every counter.
    pub const ALL: [Sometimes; 30] = [
        Sometimes::Contention,
        Sometimes::ClassLimit,
        Sometimes::QueueTimeout,
        Sometimes::RunTimeout,
        Sometimes::Stalled,
        Sometimes::Abort,
        Sometimes::StuckReported,
        Sometimes::QueueFull,
        Sometimes::Capacity,
        Sometimes::Retry,
        Sometimes::GroupStart,
        Sometimes::DisconnectMidOp,
        Sometimes::Reconnect,
        Sometimes::ShutdownMidFlight,
        Sometimes::LateReport,
        Sometimes::DuplicateReport,
        Sometimes::UnknownReport,
        Sometimes::BadInput,
        Sometimes::ClockJump,
        Sometimes::ParentCancel,
        Sometimes::Child,
        Sometimes::UserCancel,
        Sometimes::RetentionGc,
        Sometimes::Zombie,
        Sometimes::StubbornStop,
        Sometimes::Heartbeat,
        Sometimes::LateTimer,
        Sometimes::InputBeforeDueTimeout,
        Sometimes::LateDelivery,
        Sometimes::CrashMidRun,
    ];

    /// The snake_case name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Sometimes::Contention => "contention",
            Sometimes::ClassLimit => "class_limit",
            Sometimes::QueueTimeout => "queue_timeout",
            Sometimes::RunTimeout => "run_timeout",
            Sometimes::Stalled => "stalled",
            Sometimes::Abort => "abort",
            Sometimes::StuckReported => "stuck_reported",
            Sometimes::QueueFull => "queue_full",
            Sometimes::Capacity => "capacity",
            Sometimes::Retry => "retry",
            Sometimes::GroupStart => "group_start",
            Sometimes::DisconnectMidOp => "disconnect_mid_op",
            Sometimes::Reconnect => "reconnect",
            Sometimes::ShutdownMidFlight => "shutdown_mid_flight",
            Sometimes::LateReport => "late_report",
            Sometimes::DuplicateReport => "duplicate_report",
            Sometimes::UnknownReport => "unknown_report",
            Sometimes::BadInput => "bad_input",
            Sometimes::ClockJump => "clock_jump",
            Sometimes::ParentCancel => "parent_cancel",
            Sometimes::Child => "child",
            Sometimes::UserCancel => "user_cancel",
            Sometimes::RetentionGc => "retention_gc",
            Sometimes::Zombie => "zombie",
            Sometimes::StubbornStop => "stubborn_stop",
            Sometimes::Heartbeat => "heartbeat",
            Sometimes::LateTimer => "late_timer",
            Sometimes::InputBeforeDueTimeout => "input_before_due_timeout",
            Sometimes::LateDelivery => "late_delivery",
            Sometimes::CrashMidRun => "crash_mid_run",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<Sometimes> {
        Sometimes::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One counter per [`Sometimes`] event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    counts: [u64; Sometimes::ALL.len()],
}

impl Counters {
    /// Counts one occurrence.
    pub fn hit(&mut self, s: Sometimes) {
        self.counts[s as usize] += 1;
    }

    /// Occurrences of `s`.
    pub fn get(&self, s: Sometimes) -> u64 {
        self.counts[s as usize]
    }

    /// Adds another set of counters.
    pub fn add(&mut self, other: &Counters) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    /// The non-zero counters, by name.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        Sometimes::ALL
            .into_iter()
            .filter(|s| self.get(*s) > 0)
            .map(|s| (s.name(), self.get(s)))
            .collect()
    }
}
