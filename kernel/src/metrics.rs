//! Metrics: totals per outcome and class, and queue-wait and run-time histograms.

use crate::task::Outcome;
use crate::time::Duration;
use serde::{Deserialize, Serialize};

/// A histogram of durations with power-of-two nanosecond buckets: bucket `i` counts samples in
/// `[2^(i-1), 2^i)` ns (bucket 0 counts zero). 65 buckets cover every `u64`.
///
/// ```
/// use baton_kernel::{Duration, Histogram};
/// let mut h = Histogram::default();
/// h.record(Duration::from_nanos(1000));
/// assert_eq!(h.count(), 1);
/// assert_eq!(h.quantile_upper_bound(500), Duration::from_nanos(1024));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum_ns: u64,
}

/// Buckets: one for zero and one per bit of a `u64`.
const BUCKETS: usize = 65;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum_ns: 0,
        }
    }
}

impl Histogram {
    /// Adds one sample. O(1).
    pub fn record(&mut self, d: Duration) {
        let ns = d.as_nanos();
        let bucket = (u64::BITS - ns.leading_zeros()) as usize;
        if let Some(b) = self.buckets.get_mut(bucket) {
            *b = b.saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of all samples (saturating).
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Raw bucket counts (see the type doc for the bucket bounds).
    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }

    /// An upper bound of the `permille`/1000 quantile: the top of the bucket holding it.
    pub fn quantile_upper_bound(&self, permille: u32) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = (u128::from(self.count) * u128::from(permille.min(1000))).div_ceil(1000);
        let rank = rank.max(1);
        let mut seen: u128 = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += u128::from(*b);
            if seen >= rank {
                // Bucket 0 holds only zero; bucket i holds values below 2^i.
                return Duration::from_nanos(match i {
                    0 => 0,
                    64.. => u64::MAX,
                    _ => 1u64 << i,
                });
            }
        }
        Duration::MAX
    }
}

/// Per-class running totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassTotals {
    /// Tasks submitted (accepted) in this class.
    pub submitted: u64,
    /// Attempts started.
    pub started: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Terminal outcomes, indexed like [`Outcome::index`]: completed, failed, cancelled,
    /// timed out, rejected, abandoned.
    pub outcomes: [u64; 6],
    /// Time from (re-)queue to start.
    pub queue_wait: Histogram,
    /// Time from start to the driver's stop report (or cleanup).
    pub run_time: Histogram,
}

impl ClassTotals {
    /// Tasks that ended with this outcome kind.
    pub fn ended(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(outcome.index()).copied().unwrap_or(0)
    }

    pub(crate) fn record_outcome(&mut self, outcome: Outcome) {
        if let Some(c) = self.outcomes.get_mut(outcome.index()) {
            *c = c.saturating_add(1);
        }
    }
}

/// A metrics snapshot for one class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The class name.
    pub name: String,
    /// Tasks running or cancelling now.
    pub running: u64,
    /// Tasks queued or backing off now.
    pub queued: u64,
    /// Tasks asked to abort that have not stopped.
    pub stuck: u64,
    /// Totals since the kernel was created.
    pub totals: ClassTotals,
}

/// A metrics snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// One entry per class, in class order.
    pub classes: Vec<ClassMetrics>,
    /// Records in the registry.
    pub registry_len: u64,
    /// Connected or closing sessions.
    pub sessions: u64,
    /// Session names fenced by unreported exclusive tasks of earlier generations.
    #[serde(default)]
    pub fenced_names: u64,
}
