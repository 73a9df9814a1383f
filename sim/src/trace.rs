//! Traces: the JSON Lines format of DESIGN.md ("Trace format"), and its FNV-1a hash.
//!
//! The format is a public contract. The first line is `{"ev":"config",...}`; every later line
//! is `{"t":<virtual ns>,"ev":"<name>",...}` with ids as integers, sessions as `"name#id"` and
//! classes by name. `t` is the instant the driver observed the event: after a clock jump, the
//! deadlines that fell due during the jump are written at the instant the driver woke up (the
//! kernel still processes them in deadline order).
//!
//! The hash is FNV-1a (64-bit) over every byte written, newlines included, so two runs agree on
//! the hash exactly when their trace files are byte-identical. It is computed whether or not a
//! file is written.
//!
//! Traces are read back, as typed events, with [`read`] (a whole file) and [`read_line`] (one
//! line); errors name the line and the problem.

use baton_kernel::{Config, Duration};
use std::io::Write;

pub use crate::trace_read::{
    EVENT_KINDS, SessionLabel, TraceClass, TraceConfig, TraceError, TraceEvent, TraceOutcome, read,
    read_line,
};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, continuing from `hash`.
///
/// ```
/// use baton_sim::trace::fnv1a;
/// assert_eq!(fnv1a(0xcbf2_9ce4_8422_2325, b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(fnv1a(0xcbf2_9ce4_8422_2325, b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// A trace being written: hashed always, copied to a sink when one is given.
pub struct Trace {
    line: String,
    hash: u64,
    lines: u64,
    sink: Option<Box<dyn Write + Send>>,
    sink_error: Option<std::io::Error>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("hash", &self.hash)
            .field("lines", &self.lines)
            .finish()
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new(None)
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a decimal integer without going through `fmt`.
fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

impl Trace {
    /// A trace that writes to `sink` (or only hashes, with `None`).
    pub fn new(sink: Option<Box<dyn Write + Send>>) -> Self {
        Trace {
            line: String::with_capacity(256),
            hash: FNV_OFFSET,
            lines: 0,
            sink,
            sink_error: None,
        }
    }

    /// The FNV-1a hash of everything written so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The last line written, with its newline (empty before the first).
    pub(crate) fn last_line(&self) -> &str {
        &self.line
    }

    /// Flushes the sink; returns the first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.sink_error.take() {
            return Err(e);
        }
        if let Some(s) = self.sink.as_mut() {
            s.flush()?;
        }
        Ok(())
    }

    /// Writes the first line: every class, the cleanup interval and the queue bounds.
    pub fn config(&mut self, config: &Config) {
        self.line.clear();
        self.line.push_str("{\"ev\":\"config\",\"classes\":[");
        let opt = |out: &mut String, key: &str, d: Option<Duration>| {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            match d {
                Some(d) => push_u64(out, d.as_nanos()),
                None => out.push_str("null"),
            }
        };
        for (i, c) in config.classes.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            self.line.push_str("{\"name\":");
            push_json_str(&mut self.line, &c.name);
            self.line.push_str(",\"priority\":");
            push_u64(&mut self.line, u64::from(c.priority));
            self.line.push_str(",\"exclusive\":");
            self.line
                .push_str(if c.exclusive { "true" } else { "false" });
            self.line.push_str(",\"limit\":");
            match c.limit {
                Some(l) => push_u64(&mut self.line, u64::from(l)),
                None => self.line.push_str("null"),
            }
            opt(&mut self.line, "queue_timeout_ns", c.queue_timeout);
            opt(&mut self.line, "run_timeout_ns", c.run_timeout);
            opt(&mut self.line, "heartbeat_timeout_ns", c.heartbeat_timeout);
            opt(&mut self.line, "total_timeout_ns", c.total_timeout);
            opt(&mut self.line, "grace_ns", Some(c.grace));
            opt(&mut self.line, "retention_ns", Some(c.retention));
            self.line.push('}');
        }
        self.line.push_str("],\"cleanup_interval_ns\":");
        push_u64(&mut self.line, config.cleanup_interval.as_nanos());
        self.line.push_str(",\"queue_len_max\":");
        push_u64(&mut self.line, u64::from(config.limits.queue_len_max));
        self.line.push_str(",\"background_queue_len_max\":");
        push_u64(
            &mut self.line,
            u64::from(config.limits.background_queue_len_max),
        );
        self.line.push('}');
        self.flush_line();
    }

    /// Starts an event line; add fields, then call [`Trace::end`].
    pub fn begin(&mut self, t: u64, ev: &str) -> &mut Self {
        self.line.clear();
        self.line.push_str("{\"t\":");
        push_u64(&mut self.line, t);
        self.line.push_str(",\"ev\":\"");
        self.line.push_str(ev);
        self.line.push('"');
        self
    }

    fn key(&mut self, key: &str) {
        self.line.push_str(",\"");
        self.line.push_str(key);
        self.line.push_str("\":");
    }

    /// An integer field.
    pub fn num(&mut self, key: &str, v: u64) -> &mut Self {
        self.key(key);
        push_u64(&mut self.line, v);
        self
    }

    /// A string field.
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.key(key);
        push_json_str(&mut self.line, v);
        self
    }

    /// A string field or `null`.
    pub fn opt_str(&mut self, key: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(key, v),
            None => {
                self.key(key);
                self.line.push_str("null");
                self
            }
        }
    }

    /// An integer field or `null`.
    pub fn opt_num(&mut self, key: &str, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.num(key, v),
            None => {
                self.key(key);
                self.line.push_str("null");
                self
            }
        }
    }

    /// Ends the line: hashes it and writes it to the sink.
    pub fn end(&mut self) {
        self.line.push('}');
        self.flush_line();
    }

    fn flush_line(&mut self) {
        self.line.push('\n');
        self.hash = fnv1a(self.hash, self.line.as_bytes());
        self.lines += 1;
        if let Some(s) = self.sink.as_mut()
            && self.sink_error.is_none()
            && let Err(e) = s.write_all(self.line.as_bytes())
        {
            self.sink_error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn lines_are_json_and_hash_covers_bytes() {
        let shared = Shared::default();
        let mut t = Trace::new(Some(Box::new(shared.clone())));
        t.config(&baton_kernel::preset::session_manager());
        t.begin(5, "submit")
            .num("task", 1)
            .str("class", "sen\"ding")
            .opt_str("session", Some("a#1"))
            .opt_str("group", None)
            .opt_num("parent", None)
            .end();
        t.finish().unwrap();
        let bytes = shared.0.lock().unwrap().clone();
        assert_eq!(t.hash(), fnv1a(FNV_OFFSET, &bytes));
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["ev"], "config");
        assert_eq!(lines[0]["classes"][1]["limit"], 5);
        assert_eq!(
            lines[0]["classes"][0]["heartbeat_timeout_ns"],
            serde_json::Value::Null
        );
        assert_eq!(lines[1]["t"], 5);
        assert_eq!(lines[1]["class"], "sen\"ding");
        assert_eq!(lines[1]["group"], serde_json::Value::Null);
    }

    #[test]
    fn integers_format_like_std() {
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }
}
