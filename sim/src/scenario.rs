//! Scenarios: what a run simulates, read from TOML, validated with errors that name the field,
//! and turned into a concrete [`Plan`] for one seed (swarm testing draws the knobs per seed).
//!
//! See `sim/README.md` for the file format and `sim/scenarios/` for the built-in scenarios,
//! which are compiled into the binary.

use crate::rng::SimRng;
use crate::sometimes::Sometimes;
use baton_kernel::{ClassConfig, ClassId, Config, Duration, RetryPolicy, preset};
use serde::{Deserialize, Serialize};
use std::fmt;

const MS: u64 = 1_000_000;

/// The longest span any millisecond field may give (about 11.6 days): every instant a run
/// computes (sums of a few thousand such spans) then fits in 64-bit nanoseconds.
pub const MAX_MS: u64 = 1_000_000_000;
/// Most sessions a scenario may ask for (swarm testing may draw up to 1.5 times as many).
pub const MAX_SESSIONS: u32 = 10_000;
/// Most tasks one burst may submit at once.
pub const MAX_BURST: u32 = 10_000;
/// Most children a task may spawn.
pub const MAX_CHILDREN: u64 = 1_000;
/// Most rounds of a reconnect storm.
pub const MAX_STORM_ROUNDS: u32 = 10_000;
/// The longest liveness bound a plan uses (about 36 years): a bound computed from many retries
/// or a long replayed log saturates here, so the liveness check's instant still leaves room for
/// the final phase.
pub const MAX_LIVENESS_NS: u64 = 1 << 60;
/// Event rates (per second or per minute) are 0 or within `MIN_RATE..=MAX_RATE`.
pub const MIN_RATE: f64 = 1e-6;
/// See [`MIN_RATE`].
pub const MAX_RATE: f64 = 1e6;

/// An inclusive range written `[lo, hi]` in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "[u64; 2]", into = "[u64; 2]")]
pub struct Range {
    /// Lower bound.
    pub lo: u64,
    /// Upper bound (inclusive).
    pub hi: u64,
}

impl From<[u64; 2]> for Range {
    fn from(v: [u64; 2]) -> Self {
        Range { lo: v[0], hi: v[1] }
    }
}

impl From<Range> for [u64; 2] {
    fn from(r: Range) -> Self {
        [r.lo, r.hi]
    }
}

impl Range {
    const fn new(lo: u64, hi: u64) -> Self {
        Range { lo, hi }
    }

    /// The range in nanoseconds, given milliseconds.
    pub fn ms_to_ns(self) -> NsRange {
        NsRange {
            lo: self.lo.saturating_mul(MS),
            hi: self.hi.saturating_mul(MS),
        }
    }
}

/// A range of nanoseconds, drawn uniformly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NsRange {
    /// Lower bound.
    pub lo: u64,
    /// Upper bound (inclusive).
    pub hi: u64,
}

impl NsRange {
    /// A uniform draw.
    pub fn draw(self, rng: &mut SimRng) -> u64 {
        rng.range(self.lo, self.hi)
    }
}

/// Where a workload's tasks are aimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A random connected session.
    Session,
    /// A group (late binding).
    Group,
    /// No target (background classes only).
    None,
    /// The parent's session (children only).
    ParentSession,
}

/// A class, added to the preset or overriding a preset class of the same name.
/// Durations in milliseconds; `0` for a timeout or a limit means "none".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// The class name.
    pub name: String,
    /// Default priority (higher first).
    pub priority: Option<u8>,
    /// Whether tasks hold their session.
    pub exclusive: Option<bool>,
    /// Concurrency limit (0: none).
    pub limit: Option<u32>,
    /// Queue timeout (0: none).
    pub queue_timeout_ms: Option<u64>,
    /// Run timeout (0: none).
    pub run_timeout_ms: Option<u64>,
    /// Heartbeat timeout (0: none).
    pub heartbeat_timeout_ms: Option<u64>,
    /// Total timeout (0: none).
    pub total_timeout_ms: Option<u64>,
    /// Cancel grace.
    pub grace_ms: Option<u64>,
    /// Retention of terminal records.
    pub retention_ms: Option<u64>,
    /// Retry policy.
    pub retry: Option<RetrySpec>,
}

/// A retry policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff.
    pub base_ms: u64,
    /// Largest backoff.
    pub cap_ms: u64,
    /// Jitter in thousandths.
    #[serde(default)]
    pub jitter_permille: u16,
}

/// Overrides of the kernel's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// Queue bound per session and per group.
    pub queue_len_max: Option<u32>,
    /// Bound of the background queue.
    pub background_queue_len_max: Option<u32>,
    /// Registry bound.
    pub tasks_max: Option<u32>,
    /// Session bound.
    pub sessions_max: Option<u32>,
    /// Active children per task.
    pub children_max: Option<u32>,
    /// Progress message bound in bytes.
    pub message_len_max: Option<u32>,
    /// Retention sweep interval.
    pub cleanup_interval_ms: Option<u64>,
    /// How long disconnect waits before removing a session's tasks.
    pub disconnect_grace_ms: Option<u64>,
}

/// The sessions of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSpec {
    /// How many session names.
    #[serde(default = "default_sessions")]
    pub count: u32,
    /// Name prefix (`s` gives `s0`, `s1`, …).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Connections are spread uniformly over this span from t=0.
    #[serde(default)]
    pub connect_spread_ms: u64,
}

fn default_sessions() -> u32 {
    8
}

fn default_prefix() -> String {
    "s".to_owned()
}

impl Default for SessionsSpec {
    fn default() -> Self {
        SessionsSpec {
            count: default_sessions(),
            prefix: default_prefix(),
            connect_spread_ms: 0,
        }
    }
}

/// A group whose members are drawn from the sessions per seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group name.
    pub name: String,
    /// How many member sessions.
    pub members: u32,
}

/// A stream of tasks of one class and how they behave when run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The class name.
    pub class: String,
    /// Mean arrivals per second (whole system); inter-arrival gaps are uniform in
    /// `[0, 2/rate]`.
    #[serde(default)]
    pub rate_per_s: f64,
    /// Where tasks go (default: `session` for exclusive classes, `none` otherwise).
    pub target: Option<TargetKind>,
    /// The group, when `target = "group"`.
    pub group: Option<String>,
    /// Explicit priorities drawn from this range (default: the class's).
    pub priority: Option<Range>,
    /// Every this many ms, `burst_size` tasks arrive at once.
    pub burst_every_ms: Option<u64>,
    /// Tasks per burst.
    #[serde(default)]
    pub burst_size: u32,
    /// How long a task runs.
    #[serde(default = "default_duration")]
    pub duration_ms: Range,
    /// Probability that an attempt fails.
    #[serde(default)]
    pub fail: f64,
    /// Probability that a failure is retryable.
    #[serde(default)]
    pub retryable: f64,
    /// Progress (heartbeat) period; 0: never.
    #[serde(default)]
    pub progress_every_ms: u64,
    /// Probability that a task stops sending progress halfway.
    #[serde(default)]
    pub stall: f64,
    /// Probability that a task stops only `stubborn_delay_ms` after it is cancelled.
    #[serde(default)]
    pub stubborn: f64,
    /// Delay of stubborn tasks.
    #[serde(default = "default_stubborn")]
    pub stubborn_delay_ms: Range,
    /// Probability that a task ignores cancellation (stops only when aborted).
    #[serde(default)]
    pub ignore_cancel: f64,
    /// Probability that a task is a zombie: ignores cancel and abort.
    #[serde(default)]
    pub zombie: f64,
    /// If set, zombies stop on their own after this long and the driver reports them.
    pub zombie_stop_ms: Option<Range>,
    /// Probability that the user cancels a task some time after submitting it.
    #[serde(default)]
    pub cancel: f64,
    /// When the user cancels, after submit.
    #[serde(default = "default_cancel_after")]
    pub cancel_after_ms: Range,
    /// Probability that a running task submits children.
    #[serde(default)]
    pub children: f64,
    /// How many children.
    #[serde(default = "default_children_count")]
    pub children_count: Range,
    /// The children's class (default: this workload's class).
    pub child_class: Option<String>,
    /// Where children go (default: `parent_session` for exclusive child classes).
    pub child_target: Option<TargetKind>,
    /// How long children run.
    #[serde(default = "default_duration")]
    pub child_duration_ms: Range,
}

