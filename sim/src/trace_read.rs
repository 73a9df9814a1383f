//! Reading traces back: the JSON Lines format of DESIGN.md ("Trace format") as typed events.
//!
//! [`read`] checks a whole file (the first line is the only `config` line); [`read_line`] reads
//! one line. Every error names the 1-based line and the problem (`line 3: submit: field "task":
//! expected a non-negative integer, found "x"`), and no input makes the reader panic.
//!
//! The reader is strict, so that a writer change that breaks the contract fails its round trip
//! test: every field of an event must be present (`null` where the format allows it), unknown
//! fields and event kinds are refused, integers must fit their type (priorities in `u8`,
//! attempts and bounds in `u32`), and sessions must look like `name#id`. An event read from a
//! line can be written back with [`TraceEvent::to_line`], through the simulator's own writer.

use crate::property::Property;
use crate::trace::{LIMIT_FIELDS, Trace, limits_from};
use baton_kernel::{
    CancelReason, ClassConfig, Config, Duration, Limits, RejectReason, RetryPolicy, TaskId,
};
use serde_json::{Map, Value};
use std::fmt;

/// A malformed trace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TraceError {}

/// A session as traces name it: `name#id`, where `id` is the kernel's session id (a new
/// connection of the same name has a new id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionLabel {
    /// The session name (non-empty; may itself contain `#`).
    pub name: String,
    /// The kernel's session id.
    pub id: u64,
}

impl SessionLabel {
    /// Parses `name#id` (split at the last `#`; the id is decimal digits).
    pub fn parse(text: &str) -> Result<SessionLabel, String> {
        let Some((name, id)) = text.rsplit_once('#') else {
            return Err(format!("session {text:?} is not name#id"));
        };
        if name.is_empty() {
            return Err(format!("session {text:?} has an empty name"));
        }
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "session {text:?}: id {id:?} is not a decimal integer"
            ));
        }
        let id = id
            .parse::<u64>()
            .map_err(|_| format!("session {text:?}: id {id:?} does not fit in 64 bits"))?;
        Ok(SessionLabel {
            name: name.to_owned(),
            id,
        })
    }
}

impl fmt::Display for SessionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.name, self.id)
    }
}

/// One class of the `config` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceClass {
    /// Class name.
    pub name: String,
    /// Default priority.
    pub priority: u8,
    /// Whether tasks of the class hold their session.
    pub exclusive: bool,
    /// Concurrency limit (`None`: unlimited).
    pub limit: Option<u32>,
    /// Queue timeout in nanoseconds.
    pub queue_timeout_ns: Option<u64>,
    /// Run timeout in nanoseconds.
    pub run_timeout_ns: Option<u64>,
    /// Heartbeat timeout in nanoseconds.
    pub heartbeat_timeout_ns: Option<u64>,
    /// Total timeout in nanoseconds.
    pub total_timeout_ns: Option<u64>,
    /// Grace between cancel and abort, in nanoseconds.
    pub grace_ns: u64,
    /// How long terminal records are kept, in nanoseconds.
    pub retention_ns: u64,
    /// The retry policy (`None`: written `null`, no retries, [`RetryPolicy::NONE`]).
    pub retry: Option<RetryPolicy>,
}

/// The first line of a trace: every field of the kernel's configuration that decides
/// behaviour, so [`TraceConfig::to_config`] rebuilds the configuration exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// Seed of the kernel's jitter generator.
    pub seed: u64,
    /// Every class, by class id.
    pub classes: Vec<TraceClass>,
    /// The retention cleanup interval, nanoseconds.
    pub cleanup_interval_ns: u64,
    /// How long disconnect waits before removing a session's tasks, nanoseconds.
    pub disconnect_grace_ns: u64,
    /// Whether exclusivity survives reconnects.
    pub fence_reconnect: bool,
    /// Every bound.
    pub limits: Limits,
}

/// How a task ended, as a `finish` line says it (the cancel reason of a cancelled or timed-out
/// task is on its earlier `cancel` line, if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceOutcome {
    /// `completed`.
    Completed,
    /// `failed`.
    Failed,
    /// `cancelled`.
    Cancelled,
    /// `timed_out`.
    TimedOut,
    /// `rejected`, with its `reason`.
    Rejected(RejectReason),
    /// `abandoned`.
    Abandoned,
}

