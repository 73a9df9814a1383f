//! Input logs recorded from real runs by the runtime adapters (`Scheduler::recording`): JSON
//! Lines, a `baton_kernel::LogHeader` then one `baton_kernel::LogEntry` per kernel input.
//!
//! [`InputLog::reproduce`] replays the inputs into a fresh kernel and requires every answer and
//! the whole stream of actions (with their kernel instants) to be the recorded ones;
//! [`InputLog::recording`] turns the log into a [`Recording`] so the oracle can check every
//! property on it.

use crate::record::{Recorded, Recording};
use baton_kernel::{Action, Config, Instant, Kernel, LogEntry, LogHeader};

/// A parsed input log.
#[derive(Clone, Debug)]
pub struct InputLog {
    /// The recorded kernel's configuration (from the header).
    pub config: Config,
    /// The inputs, in the order they were applied.
    pub entries: Vec<LogEntry>,
}

/// What an exact replay reproduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reproduced {
    /// Inputs replayed.
    pub inputs: usize,
    /// Actions reproduced.
    pub actions: usize,
}

impl InputLog {
    /// Whether `text` starts like an input log (its first line is a header).
    pub fn looks_like(text: &str) -> bool {
        text.lines()
            .next()
            .is_some_and(|l| l.contains(baton_kernel::LOG_FORMAT))
    }

    /// Parses a log. Errors name the line; a blank last line is fine.
    pub fn parse(text: &str) -> Result<InputLog, String> {
        let mut lines = text.lines().enumerate();
        let (_, first) = lines.next().ok_or("empty input log")?;
        let header: LogHeader =
            serde_json::from_str(first).map_err(|e| format!("line 1: not a log header: {e}"))?;
        header.check().map_err(|e| format!("line 1: {e}"))?;
        let mut entries = Vec::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let entry: LogEntry =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            entries.push(entry);
        }
        Ok(InputLog {
            config: header.config,
            entries,
        })
    }

    /// Replays every input into a fresh kernel built from the header's configuration: each
    /// answer must be the recorded one (the same id, or a refusal with the same message), and
    /// the actions, concatenated over the whole run, must be the recorded ones at the same
    /// kernel instants. (The stream is compared rather than each input's share, because the
    /// adapter may give the kernel an input while it is still draining the previous one's
    /// actions.) Returns the first difference.
    pub fn reproduce(&self) -> Result<Reproduced, String> {
        let mut kernel = Kernel::new(self.config.clone()).map_err(|e| e.to_string())?;
        let recorded: Vec<&(Instant, Action)> =
            self.entries.iter().flat_map(|e| &e.actions).collect();
        let mut replayed: Vec<(Instant, Action)> = Vec::with_capacity(recorded.len());
        for (i, entry) in self.entries.iter().enumerate() {
            let result = kernel.apply(entry.t, entry.input.clone());
            let same = match (&result, entry.result, &entry.error) {
                (Ok(a), Some(b), None) => *a == b,
                (Err(e), None, Some(text)) => e.to_string() == *text,
                _ => false,
            };
            if !same {
                return Err(format!(
                    "input #{i} ({:?} at t={}): the log says {}, the replay answered {result:?}",
                    entry.input,
                    entry.t.as_nanos(),
                    match (&entry.result, &entry.error) {
                        (Some(a), _) => format!("{a:?}"),
                        (None, Some(e)) => format!("refused: {e}"),
                        (None, None) => "nothing".to_owned(),
                    }
                ));
            }
            while let Some(a) = kernel.poll_action_at() {
                let n = replayed.len();
                if recorded.get(n).is_none_or(|r| **r != a) {
                    return Err(format!(
                        "action #{n} (while replaying input #{i} at t={}): the log has {:?}, the replay emitted {a:?}",
                        entry.t.as_nanos(),
                        recorded.get(n)
                    ));
                }
                replayed.push(a);
            }
        }
        if replayed.len() != recorded.len() {
            return Err(format!(
                "the log has {} actions, the replay emitted {}",
                recorded.len(),
                replayed.len()
            ));
        }
        Ok(Reproduced {
            inputs: self.entries.len(),
            actions: replayed.len(),
        })
    }

    /// The log as a [`Recording`], for the oracle.
    pub fn recording(&self, name: &str) -> Recording {
        Recording {
            scenario: name.to_owned(),
            seed: 0,
            mutant: None,
            property: None,
            config: self.config.clone(),
            inputs: self
                .entries
                .iter()
                .map(|e| Recorded {
                    t: e.t.as_nanos(),
                    input: e.input.clone(),
                    result: e.result,
                })
                .collect(),
        }
    }
}