fn default_duration() -> Range {
    Range::new(10, 100)
}

fn default_stubborn() -> Range {
    Range::new(1_000, 20_000)
}

fn default_cancel_after() -> Range {
    Range::new(0, 5_000)
}

fn default_children_count() -> Range {
    Range::new(1, 3)
}

/// A reconnect storm: sessions disconnect and reconnect in quick rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StormSpec {
    /// When the storm starts.
    pub at_ms: Range,
    /// Sessions per round.
    pub sessions: u32,
    /// Rounds.
    pub rounds: u32,
    /// Time between a disconnect and the reconnect, and between rounds.
    pub gap_ms: u64,
}

/// Faults, all off by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Random disconnects per minute (mid-operation when the session is busy).
    #[serde(default)]
    pub disconnect_per_min: f64,
    /// When a disconnected session comes back.
    #[serde(default = "default_reconnect")]
    pub reconnect_after_ms: Range,
    /// A reconnect storm.
    pub storm: Option<StormSpec>,
    /// Shutdown mid-flight at a time drawn from this range.
    pub shutdown_at_ms: Option<Range>,
    /// The shutdown's grace.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_ms: u64,
    /// Probability that a finish report is delayed by `late_report_ms`.
    #[serde(default)]
    pub late_report: f64,
    /// The extra delay of late reports.
    #[serde(default = "default_late")]
    pub late_report_ms: Range,
    /// Probability that a finish report is delivered twice.
    #[serde(default)]
    pub duplicate_report: f64,
    /// Reports for never-issued task ids, per second.
    #[serde(default)]
    pub unknown_report_per_s: f64,
    /// Other bad inputs (bad progress, time going backwards, unknown names, …) per second.
    #[serde(default)]
    pub bad_input_per_s: f64,
    /// Clock jumps per minute.
    #[serde(default)]
    pub clock_jump_per_min: f64,
    /// Size of the jumps.
    #[serde(default = "default_jump")]
    pub clock_jump_ms: Range,
    /// Crashes of the driving process per minute: everything it ran stops, the kernel is
    /// recovered from its journal and restarted, and every session name connects again.
    #[serde(default)]
    pub crash_per_min: f64,
    /// How long the process stays down.
    #[serde(default = "default_downtime")]
    pub crash_downtime_ms: Range,
}

fn default_downtime() -> Range {
    Range::new(100, 10_000)
}

fn default_reconnect() -> Range {
    Range::new(100, 5_000)
}

fn default_shutdown_grace() -> u64 {
    5_000
}

fn default_late() -> Range {
    Range::new(1_000, 30_000)
}

fn default_jump() -> Range {
    Range::new(1_000, 120_000)
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            disconnect_per_min: 0.0,
            reconnect_after_ms: default_reconnect(),
            storm: None,
            shutdown_at_ms: None,
            shutdown_grace_ms: default_shutdown_grace(),
            late_report: 0.0,
            late_report_ms: default_late(),
            duplicate_report: 0.0,
            unknown_report_per_s: 0.0,
            bad_input_per_s: 0.0,
            clock_jump_per_min: 0.0,
            crash_per_min: 0.0,
            crash_downtime_ms: default_downtime(),
            clock_jump_ms: default_jump(),
        }
    }
}

/// Driver latencies (drawn per event, in ms with nanosecond resolution) and driver timing as a
/// fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverSpec {
    /// From `Start` to the future's first poll.
    #[serde(default = "default_latency")]
    pub start_latency_ms: Range,
    /// From the future's end to the kernel hearing of it.
    #[serde(default = "default_latency")]
    pub report_latency_ms: Range,
    /// From `Cancel` to the task seeing its cancellation signal.
    #[serde(default = "default_latency")]
    pub signal_latency_ms: Range,
    /// How long a cooperative task takes to stop once it sees the signal.
    #[serde(default = "default_stop")]
    pub cancel_stop_ms: Range,
    /// Driver timing as a fault (DESIGN.md, "Simulator"): `swarm` (the default) switches the
    /// late driver on for about a third of the seeds, `on` for every seed, `off` for none.
    #[serde(default)]
    pub late: LateMode,
    /// With the late driver: the most its timer wakes after a deadline, and the most a `Start`
    /// delivery or a report is delayed on top of the latencies above.
    #[serde(default = "default_late_max")]
    pub late_max_ms: u64,
    /// With the late driver: the probability that a timer wake-up does not happen at all, so
    /// the deadline is first noticed by the next input.
    #[serde(default = "default_sleep_through")]
    pub late_sleep_through: f64,
}

/// Whether a run's driver is late (see [`DriverSpec::late`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateMode {
    /// Drawn per seed: on for about one seed in three.
    #[default]
    Swarm,
    /// On for every seed.
    On,
    /// Off: the driver's timer fires exactly at each deadline.
    Off,
}

/// The share of seeds that run with the late driver under [`LateMode::Swarm`].
pub const LATE_SWARM_SHARE: f64 = 1.0 / 3.0;

fn default_late_max() -> u64 {
    2_000
}

fn default_sleep_through() -> f64 {
    0.2
}

fn default_latency() -> Range {
    Range::new(0, 1)
}

fn default_stop() -> Range {
    Range::new(0, 20)
}

impl Default for DriverSpec {
    fn default() -> Self {
        DriverSpec {
            start_latency_ms: default_latency(),
            report_latency_ms: default_latency(),
            signal_latency_ms: default_latency(),
            cancel_stop_ms: default_stop(),
            late: LateMode::default(),
            late_max_ms: default_late_max(),
            late_sleep_through: default_sleep_through(),
        }
    }
}

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name (`baton-sim run --scenario NAME`).
    pub name: String,
    /// One line on what it exercises.
    #[serde(default)]
    pub description: String,
    /// Start from a kernel preset: `session_manager`, `cache_tracker` or `job_manager`.
    pub preset: Option<String>,
    /// Classes added to the preset or overriding its classes by name.
    #[serde(default, rename = "class")]
    pub classes: Vec<ClassSpec>,
    /// Kernel bounds and intervals.
    #[serde(default)]
    pub kernel: KernelSpec,
    /// How long the workload and faults run (virtual); then the liveness phase.
    pub duration_ms: u64,
    /// The sessions.
    #[serde(default)]
    pub sessions: SessionsSpec,
    /// Groups.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupSpec>,
    /// Task streams.
    #[serde(default, rename = "workload")]
    pub workloads: Vec<WorkloadSpec>,
    /// Faults.
    #[serde(default)]
    pub faults: FaultSpec,
    /// Driver latencies.
    #[serde(default)]
    pub driver: DriverSpec,
    /// Events that must happen at least once over a campaign of this scenario.
    #[serde(default)]
    pub sometimes: Vec<String>,
    /// Whether each seed also draws the knobs (session count, rates, limits, fault rates).
    #[serde(default = "yes")]
    pub swarm: bool,
    /// Seeds a default campaign runs.
    #[serde(default = "default_seeds")]
    pub seeds: u64,
    /// Overrides the computed liveness bound (needed when a class has no queue timeout).
    pub liveness_bound_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