impl TraceOutcome {
    /// The name written in the `outcome` field.
    pub const fn name(self) -> &'static str {
        match self {
            TraceOutcome::Completed => "completed",
            TraceOutcome::Failed => "failed",
            TraceOutcome::Cancelled => "cancelled",
            TraceOutcome::TimedOut => "timed_out",
            TraceOutcome::Rejected(_) => "rejected",
            TraceOutcome::Abandoned => "abandoned",
        }
    }
}

/// One line of a trace. Times `t` are virtual nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// `config`: the classes, the cleanup interval and the queue bounds.
    Config(TraceConfig),
    /// `connect {session}`.
    Connect {
        /// Instant.
        t: u64,
        /// The new session.
        session: SessionLabel,
    },
    /// `disconnect {session}`.
    Disconnect {
        /// Instant.
        t: u64,
        /// The session.
        session: SessionLabel,
    },
    /// `shutdown {grace_ns}`.
    Shutdown {
        /// Instant.
        t: u64,
        /// How long running tasks get before cleanup abandons them, nanoseconds.
        grace_ns: u64,
    },
    /// `progress {task}`.
    Progress {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
    },
    /// `submit {task, class, priority, session|null, group|null, parent|null}`.
    Submit {
        /// Instant.
        t: u64,
        /// The new task.
        task: TaskId,
        /// Class name.
        class: String,
        /// Effective priority.
        priority: u8,
        /// Target session.
        session: Option<SessionLabel>,
        /// Target group (by name).
        group: Option<String>,
        /// Parent task.
        parent: Option<TaskId>,
    },
    /// `start {task, session|null, attempt}`.
    Start {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
        /// Where it runs.
        session: Option<SessionLabel>,
        /// Attempt number (1 for the first run).
        attempt: u32,
    },
    /// `run_begin {task}`: the simulated world began executing the task.
    RunBegin {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
    },
    /// `run_end {task}`: the simulated execution really stopped.
    RunEnd {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
    },
    /// `cancel {task, reason}`.
    Cancel {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
        /// Why.
        reason: CancelReason,
    },
    /// `abort {task}`.
    Abort {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
    },
    /// `finish {task, outcome}` (and `reason` for rejected).
    Finish {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
        /// How it ended.
        outcome: TraceOutcome,
    },
    /// `restart {}`: a new process took the recovered state over ([`Input::Restart`](baton_kernel::Input::Restart)).
    Restart {
        /// Instant.
        t: u64,
    },
    /// `retry {task, at}`.
    Retry {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
        /// When its backoff ends, virtual nanoseconds.
        at: u64,
    },
    /// `gc {task}`: the record left the registry.
    Gc {
        /// Instant.
        t: u64,
        /// The task.
        task: TaskId,
    },
    /// `submit_refused {class, session|null, group|null, reason}`.
    SubmitRefused {
        /// Instant.
        t: u64,
        /// Class name.
        class: String,
        /// Target session.
        session: Option<SessionLabel>,
        /// Target group (by name).
        group: Option<String>,
        /// Why.
        reason: RejectReason,
    },
    /// `violation {property, detail}`.
    Violation {
        /// Instant.
        t: u64,
        /// The broken property.
        property: Property,
        /// What the oracle saw.
        detail: String,
    },
}

/// Every event kind, as written in `ev` (`config` first; the others carry a time `t`).
pub const EVENT_KINDS: [&str; 17] = [
    "config",
    "connect",
    "disconnect",
    "shutdown",
    "restart",
    "progress",
    "submit",
    "start",
    "run_begin",
    "run_end",
    "cancel",
    "abort",
    "finish",
    "retry",
    "gc",
    "submit_refused",
    "violation",
];

const CANCEL_REASONS: [CancelReason; 6] = [
    CancelReason::User,
    CancelReason::Timeout,
    CancelReason::Stalled,
    CancelReason::Disconnect,
    CancelReason::Shutdown,
    CancelReason::Parent,
];

const REJECT_REASONS: [RejectReason; 6] = [
    RejectReason::QueueFull,
    RejectReason::Capacity,
    RejectReason::QueueTimeout,
    RejectReason::SessionClosed,
    RejectReason::Shutdown,
    RejectReason::UnknownTarget,
];

const OUTCOMES: [&str; 6] = [
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "rejected",
    "abandoned",
];

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|x| name(*x)).collect::<Vec<_>>().join(" ")
}

