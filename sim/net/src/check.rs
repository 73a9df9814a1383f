//! The end-to-end properties, checked on a run's event log.
//!
//! | property | what must hold |
//! |---|---|
//! | [`Exclusive`](Property::Exclusive) | the server never sees a request of a session arrive while another operation of that session still runs — including after a cancelled operation whose response was held or lost |
//! | [`Timeout`](Property::Timeout) | a task ends `timed_out` within `[run timeout, run timeout + abandon wait]` of its start, a completed task ran within its run timeout, no task is ever `abandoned` (bodies stop well within the grace), and a cancelled task that had sent its request gave it up (ack, reset, or already done) and returned *before* its handle resolved |
//! | [`Accounting`](Property::Accounting) | every task submitted by a client incarnation that was not crashed reaches exactly one terminal state; none resolves twice; none resolves unsubmitted |
//! | [`Liveness`](Property::Liveness) | after the heal the run drains before its deadline (every client finishes, the server is idle), operations submitted once the heal has settled complete, and no disconnect reports stuck tasks |
//! | [`Determinism`](Property::Determinism) | the same seed gives the same log hash (checked by running twice, not here) |
//! | [`Oracle`](Property::Oracle) | every client incarnation's kernel input log (recorded by the real adapter) replays exactly, and the simulator's full oracle — the predictive model and every property of DESIGN.md — holds on it |

use crate::log::{Class, Entry, Event};
use crate::scenario::{Plan, Scenario};
use crate::wire::Origin;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An end-to-end property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// One operation per session on the wire.
    Exclusive,
    /// Run timeouts fire on time and the cancelled request is really given up.
    Timeout,
    /// Every submitted task reaches exactly one terminal state.
    Accounting,
    /// Everything drains after the faults heal.
    Liveness,
    /// Same seed, same log.
    Determinism,
    /// The simulation itself failed (a host's software returned an error).
    Host,
    /// The simulator's oracle, on the adapter's recorded kernel inputs.
    Oracle,
}

impl Property {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Property::Exclusive => "exclusive",
            Property::Timeout => "timeout",
            Property::Accounting => "accounting",
            Property::Liveness => "liveness",
            Property::Determinism => "determinism",
            Property::Host => "host",
            Property::Oracle => "oracle",
        }
    }
}

/// A broken property, with what broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// What happened.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.property.name(), self.detail)
    }
}

/// A session's operations running on the server: `(server connection, request)` to who sent
/// it and when it arrived.
type Running = BTreeMap<(u64, u64), (Origin, u64)>;

/// What the log says about one task.
#[derive(Default)]
struct TaskFacts {
    class: Option<Class>,
    plan: Option<u32>,
    submit_t: u64,
    sent: bool,
    abandoned_at: Option<usize>,
    body_end_at: Option<usize>,
    outcomes: Vec<(usize, String, Option<u64>, Option<u64>)>,
}

