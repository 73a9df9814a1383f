//! The server's configuration file (TOML): the kernel's classes, or a preset, and the task
//! kinds the server accepts.
//!
//! ```toml
//! # Either a preset: "job_manager", "session_manager" or "cache_tracker" …
//! # preset = "job_manager"
//! # … or one [[class]] table per class (not both).
//! kinds = ["send_message", "render_report"]   # required, at least one
//! disconnect_grace_ms = 5000                   # optional (default 5000)
//!
//! [[class]]
//! name = "sending"            # required
//! priority = 1                # required, 0..=255, higher runs first
//! exclusive = true            # default false: holds its session while running
//! limit = 5                   # optional: at most this many running at once
//! queue_timeout_ms = 60000    # optional, default 60000; 0 = wait forever
//! run_timeout_ms = 60000      # optional, default 300000; 0 = no run deadline
//! heartbeat_timeout_ms = 30000 # optional: no progress for this long stalls the attempt
//! grace_ms = 5000             # optional, default 5000: cancel grace before an abort
//! retention_ms = 300000       # optional, default 300000: ended records stay queryable
//! lease_timeout_ms = 30000    # optional, default 30000: a claimed lease with no heartbeat
//!                             # for this long fails the attempt retryably (re-delivery)
//! retry = { max_attempts = 3, base_ms = 1000, cap_ms = 60000, jitter_permille = 100 }
//! ```
//!
//! Unknown fields are refused (a typo never silently means a default), and the kernel's own
//! validation runs on the result; every error names the field.

use baton_kernel::{ClassConfig, Config, Duration, RetryPolicy, preset};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The default lease timeout: 30 s without a heartbeat from the worker holding a lease.
pub const DEFAULT_LEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The TOML does not parse, or a field has the wrong type or name (toml's message names it).
    #[error("bad config: {0}")]
    Parse(String),
    /// A field has a value the server does not accept.
    #[error("bad config: field `{field}`: {problem}")]
    Field {
        /// The field, e.g. `class[1].retry.base_ms`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The kernel refused the resulting configuration.
    #[error("bad config: {0}")]
    Kernel(#[from] baton_kernel::ConfigError),
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    preset: Option<String>,
    #[serde(default)]
    class: Vec<ClassFile>,
    #[serde(default)]
    kinds: Vec<String>,
    disconnect_grace_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    name: String,
    priority: u8,
    #[serde(default)]
    exclusive: bool,
    limit: Option<u32>,
    queue_timeout_ms: Option<u64>,
    run_timeout_ms: Option<u64>,
    heartbeat_timeout_ms: Option<u64>,
    grace_ms: Option<u64>,
    retention_ms: Option<u64>,
    lease_timeout_ms: Option<u64>,
    retry: Option<RetryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    max_attempts: u32,
    #[serde(default)]
    base_ms: u64,
    #[serde(default)]
    cap_ms: u64,
    #[serde(default)]
    jitter_permille: u16,
}

/// A parsed, validated server configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The kernel's configuration.
    pub kernel: Config,
    /// The task kinds the server accepts (each is served by remote workers).
    pub kinds: Vec<String>,
    /// Per class name: how long a claimed lease may go without a heartbeat.
    pub lease_timeouts: BTreeMap<String, std::time::Duration>,
}

impl ServerConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigFileError::Read {
            path: path.display().to_string(),
            error,
        })?;
        ServerConfig::parse(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<ServerConfig, ConfigFileError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigFileError::Parse(e.to_string()))?;
        let mut kernel = match (&file.preset, file.class.is_empty()) {
            (Some(_), false) => {
                return Err(field(
                    "preset",
                    "give either `preset` or [[class]] tables, not both",
                ));
            }
            (None, true) => {
                return Err(field(
                    "class",
                    "no classes: give [[class]] tables or a `preset`",
                ));
            }
            (Some(name), true) => match name.as_str() {
                "job_manager" => preset::job_manager(),
                "session_manager" => preset::session_manager(),
                "cache_tracker" => preset::cache_tracker(),
                other => {
                    return Err(field(
                        "preset",
                        &format!(
                            "unknown preset {other:?} (one of job_manager, session_manager, \
                             cache_tracker)"
                        ),
                    ));
                }
            },
            (None, false) => Config::new(Vec::new()),
        };
        let mut lease_timeouts = BTreeMap::new();
        for (i, c) in file.class.iter().enumerate() {
            let (class, lease) = class_config(i, c)?;
            lease_timeouts.insert(class.name.clone(), lease);
            kernel.classes.push(class);
        }
        for class in &kernel.classes {
            lease_timeouts
                .entry(class.name.clone())
                .or_insert(DEFAULT_LEASE_TIMEOUT);
        }
        if let Some(ms) = file.disconnect_grace_ms {
            kernel.disconnect_grace = Duration::from_millis(ms);
        }
        if file.kinds.is_empty() {
            return Err(field(
                "kinds",
                "no task kinds: list the kinds the server accepts",
            ));
        }
        for (i, kind) in file.kinds.iter().enumerate() {
            if kind.is_empty() || kind.len() > 128 {
                return Err(field(
                    &format!("kinds[{i}]"),
                    "a kind is 1 to 128 bytes long",
                ));
            }
            if file.kinds.iter().take(i).any(|k| k == kind) {
                return Err(field(
                    &format!("kinds[{i}]"),
                    &format!("duplicate kind {kind:?}"),
                ));
            }
        }
        kernel.validate()?;
        Ok(ServerConfig {
            kernel,
            kinds: file.kinds,
            lease_timeouts,
        })
    }
}

