//! The input log: a recorded run as data (JSON Lines), written by the runtime adapters'
//! recorder and read by the simulator's `replay-log` and `whatif`.
//!
//! The first line is a [`LogHeader`] (format name, version, the whole [`Config`]); every other
//! line is a [`LogEntry`]: one kernel input with the instant it was applied at, the kernel's
//! answer, and the actions draining it produced with their kernel instants. Because the kernel
//! is deterministic, replaying the inputs into a fresh kernel built from the header's config
//! reproduces every answer and every action — the log records what happened, and the replay
//! proves it.

use crate::action::Action;
use crate::config::Config;
use crate::input::{Applied, Input};
use crate::task::RejectReason;
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// The `format` field of every log header.
pub const LOG_FORMAT: &str = "baton-input-log";

/// The version written by this kernel (and the only one it reads).
pub const LOG_VERSION: u32 = 1;

/// The first line of a log.
///
/// ```
/// use baton_kernel::{ClassConfig, Config, LogHeader, LOG_VERSION};
/// let header = LogHeader::new(Config::new(vec![ClassConfig::exclusive("io", 5)]));
/// let line = serde_json::to_string(&header)?;
/// assert!(line.starts_with(r#"{"format":"baton-input-log","version":1,"#));
/// let back: LogHeader = serde_json::from_str(&line)?;
/// assert_eq!(back.version, LOG_VERSION);
/// back.check()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHeader {
    /// Always [`LOG_FORMAT`].
    pub format: String,
    /// [`LOG_VERSION`] when written by this kernel.
    pub version: u32,
    /// The configuration the recorded kernel was built with.
    pub config: Config,
}

impl LogHeader {
    /// The header of a log of a kernel built from `config`.
    pub fn new(config: Config) -> Self {
        LogHeader {
            format: LOG_FORMAT.to_owned(),
            version: LOG_VERSION,
            config,
        }
    }

    /// Whether this kernel can read the log: the right format and version.
    pub fn check(&self) -> Result<(), LogError> {
        if self.format != LOG_FORMAT {
            return Err(LogError::NotALog {
                format: self.format.clone(),
            });
        }
        if self.version != LOG_VERSION {
            return Err(LogError::Version {
                found: self.version,
                supported: LOG_VERSION,
            });
        }
        Ok(())
    }
}

/// One recorded input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The instant the input was applied at.
    pub t: Instant,
    /// The input.
    pub input: Input,
    /// The kernel's answer, when it accepted the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Applied>,
    /// The refusal, in words, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rejection reason, when the refusal was `Error::Refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<RejectReason>,
    /// How many of `actions` came first from deadlines the input caught up on
    /// (`Kernel::caught_up_actions`): they were decided before the input itself.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub caught_up: usize,
    /// The actions drained after the input, each with the kernel instant it was decided at.
    #[serde(default)]
    pub actions: Vec<(Instant, Action)>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A log this kernel cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The first line is not a baton input log header.
    #[error("not a baton input log (format {format:?})")]
    NotALog {
        /// The format the header names.
        format: String,
    },
    /// Written by another version of the format.
    #[error("input log version {found}; this build reads version {supported}")]
    Version {
        /// The version in the header.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
}