/// A short, printable excerpt of a JSON value for error messages.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The fields of one JSON object, taken one by one; whatever is left is unknown.
struct Fields<'a> {
    what: &'a str,
    map: Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, key: &str, problem: impl fmt::Display) -> String {
        format!("{}: field {key:?}: {problem}", self.what)
    }

    fn take(&mut self, key: &str) -> Result<Value, String> {
        self.map
            .remove(key)
            .ok_or_else(|| format!("{}: missing field {key:?}", self.what))
    }

    fn opt(&mut self, key: &str) -> Result<Option<Value>, String> {
        match self.take(key)? {
            Value::Null => Ok(None),
            v => Ok(Some(v)),
        }
    }

    fn int(&self, key: &str, v: &Value) -> Result<u64, String> {
        v.as_u64().ok_or_else(|| {
            self.err(
                key,
                format!("expected a non-negative integer, found {}", shown(v)),
            )
        })
    }

    fn u64(&mut self, key: &str) -> Result<u64, String> {
        let v = self.take(key)?;
        self.int(key, &v)
    }

    fn opt_u64(&mut self, key: &str) -> Result<Option<u64>, String> {
        match self.opt(key)? {
            Some(v) => self.int(key, &v).map(Some),
            None => Ok(None),
        }
    }

    fn narrow<T: TryFrom<u64>>(&self, key: &str, v: u64) -> Result<T, String> {
        T::try_from(v).map_err(|_| {
            self.err(
                key,
                format!(
                    "{v} is out of range (at most {})",
                    match std::mem::size_of::<T>() {
                        1 => u64::from(u8::MAX),
                        2 => u64::from(u16::MAX),
                        _ => u64::from(u32::MAX),
                    }
                ),
            )
        })
    }

    fn u8(&mut self, key: &str) -> Result<u8, String> {
        let v = self.u64(key)?;
        self.narrow(key, v)
    }

    fn u32(&mut self, key: &str) -> Result<u32, String> {
        let v = self.u64(key)?;
        self.narrow(key, v)
    }

    fn opt_u32(&mut self, key: &str) -> Result<Option<u32>, String> {
        match self.opt_u64(key)? {
            Some(v) => self.narrow(key, v).map(Some),
            None => Ok(None),
        }
    }

    fn task(&mut self, key: &str) -> Result<TaskId, String> {
        self.u64(key).map(TaskId)
    }

    fn text(&self, key: &str, v: Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s),
            other => Err(self.err(key, format!("expected a string, found {}", shown(&other)))),
        }
    }

    fn string(&mut self, key: &str) -> Result<String, String> {
        let v = self.take(key)?;
        self.text(key, v)
    }

    fn opt_string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.opt(key)? {
            Some(v) => self.text(key, v).map(Some),
            None => Ok(None),
        }
    }

    fn bool(&mut self, key: &str) -> Result<bool, String> {
        match self.take(key)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.err(
                key,
                format!("expected true or false, found {}", shown(&other)),
            )),
        }
    }

    fn session(&mut self, key: &str) -> Result<SessionLabel, String> {
        let s = self.string(key)?;
        SessionLabel::parse(&s).map_err(|e| self.err(key, e))
    }

    fn opt_session(&mut self, key: &str) -> Result<Option<SessionLabel>, String> {
        match self.opt_string(key)? {
            Some(s) => SessionLabel::parse(&s)
                .map(Some)
                .map_err(|e| self.err(key, e)),
            None => Ok(None),
        }
    }

    fn named<T: Copy>(
        &mut self,
        key: &str,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Result<T, String> {
        let s = self.string(key)?;
        all.iter().copied().find(|x| name(*x) == s).ok_or_else(|| {
            self.err(
                key,
                format!("unknown value {s:?} (one of: {})", names(all, name)),
            )
        })
    }

    /// Refuses whatever fields were not taken.
    fn done(self) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!("{}: unknown field {k:?}", self.what)),
        }
    }
}

fn object(what: &str, v: Value) -> Result<Map<String, Value>, String> {
    match v {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "{what}: expected a JSON object, found {}",
            shown(&other)
        )),
    }
}

