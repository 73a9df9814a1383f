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