fn default_seeds() -> u64 {
    20
}

/// A scenario problem, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where (scenario name or file).
    pub source: String,
    /// The field, as a path (`workload[1].duration_ms`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.field, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The built-in scenarios, compiled in from `sim/scenarios/`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("steady-mix", include_str!("../scenarios/steady-mix.toml")),
    (
        "burst-queue-bounds",
        include_str!("../scenarios/burst-queue-bounds.toml"),
    ),
    (
        "stubborn-zombies",
        include_str!("../scenarios/stubborn-zombies.toml"),
    ),
    (
        "disconnect-mid-op",
        include_str!("../scenarios/disconnect-mid-op.toml"),
    ),
    (
        "reconnect-storm",
        include_str!("../scenarios/reconnect-storm.toml"),
    ),
    (
        "shutdown-mid-flight",
        include_str!("../scenarios/shutdown-mid-flight.toml"),
    ),
    ("bad-reports", include_str!("../scenarios/bad-reports.toml")),
    ("clock-jumps", include_str!("../scenarios/clock-jumps.toml")),
    ("retry-storm", include_str!("../scenarios/retry-storm.toml")),
    (
        "crash-recovery",
        include_str!("../scenarios/crash-recovery.toml"),
    ),
    (
        "heartbeat-stalls",
        include_str!("../scenarios/heartbeat-stalls.toml"),
    ),
    (
        "group-late-binding",
        include_str!("../scenarios/group-late-binding.toml"),
    ),
    (
        "class-limit-1000",
        include_str!("../scenarios/class-limit-1000.toml"),
    ),
    (
        "source-session-manager",
        include_str!("../scenarios/source-session-manager.toml"),
    ),
    (
        "source-cache-tracker",
        include_str!("../scenarios/source-cache-tracker.toml"),
    ),
    (
        "source-job-manager",
        include_str!("../scenarios/source-job-manager.toml"),
    ),
    ("chaos", include_str!("../scenarios/chaos.toml")),
    ("late-driver", include_str!("../scenarios/late-driver.toml")),
];

impl Scenario {
    /// Parses and validates TOML text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError {
            source: source.to_owned(),
            field: String::new(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        scenario.validate(source)?;
        Ok(scenario)
    }

