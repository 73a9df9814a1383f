//! `/metrics`: a snapshot of the kernel and the lease table, encoded by `prometheus-client`.
//!
//! Each scrape builds a fresh registry from the kernel's snapshot (the kernel keeps the totals,
//! so counters are its totals since the store was created). Names:
//! `baton_tasks{state}`, `baton_registry_len`, `baton_sessions`, `baton_class_running{class}`,
//! `baton_class_queued{class}`, `baton_class_stuck{class}`,
//! `baton_class_submitted_total{class}`, `baton_class_started_total{class}`,
//! `baton_class_retries_total{class}`, `baton_class_ended_total{class,outcome}`,
//! `baton_leases{state="offered"|"claimed"}`.

use crate::app::AppState;
use crate::dto::state_name;
use baton_kernel::TaskState;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

const OUTCOMES: [&str; 6] = [
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "rejected",
    "abandoned",
];

fn gauge(v: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    g
}

fn label(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The metrics in the OpenMetrics text format.
pub fn render(state: &AppState) -> Result<String, std::fmt::Error> {
    let (metrics, counts) = state.scheduler.inspect(|k| (k.metrics(), k.counts()));
    let mut registry = Registry::default();

    let tasks = Family::<Labels, Gauge>::default();
    for s in TaskState::ALL {
        tasks
            .get_or_create(&label(&[("state", state_name(s))]))
            .set(i64::try_from(counts.get(s)).unwrap_or(i64::MAX));
    }
    registry.register("baton_tasks", "Tasks in the registry by state", tasks);
    registry.register(
        "baton_registry_len",
        "Records in the registry",
        gauge(metrics.registry_len),
    );
    registry.register(
        "baton_sessions",
        "Connected or closing sessions",
        gauge(metrics.sessions),
    );

    let running = Family::<Labels, Gauge>::default();
    let queued = Family::<Labels, Gauge>::default();
    let stuck = Family::<Labels, Gauge>::default();
    let submitted = Family::<Labels, Counter>::default();
    let started = Family::<Labels, Counter>::default();
    let retries = Family::<Labels, Counter>::default();
    let ended = Family::<Labels, Counter>::default();
    for c in &metrics.classes {
        let l = label(&[("class", &c.name)]);
        running
            .get_or_create(&l)
            .set(i64::try_from(c.running).unwrap_or(i64::MAX));
        queued
            .get_or_create(&l)
            .set(i64::try_from(c.queued).unwrap_or(i64::MAX));
        stuck
            .get_or_create(&l)
            .set(i64::try_from(c.stuck).unwrap_or(i64::MAX));
        submitted.get_or_create(&l).inc_by(c.totals.submitted);
        started.get_or_create(&l).inc_by(c.totals.started);
        retries.get_or_create(&l).inc_by(c.totals.retries);
        for (outcome, n) in OUTCOMES.iter().zip(c.totals.outcomes) {
            ended
                .get_or_create(&label(&[("class", &c.name), ("outcome", outcome)]))
                .inc_by(n);
        }
    }
    registry.register("baton_class_running", "Running or cancelling now", running);
    registry.register("baton_class_queued", "Queued or backing off now", queued);
    registry.register("baton_class_stuck", "Asked to abort, not stopped", stuck);
    registry.register("baton_class_submitted", "Tasks accepted", submitted);
    registry.register("baton_class_started", "Attempts started", started);
    registry.register("baton_class_retries", "Retries scheduled", retries);
    registry.register("baton_class_ended", "Tasks ended, by outcome", ended);

    let (offered, claimed) = state.leases.counts();
    let leases = Family::<Labels, Gauge>::default();
    leases
        .get_or_create(&label(&[("state", "offered")]))
        .set(i64::try_from(offered).unwrap_or(i64::MAX));
    leases
        .get_or_create(&label(&[("state", "claimed")]))
        .set(i64::try_from(claimed).unwrap_or(i64::MAX));
    registry.register("baton_leases", "Attempts parked for remote workers", leases);

    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}