fn read_class(i: usize, v: Value) -> Result<TraceClass, String> {
    let what = format!("config: classes[{i}]");
    let mut f = Fields {
        map: object(&what, v)?,
        what: &what,
    };
    let class = TraceClass {
        name: f.string("name")?,
        priority: f.u8("priority")?,
        exclusive: f.bool("exclusive")?,
        limit: f.opt_u32("limit")?,
        queue_timeout_ns: f.opt_u64("queue_timeout_ns")?,
        run_timeout_ns: f.opt_u64("run_timeout_ns")?,
        heartbeat_timeout_ns: f.opt_u64("heartbeat_timeout_ns")?,
        total_timeout_ns: f.opt_u64("total_timeout_ns")?,
        grace_ns: f.u64("grace_ns")?,
        retention_ns: f.u64("retention_ns")?,
        // A policy equal to "no retries" is the one written `null`.
        retry: match f.opt("retry")? {
            None => None,
            Some(v) => Some(read_retry(&what, v)?).filter(|r| *r != RetryPolicy::NONE),
        },
    };
    f.done()?;
    Ok(class)
}

fn read_retry(class: &str, v: Value) -> Result<RetryPolicy, String> {
    let what = format!("{class}: retry");
    let mut f = Fields {
        map: object(&what, v)?,
        what: &what,
    };
    let retry = RetryPolicy {
        max_attempts: f.u32("max_attempts")?,
        base: Duration::from_nanos(f.u64("base_ns")?),
        cap: Duration::from_nanos(f.u64("cap_ns")?),
        jitter_permille: {
            let v = f.u64("jitter_permille")?;
            f.narrow("jitter_permille", v)?
        },
    };
    f.done()?;
    Ok(retry)
}

fn read_limits(v: Value) -> Result<Limits, String> {
    let what = "config: limits";
    let mut f = Fields {
        map: object(what, v)?,
        what,
    };
    let mut values = [0u32; 11];
    for (slot, key) in values.iter_mut().zip(LIMIT_FIELDS) {
        *slot = f.u32(key)?;
    }
    f.done()?;
    Ok(limits_from(values))
}

fn read_config(mut f: Fields<'_>) -> Result<TraceEvent, String> {
    let classes = match f.take("classes")? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| read_class(i, v))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(f.err(
                "classes",
                format!("expected an array, found {}", shown(&other)),
            ));
        }
    };
    let config = TraceConfig {
        seed: f.u64("seed")?,
        classes,
        cleanup_interval_ns: f.u64("cleanup_interval_ns")?,
        disconnect_grace_ns: f.u64("disconnect_grace_ns")?,
        fence_reconnect: f.bool("fence_reconnect")?,
        limits: read_limits(f.take("limits")?)?,
    };
    f.done()?;
    Ok(TraceEvent::Config(config))
}

fn read_event(ev: &str, t: u64, f: &mut Fields<'_>) -> Result<TraceEvent, String> {
    Ok(match ev {
        "connect" => TraceEvent::Connect {
            t,
            session: f.session("session")?,
        },
        "disconnect" => TraceEvent::Disconnect {
            t,
            session: f.session("session")?,
        },
        "shutdown" => TraceEvent::Shutdown {
            t,
            grace_ns: f.u64("grace_ns")?,
        },
        "restart" => TraceEvent::Restart { t },
        "progress" => TraceEvent::Progress {
            t,
            task: f.task("task")?,
        },
        "submit" => TraceEvent::Submit {
            t,
            task: f.task("task")?,
            class: f.string("class")?,
            priority: f.u8("priority")?,
            session: f.opt_session("session")?,
            group: f.opt_string("group")?,
            parent: f.opt_u64("parent")?.map(TaskId),
        },
        "start" => TraceEvent::Start {
            t,
            task: f.task("task")?,
            session: f.opt_session("session")?,
            attempt: f.u32("attempt")?,
        },
        "run_begin" => TraceEvent::RunBegin {
            t,
            task: f.task("task")?,
        },
        "run_end" => TraceEvent::RunEnd {
            t,
            task: f.task("task")?,
        },
        "cancel" => TraceEvent::Cancel {
            t,
            task: f.task("task")?,
            reason: f.named("reason", &CANCEL_REASONS, CancelReason::name)?,
        },
        "abort" => TraceEvent::Abort {
            t,
            task: f.task("task")?,
        },
        "finish" => {
            let task = f.task("task")?;
            let outcome = f.string("outcome")?;
            let outcome = match outcome.as_str() {
                "completed" => TraceOutcome::Completed,
                "failed" => TraceOutcome::Failed,
                "cancelled" => TraceOutcome::Cancelled,
                "timed_out" => TraceOutcome::TimedOut,
                "abandoned" => TraceOutcome::Abandoned,
                "rejected" => TraceOutcome::Rejected(f.named(
                    "reason",
                    &REJECT_REASONS,
                    RejectReason::name,
                )?),
                other => {
                    return Err(f.err(
                        "outcome",
                        format!("unknown value {other:?} (one of: {})", OUTCOMES.join(" ")),
                    ));
                }
            };
            TraceEvent::Finish { t, task, outcome }
        }
        "retry" => TraceEvent::Retry {
            t,
            task: f.task("task")?,
            at: f.u64("at")?,
        },
        "gc" => TraceEvent::Gc {
            t,
            task: f.task("task")?,
        },
        "submit_refused" => TraceEvent::SubmitRefused {
            t,
            class: f.string("class")?,
            session: f.opt_session("session")?,
            group: f.opt_string("group")?,
            reason: f.named("reason", &REJECT_REASONS, RejectReason::name)?,
        },
        "violation" => TraceEvent::Violation {
            t,
            property: f.named("property", &Property::ALL, Property::name)?,
            detail: f.string("detail")?,
        },
        other => {
            return Err(format!(
                "unknown event kind {other:?} (one of: {})",
                EVENT_KINDS.join(" ")
            ));
        }
    })
}

