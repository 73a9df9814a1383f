//! Configuration: classes of work, the retry policy and every bound, validated on construction.

use crate::error::ConfigError;
use crate::time::Duration;
use serde::{Deserialize, Serialize};

/// How a failed attempt is retried.
///
/// The delay before attempt `k + 1` (after attempt `k` failed) is
/// `min(cap, base · 2^(k-1))`, then scaled by a jitter factor `f/1000` with `f` drawn uniformly
/// from `1000 - jitter_permille ..= 1000` by the kernel's seeded generator. Jitter only ever
/// shortens the delay, so `cap` stays a true upper bound.
///
/// ```
/// use baton_kernel::{Duration, RetryPolicy};
/// let p = RetryPolicy::exponential(3, Duration::from_secs(1), Duration::from_secs(30));
/// assert_eq!(p.max_attempts, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; `1` means never retry. At least 1.
    pub max_attempts: u32,
    /// Delay after the first failure.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
    /// Jitter in thousandths (0 ..= 1000).
    pub jitter_permille: u16,
}

impl RetryPolicy {
    /// No retries.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base: Duration::ZERO,
        cap: Duration::ZERO,
        jitter_permille: 0,
    };

    /// `max_attempts` attempts with exponential backoff from `base` up to `cap`, 10% jitter.
    pub const fn exponential(max_attempts: u32, base: Duration, cap: Duration) -> Self {
        RetryPolicy {
            max_attempts,
            base,
            cap,
            jitter_permille: 100,
        }
    }
}

/// A kind of work: its priority, whether it needs its session exclusively, its deadlines, limit,
/// retries and retention.
///
/// ```
/// use baton_kernel::{ClassConfig, Duration};
/// let scraping = ClassConfig::exclusive("scraping", 5)
///     .with_run_timeout(Duration::from_secs(300))
///     .with_limit(5);
/// assert!(scraping.exclusive);
/// assert_eq!(scraping.limit, Some(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassConfig {
    /// Unique name (1 ..= `Limits::name_len_max` bytes).
    pub name: String,
    /// Default priority; higher runs first. A submit may override it.
    pub priority: u8,
    /// Exclusive tasks hold their session while running; background tasks need no session.
    pub exclusive: bool,
    /// A task still queued this long after it was (re-)queued is Rejected(QueueTimeout).
    /// `None`: waits forever.
    pub queue_timeout: Option<Duration>,
    /// A task still running this long after it started is cancelled with reason Timeout.
    /// `None`: no run deadline.
    pub run_timeout: Option<Duration>,
    /// A running task that reports no progress for this long is cancelled with reason Stalled.
    pub heartbeat_timeout: Option<Duration>,
    /// Deadline from first submission across all retries.
    pub total_timeout: Option<Duration>,
    /// How long a cancelled task may take to stop before the kernel asks for a hard abort.
    pub grace: Duration,
    /// At most this many tasks of the class run (or are cancelling) at once, kernel-wide.
    pub limit: Option<u32>,
    /// Retry policy for failures reported as retryable.
    pub retry: RetryPolicy,
    /// How long a terminal record stays queryable.
    pub retention: Duration,
}

/// The source systems' defaults: 60 s queue wait, 300 s run, 5 s grace, 300 s retention.
const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
const DEFAULT_RETENTION: Duration = Duration::from_secs(300);

impl ClassConfig {
    fn new(name: &str, priority: u8, exclusive: bool) -> Self {
        ClassConfig {
            name: name.to_owned(),
            priority,
            exclusive,
            queue_timeout: Some(DEFAULT_QUEUE_TIMEOUT),
            run_timeout: Some(DEFAULT_RUN_TIMEOUT),
            heartbeat_timeout: None,
            total_timeout: None,
            grace: DEFAULT_GRACE,
            limit: None,
            retry: RetryPolicy::NONE,
            retention: DEFAULT_RETENTION,
        }
    }

    /// An exclusive class (holds its session while running) with DESIGN.md's defaults.
    pub fn exclusive(name: &str, priority: u8) -> Self {
        Self::new(name, priority, true)
    }

