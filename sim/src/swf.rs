//! Real workloads: replaying a Parallel Workloads Archive log in the Standard Workload Format.
//!
//! An SWF file has `;` comment lines and one job per line with 18 whitespace-separated fields.
//! The replay maps: submit time (field 2) → arrival; run time (field 4) → how long the task
//! runs; requested time (field 9) → run timeout, through the class; user (field 12) → session
//! (one exclusive job per user at a time). Classes come from requested-time buckets:
//! `short` (≤ 15 min, priority 3), `medium` (≤ 4 h, priority 2) and `long` (priority 1), each
//! with its bucket's upper bound as run timeout and a share of the machine as concurrency limit.
//! Jobs whose run time exceeds their class's run timeout are cancelled at it, like the batch
//! system killed them at their requested time. Jobs with unknown (`-1`) run time are skipped.

use crate::harness::{RunReport, Sim, SimOptions};
use crate::scenario::{
    BehaviourPlan, DriverPlan, FaultPlan, NsRange, Plan, TargetKind, WorkloadPlan,
};
use baton_kernel::{ClassConfig, ClassId, Config, Duration};
use std::fmt;

const SECOND: u64 = 1_000_000_000;

/// The largest submit or run time a log may give, in seconds (about 31 years): every instant
/// a replay computes then fits in 64-bit nanoseconds.
pub const MAX_SECONDS: i64 = 1_000_000_000;

/// One job of a log, ready to submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Line in the file (1-based).
    pub line: usize,
    /// Arrival, nanoseconds after the first job.
    pub at_ns: u64,
    /// Its class.
    pub class: ClassId,
    /// Index of its user's session.
    pub session: usize,
    /// How long it runs.
    pub duration_ns: u64,
}

/// A malformed log, naming the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwfError {
    /// 1-based line number (0 for the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SwfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for SwfError {}

/// A parsed log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The jobs, by arrival.
    pub jobs: Vec<Job>,
    /// Session (user) names.
    pub users: Vec<String>,
    /// Jobs skipped (unknown run time).
    pub skipped: usize,
    /// Simulated span from first to last arrival.
    pub span_ns: u64,
}

/// Requested-time buckets: name, priority, upper bound in seconds (the last is open).
const BUCKETS: [(&str, u8, u64); 3] = [("short", 3, 900), ("medium", 2, 14_400), ("long", 1, 0)];

const FIELDS: [&str; 18] = [
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average cpu time",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user id",
    "group id",
    "executable",
    "queue",
    "partition",
    "preceding job",
    "think time",
];

fn field(line: usize, fields: &[&str], i: usize) -> Result<i64, SwfError> {
    let raw = fields.get(i).copied().unwrap_or("");
    raw.parse::<i64>().map_err(|_| SwfError {
        line,
        message: format!("field {} ({}) is not an integer: {raw:?}", i + 1, FIELDS[i]),
    })
}

/// Parses SWF text. `limit` keeps only the first jobs.
pub fn parse(text: &str, limit: Option<usize>) -> Result<Workload, SwfError> {
    let mut raw = Vec::new();
    let mut skipped = 0;
    let mut users: Vec<i64> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let l = l.trim();
        if l.is_empty() || l.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.len() != 18 {
            return Err(SwfError {
                line,
                message: format!("expected 18 fields, found {}", fields.len()),
            });
        }
        let submit = field(line, &fields, 1)?;
        let run = field(line, &fields, 3)?;
        let requested = field(line, &fields, 8)?;
        let user = field(line, &fields, 11)?;
        for (f, v) in [(1, submit), (11, user)] {
            if v < 0 {
                return Err(SwfError {
                    line,
                    message: format!("field {} ({}) must not be negative: {v}", f + 1, FIELDS[f]),
                });
            }
        }
        for (f, v) in [(1, submit), (3, run)] {
            if v > MAX_SECONDS {
                return Err(SwfError {
                    line,
                    message: format!(
                        "field {} ({}) is {v} s, more than the {MAX_SECONDS} s (about 31 years) a replay may span",
                        f + 1,
                        FIELDS[f]
                    ),
                });
            }
        }
        if run < 0 {
            skipped += 1;
            continue;
        }
        if !users.contains(&user) {
            users.push(user);
        }
        raw.push((line, submit as u64, run as u64, requested, user));
        if limit.is_some_and(|n| raw.len() >= n) {
            break;
        }
    }
    if raw.is_empty() {
        return Err(SwfError {
            line: 0,
            message: "no jobs with a known run time".to_owned(),
        });
    }
    raw.sort_by_key(|j| (j.1, j.0));
    users.sort_unstable();
    let first = raw[0].1;
    let last = raw[raw.len() - 1].1;
    let jobs = raw
        .into_iter()
        .map(|(line, submit, run, requested, user)| Job {
            line,
            at_ns: (submit - first).saturating_mul(SECOND),
            class: bucket(requested),
            session: users.binary_search(&user).unwrap_or(0),
            duration_ns: run.saturating_mul(SECOND),
        })
        .collect();
    Ok(Workload {
        jobs,
        users: users.iter().map(|u| format!("user{u}")).collect(),
        skipped,
        span_ns: (last - first).saturating_mul(SECOND),
    })
}