    /// A built-in scenario by name.
    pub fn builtin(name: &str) -> Option<Result<Scenario, ScenarioError>> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Scenario::from_toml(text, n))
    }

    /// Every built-in scenario.
    pub fn builtins() -> Result<Vec<Scenario>, ScenarioError> {
        BUILTIN
            .iter()
            .map(|(n, text)| Scenario::from_toml(text, n))
            .collect()
    }

    /// A built-in name, or a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some(s) = Scenario::builtin(name_or_path) {
            return s;
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| ScenarioError {
            source: name_or_path.to_owned(),
            field: String::new(),
            message: format!(
                "not a built-in scenario ({}) and not a readable file: {e}",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        Scenario::from_toml(&text, name_or_path)
    }

    fn err(
        &self,
        source: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            source: source.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Checks every field; the first problem found is returned, naming the field.
    pub fn validate(&self, source: &str) -> Result<(), ScenarioError> {
        let e = |field: &str, msg: &str| Err(self.err(source, field, msg));
        if self.name.is_empty() {
            return e("name", "must not be empty");
        }
        if self.duration_ms == 0 {
            return e("duration_ms", "must be positive");
        }
        if self.sessions.count == 0 && self.workloads.iter().any(|w| self.wants_sessions(w)) {
            return e(
                "sessions.count",
                "session workloads need at least one session",
            );
        }
        if self.seeds == 0 {
            return e("seeds", "must be at least 1");
        }
        // The kernel configuration must build and validate.
        let config = self
            .kernel_config()
            .map_err(|(f, m)| self.err(source, f, m))?;
        if let Err(ce) = config.validate() {
            return Err(self.err(source, "class", ce.to_string()));
        }
        let class_exists = |name: &str| config.classes.iter().any(|c| c.name == name);
        for (i, g) in self.groups.iter().enumerate() {
            if g.name.is_empty() {
                return Err(self.err(source, format!("group[{i}].name"), "must not be empty"));
            }
            if g.members > self.sessions.count {
                return Err(self.err(
                    source,
                    format!("group[{i}].members"),
                    format!(
                        "{} members but only {} sessions",
                        g.members, self.sessions.count
                    ),
                ));
            }
        }
        for (i, w) in self.workloads.iter().enumerate() {
            let f = |name: &str| format!("workload[{i}].{name}");
            if !class_exists(&w.class) {
                return Err(self.err(
                    source,
                    f("class"),
                    format!(
                        "unknown class {:?} (known: {})",
                        w.class,
                        class_names(&config)
                    ),
                ));
            }
            let exclusive = config
                .classes
                .iter()
                .find(|c| c.name == w.class)
                .is_some_and(|c| c.exclusive);
            if !(w.rate_per_s.is_finite() && w.rate_per_s >= 0.0) {
                return Err(self.err(source, f("rate_per_s"), "must be a non-negative number"));
            }
            if w.rate_per_s == 0.0 && w.burst_every_ms.is_none() {
                return Err(self.err(
                    source,
                    f("rate_per_s"),
                    "is 0 and no burst_every_ms is set: the workload would submit nothing",
                ));
            }
            if w.burst_every_ms == Some(0) {
                return Err(self.err(source, f("burst_every_ms"), "must be positive"));
            }
            match (w.target, exclusive) {
                (Some(TargetKind::None), true) => {
                    return Err(self.err(
                        source,
                        f("target"),
                        format!(
                            "class {:?} is exclusive and needs a session or group",
                            w.class
                        ),
                    ));
                }
                (Some(TargetKind::ParentSession), _) => {
                    return Err(self.err(
                        source,
                        f("target"),
                        "parent_session is for child_target only",
                    ));
                }
                (Some(TargetKind::Group), _) => match &w.group {
                    Some(g) if self.groups.iter().any(|x| &x.name == g) => {}
                    Some(g) => {
                        return Err(self.err(
                            source,
                            f("group"),
                            format!("no [[group]] named {g:?}"),
                        ));
                    }
                    None => {
                        return Err(self.err(source, f("group"), "target = \"group\" needs group"));
                    }
                },
                _ => {}
            }
            for (name, p) in [
                ("fail", w.fail),
                ("retryable", w.retryable),
                ("stall", w.stall),
                ("stubborn", w.stubborn),
                ("ignore_cancel", w.ignore_cancel),
                ("zombie", w.zombie),
                ("cancel", w.cancel),
                ("children", w.children),
            ] {
                if !(0.0..=1.0).contains(&p) {
                    return Err(self.err(
                        source,
                        f(name),
                        format!("{p} is not a probability in [0, 1]"),
                    ));
                }
            }
            for (name, r) in [
                ("duration_ms", Some(w.duration_ms)),
                ("stubborn_delay_ms", Some(w.stubborn_delay_ms)),
                ("cancel_after_ms", Some(w.cancel_after_ms)),
                ("children_count", Some(w.children_count)),
                ("child_duration_ms", Some(w.child_duration_ms)),
                ("priority", w.priority),
                ("zombie_stop_ms", w.zombie_stop_ms),
            ] {
                if let Some(r) = r
                    && r.lo > r.hi
                {
                    return Err(self.err(
                        source,
                        f(name),
                        format!("[{}, {}]: lower bound above upper", r.lo, r.hi),
                    ));
                }
            }
            if let Some(p) = w.priority
                && p.hi > 255
            {
                return Err(self.err(source, f("priority"), "priorities are 0..=255"));
            }
            let child_class = w.child_class.as_deref().unwrap_or(&w.class);
            if w.children > 0.0 && !class_exists(child_class) {
                return Err(self.err(
                    source,
                    f("child_class"),
                    format!("unknown class {child_class:?}"),
                ));
            }
            let child_exclusive = config
                .classes
                .iter()
                .find(|c| c.name == child_class)
                .is_some_and(|c| c.exclusive);
            match w.child_target {
                Some(TargetKind::None) if child_exclusive => {
                    return Err(self.err(
                        source,
                        f("child_target"),
                        "exclusive children need a session or group",
                    ));
                }
                Some(TargetKind::Group) if w.group.is_none() => {
                    return Err(self.err(
                        source,
                        f("group"),
                        "child_target = \"group\" needs group",
                    ));
                }
                _ => {}
            }
        }
        let fl = &self.faults;
        for (name, p) in [
            ("faults.late_report", fl.late_report),
            ("faults.duplicate_report", fl.duplicate_report),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return e(name, "is not a probability in [0, 1]");
            }
        }
        for (name, rate) in [
            ("faults.disconnect_per_min", fl.disconnect_per_min),
            ("faults.unknown_report_per_s", fl.unknown_report_per_s),
            ("faults.bad_input_per_s", fl.bad_input_per_s),
            ("faults.clock_jump_per_min", fl.clock_jump_per_min),
            ("faults.crash_per_min", fl.crash_per_min),
        ] {
            if !(rate.is_finite() && rate >= 0.0) {
                return e(name, "must be a non-negative number");
            }
        }
        for (name, r) in [
            ("faults.reconnect_after_ms", Some(fl.reconnect_after_ms)),
            ("faults.late_report_ms", Some(fl.late_report_ms)),
            ("faults.clock_jump_ms", Some(fl.clock_jump_ms)),
            ("faults.crash_downtime_ms", Some(fl.crash_downtime_ms)),
            ("faults.shutdown_at_ms", fl.shutdown_at_ms),
            ("faults.storm.at_ms", fl.storm.as_ref().map(|s| s.at_ms)),
            (
                "driver.start_latency_ms",
                Some(self.driver.start_latency_ms),
            ),
            (
                "driver.report_latency_ms",
                Some(self.driver.report_latency_ms),
            ),
            (
                "driver.signal_latency_ms",
                Some(self.driver.signal_latency_ms),
            ),
            ("driver.cancel_stop_ms", Some(self.driver.cancel_stop_ms)),
        ] {
            if let Some(r) = r
                && r.lo > r.hi
            {
                return e(name, "lower bound above upper");
            }
        }
        let p = self.driver.late_sleep_through;
        if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
            return e(
                "driver.late_sleep_through",
                "must be a probability in [0, 1]",
            );
        }
        if let Some(s) = &fl.storm
            && s.sessions > self.sessions.count
        {
            return e("faults.storm.sessions", "more than sessions.count");
        }
        for (i, s) in self.sometimes.iter().enumerate() {
            if Sometimes::from_name(s).is_none() {
                return Err(self.err(
                    source,
                    format!("sometimes[{i}]"),
                    format!(
                        "unknown event {s:?} (known: {})",
                        Sometimes::ALL
                            .iter()
                            .map(|s| s.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        if self.liveness_bound_ms.is_none() {
            for c in &config.classes {
                if c.queue_timeout.is_none() && c.total_timeout.is_none() {
                    return Err(self.err(
                        source,
                        "liveness_bound_ms",
                        format!(
                            "class {:?} has no queue or total timeout, so no liveness bound can be computed: set liveness_bound_ms",
                            c.name
                        ),
                    ));
                }
            }
        }
        self.validate_bounds(source)
    }

    /// Spans, counts and rates within the bounds that keep a run's arithmetic in range
    /// ([`MAX_MS`], [`MAX_SESSIONS`], [`MAX_BURST`], [`MAX_CHILDREN`], [`MAX_STORM_ROUNDS`],
    /// [`MIN_RATE`]..=[`MAX_RATE`]).
    fn validate_bounds(&self, source: &str) -> Result<(), ScenarioError> {
        let mut spans: Vec<(String, u64)> = vec![
            ("duration_ms".into(), self.duration_ms),
            (
                "sessions.connect_spread_ms".into(),
                self.sessions.connect_spread_ms,
            ),
        ];
        let opt = |spans: &mut Vec<(String, u64)>, name: String, v: Option<u64>| {
            if let Some(v) = v {
                spans.push((name, v));
            }
        };
        opt(
            &mut spans,
            "liveness_bound_ms".into(),
            self.liveness_bound_ms,
        );
        let k = &self.kernel;
        opt(
            &mut spans,
            "kernel.cleanup_interval_ms".into(),
            k.cleanup_interval_ms,
        );
        opt(
            &mut spans,
            "kernel.disconnect_grace_ms".into(),
            k.disconnect_grace_ms,
        );
        for (i, c) in self.classes.iter().enumerate() {
            let f = |name: &str| format!("class[{i}].{name}");
            opt(&mut spans, f("queue_timeout_ms"), c.queue_timeout_ms);
            opt(&mut spans, f("run_timeout_ms"), c.run_timeout_ms);
            opt(
                &mut spans,
                f("heartbeat_timeout_ms"),
                c.heartbeat_timeout_ms,
            );
            opt(&mut spans, f("total_timeout_ms"), c.total_timeout_ms);
            opt(&mut spans, f("grace_ms"), c.grace_ms);
            opt(&mut spans, f("retention_ms"), c.retention_ms);
            if let Some(r) = &c.retry {
                spans.push((f("retry.base_ms"), r.base_ms));
                spans.push((f("retry.cap_ms"), r.cap_ms));
            }
        }
        for (i, w) in self.workloads.iter().enumerate() {
            let f = |name: &str| format!("workload[{i}].{name}");
            opt(&mut spans, f("burst_every_ms"), w.burst_every_ms);
            spans.push((f("progress_every_ms"), w.progress_every_ms));
            for (name, r) in [
                ("duration_ms", Some(w.duration_ms)),
                ("stubborn_delay_ms", Some(w.stubborn_delay_ms)),
                ("zombie_stop_ms", w.zombie_stop_ms),
                ("cancel_after_ms", Some(w.cancel_after_ms)),
                ("child_duration_ms", Some(w.child_duration_ms)),
            ] {
                opt(&mut spans, f(name), r.map(|r| r.hi));
            }
        }
        let fl = &self.faults;
        for (name, r) in [
            ("faults.reconnect_after_ms", Some(fl.reconnect_after_ms)),
            ("faults.late_report_ms", Some(fl.late_report_ms)),
            ("faults.clock_jump_ms", Some(fl.clock_jump_ms)),
            ("faults.crash_downtime_ms", Some(fl.crash_downtime_ms)),
            ("faults.shutdown_at_ms", fl.shutdown_at_ms),
            ("faults.storm.at_ms", fl.storm.as_ref().map(|s| s.at_ms)),
            (
                "driver.start_latency_ms",
                Some(self.driver.start_latency_ms),
            ),
            (
                "driver.report_latency_ms",
                Some(self.driver.report_latency_ms),
            ),
            (
                "driver.signal_latency_ms",
                Some(self.driver.signal_latency_ms),
            ),
            ("driver.cancel_stop_ms", Some(self.driver.cancel_stop_ms)),
        ] {
            opt(&mut spans, name.into(), r.map(|r| r.hi));
        }
        opt(
            &mut spans,
            "faults.storm.gap_ms".into(),
            fl.storm.as_ref().map(|s| s.gap_ms),
        );
        spans.push(("faults.shutdown_grace_ms".into(), fl.shutdown_grace_ms));
        spans.push(("driver.late_max_ms".into(), self.driver.late_max_ms));
        for (field, ms) in spans {
            if ms > MAX_MS {
                return Err(self.err(
                    source,
                    field,
                    format!("{ms} ms is longer than a run may span ({MAX_MS} ms, about 11 days)"),
                ));
            }
        }
        let mut counts: Vec<(String, u64, u64)> = vec![(
            "sessions.count".into(),
            u64::from(self.sessions.count),
            u64::from(MAX_SESSIONS),
        )];
        for (i, w) in self.workloads.iter().enumerate() {
            counts.push((
                format!("workload[{i}].burst_size"),
                u64::from(w.burst_size),
                u64::from(MAX_BURST),
            ));
            counts.push((
                format!("workload[{i}].children_count"),
                w.children_count.hi,
                MAX_CHILDREN,
            ));
        }
        if let Some(st) = &fl.storm {
            counts.push((
                "faults.storm.rounds".into(),
                u64::from(st.rounds),
                u64::from(MAX_STORM_ROUNDS),
            ));
        }
        for (field, v, max) in counts {
            if v > max {
                return Err(self.err(source, field, format!("{v} is more than {max}")));
            }
        }
        let mut rates: Vec<(String, f64)> = self
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("workload[{i}].rate_per_s"), w.rate_per_s))
            .collect();
        rates.extend([
            ("faults.disconnect_per_min".into(), fl.disconnect_per_min),
            (
                "faults.unknown_report_per_s".into(),
                fl.unknown_report_per_s,
            ),
            ("faults.bad_input_per_s".into(), fl.bad_input_per_s),
            ("faults.clock_jump_per_min".into(), fl.clock_jump_per_min),
        ]);
        for (field, r) in rates {
            if !(r == 0.0 || (MIN_RATE..=MAX_RATE).contains(&r)) {
                return Err(self.err(
                    source,
                    field,
                    format!("{r} is not 0 or a rate between {MIN_RATE:e} and {MAX_RATE:e}"),
                ));
            }
        }
        Ok(())
    }

    fn wants_sessions(&self, w: &WorkloadSpec) -> bool {
        matches!(
            w.target,
            Some(TargetKind::Session) | Some(TargetKind::Group)
        ) || self.kernel_config().is_ok_and(|c| {
            w.target.is_none() && c.classes.iter().any(|k| k.name == w.class && k.exclusive)
        })
    }

    /// The kernel configuration: the preset (if any) with the class and kernel overrides.
    /// Errors name the field.
    pub fn kernel_config(&self) -> Result<Config, (String, String)> {
        let config = match self.preset.as_deref() {
            None => Config::new(Vec::new()),
            Some("session_manager") => preset::session_manager(),
            Some("cache_tracker") => preset::cache_tracker(),
            Some("job_manager") => preset::job_manager(),
            Some(other) => {
                return Err((
                    "preset".to_owned(),
                    format!(
                        "unknown preset {other:?} (known: session_manager, cache_tracker, job_manager)"
                    ),
                ));
            }
        };
        apply_overrides(config, &self.classes, &self.kernel)
    }

    /// The concrete plan for `seed`: with `swarm`, the knobs are drawn from `rng` first.
    pub fn plan(&self, seed: u64, rng: &mut SimRng) -> Plan {
        Plan::draw(self, seed, rng)
    }
}

fn set(slot: &mut u32, v: Option<u32>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn ms_opt(ms: Option<u64>, slot: &mut Option<Duration>) {
    if let Some(ms) = ms {
        *slot = (ms > 0).then(|| Duration::from_millis(ms));
    }
}

/// `config` with the `[[class]]` and `[kernel]` overrides of a scenario (or a what-if file)
/// applied: a class named like an existing one changes only the fields given; a new name adds a
/// class (it must say whether it is exclusive). Errors name the offending field.
pub fn apply_overrides(
    mut config: Config,
    classes: &[ClassSpec],
    kernel: &KernelSpec,
) -> Result<Config, (String, String)> {
    for (i, spec) in classes.iter().enumerate() {
        let pos = config.classes.iter().position(|c| c.name == spec.name);
        let mut class = match pos {
            Some(p) => config.classes[p].clone(),
            None => {
                let exclusive = spec.exclusive.ok_or_else(|| {
                    (
                        format!("class[{i}].exclusive"),
                        format!("new class {:?} must say whether it is exclusive", spec.name),
                    )
                })?;
                let priority = spec.priority.unwrap_or(1);
                if exclusive {
                    ClassConfig::exclusive(&spec.name, priority)
                } else {
                    ClassConfig::background(&spec.name, priority)
                }
            }
        };
        apply_class(&mut class, spec);
        match pos {
            Some(p) => config.classes[p] = class,
            None => config.classes.push(class),
        }
    }
    if config.classes.is_empty() {
        return Err((
            "class".to_owned(),
            "no classes: give a preset or [[class]] tables".to_owned(),
        ));
    }
    let k = kernel;
    let l = &mut config.limits;
    set(&mut l.queue_len_max, k.queue_len_max);
    set(&mut l.background_queue_len_max, k.background_queue_len_max);
    set(&mut l.tasks_max, k.tasks_max);
    set(&mut l.sessions_max, k.sessions_max);
    set(&mut l.children_max, k.children_max);
    set(&mut l.message_len_max, k.message_len_max);
    if let Some(ms) = k.cleanup_interval_ms {
        config.cleanup_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = k.disconnect_grace_ms {
        config.disconnect_grace = Duration::from_millis(ms);
    }
    Ok(config)
}

fn apply_class(class: &mut ClassConfig, spec: &ClassSpec) {
    if let Some(p) = spec.priority {
        class.priority = p;
    }
    if let Some(x) = spec.exclusive {
        class.exclusive = x;
    }
    if let Some(l) = spec.limit {
        class.limit = (l > 0).then_some(l);
    }
    ms_opt(spec.queue_timeout_ms, &mut class.queue_timeout);
    ms_opt(spec.run_timeout_ms, &mut class.run_timeout);
    ms_opt(spec.heartbeat_timeout_ms, &mut class.heartbeat_timeout);
    ms_opt(spec.total_timeout_ms, &mut class.total_timeout);
    if let Some(ms) = spec.grace_ms {
        class.grace = Duration::from_millis(ms);
    }
    if let Some(ms) = spec.retention_ms {
        class.retention = Duration::from_millis(ms);
    }
    if let Some(r) = &spec.retry {
        class.retry = RetryPolicy {
            max_attempts: r.max_attempts,
            base: Duration::from_millis(r.base_ms),
            cap: Duration::from_millis(r.cap_ms),
            jitter_permille: r.jitter_permille,
        };
    }
}

fn class_names(config: &Config) -> String {
    config
        .classes
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a workload's tasks behave (concrete, in nanoseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct BehaviourPlan {
    /// Run time.
    pub duration: NsRange,
    /// Failure probability.
    pub fail: f64,
    /// Retryable share of failures.
    pub retryable: f64,
    /// Progress period (0: none).
    pub progress_every_ns: u64,
    /// Probability of stalling.
    pub stall: f64,
    /// Probability of being stubborn.
    pub stubborn: f64,
    /// Stubborn stop delay.
    pub stubborn_delay: NsRange,
    /// Probability of ignoring cancel.
    pub ignore_cancel: f64,
    /// Probability of being a zombie.
    pub zombie: f64,
    /// When zombies stop on their own, if ever.
    pub zombie_stop: Option<NsRange>,
    /// Probability of spawning children.
    pub children: f64,
    /// How many.
    pub children_count: (u64, u64),
    /// Their class.
    pub child_class: ClassId,
    /// Their target.
    pub child_target: TargetKind,
    /// Their run time.
    pub child_duration: NsRange,
}

/// One workload, concrete.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadPlan {
    /// The class.
    pub class: ClassId,
    /// Mean inter-arrival gap (0: no steady arrivals).
    pub mean_gap_ns: u64,
    /// Burst period and size.
    pub burst: Option<(u64, u32)>,
    /// Target kind.
    pub target: TargetKind,
    /// Group index into [`Plan::groups`].
    pub group: Option<usize>,
    /// Explicit priorities.
    pub priority: Option<(u8, u8)>,
    /// Behaviour of its tasks.
    pub behaviour: BehaviourPlan,
    /// Probability of a user cancel, and when.
    pub cancel: (f64, NsRange),
}

/// Faults, concrete.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FaultPlan {
    /// Mean gap between random disconnects (0: none).
    pub disconnect_gap_ns: u64,
    /// Reconnect delay.
    pub reconnect_after: NsRange,
    /// Storm: start, sessions, rounds, gap.
    pub storm: Option<(u64, u32, u32, u64)>,
    /// Shutdown instant and grace.
    pub shutdown: Option<(u64, u64)>,
    /// Late reports.
    pub late_report: f64,
    /// Their delay.
    pub late_report_delay: NsRange,
    /// Duplicate reports.
    pub duplicate_report: f64,
    /// Mean gap between unknown reports (0: none).
    pub unknown_report_gap_ns: u64,
    /// Mean gap between bad inputs (0: none).
    pub bad_input_gap_ns: u64,
    /// Mean gap between clock jumps (0: none).
    pub clock_jump_gap_ns: u64,
    /// Jump size.
    pub clock_jump: NsRange,
    /// Mean gap between crashes of the driving process (0: none).
    pub crash_gap_ns: u64,
    /// How long the process stays down.
    pub crash_downtime: NsRange,
}

/// Driver latencies, concrete.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DriverPlan {
    /// Start → first poll.
    pub start_latency: NsRange,
    /// End → report.
    pub report_latency: NsRange,
    /// Cancel → signal seen.
    pub signal_latency: NsRange,
    /// Signal seen → stopped (cooperative tasks).
    pub cancel_stop: NsRange,
    /// The late driver, when this run has one.
    pub late: Option<LatePlan>,
}

/// Driver timing as a fault, concrete: the timer wakes late, deliveries and reports are delayed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatePlan {
    /// The most a timer wakes after its deadline, and the most a `Start` delivery or a report
    /// is delayed.
    pub max_ns: u64,
    /// Probability that a timer wake-up is skipped: the next input comes first.
    pub sleep_through: f64,
}

/// Everything one run needs, with every knob fixed.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The kernel configuration.
    pub config: Config,
    /// Active phase length.
    pub duration_ns: u64,
    /// Session names.
    pub session_names: Vec<String>,
    /// Connection spread.
    pub connect_spread_ns: u64,
    /// Groups: name and member session indices.
    pub groups: Vec<(String, Vec<usize>)>,
    /// Workloads.
    pub workloads: Vec<WorkloadPlan>,
    /// Faults.
    pub faults: FaultPlan,
    /// Driver latencies.
    pub driver: DriverPlan,
    /// Required events.
    pub sometimes: Vec<Sometimes>,
    /// Time after the active phase by which every task must have ended.
    pub liveness_bound_ns: u64,
    /// The knobs swarm testing drew, for the replay report.
    pub knobs: Vec<String>,
}

