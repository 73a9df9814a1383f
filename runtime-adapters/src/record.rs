//! The recorder: every kernel input a scheduler applies, with its real instant, the kernel's
//! answer and the actions it produced, as a JSON Lines input log (`baton_kernel::LogHeader`,
//! then one `baton_kernel::LogEntry` per input). `baton-sim replay-log` replays such a log and
//! checks it; `baton-sim whatif` replays its arrivals and bodies under another configuration.
//!
//! Written under the kernel's lock, in input order, through a `BufWriter`: a line costs one
//! `serde_json` serialization and a buffered write. The first write error stops the recording
//! (the scheduler keeps running) and is kept for [`Scheduler::flush_recording`](crate::Scheduler::flush_recording).

use baton_kernel::{Action, Applied, Config, Error, Input, Instant, LogEntry, LogHeader};
use std::io::{BufWriter, Write};

pub(crate) struct Recorder {
    out: BufWriter<Box<dyn Write + Send>>,
    /// The last input's entry, collecting its actions until the next input or the end of the
    /// drain that follows it.
    pending: Option<LogEntry>,
    /// The first write error: nothing is written after it.
    error: Option<std::io::Error>,
}

impl Recorder {
    /// Starts a log with its header.
    pub(crate) fn new(out: Box<dyn Write + Send>, config: &Config) -> std::io::Result<Self> {
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        serde_json::to_writer(&mut out, &LogHeader::new(config.clone()))?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(Recorder {
            out,
            pending: None,
            error: None,
        })
    }

    /// An input was applied at `t` and answered `result`; the first `caught_up` of the actions
    /// that follow came from deadlines it caught up on.
    pub(crate) fn input(
        &mut self,
        t: Instant,
        input: Input,
        result: &Result<Applied, Error>,
        caught_up: usize,
    ) {
        self.end_entry();
        self.pending = Some(LogEntry {
            t,
            input,
            result: result.as_ref().ok().copied(),
            error: result.as_ref().err().map(ToString::to_string),
            refused: match result {
                Err(Error::Refused(reason)) => Some(*reason),
                _ => None,
            },
            caught_up,
            actions: Vec::new(),
        });
    }

    /// The kernel emitted `action` (decided at `at`) while draining the last input.
    pub(crate) fn action(&mut self, at: Instant, action: &Action) {
        if let Some(entry) = self.pending.as_mut() {
            entry.actions.push((at, action.clone()));
        }
    }

    /// Writes the pending entry, if any.
    pub(crate) fn end_entry(&mut self) {
        let Some(entry) = self.pending.take() else {
            return;
        };
        if self.error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut self.out, &entry)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    /// Writes everything buffered; returns the first error the recording met, if any.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.end_entry();
        if let Some(e) = self.error.take() {
            let kind = e.kind();
            let text = e.to_string();
            self.error = Some(std::io::Error::new(kind, text));
            return Err(e);
        }
        self.out.flush()
    }
}

/// An input log kept in memory: a `Write` whose clones share one buffer, for
/// [`Scheduler::recording`](crate::Scheduler::recording) when the log should not go to a file
/// (tests, attaching a run to a bug report).
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use baton_kernel::{ClassConfig, Config};
/// use baton_runtime::{MemoryLog, Scheduler};
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let log = MemoryLog::default();
/// rt.block_on(async {
///     let s = Scheduler::recording(Config::new(vec![ClassConfig::exclusive("io", 5)]), None, log.clone())
///         .unwrap();
///     s.connect("alice").unwrap();
///     s.flush_recording().unwrap();
///     assert_eq!(log.text().lines().count(), 2); // the header and the connect
/// });
/// // Dropping the scheduler shut it down: that input is in the log too.
/// assert_eq!(log.text().lines().count(), 3);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl MemoryLog {
    /// Everything written so far, as text (the log is UTF-8 JSON).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for MemoryLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("memory log poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