fn parse_line(text: &str) -> Result<TraceEvent, String> {
    if text.trim().is_empty() {
        return Err("empty line (every line is one JSON object)".to_owned());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut map = object("event", value)?;
    let ev = match map.remove("ev") {
        Some(Value::String(ev)) => ev,
        Some(other) => {
            return Err(format!(
                "field \"ev\": expected a string, found {}",
                shown(&other)
            ));
        }
        None => return Err("missing field \"ev\" (the event kind)".to_owned()),
    };
    if ev == "config" {
        if map.contains_key("t") {
            return Err("config: unknown field \"t\" (the config line has no time)".to_owned());
        }
        return read_config(Fields {
            what: "config",
            map,
        });
    }
    if !EVENT_KINDS[1..].contains(&ev.as_str()) {
        return Err(format!(
            "unknown event kind {ev:?} (one of: {})",
            EVENT_KINDS.join(" ")
        ));
    }
    let mut f = Fields { what: &ev, map };
    let t = f.u64("t")?;
    let event = read_event(&ev, t, &mut f)?;
    f.done()?;
    Ok(event)
}

/// Reads one line (without its newline); `line_no` (1-based) is only used in the error.
pub fn read_line(line_no: usize, line: &str) -> Result<TraceEvent, TraceError> {
    parse_line(line).map_err(|message| TraceError {
        line: line_no,
        message,
    })
}

/// Reads a whole trace: the first line must be the `config` line, and no other line may be.
pub fn read(text: &str) -> Result<Vec<TraceEvent>, TraceError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let event = read_line(i + 1, line)?;
        let is_config = matches!(event, TraceEvent::Config(_));
        if i == 0 && !is_config {
            return Err(TraceError {
                line: 1,
                message: format!(
                    "the first line must be the config line, found a {} event",
                    event.kind()
                ),
            });
        }
        if i > 0 && is_config {
            return Err(TraceError {
                line: i + 1,
                message: "a second config line (only the first line is one)".to_owned(),
            });
        }
        events.push(event);
    }
    if events.is_empty() {
        return Err(TraceError {
            line: 1,
            message: "empty trace: expected the config line".to_owned(),
        });
    }
    Ok(events)
}

fn nanos(ns: Option<u64>) -> Option<Duration> {
    ns.map(Duration::from_nanos)
}

impl TraceConfig {
    /// The kernel configuration this line describes, exactly.
    pub fn to_config(&self) -> Config {
        let classes = self
            .classes
            .iter()
            .map(|c| {
                let mut k = if c.exclusive {
                    ClassConfig::exclusive(&c.name, c.priority)
                } else {
                    ClassConfig::background(&c.name, c.priority)
                };
                k.limit = c.limit;
                k.queue_timeout = nanos(c.queue_timeout_ns);
                k.run_timeout = nanos(c.run_timeout_ns);
                k.heartbeat_timeout = nanos(c.heartbeat_timeout_ns);
                k.total_timeout = nanos(c.total_timeout_ns);
                k.grace = Duration::from_nanos(c.grace_ns);
                k.retention = Duration::from_nanos(c.retention_ns);
                k.retry = c.retry.clone().unwrap_or(RetryPolicy::NONE);
                k
            })
            .collect();
        let mut config = Config::new(classes);
        config.seed = self.seed;
        config.cleanup_interval = Duration::from_nanos(self.cleanup_interval_ns);
        config.disconnect_grace = Duration::from_nanos(self.disconnect_grace_ns);
        config.fence_reconnect = self.fence_reconnect;
        config.limits = self.limits.clone();
        config
    }
}