fn gap_ns(rate_per_unit: f64, unit_ns: f64) -> u64 {
    if rate_per_unit <= 0.0 {
        0
    } else {
        ((unit_ns / rate_per_unit) as u64).max(1)
    }
}

impl Plan {
    fn draw(s: &Scenario, seed: u64, rng: &mut SimRng) -> Plan {
        let mut knobs = Vec::new();
        let swarm = s.swarm;
        // Kernel configuration, then swarm tweaks of limits and bounds.
        let mut config = s
            .kernel_config()
            .unwrap_or_else(|_| Config::new(vec![ClassConfig::background("invalid", 1)]));
        config.seed = seed;
        let mut sessions = s.sessions.count;
        let mut rate_scale = 1000u64;
        if swarm {
            sessions = (rng.scale(u64::from(sessions), 500, 1500) as u32).max(1);
            let min_sessions = s
                .groups
                .iter()
                .map(|g| g.members)
                .chain(s.faults.storm.as_ref().map(|x| x.sessions))
                .max()
                .unwrap_or(1);
            sessions = sessions.max(min_sessions);
            knobs.push(format!("sessions={sessions}"));
            rate_scale = rng.range(500, 2000);
            knobs.push(format!("rate_scale={rate_scale}‰"));
            for c in &mut config.classes {
                if let Some(l) = c.limit {
                    let nl = (i64::from(l) + rng.range(0, 2) as i64 - 1)
                        .clamp(1, i64::from(u32::MAX)) as u32;
                    c.limit = Some(nl);
                    knobs.push(format!("{}.limit={nl}", c.name));
                }
            }
            if rng.chance(0.3) {
                let q = (config.limits.queue_len_max / 4).max(2);
                config.limits.queue_len_max = q;
                knobs.push(format!("queue_len_max={q}"));
            }
        }
        let session_names: Vec<String> = (0..sessions)
            .map(|i| format!("{}{i}", s.sessions.prefix))
            .collect();
        let groups: Vec<(String, Vec<usize>)> = s
            .groups
            .iter()
            .map(|g| {
                let mut idx: Vec<usize> = (0..session_names.len()).collect();
                // A seeded partial shuffle picks the members.
                for i in 0..idx.len() {
                    let j = i + rng.index(idx.len() - i);
                    idx.swap(i, j);
                }
                idx.truncate(g.members as usize);
                idx.sort_unstable();
                (g.name.clone(), idx)
            })
            .collect();
        let class_id = |name: &str| {
            ClassId(
                config
                    .classes
                    .iter()
                    .position(|c| c.name == name)
                    .unwrap_or(0) as u16,
            )
        };
        let workloads = s
            .workloads
            .iter()
            .map(|w| {
                let class = class_id(&w.class);
                let exclusive = config.classes[class.index()].exclusive;
                let child_class = class_id(w.child_class.as_deref().unwrap_or(&w.class));
                let child_exclusive = config.classes[child_class.index()].exclusive;
                let mut mean_gap_ns = gap_ns(w.rate_per_s, 1e9);
                if mean_gap_ns > 0 {
                    mean_gap_ns =
                        (u128::from(mean_gap_ns) * 1000 / u128::from(rate_scale)).max(1) as u64;
                }
                WorkloadPlan {
                    class,
                    mean_gap_ns,
                    burst: w.burst_every_ms.map(|ms| (ms * MS, w.burst_size)),
                    target: w.target.unwrap_or(if exclusive {
                        TargetKind::Session
                    } else {
                        TargetKind::None
                    }),
                    group: w
                        .group
                        .as_ref()
                        .and_then(|g| s.groups.iter().position(|x| &x.name == g)),
                    priority: w.priority.map(|p| (p.lo as u8, p.hi as u8)),
                    behaviour: BehaviourPlan {
                        duration: w.duration_ms.ms_to_ns(),
                        fail: w.fail,
                        retryable: w.retryable,
                        progress_every_ns: w.progress_every_ms * MS,
                        stall: w.stall,
                        stubborn: w.stubborn,
                        stubborn_delay: w.stubborn_delay_ms.ms_to_ns(),
                        ignore_cancel: w.ignore_cancel,
                        zombie: w.zombie,
                        zombie_stop: w.zombie_stop_ms.map(Range::ms_to_ns),
                        children: w.children,
                        children_count: (w.children_count.lo, w.children_count.hi),
                        child_class,
                        child_target: w.child_target.unwrap_or(if child_exclusive {
                            TargetKind::ParentSession
                        } else {
                            TargetKind::None
                        }),
                        child_duration: w.child_duration_ms.ms_to_ns(),
                    },
                    cancel: (w.cancel, w.cancel_after_ms.ms_to_ns()),
                }
            })
            .collect();
        let f = &s.faults;
        // Swarm: each fault is independently switched off for some seeds, or scaled.
        let mut fault_scale = |name: &str, rng: &mut SimRng| -> f64 {
            if !swarm {
                return 1.0;
            }
            if rng.chance(0.25) {
                knobs.push(format!("{name}=off"));
                0.0
            } else {
                let k = rng.range(500, 2000);
                knobs.push(format!("{name}×{k}‰"));
                k as f64 / 1000.0
            }
        };
        let mut faults = FaultPlan {
            reconnect_after: f.reconnect_after_ms.ms_to_ns(),
            late_report_delay: f.late_report_ms.ms_to_ns(),
            clock_jump: f.clock_jump_ms.ms_to_ns(),
            crash_downtime: f.crash_downtime_ms.ms_to_ns(),
            ..FaultPlan::default()
        };
        if f.crash_per_min > 0.0 {
            let k = fault_scale("crashes", rng);
            faults.crash_gap_ns = gap_ns(f.crash_per_min * k, 60e9);
        }
        if f.disconnect_per_min > 0.0 {
            let k = fault_scale("disconnects", rng);
            faults.disconnect_gap_ns = gap_ns(f.disconnect_per_min * k, 60e9);
        }
        if f.late_report > 0.0 {
            faults.late_report = (f.late_report * fault_scale("late_reports", rng)).min(1.0);
        }
        if f.duplicate_report > 0.0 {
            faults.duplicate_report =
                (f.duplicate_report * fault_scale("duplicates", rng)).min(1.0);
        }
        if f.unknown_report_per_s > 0.0 {
            let k = fault_scale("unknown_reports", rng);
            faults.unknown_report_gap_ns = gap_ns(f.unknown_report_per_s * k, 1e9);
        }
        if f.bad_input_per_s > 0.0 {
            let k = fault_scale("bad_inputs", rng);
            faults.bad_input_gap_ns = gap_ns(f.bad_input_per_s * k, 1e9);
        }
        if f.clock_jump_per_min > 0.0 {
            let k = fault_scale("clock_jumps", rng);
            faults.clock_jump_gap_ns = gap_ns(f.clock_jump_per_min * k, 60e9);
        }
        if let Some(st) = &f.storm {
            let at = st.at_ms.ms_to_ns().draw(rng);
            faults.storm = Some((at, st.sessions.min(sessions), st.rounds, st.gap_ms * MS));
        }
        if let Some(r) = f.shutdown_at_ms {
            let at = r.ms_to_ns().draw(rng);
            knobs.push(format!("shutdown_at={}ms", at / MS));
            faults.shutdown = Some((at, f.shutdown_grace_ms * MS));
        }
        let late_on = match s.driver.late {
            LateMode::On => true,
            LateMode::Off => false,
            LateMode::Swarm => rng.chance(LATE_SWARM_SHARE),
        };
        let late = late_on.then(|| LatePlan {
            max_ns: s.driver.late_max_ms * MS,
            sleep_through: s.driver.late_sleep_through,
        });
        if late_on {
            knobs.push(format!("late_driver≤{}ms", s.driver.late_max_ms));
        }
        let driver = DriverPlan {
            start_latency: s.driver.start_latency_ms.ms_to_ns(),
            report_latency: s.driver.report_latency_ms.ms_to_ns(),
            signal_latency: s.driver.signal_latency_ms.ms_to_ns(),
            cancel_stop: s.driver.cancel_stop_ms.ms_to_ns(),
            late,
        };
        let mut plan = Plan {
            scenario: s.name.clone(),
            seed,
            config,
            duration_ns: s.duration_ms * MS,
            session_names,
            connect_spread_ns: s.sessions.connect_spread_ms * MS,
            groups,
            workloads,
            faults,
            driver,
            sometimes: s
                .sometimes
                .iter()
                .filter_map(|n| Sometimes::from_name(n))
                .collect(),
            liveness_bound_ns: 0,
            knobs,
        };
        plan.liveness_bound_ns = match s.liveness_bound_ms {
            Some(ms) => ms * MS,
            None => plan.computed_liveness_bound(),
        };
        plan
    }