/// Checks every property but determinism on `entries`. `finished` says whether the run drained
/// before its deadline.
pub fn check(
    scenario: &Scenario,
    plan: &Plan,
    entries: &[Entry],
    finished: bool,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut v = |property, detail: String| out.push(Violation { property, detail });
    let timing = &scenario.timing;
    let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);

    // Exclusive: replay the server's testimony.
    let mut running: BTreeMap<&str, Running> = BTreeMap::new();
    for entry in entries {
        match &entry.event {
            Event::Arrive {
                session,
                sconn,
                req,
                origin,
            } => {
                let ops = running.entry(session).or_default();
                if let Some((other, since)) = ops.values().next() {
                    v(
                        Property::Exclusive,
                        format!(
                            "at {} ms session {session}: task {} (client {} inc {}) arrived while \
                             task {} (inc {}) had run since {} ms",
                            entry.t / 1_000_000,
                            origin.task,
                            origin.client,
                            origin.inc,
                            other.task,
                            other.inc,
                            since / 1_000_000
                        ),
                    );
                }
                ops.insert((*sconn, *req), (*origin, entry.t));
            }
            Event::End {
                session,
                sconn,
                req,
                ..
            } => {
                if let Some(ops) = running.get_mut(session.as_str()) {
                    ops.remove(&(*sconn, *req));
                }
            }
            _ => {}
        }
    }

    // Gather per-task facts and the crashed incarnations.
    let mut tasks: BTreeMap<Origin, TaskFacts> = BTreeMap::new();
    let mut current_inc: BTreeMap<u8, u32> = BTreeMap::new();
    let mut crashed: BTreeSet<(u8, u32)> = BTreeSet::new();
    let mut done: BTreeSet<(u8, u32)> = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        match &entry.event {
            Event::ClientUp { client, inc } => {
                current_inc.insert(*client, *inc);
            }
            Event::ClientCrash { client } => {
                if let Some(inc) = current_inc.get(client)
                    && !done.contains(&(*client, *inc))
                {
                    crashed.insert((*client, *inc));
                }
            }
            Event::ClientDone {
                client,
                inc,
                registry,
                pending,
            } => {
                done.insert((*client, *inc));
                if *registry > 0 || *pending > 0 {
                    v(
                        Property::Accounting,
                        format!(
                            "client {client} inc {inc}: after shutdown the registry still held \
                             {registry} record(s) and {pending} handle(s) were unresolved"
                        ),
                    );
                }
            }
            Event::Submit {
                origin,
                class,
                plan,
                ..
            } => {
                let t = tasks.entry(*origin).or_default();
                t.class = Some(*class);
                t.plan = Some(*plan);
                t.submit_t = entry.t;
            }
            Event::Sent { origin, .. } => tasks.entry(*origin).or_default().sent = true,
            Event::Abandoned { origin, .. } => {
                tasks.entry(*origin).or_default().abandoned_at = Some(i);
            }
            Event::BodyEnd { origin, .. } => {
                tasks.entry(*origin).or_default().body_end_at = Some(i);
            }
            Event::Outcome {
                origin,
                outcome,
                started_ns,
                finished_ns,
            } => tasks.entry(*origin).or_default().outcomes.push((
                i,
                outcome.clone(),
                *started_ns,
                *finished_ns,
            )),
            Event::Cleanup {
                client,
                inc,
                session,
                stuck,
            } if *stuck > 0 => v(
                Property::Liveness,
                format!(
                    "client {client} inc {inc}: disconnecting session {session} left {stuck} stuck task(s)"
                ),
            ),
            _ => {}
        }
    }

    for (origin, t) in &tasks {
        let who = format!(
            "client {} inc {} task {}",
            origin.client, origin.inc, origin.task
        );
        let lost_with_host = crashed.contains(&(origin.client, origin.inc));
        // Accounting.
        if t.class.is_none() {
            v(
                Property::Accounting,
                format!("{who} resolved but was never submitted"),
            );
            continue;
        }
        match t.outcomes.len() {
            0 if !lost_with_host => v(
                Property::Accounting,
                format!(
                    "{who} (plan op {:?}) never reached a terminal state",
                    t.plan
                ),
            ),
            0 | 1 => {}
            n => v(Property::Accounting, format!("{who} resolved {n} times")),
        }
        let Some((at, outcome, started, finished_ns)) = t.outcomes.first() else {
            continue;
        };
        let class = t.class.expect("checked above");
        let run_timeout = ns(timing.run_timeout(class));
        let ran = match (started, finished_ns) {
            (Some(s), Some(f)) => Some(f.saturating_sub(*s)),
            _ => None,
        };
        // Timeout.
        match outcome.as_str() {
            "abandoned" => v(
                Property::Timeout,
                format!(
                    "{who} ({}) was abandoned: its body did not stop within the grace",
                    class.name()
                ),
            ),
            "timed_out" => {
                let late = run_timeout + ns(timing.abandon_wait) + 10_000_000;
                if let Some(ran) = ran
                    && (ran < run_timeout || ran > late)
                {
                    v(
                        Property::Timeout,
                        format!(
                            "{who} ({}) timed out after {} ms, outside [{} ms, {} ms]",
                            class.name(),
                            ran / 1_000_000,
                            run_timeout / 1_000_000,
                            late / 1_000_000
                        ),
                    );
                }
            }
            "completed" => {
                if let Some(ran) = ran
                    && ran > run_timeout
                {
                    v(
                        Property::Timeout,
                        format!(
                            "{who} ({}) completed after {} ms, past its {} ms run timeout",
                            class.name(),
                            ran / 1_000_000,
                            run_timeout / 1_000_000
                        ),
                    );
                }
            }
            _ => {}
        }
        let cancelled = outcome == "timed_out" || outcome.starts_with("cancelled:");
        if cancelled && started.is_some() {
            if t.sent && t.abandoned_at.is_none_or(|a| a > *at) {
                v(
                    Property::Timeout,
                    format!("{who} ({outcome}) resolved before its request was given up"),
                );
            }
            if t.body_end_at.is_none_or(|b| b > *at) {
                v(
                    Property::Timeout,
                    format!("{who} ({outcome}) resolved while its body was still running"),
                );
            }
        }
        // Liveness: once the heal has settled, operations complete.
        if t.submit_t >= plan.settled_ms * 1_000_000 && outcome != "completed" && !lost_with_host {
            v(
                Property::Liveness,
                format!(
                    "{who} ({}) submitted at {} ms, after the faults healed and settled, ended {outcome}",
                    class.name(),
                    t.submit_t / 1_000_000
                ),
            );
        }
    }

    if !finished {
        let open: Vec<String> = running
            .iter()
            .flat_map(|(s, ops)| {
                ops.values()
                    .map(move |(o, _)| format!("{s}: task {}", o.task))
            })
            .collect();
        let end = entries.last().map_or(0, |e| e.t / 1_000_000);
        v(
            Property::Liveness,
            format!(
                "the run did not drain by its deadline ({} ms; last event at {end} ms); \
                 server operations still open: {open:?}",
                plan.deadline_ms
            ),
        );
    }
    out
}