fn field(name: &str, problem: &str) -> ConfigFileError {
    ConfigFileError::Field {
        field: name.to_owned(),
        problem: problem.to_owned(),
    }
}

/// `Some(ms)` as a duration, with 0 meaning "none".
fn optional(ms: Option<u64>, default: Option<Duration>) -> Option<Duration> {
    match ms {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
        None => default,
    }
}

fn class_config(
    i: usize,
    c: &ClassFile,
) -> Result<(ClassConfig, std::time::Duration), ConfigFileError> {
    let mut class = if c.exclusive {
        ClassConfig::exclusive(&c.name, c.priority)
    } else {
        ClassConfig::background(&c.name, c.priority)
    };
    class.limit = c.limit;
    class.queue_timeout = optional(c.queue_timeout_ms, class.queue_timeout);
    class.run_timeout = optional(c.run_timeout_ms, class.run_timeout);
    if c.heartbeat_timeout_ms == Some(0) {
        return Err(field(
            &format!("class[{i}].heartbeat_timeout_ms"),
            "must be above 0 (leave it out for no heartbeat deadline)",
        ));
    }
    class.heartbeat_timeout = optional(c.heartbeat_timeout_ms, None);
    if let Some(ms) = c.grace_ms {
        class.grace = Duration::from_millis(ms);
    }
    if let Some(ms) = c.retention_ms {
        class.retention = Duration::from_millis(ms);
    }
    if let Some(r) = &c.retry {
        if r.base_ms > r.cap_ms {
            return Err(field(
                &format!("class[{i}].retry.base_ms"),
                "must not be above retry.cap_ms",
            ));
        }
        class.retry = RetryPolicy {
            max_attempts: r.max_attempts,
            base: Duration::from_millis(r.base_ms),
            cap: Duration::from_millis(r.cap_ms),
            jitter_permille: r.jitter_permille,
        };
    }
    let lease = match c.lease_timeout_ms {
        Some(0) => {
            return Err(field(
                &format!("class[{i}].lease_timeout_ms"),
                "must be above 0",
            ));
        }
        Some(ms) => std::time::Duration::from_millis(ms),
        None => DEFAULT_LEASE_TIMEOUT,
    };
    Ok((class, lease))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_class_parses() {
        let c = ServerConfig::parse(
            r#"
            kinds = ["send"]
            [[class]]
            name = "sending"
            priority = 3
            exclusive = true
            limit = 2
            run_timeout_ms = 0
            heartbeat_timeout_ms = 500
            lease_timeout_ms = 200
            retry = { max_attempts = 3, base_ms = 10, cap_ms = 100, jitter_permille = 0 }
            "#,
        )
        .expect("valid");
        let class = &c.kernel.classes[0];
        assert_eq!(class.name, "sending");
        assert!(class.exclusive);
        assert_eq!(class.limit, Some(2));
        assert_eq!(class.run_timeout, None);
        assert_eq!(class.heartbeat_timeout, Some(Duration::from_millis(500)));
        assert_eq!(class.retry.max_attempts, 3);
        assert_eq!(
            c.lease_timeouts.get("sending"),
            Some(&std::time::Duration::from_millis(200))
        );
        assert_eq!(c.kinds, vec!["send".to_owned()]);
    }

    #[test]
    fn a_preset_parses() {
        let c =
            ServerConfig::parse("preset = \"job_manager\"\nkinds = [\"a\", \"b\"]").expect("ok");
        assert_eq!(c.kernel.classes[0].name, "job");
        assert_eq!(c.lease_timeouts.get("job"), Some(&DEFAULT_LEASE_TIMEOUT));
    }

    #[test]
    fn errors_name_the_field() {
        let typo = ServerConfig::parse("kinds = [\"a\"]\n[[class]]\nname = \"x\"\nprioity = 1")
            .expect_err("typo");
        assert!(typo.to_string().contains("prioity"), "{typo}");
        let both = ServerConfig::parse(
            "preset = \"job_manager\"\nkinds = [\"a\"]\n[[class]]\nname = \"x\"\npriority = 1",
        )
        .expect_err("both");
        assert!(both.to_string().contains("`preset`"), "{both}");
        let no_kinds = ServerConfig::parse("preset = \"job_manager\"").expect_err("kinds");
        assert!(no_kinds.to_string().contains("`kinds`"), "{no_kinds}");
        let base = ServerConfig::parse(
            "kinds = [\"a\"]\n[[class]]\nname = \"x\"\npriority = 1\nretry = { max_attempts = 2, base_ms = 9, cap_ms = 1 }",
        )
        .expect_err("base");
        assert!(
            base.to_string().contains("class[0].retry.base_ms"),
            "{base}"
        );
        let preset = ServerConfig::parse("preset = \"nope\"\nkinds = [\"a\"]").expect_err("preset");
        assert!(preset.to_string().contains("unknown preset"), "{preset}");
        let attempts = ServerConfig::parse(
            "kinds = [\"a\"]\n[[class]]\nname = \"x\"\npriority = 1\nretry = { max_attempts = 0 }",
        )
        .expect_err("attempts");
        assert!(attempts.to_string().contains("attempt"), "{attempts}");
    }
}