    /// The liveness bound from the deadlines: per class, every attempt may wait its queue
    /// timeout, run until its run timeout (or its longest duration), be cancelled, wait out its
    /// grace, be reported late and back off; a parent may spawn children at its very end, so
    /// the longest class chain counts twice; closing sessions add their grace.
    pub fn computed_liveness_bound(&self) -> u64 {
        let latency = self
            .faults
            .late_report_delay
            .hi
            .max(self.driver.report_latency.hi)
            + self.driver.start_latency.hi
            + self.driver.signal_latency.hi
            + self.driver.cancel_stop.hi
            // A late driver delays a start and a report, and wakes late for each of an
            // attempt's deadlines (queue, run, grace).
            + self.driver.late.map_or(0, |l| l.max_ns.saturating_mul(5));
        // A zombie that stops on its own does so this long after its abort.
        let zombie_stop = self
            .workloads
            .iter()
            .filter_map(|w| w.behaviour.zombie_stop.map(|z| z.hi))
            .max()
            .unwrap_or(0);
        let mut worst = 0u64;
        for (i, c) in self.config.classes.iter().enumerate() {
            let longest_duration = self
                .workloads
                .iter()
                .flat_map(|w| {
                    let own = (w.class.index() == i).then_some(w.behaviour.duration.hi);
                    let child = (w.behaviour.child_class.index() == i
                        && w.behaviour.children > 0.0)
                        .then_some(w.behaviour.child_duration.hi);
                    [own, child]
                })
                .flatten()
                .max()
                .unwrap_or(0);
            // A task runs until its run timeout or its longest duration, whichever is first.
            let run = c
                .run_timeout
                .map_or(longest_duration, |d| d.as_nanos().min(longest_duration));
            let queue = c
                .queue_timeout
                .or(c.total_timeout)
                .map_or(0, |d| d.as_nanos());
            let per_attempt = [
                queue,
                run,
                c.grace.as_nanos(),
                zombie_stop,
                latency,
                c.retry.cap.as_nanos(),
            ]
            .into_iter()
            .fold(0u64, u64::saturating_add);
            let mut bound = per_attempt.saturating_mul(u64::from(c.retry.max_attempts));
            if let Some(total) = c.total_timeout {
                let by_total = [total.as_nanos(), c.grace.as_nanos(), zombie_stop, latency]
                    .into_iter()
                    .fold(0u64, u64::saturating_add);
                bound = bound.min(by_total);
            }
            worst = worst.max(bound);
        }
        worst
            .saturating_mul(2)
            .saturating_add(self.config.disconnect_grace.as_nanos())
            .saturating_add(self.faults.reconnect_after.hi)
            .saturating_add(1_000 * MS)
            .min(MAX_LIVENESS_NS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_validates() {
        let all = Scenario::builtins().unwrap();
        assert_eq!(all.len(), BUILTIN.len());
        for (s, (name, _)) in all.iter().zip(BUILTIN) {
            assert_eq!(&s.name, name, "file name and `name` agree");
            assert!(!s.sometimes.is_empty(), "{name} requires some events");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let base = r#"
name = "x"
duration_ms = 1000
preset = "session_manager"
[[workload]]
class = "scraping"
rate_per_s = 1.0
"#;
        assert!(Scenario::from_toml(base, "x").is_ok());
        let bad_class = base.replace("\"scraping\"", "\"scrapping\"");
        let e = Scenario::from_toml(&bad_class, "x").unwrap_err();
        assert_eq!(e.field, "workload[0].class");
        assert!(e.message.contains("scrapping"), "{e}");
        let unknown = format!("{base}\nbogus = 1\n");
        let e = Scenario::from_toml(&unknown, "x").unwrap_err();
        assert!(e.message.contains("bogus"), "{e}");
        let bad_range = format!("{base}duration_ms_x = 1\n").replace("duration_ms_x = 1", "");
        assert!(Scenario::from_toml(&bad_range, "x").is_ok());
        let inverted = base.replace("rate_per_s = 1.0", "rate_per_s = 1.0\nduration_ms = [9, 1]");
        let e = Scenario::from_toml(&inverted, "x").unwrap_err();
        assert_eq!(e.field, "workload[0].duration_ms");
        let prob = base.replace("rate_per_s = 1.0", "rate_per_s = 1.0\nfail = 1.5");
        assert_eq!(
            Scenario::from_toml(&prob, "x").unwrap_err().field,
            "workload[0].fail"
        );
        let preset = base.replace("session_manager", "nope");
        assert_eq!(
            Scenario::from_toml(&preset, "x").unwrap_err().field,
            "preset"
        );
        let sometimes = format!("sometimes = [\"never\"]\n{base}");
        assert_eq!(
            Scenario::from_toml(&sometimes, "x").unwrap_err().field,
            "sometimes[0]"
        );
    }

    #[test]
    fn the_late_driver_knob_is_validated_and_drawn() {
        let base = r#"
name = "x"
duration_ms = 1000
preset = "session_manager"
[[workload]]
class = "scraping"
rate_per_s = 1.0
[driver]
"#;
        let with = |extra: &str| Scenario::from_toml(&format!("{base}{extra}\n"), "x");
        let e = with("late = \"sometimes\"").unwrap_err();
        assert!(e.message.contains("sometimes"), "{e}");
        let e = with("late_sleep_through = 1.5").unwrap_err();
        assert_eq!(e.field, "driver.late_sleep_through");
        let e = with("late_max_ms = 2_000_000_000").unwrap_err();
        assert_eq!(e.field, "driver.late_max_ms");
        let e = with("late_lateness = 3").unwrap_err();
        assert!(e.message.contains("late_lateness"), "{e}");
        let share = |s: &Scenario| {
            (0..300)
                .filter(|seed| {
                    let mut rng = SimRng::new(*seed);
                    s.plan(*seed, &mut rng).driver.late.is_some()
                })
                .count()
        };
        assert_eq!(share(&with("late = \"on\"").unwrap()), 300);
        assert_eq!(share(&with("late = \"off\"").unwrap()), 0);
        let swarm = share(&with("").unwrap());
        assert!((70..130).contains(&swarm), "{swarm} of 300 seeds");
        let on = with("late = \"on\"\nlate_max_ms = 7").unwrap();
        let mut rng = SimRng::new(1);
        let late = on.plan(1, &mut rng).driver.late.unwrap();
        assert_eq!(late.max_ns, 7 * MS);
    }

    /// Found with edge-value inputs to the `scenario_decode` fuzz target (`fuzz/regressions/scenario_decode/`): huge spans, counts and rates
    /// overflowed the plan's and the harness's arithmetic, or allocated without bound.
    #[test]
    fn out_of_range_values_are_refused_by_field() {
        let base = r#"
name = "x"
duration_ms = 1000
preset = "session_manager"
[[workload]]
class = "scraping"
rate_per_s = 1.0
"#;
        let field = |text: String| Scenario::from_toml(&text, "x").unwrap_err().field;
        let cases = [
            (
                "duration_ms = 1000",
                "duration_ms = 18446744073709551615",
                "duration_ms",
            ),
            (
                "rate_per_s = 1.0",
                "rate_per_s = 1e-300",
                "workload[0].rate_per_s",
            ),
            (
                "rate_per_s = 1.0",
                "rate_per_s = 1e300",
                "workload[0].rate_per_s",
            ),
            (
                "rate_per_s = 1.0",
                "rate_per_s = 1.0\nduration_ms = [1, 18446744073709551615]",
                "workload[0].duration_ms",
            ),
            (
                "rate_per_s = 1.0",
                "rate_per_s = 1.0\nburst_every_ms = 5\nburst_size = 4000000000",
                "workload[0].burst_size",
            ),
            (
                "preset = \"session_manager\"",
                "preset = \"session_manager\"\n[sessions]\ncount = 4000000000",
                "sessions.count",
            ),
            (
                "preset = \"session_manager\"",
                "preset = \"session_manager\"\n[kernel]\ncleanup_interval_ms = 18446744073709551615",
                "kernel.cleanup_interval_ms",
            ),
        ];
        for (from, to, want) in cases {
            assert_eq!(field(base.replace(from, to)), want, "{to}");
        }
        let e = Scenario::from_toml(&base.replace("1000", "1000000001"), "x").unwrap_err();
        assert!(e.to_string().contains("longer than a run may span"), "{e}");
    }

    /// Found with an edge-value input to the `scenario_decode` fuzz target: swarm testing nudged a class limit of `u32::MAX` up by one, which
    /// wrapped to 0 and made the drawn kernel configuration invalid.
    #[test]
    fn swarm_limits_stay_valid_at_the_edges() {
        let text = r#"
name = "x"
duration_ms = 1000
[[class]]
name = "c"
exclusive = false
queue_timeout_ms = 10
limit = 4294967295
[[workload]]
class = "c"
rate_per_s = 1.0
"#;
        let s = Scenario::from_toml(text, "x").unwrap();
        for seed in 0..32 {
            let plan = s.plan(seed, &mut SimRng::new(seed));
            assert!(
                plan.config.validate().is_ok(),
                "seed {seed}: {:?}",
                plan.knobs
            );
        }
    }

    #[test]
    fn plans_are_reproducible() {
        let s = Scenario::builtin("steady-mix").unwrap().unwrap();
        let a = s.plan(3, &mut SimRng::new(3));
        let b = s.plan(3, &mut SimRng::new(3));
        assert_eq!(a.knobs, b.knobs);
        assert_eq!(a.session_names, b.session_names);
        assert!(a.liveness_bound_ns > 0);
    }
}