    /// A background class (needs no session) with DESIGN.md's defaults.
    pub fn background(name: &str, priority: u8) -> Self {
        Self::new(name, priority, false)
    }

    /// Sets the queue timeout.
    pub fn with_queue_timeout(mut self, d: Duration) -> Self {
        self.queue_timeout = Some(d);
        self
    }

    /// Sets the run timeout.
    pub fn with_run_timeout(mut self, d: Duration) -> Self {
        self.run_timeout = Some(d);
        self
    }

    /// Removes the queue and run deadlines.
    pub fn without_timeouts(mut self) -> Self {
        self.queue_timeout = None;
        self.run_timeout = None;
        self
    }

    /// Sets the heartbeat timeout.
    pub fn with_heartbeat_timeout(mut self, d: Duration) -> Self {
        self.heartbeat_timeout = Some(d);
        self
    }

    /// Sets the total timeout.
    pub fn with_total_timeout(mut self, d: Duration) -> Self {
        self.total_timeout = Some(d);
        self
    }

    /// Sets the cancel grace.
    pub fn with_grace(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    /// Sets the concurrency limit.
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the retention of terminal records.
    pub fn with_retention(mut self, d: Duration) -> Self {
        self.retention = d;
        self
    }
}

/// Every bound the kernel enforces. Exceeding one is a typed rejection; nothing grows silently.
///
/// Memory: a queued task costs about 300 bytes (its 240-byte record in the registry, its queue
/// deadline's entry, and slack), plus its progress message and error text once it has them; a
/// session about 300 bytes plus its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Connected (and closing) sessions at once.
    pub sessions_max: u32,
    /// Records in the registry (active and retained terminal tasks).
    pub tasks_max: u32,
    /// Queued (and backing-off) tasks aimed at one session or one group. The source used 100.
    pub queue_len_max: u32,
    /// Queued (and backing-off) tasks with no target, kernel-wide.
    pub background_queue_len_max: u32,
    /// Bytes in a progress message.
    pub message_len_max: u32,
    /// Bytes kept of a failure's error text (longer text is truncated, not refused, so a finish
    /// report is never lost).
    pub error_len_max: u32,
    /// Active (non-terminal) children of one task.
    pub children_max: u32,
    /// Groups in all.
    pub groups_max: u32,
    /// Groups one session may belong to.
    pub groups_per_session_max: u32,
    /// Bytes in a session, group or class name.
    pub name_len_max: u32,
    /// Entries returned by one page of [`Kernel::list`](crate::Kernel::list).
    pub page_len_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions_max: 100_000,
            tasks_max: 1_000_000,
            queue_len_max: 100,
            background_queue_len_max: 100_000,
            message_len_max: 256,
            error_len_max: 1024,
            children_max: 1024,
            groups_max: 1024,
            groups_per_session_max: 16,
            name_len_max: 128,
            page_len_max: 1000,
        }
    }
}

/// Classes most configurations may have: the dispatcher looks at each class's best ready task,
/// so this bounds its per-decision work.
pub const CLASSES_MAX: usize = 64;

/// The kernel's whole configuration.
///
/// ```
/// use baton_kernel::{ClassConfig, Config};
/// let config = Config::new(vec![ClassConfig::exclusive("io", 1)]);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The classes; a [`ClassId`](crate::ClassId) is an index into this list.
    pub classes: Vec<ClassConfig>,
    /// Bounds.
    pub limits: Limits,
    /// Terminal records are removed in batches: at the first multiple of this interval at or after
    /// `finished + retention`, so removal lands in `[finished + retention, + cleanup_interval)`.
    /// Zero removes each record exactly at `finished + retention`.
    pub cleanup_interval: Duration,
    /// How long disconnect waits for a session's tasks to stop before removing them anyway.
    pub disconnect_grace: Duration,
    /// Seed of the kernel's jitter generator.
    pub seed: u64,
    /// Exclusivity survives reconnects (default on): while an exclusive task of an earlier
    /// generation of a session name may still be running — cancelling after a disconnect, or
    /// abandoned by cleanup and never reported stopped — no generation of that name starts
    /// exclusive work. The driver's late `finished` for an abandoned task is accepted and lifts
    /// its part of the fence. Off, a reconnected name is free at once (the source's behaviour).
    #[serde(default = "default_fence")]
    pub fence_reconnect: bool,
}