fn bucket(requested: i64) -> ClassId {
    let r = requested.max(0) as u64;
    let i = BUCKETS
        .iter()
        .position(|(_, _, max)| *max == 0 || r <= *max)
        .unwrap_or(BUCKETS.len() - 1);
    ClassId(i as u16)
}

/// The plan for a log: classes from the buckets, one session per user.
pub fn plan(w: &Workload) -> Plan {
    let longest = w.jobs.iter().map(|j| j.duration_ns).max().unwrap_or(SECOND);
    let limits = [48, 32, 20];
    let classes = BUCKETS
        .iter()
        .zip(limits)
        .map(|((name, priority, max), limit)| {
            let timeout = if *max == 0 {
                longest / SECOND + 1
            } else {
                *max
            };
            let mut c = ClassConfig::exclusive(name, *priority)
                .with_run_timeout(Duration::from_secs(timeout))
                .with_limit(limit)
                .with_retention(Duration::from_secs(600));
            c.queue_timeout = None;
            c
        })
        .collect();
    let mut config = Config::new(classes);
    config.limits.queue_len_max = 100_000;
    config.limits.tasks_max = 10_000_000;
    let behaviour = BehaviourPlan {
        duration: NsRange::default(),
        fail: 0.0,
        retryable: 0.0,
        progress_every_ns: 0,
        stall: 0.0,
        stubborn: 0.0,
        stubborn_delay: NsRange::default(),
        ignore_cancel: 0.0,
        zombie: 0.0,
        zombie_stop: None,
        children: 0.0,
        children_count: (0, 0),
        child_class: ClassId(0),
        child_target: TargetKind::None,
        child_duration: NsRange::default(),
    };
    let workloads = (0..BUCKETS.len())
        .map(|i| WorkloadPlan {
            class: ClassId(i as u16),
            mean_gap_ns: 0,
            burst: None,
            target: TargetKind::Session,
            group: None,
            priority: None,
            behaviour: behaviour.clone(),
            cancel: (0.0, NsRange::default()),
        })
        .collect();
    // Work-conserving: even one job at a time drains the whole log within its total work.
    let work: u64 = w
        .jobs
        .iter()
        .map(|j| j.duration_ns)
        .fold(0, u64::saturating_add);
    Plan {
        scenario: "swf".to_owned(),
        seed: 0,
        config,
        duration_ns: w.span_ns.saturating_add(1),
        session_names: w.users.clone(),
        connect_spread_ns: 0,
        groups: Vec::new(),
        workloads,
        faults: FaultPlan::default(),
        driver: DriverPlan::default(),
        sometimes: Vec::new(),
        liveness_bound_ns: work
            .saturating_add(60 * SECOND)
            .min(crate::scenario::MAX_LIVENESS_NS),
        knobs: Vec::new(),
    }
}

/// Replays a log under the oracle.
pub fn run(w: &Workload, options: SimOptions) -> Result<RunReport, String> {
    Ok(Sim::with_jobs(plan(w), w.jobs.clone(), options)?.run())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "; comment\n\
        1 0 5 100 4 -1 -1 4 600 -1 1 7 1 -1 -1 -1 -1 -1\n\
        2 10 0 20000 4 -1 -1 4 20000 -1 1 8 1 -1 -1 -1 -1 -1\n\
        3 20 0 -1 4 -1 -1 4 60 -1 1 7 1 -1 -1 -1 -1 -1\n";

    #[test]
    fn parses_and_buckets() {
        let w = parse(SAMPLE, None).unwrap();
        assert_eq!(w.jobs.len(), 2);
        assert_eq!(w.skipped, 1);
        assert_eq!(w.jobs[0].class, ClassId(0));
        assert_eq!(w.jobs[1].class, ClassId(2));
        assert_eq!(w.users, vec!["user7", "user8"]);
        assert_eq!(w.span_ns, 10 * SECOND);
    }

    #[test]
    fn malformed_lines_are_named() {
        let e = parse("1 2 3\n", None).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("18 fields"));
        let bad = SAMPLE.replace("2 10 0 20000", "2 1x 0 20000");
        let e = parse(&bad, None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("submit time"), "{e}");
        assert!(parse("; only comments\n", None).is_err());
    }

    /// Found with edge-value inputs to the `swf_parse` fuzz target (`fuzz/regressions/swf_parse/`): times near `i64::MAX` seconds
    /// overflowed the replay's nanosecond arithmetic.
    #[test]
    fn huge_times_are_refused_by_line() {
        let huge = SAMPLE.replace("2 10 0 20000", "2 9223372036854775807 0 20000");
        let e = parse(&huge, None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("submit time"), "{e}");
        let huge = SAMPLE.replace("2 10 0 20000", "2 10 0 1000000001");
        assert!(parse(&huge, None).unwrap_err().message.contains("run time"));
        let edge = SAMPLE.replace("2 10 0 20000", "2 1000000000 0 1000000000");
        let w = parse(&edge, None).unwrap();
        let report = run(
            &w,
            SimOptions {
                max_steps: 2_000,
                ..SimOptions::default()
            },
        )
        .unwrap();
        assert!(
            report
                .violations
                .iter()
                .all(|v| v.property == crate::Property::Liveness),
            "{:?}",
            report.violations
        );
    }
}