impl TraceEvent {
    /// The event kind, as written in `ev`.
    pub fn kind(&self) -> &'static str {
        match self {
            TraceEvent::Config(_) => "config",
            TraceEvent::Connect { .. } => "connect",
            TraceEvent::Disconnect { .. } => "disconnect",
            TraceEvent::Shutdown { .. } => "shutdown",
            TraceEvent::Restart { .. } => "restart",
            TraceEvent::Progress { .. } => "progress",
            TraceEvent::Submit { .. } => "submit",
            TraceEvent::Start { .. } => "start",
            TraceEvent::RunBegin { .. } => "run_begin",
            TraceEvent::RunEnd { .. } => "run_end",
            TraceEvent::Cancel { .. } => "cancel",
            TraceEvent::Abort { .. } => "abort",
            TraceEvent::Finish { .. } => "finish",
            TraceEvent::Retry { .. } => "retry",
            TraceEvent::Gc { .. } => "gc",
            TraceEvent::SubmitRefused { .. } => "submit_refused",
            TraceEvent::Violation { .. } => "violation",
        }
    }

    /// The instant of the event (`None` for the config line).
    pub fn t(&self) -> Option<u64> {
        match self {
            TraceEvent::Config(_) => None,
            TraceEvent::Connect { t, .. }
            | TraceEvent::Disconnect { t, .. }
            | TraceEvent::Shutdown { t, .. }
            | TraceEvent::Restart { t }
            | TraceEvent::Progress { t, .. }
            | TraceEvent::Submit { t, .. }
            | TraceEvent::Start { t, .. }
            | TraceEvent::RunBegin { t, .. }
            | TraceEvent::RunEnd { t, .. }
            | TraceEvent::Cancel { t, .. }
            | TraceEvent::Abort { t, .. }
            | TraceEvent::Finish { t, .. }
            | TraceEvent::Retry { t, .. }
            | TraceEvent::Gc { t, .. }
            | TraceEvent::SubmitRefused { t, .. }
            | TraceEvent::Violation { t, .. } => Some(*t),
        }
    }

    /// Writes the event to `trace`, exactly as the simulator writes it.
    pub fn write(&self, trace: &mut Trace) {
        let label = |s: &Option<SessionLabel>| s.as_ref().map(SessionLabel::to_string);
        match self {
            TraceEvent::Config(c) => trace.config(&c.to_config()),
            TraceEvent::Connect { t, session } | TraceEvent::Disconnect { t, session } => trace
                .begin(*t, self.kind())
                .str("session", &session.to_string())
                .end(),
            TraceEvent::Shutdown { t, grace_ns } => {
                trace.begin(*t, "shutdown").num("grace_ns", *grace_ns).end()
            }
            TraceEvent::Restart { t } => trace.begin(*t, "restart").end(),
            TraceEvent::Progress { t, task }
            | TraceEvent::RunBegin { t, task }
            | TraceEvent::RunEnd { t, task }
            | TraceEvent::Abort { t, task }
            | TraceEvent::Gc { t, task } => trace.begin(*t, self.kind()).num("task", task.0).end(),
            TraceEvent::Submit {
                t,
                task,
                class,
                priority,
                session,
                group,
                parent,
            } => trace
                .begin(*t, "submit")
                .num("task", task.0)
                .str("class", class)
                .num("priority", u64::from(*priority))
                .opt_str("session", label(session).as_deref())
                .opt_str("group", group.as_deref())
                .opt_num("parent", parent.map(|p| p.0))
                .end(),
            TraceEvent::Start {
                t,
                task,
                session,
                attempt,
            } => trace
                .begin(*t, "start")
                .num("task", task.0)
                .opt_str("session", label(session).as_deref())
                .num("attempt", u64::from(*attempt))
                .end(),
            TraceEvent::Cancel { t, task, reason } => trace
                .begin(*t, "cancel")
                .num("task", task.0)
                .str("reason", reason.name())
                .end(),
            TraceEvent::Finish { t, task, outcome } => {
                let line = trace.begin(*t, "finish");
                line.num("task", task.0).str("outcome", outcome.name());
                if let TraceOutcome::Rejected(r) = outcome {
                    line.str("reason", r.name());
                }
                line.end();
            }
            TraceEvent::Retry { t, task, at } => trace
                .begin(*t, "retry")
                .num("task", task.0)
                .num("at", *at)
                .end(),
            TraceEvent::SubmitRefused {
                t,
                class,
                session,
                group,
                reason,
            } => trace
                .begin(*t, "submit_refused")
                .str("class", class)
                .opt_str("session", label(session).as_deref())
                .opt_str("group", group.as_deref())
                .str("reason", reason.name())
                .end(),
            TraceEvent::Violation {
                t,
                property,
                detail,
            } => trace
                .begin(*t, "violation")
                .str("property", property.name())
                .str("detail", detail)
                .end(),
        }
    }

    /// The line the simulator writes for this event (without its newline).
    pub fn to_line(&self) -> String {
        let mut trace = Trace::new(None);
        self.write(&mut trace);
        trace.last_line().trim_end_matches('\n').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scenario, Sim, SimOptions};
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn trace_of(scenario: &str, seed: u64) -> String {
        let s = Scenario::builtin(scenario).unwrap().unwrap();
        let sink = Shared::default();
        // Without the oracle: the run goes to its end whatever the oracle would say, and the
        // trace is the same either way (the determinism check proves it).
        let options = SimOptions {
            oracle: None,
            trace: Some(Box::new(sink.clone())),
            ..SimOptions::default()
        };
        let report = Sim::new(&s, seed, options).unwrap().run();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn every_line_of_real_runs_round_trips() {
        let mut kinds = std::collections::BTreeSet::new();
        for (scenario, seed) in [
            ("chaos", 1),
            ("bad-reports", 2),
            ("shutdown-mid-flight", 3),
            ("retry-storm", 4),
            ("group-late-binding", 5),
            ("heartbeat-stalls", 6),
            ("burst-queue-bounds", 7),
            ("crash-recovery", 3),
        ] {
            let text = trace_of(scenario, seed);
            let events = read(&text).unwrap_or_else(|e| panic!("{scenario}: {e}"));
            assert_eq!(events.len(), text.lines().count());
            for (event, line) in events.iter().zip(text.lines()) {
                kinds.insert(event.kind());
                // Byte for byte: the reader loses nothing the writer wrote.
                assert_eq!(event.to_line(), line, "{scenario}");
            }
        }
        // The runs above cover every kind but violations (clean runs have none).
        for kind in EVENT_KINDS.iter().filter(|k| **k != "violation") {
            assert!(kinds.contains(kind), "no {kind} line in the sample runs");
        }
    }

    #[test]
    fn a_violation_line_round_trips() {
        let line =
            r#"{"t":5,"ev":"violation","property":"work_conservation","detail":"x \"y\"\n"}"#;
        let event = read_line(1, line).unwrap();
        assert_eq!(
            event,
            TraceEvent::Violation {
                t: 5,
                property: Property::WorkConservation,
                detail: "x \"y\"\n".to_owned()
            }
        );
        assert_eq!(event.to_line(), line);
    }

    #[test]
    fn typed_fields() {
        let e = read_line(
            4,
            r#"{"t":9,"ev":"submit","task":3,"class":"sending","priority":7,"session":"a#b#12","group":null,"parent":2}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            TraceEvent::Submit {
                t: 9,
                task: TaskId(3),
                class: "sending".to_owned(),
                priority: 7,
                session: Some(SessionLabel {
                    name: "a#b".to_owned(),
                    id: 12
                }),
                group: None,
                parent: Some(TaskId(2)),
            }
        );
        let e = read_line(
            2,
            r#"{"t":1,"ev":"finish","task":3,"outcome":"rejected","reason":"queue_timeout"}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            TraceEvent::Finish {
                t: 1,
                task: TaskId(3),
                outcome: TraceOutcome::Rejected(RejectReason::QueueTimeout)
            }
        );
        assert_eq!(e.t(), Some(1));
    }

    fn error(line_no: usize, line: &str) -> String {
        let e = read_line(line_no, line).unwrap_err();
        assert_eq!(e.line, line_no);
        let text = e.to_string();
        assert!(text.starts_with(&format!("line {line_no}: ")), "{text}");
        text
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("", "empty line"),
            ("{", "not JSON"),
            ("[1,2]", "expected a JSON object"),
            (r#"{"t":1}"#, "missing field \"ev\""),
            (r#"{"t":1,"ev":7}"#, "field \"ev\": expected a string"),
            (
                r#"{"t":1,"ev":"teleport"}"#,
                "unknown event kind \"teleport\"",
            ),
            (r#"{"ev":"gc","task":1}"#, "gc: missing field \"t\""),
            (
                r#"{"t":-1,"ev":"gc","task":1}"#,
                "gc: field \"t\": expected a non-negative integer, found -1",
            ),
            (r#"{"t":1.5,"ev":"gc","task":1}"#, "found 1.5"),
            (
                r#"{"t":1,"ev":"gc","task":"x"}"#,
                "gc: field \"task\": expected a non-negative integer, found \"x\"",
            ),
            (
                r#"{"t":1,"ev":"gc","task":1,"extra":0}"#,
                "gc: unknown field \"extra\"",
            ),
            (
                r#"{"t":1,"ev":"start","task":1,"session":null,"attempt":4294967296}"#,
                "start: field \"attempt\": 4294967296 is out of range",
            ),
            (r#"{"t":1,"ev":"connect","session":"alice"}"#, "not name#id"),
            (r##"{"t":1,"ev":"connect","session":"#3"}"##, "empty name"),
            (
                r#"{"t":1,"ev":"connect","session":"a#+3"}"#,
                "not a decimal integer",
            ),
            (
                r#"{"t":1,"ev":"connect","session":"a#99999999999999999999"}"#,
                "does not fit",
            ),
            (
                r#"{"t":1,"ev":"cancel","task":1,"reason":"boredom"}"#,
                "cancel: field \"reason\": unknown value \"boredom\" (one of: user timeout stalled disconnect shutdown parent)",
            ),
            (
                r#"{"t":1,"ev":"finish","task":1,"outcome":"rejected"}"#,
                "finish: missing field \"reason\"",
            ),
            (
                r#"{"t":1,"ev":"finish","task":1,"outcome":"won"}"#,
                "unknown value \"won\"",
            ),
            (
                r#"{"t":1,"ev":"finish","task":1,"outcome":"completed","reason":"shutdown"}"#,
                "unknown field \"reason\"",
            ),
            (
                r#"{"t":1,"ev":"violation","property":"beauty","detail":""}"#,
                "unknown value \"beauty\"",
            ),
            (
                r#"{"t":1,"ev":"submit","task":1,"class":"c","priority":256,"session":null,"group":null,"parent":null}"#,
                "\"priority\": 256 is out of range (at most 255)",
            ),
            (
                r#"{"ev":"config","classes":{},"cleanup_interval_ns":1,"queue_len_max":1,"background_queue_len_max":1}"#,
                "config: field \"classes\": expected an array",
            ),
            (
                r#"{"ev":"config","classes":[{"name":"a"}],"cleanup_interval_ns":1,"queue_len_max":1,"background_queue_len_max":1}"#,
                "config: classes[0]: missing field \"priority\"",
            ),
            (r#"{"ev":"config","t":0}"#, "config: unknown field \"t\""),
        ];
        for (i, (line, want)) in cases.iter().enumerate() {
            let text = error(i + 1, line);
            assert!(text.contains(want), "{line}: {text} lacks {want:?}");
        }
    }

    #[test]
    fn whole_files_start_with_one_config_line() {
        let text = trace_of("steady-mix", 1);
        let mut lines: Vec<&str> = text.lines().collect();
        assert!(read(&text).is_ok());
        let e = read("").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("empty trace"));
        let e = read(&lines[1..].join("\n")).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(
            e.message.contains("first line must be the config line"),
            "{e}"
        );
        let config = lines[0];
        lines.insert(3, config);
        let e = read(&lines.join("\n")).unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("second config line"), "{e}");
        lines.remove(3);
        lines.insert(5, "{not json");
        let e = read(&lines.join("\n")).unwrap_err();
        assert_eq!(e.line, 6);
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = br#"{}[]":,0123456789-.eE tnulrfasvcgipd#\"#;
        for _ in 0..2000 {
            let mut line = String::new();
            for _ in 0..(state % 60) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                line.push(alphabet[(state % alphabet.len() as u64) as usize] as char);
            }
            let _ = read_line(1, &line);
            let _ = read(&line);
        }
    }
}