fn default_fence() -> bool {
    true
}

impl Config {
    /// A configuration with the given classes and default bounds (cleanup every 60 s,
    /// disconnect grace 5 s, seed 0, reconnect fence on).
    pub fn new(classes: Vec<ClassConfig>) -> Self {
        Config {
            classes,
            limits: Limits::default(),
            cleanup_interval: Duration::from_secs(60),
            disconnect_grace: DEFAULT_GRACE,
            seed: 0,
            fence_reconnect: true,
        }
    }

    /// Checks every field; the first problem found is returned, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.classes.is_empty() {
            return Err(ConfigError::NoClasses);
        }
        if self.classes.len() > CLASSES_MAX {
            return Err(ConfigError::TooManyClasses {
                count: self.classes.len(),
                max: CLASSES_MAX,
            });
        }
        let l = &self.limits;
        for (field, value) in [
            ("sessions_max", l.sessions_max),
            ("tasks_max", l.tasks_max),
            ("queue_len_max", l.queue_len_max),
            ("background_queue_len_max", l.background_queue_len_max),
            ("name_len_max", l.name_len_max),
            ("page_len_max", l.page_len_max),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroBound { field });
            }
        }
        for (i, class) in self.classes.iter().enumerate() {
            let name = class.name.clone();
            if class.name.is_empty() || class.name.len() > l.name_len_max as usize {
                return Err(ConfigError::BadClassName { name });
            }
            if self.classes.iter().take(i).any(|c| c.name == class.name) {
                return Err(ConfigError::DuplicateClass { name });
            }
            if class.limit == Some(0) {
                return Err(ConfigError::ZeroLimit { class: name });
            }
            let r = &class.retry;
            if r.max_attempts == 0 {
                return Err(ConfigError::ZeroAttempts { class: name });
            }
            if r.base > r.cap {
                return Err(ConfigError::BaseAboveCap { class: name });
            }
            if r.jitter_permille > 1000 {
                return Err(ConfigError::JitterTooLarge { class: name });
            }
            for (field, d) in [
                ("heartbeat_timeout", class.heartbeat_timeout),
                ("total_timeout", class.total_timeout),
                ("run_timeout", class.run_timeout),
            ] {
                if d == Some(Duration::ZERO) {
                    return Err(ConfigError::ZeroTimeout { class: name, field });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::new(vec![ClassConfig::exclusive("a", 1)])
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut c = base();
        c.classes.clear();
        assert_eq!(c.validate(), Err(ConfigError::NoClasses));

        let mut c = base();
        c.classes.push(ClassConfig::background("a", 2));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::DuplicateClass { .. })
        ));

        let mut c = base();
        c.limits.queue_len_max = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroBound {
                field: "queue_len_max"
            })
        );

        let mut c = base();
        c.classes[0].limit = Some(0);
        assert!(matches!(c.validate(), Err(ConfigError::ZeroLimit { .. })));

        let mut c = base();
        c.classes[0].retry.max_attempts = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ZeroAttempts { .. })
        ));

        let mut c = base();
        c.classes[0].retry =
            RetryPolicy::exponential(3, Duration::from_secs(9), Duration::from_secs(1));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::BaseAboveCap { .. })
        ));

        let mut c = base();
        c.classes[0].retry.jitter_permille = 1001;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::JitterTooLarge { .. })
        ));

        let mut c = base();
        c.classes[0].name.clear();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::BadClassName { .. })
        ));

        let mut c = base();
        c.classes[0].heartbeat_timeout = Some(Duration::ZERO);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ZeroTimeout {
                field: "heartbeat_timeout",
                ..
            })
        ));

        let mut c = base();
        c.classes = (0..65)
            .map(|i| ClassConfig::exclusive(&format!("c{i}"), 1))
            .collect();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooManyClasses { .. })
        ));
        assert_eq!(base().validate(), Ok(()));
    }
}
