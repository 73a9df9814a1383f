//! The `metrics`-facade bridge (feature `metrics`): publishes a kernel snapshot — its counts by
//! state, its per-class counters and histograms — through `metrics::gauge!`, `counter!` and
//! `histogram!`, under the stable names listed in the crate docs ("Metrics"), so any exporter
//! (Prometheus or other) installed as the `metrics` recorder sees them. A floor-0 file: it
//! knows only the kernel's snapshot types.

use baton_kernel::{Histogram, Metrics, StateCounts, TaskState};

/// What the previous publish saw of each class's histograms, so the next one records only the
/// samples added since (the kernel's histograms are cumulative; a facade histogram takes
/// samples).
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Per class: queue-wait bucket counts, then run-time bucket counts, as last published.
    classes: Vec<[Vec<u64>; 2]>,
}

/// Publishes `metrics` and `counts`, remembering in `published` what it recorded.
pub(crate) fn publish(metrics: &Metrics, counts: &StateCounts, published: &mut Published) {
    for state in TaskState::ALL {
        metrics::gauge!("baton_tasks", "state" => state.name()).set(counts.get(state) as f64);
    }
    metrics::gauge!("baton_registry_len").set(metrics.registry_len as f64);
    metrics::gauge!("baton_sessions").set(metrics.sessions as f64);
    metrics::gauge!("baton_fenced_names").set(metrics.fenced_names as f64);
    if published.classes.len() < metrics.classes.len() {
        published
            .classes
            .resize_with(metrics.classes.len(), Default::default);
    }
    for (class, seen) in metrics.classes.iter().zip(published.classes.iter_mut()) {
        let name = class.name.clone();
        let totals = &class.totals;
        metrics::gauge!("baton_class_running", "class" => name.clone()).set(class.running as f64);
        metrics::gauge!("baton_class_queued", "class" => name.clone()).set(class.queued as f64);
        metrics::gauge!("baton_class_stuck", "class" => name.clone()).set(class.stuck as f64);
        metrics::counter!("baton_class_submitted_total", "class" => name.clone())
            .absolute(totals.submitted);
        metrics::counter!("baton_class_started_total", "class" => name.clone())
            .absolute(totals.started);
        metrics::counter!("baton_class_retries_total", "class" => name.clone())
            .absolute(totals.retries);
        for state in TaskState::ALL.into_iter().filter(|s| s.is_terminal()) {
            let index = state.index() - TaskState::Completed.index();
            let ended = totals.outcomes.get(index).copied().unwrap_or(0);
            metrics::counter!(
                "baton_class_ended_total",
                "class" => name.clone(),
                "outcome" => state.name()
            )
            .absolute(ended);
        }
        let [queue_wait, run_time] = seen;
        let queue = metrics::histogram!("baton_class_queue_wait_seconds", "class" => name.clone());
        record_new(&totals.queue_wait, queue_wait, |v, n| {
            queue.record_many(v, n)
        });
        let run = metrics::histogram!("baton_class_run_time_seconds", "class" => name);
        record_new(&totals.run_time, run_time, |v, n| run.record_many(v, n));
    }
}

/// Records the samples `histogram` gained since `seen` (one call per bucket that grew, each
/// sample at its bucket's upper bound, in seconds), then remembers the new bucket counts.
fn record_new(histogram: &Histogram, seen: &mut Vec<u64>, mut record: impl FnMut(f64, usize)) {
    let buckets = histogram.buckets();
    seen.resize(buckets.len(), 0);
    for (i, (now, before)) in buckets.iter().zip(seen.iter_mut()).enumerate() {
        let new = now.saturating_sub(*before);
        if new > 0 {
            record(
                bucket_upper_bound_seconds(i),
                usize::try_from(new).unwrap_or(usize::MAX),
            );
            *before = *now;
        }
    }
}

/// The top of bucket `i` of a kernel [`Histogram`] in seconds: bucket 0 holds zero, bucket `i`
/// durations below `2^i` ns.
fn bucket_upper_bound_seconds(i: usize) -> f64 {
    match i {
        0 => 0.0,
        _ => 2f64.powi(i32::try_from(i).unwrap_or(i32::MAX)) / 1e9,
    }
}
