//! What opening a store recovered, and the report of how.

use baton_kernel::Kernel;
use serde_json::Value;
use std::fmt;

/// The state recovered when a store is opened.
#[derive(Debug)]
pub struct Recovered {
    /// The kernel after the last good journal entry, with no pending actions: actions belonged
    /// to the process that wrote the journal. Tasks it shows running were interrupted; whether
    /// they run again (at least once) is the runtime's decision.
    pub kernel: Kernel,
    /// The seq of the last good journal entry (the next commit starts at `last_seq + 1`).
    pub last_seq: u64,
    /// The Unix time, in nanoseconds, of the kernel's `Instant::ZERO` (fixed at creation).
    pub epoch_unix_ns: u64,
    /// Durable tasks to re-run: `(task id, kind, params)` of every row with a kind whose task is
    /// in the recovered kernel's registry and not terminal, by id. Missing params read as
    /// `Value::Null`.
    pub durable: Vec<(u64, String, Value)>,
    /// How it was recovered.
    pub report: RecoveryReport,
}

/// How a store was recovered: what was used, skipped, replayed and cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether the store was created by this open.
    pub created: bool,
    /// The seq of the snapshot recovery started from; `None` when no stored snapshot verified
    /// and recovery started from a new kernel at seq 0 (possible only while the journal was
    /// never compacted).
    pub snapshot_seq: Option<u64>,
    /// Newer snapshots skipped because they did not verify (they are deleted).
    pub skipped_snapshots: Vec<SkippedSnapshot>,
    /// Journal entries replayed on top of the snapshot.
    pub replayed: u64,
    /// The journal's tail that was cut, if any.
    pub cut: Option<Cut>,
}

/// A snapshot that did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedSnapshot {
    /// Its seq.
    pub seq: u64,
    /// Why it was skipped.
    pub reason: String,
}

/// The journal's tail removed by recovery: the first bad entry and everything after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The seq of the first entry removed.
    pub first_seq: u64,
    /// How many entries were removed.
    pub count: u64,
    /// What was wrong with the first one.
    pub reason: CutReason,
}

/// Why the journal was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CutReason {
    /// The entry's checksum does not match its columns (a torn or altered write).
    Checksum,
    /// The checksum matches but the payload is not a journal entry this build reads.
    Undecodable(String),
    /// An entry is missing: `expected` was next, `found` came.
    Gap {
        /// The seq that should have come next.
        expected: u64,
        /// The seq that came.
        found: u64,
    },
    /// Replaying the entry gave another answer than when it was first applied.
    Diverged {
        /// Whether it was accepted when first applied.
        accepted_then: bool,
        /// The kernel's answer on replay (`None` when accepted).
        error_now: Option<String>,
    },
}

impl fmt::Display for CutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CutReason::Checksum => f.write_str("checksum mismatch"),
            CutReason::Undecodable(e) => write!(f, "undecodable entry: {e}"),
            CutReason::Gap { expected, found } => {
                write!(f, "gap in seq: expected {expected}, found {found}")
            }
            CutReason::Diverged {
                accepted_then,
                error_now,
            } => {
                let then = if *accepted_then {
                    "accepted"
                } else {
                    "refused"
                };
                match error_now {
                    Some(e) => write!(f, "replay diverged: {then} then, refused now ({e})"),
                    None => write!(f, "replay diverged: {then} then, accepted now"),
                }
            }
        }
    }
}

impl fmt::Display for RecoveryReport {
    /// One log line, such as
    /// `recovered from snapshot 40, replayed 12 entries; cut 3 entries from seq 53 (checksum mismatch)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.created {
            f.write_str("created a new store")?;
        } else {
            match self.snapshot_seq {
                Some(s) => write!(f, "recovered from snapshot {s}")?,
                None => f.write_str("recovered from the initial state (no snapshot verified)")?,
            }
        }
        write!(f, ", replayed {} entries", self.replayed)?;
        for s in &self.skipped_snapshots {
            write!(f, "; skipped snapshot {} ({})", s.seq, s.reason)?;
        }
        if let Some(c) = &self.cut {
            write!(
                f,
                "; cut {} entries from seq {} ({})",
                c.count, c.first_seq, c.reason
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_one_line() {
        let r = RecoveryReport {
            created: false,
            snapshot_seq: Some(40),
            skipped_snapshots: vec![SkippedSnapshot {
                seq: 50,
                reason: "checksum mismatch".into(),
            }],
            replayed: 12,
            cut: Some(Cut {
                first_seq: 53,
                count: 3,
                reason: CutReason::Checksum,
            }),
        };
        assert_eq!(
            r.to_string(),
            "recovered from snapshot 40, replayed 12 entries; skipped snapshot 50 (checksum \
             mismatch); cut 3 entries from seq 53 (checksum mismatch)"
        );
    }
}