impl InputLog {
    /// Writes the recorded run as a trace in the simulator's format (`docs/design.md`, "Trace
    /// format") to `sink`, and returns the trace's hash. Events are stamped with their kernel
    /// instants and written in the kernel's order (what an input caught up on comes before the
    /// input). A body's `run_begin` is its `Start` (the adapter spawns it then) and its
    /// `run_end` the instant its report was accepted.
    pub fn write_trace(&self, sink: Option<Box<dyn std::io::Write + Send>>) -> Result<u64, String> {
        use crate::trace::{SessionLabel, Trace, TraceEvent, TraceOutcome};
        use baton_kernel::{Applied, Input, Notice, Outcome, Target};
        use std::collections::BTreeMap;
        let mut trace = Trace::new(sink);
        trace.config(&self.config);
        let mut sessions: BTreeMap<u64, SessionLabel> = BTreeMap::new();
        let mut groups: BTreeMap<u32, String> = BTreeMap::new();
        let label = |sessions: &BTreeMap<u64, SessionLabel>, id: u64| {
            sessions.get(&id).cloned().unwrap_or(SessionLabel {
                name: "unknown".to_owned(),
                id,
            })
        };
        let class_of = |c: baton_kernel::ClassId| self.config.classes.get(c.index());
        for entry in &self.entries {
            let t = entry.t.as_nanos();
            let split = entry.caught_up.min(entry.actions.len());
            let (caught_up, own) = entry.actions.split_at(split);
            let mut events: Vec<TraceEvent> = Vec::new();
            let action_events = |actions: &[(Instant, Action)],
                                 sessions: &BTreeMap<u64, SessionLabel>,
                                 events: &mut Vec<TraceEvent>| {
                for (at, action) in actions {
                    let t = at.as_nanos();
                    match action {
                        Action::Start {
                            task,
                            session,
                            attempt,
                            ..
                        } => {
                            events.push(TraceEvent::Start {
                                t,
                                task: *task,
                                session: session.map(|s| label(sessions, s.0)),
                                attempt: *attempt,
                            });
                            events.push(TraceEvent::RunBegin { t, task: *task });
                        }
                        Action::Cancel { task, reason } => events.push(TraceEvent::Cancel {
                            t,
                            task: *task,
                            reason: *reason,
                        }),
                        Action::Abort { task } => events.push(TraceEvent::Abort { t, task: *task }),
                        Action::Notify(Notice::Finished { task, outcome }) => {
                            let outcome = match outcome {
                                Outcome::Completed => TraceOutcome::Completed,
                                Outcome::Failed => TraceOutcome::Failed,
                                Outcome::Cancelled(_) => TraceOutcome::Cancelled,
                                Outcome::TimedOut(_) => TraceOutcome::TimedOut,
                                Outcome::Rejected(r) => TraceOutcome::Rejected(*r),
                                Outcome::Abandoned => TraceOutcome::Abandoned,
                            };
                            events.push(TraceEvent::Finish {
                                t,
                                task: *task,
                                outcome,
                            });
                        }
                        Action::Notify(Notice::Retrying { task, at, .. }) => {
                            events.push(TraceEvent::Retry {
                                t,
                                task: *task,
                                at: at.as_nanos(),
                            })
                        }
                        Action::Notify(Notice::Removed { task }) => {
                            events.push(TraceEvent::Gc { t, task: *task })
                        }
                        Action::Notify(Notice::Closed(_)) => {}
                    }
                }
            };
            action_events(caught_up, &sessions, &mut events);
            match (&entry.input, entry.result) {
                (Input::Connect { name }, Some(Applied::Session(id))) => {
                    let session = SessionLabel {
                        name: name.clone(),
                        id: id.0,
                    };
                    sessions.insert(id.0, session.clone());
                    events.push(TraceEvent::Connect { t, session });
                }
                (Input::Disconnect { .. }, Some(Applied::Session(id))) => {
                    events.push(TraceEvent::Disconnect {
                        t,
                        session: label(&sessions, id.0),
                    });
                }
                (Input::JoinGroup { group, .. }, Some(Applied::Group(g))) => {
                    groups.insert(g.0, group.clone());
                }
                (Input::Restart, Some(_)) => events.push(TraceEvent::Restart { t }),
                (Input::Shutdown { grace }, Some(_)) => events.push(TraceEvent::Shutdown {
                    t,
                    grace_ns: grace.as_nanos(),
                }),
                (Input::Progress { task, .. } | Input::ProgressAttempt { task, .. }, Some(_)) => {
                    events.push(TraceEvent::Progress { t, task: *task })
                }
                (Input::Finished { task, .. } | Input::FinishedAttempt { task, .. }, Some(_)) => {
                    events.push(TraceEvent::RunEnd { t, task: *task })
                }
                (Input::Submit(s), result) => {
                    let class = class_of(s.class).map_or("unknown".to_owned(), |c| c.name.clone());
                    let session = match s.target {
                        Target::Session(id) => Some(label(&sessions, id.0)),
                        _ => None,
                    };
                    let group = match s.target {
                        Target::Group(g) => Some(
                            groups
                                .get(&g.0)
                                .cloned()
                                .unwrap_or_else(|| format!("unknown-group-{}", g.0)),
                        ),
                        _ => None,
                    };
                    match (result, entry.refused) {
                        (Some(Applied::Task(task)), _) => events.push(TraceEvent::Submit {
                            t,
                            task,
                            class,
                            priority: s
                                .priority
                                .unwrap_or(class_of(s.class).map_or(0, |c| c.priority)),
                            session,
                            group,
                            parent: s.parent,
                        }),
                        (None, Some(reason)) => events.push(TraceEvent::SubmitRefused {
                            t,
                            class,
                            session,
                            group,
                            reason,
                        }),
                        _ => {}
                    }
                }
                _ => {}
            }
            action_events(own, &sessions, &mut events);
            for e in &events {
                e.write(&mut trace);
            }
        }
        trace
            .finish()
            .map_err(|e| format!("writing the trace: {e}"))?;
        Ok(trace.hash())
    }
}
