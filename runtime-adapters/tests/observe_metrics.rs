//! Feature `metrics`: `Scheduler::publish_metrics` publishes the kernel's counts, counters and
//! histograms through the `metrics` facade; a `DebuggingRecorder` sees the kernel's numbers.
#![cfg(all(not(loom), feature = "tokio", feature = "metrics"))]

use baton_kernel::{ClassConfig, Config, Target, TaskState};
use baton_runtime::{Scheduler, TaskFailure, TokioRuntime};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::sync::Arc;

/// One published metric: kind, name, sorted labels, value.
type Seen = (MetricKind, String, Vec<(String, String)>, DebugValue);

/// Publishes under a local recorder and returns what it saw, by (kind, name, sorted labels).
fn publish(s: &Scheduler) -> Vec<Seen> {
    let recorder = DebuggingRecorder::new();
    let snapshotter: Snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || s.publish_metrics());
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            (kind, key.name().to_owned(), labels, value)
        })
        .collect()
}

fn value<'a>(seen: &'a [Seen], name: &str, labels: &[(&str, &str)]) -> &'a DebugValue {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    want.sort();
    seen.iter()
        .find(|(_, n, l, _)| n == name && *l == want)
        .map(|(_, _, _, v)| v)
        .unwrap_or_else(|| panic!("{name} {labels:?} not published"))
}

fn gauge(v: &DebugValue) -> f64 {
    match v {
        DebugValue::Gauge(g) => g.into_inner(),
        other => panic!("not a gauge: {other:?}"),
    }
}

#[test]
fn published_metrics_match_the_kernels_counts() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = Config::new(vec![
            ClassConfig::exclusive("send", 5),
            ClassConfig::background("job", 1).with_limit(1),
        ]);
        let runtime = Arc::new(TokioRuntime::new(tokio::runtime::Handle::current()));
        let s = Scheduler::with_runtime(config, runtime).unwrap();
        let alice = s.connect("alice").unwrap();
        for _ in 0..3 {
            s.submit(alice, "send", |_| async { Ok::<_, TaskFailure>(()) })
                .await
                .unwrap();
        }
        let failed = s.submit(alice, "send", |_| async {
            Err::<(), _>(TaskFailure::new("no"))
        });
        assert!(failed.await.is_err());
        // One job running (it waits to be cancelled), one queued behind it.
        let running = s.submit(Target::None, "job", |ctx| async move {
            ctx.cancelled().await;
            Ok::<_, TaskFailure>(())
        });
        let queued = s.submit(Target::None, "job", |_| async { Ok::<_, TaskFailure>(()) });
        tokio::task::yield_now().await;

        let seen = publish(&s);
        let counts = s.counts();
        let metrics = s.metrics();
        for state in TaskState::ALL {
            let published = gauge(value(&seen, "baton_tasks", &[("state", state.name())]));
            assert_eq!(published, counts.get(state) as f64, "{}", state.name());
        }
        assert_eq!(counts.get(TaskState::Completed), 3);
        assert_eq!(counts.get(TaskState::Running), 1);
        assert_eq!(counts.get(TaskState::Queued), 1);
        assert_eq!(
            gauge(value(&seen, "baton_registry_len", &[])),
            s.registry_len() as f64
        );
        assert_eq!(gauge(value(&seen, "baton_sessions", &[])), 1.0);
        let send = &metrics.classes[0];
        let job = &metrics.classes[1];
        assert_eq!(
            value(&seen, "baton_class_submitted_total", &[("class", "send")]),
            &DebugValue::Counter(send.totals.submitted)
        );
        assert_eq!(send.totals.submitted, 4);
        assert_eq!(
            value(&seen, "baton_class_started_total", &[("class", "send")]),
            &DebugValue::Counter(send.totals.started)
        );
        for (outcome, n) in [("completed", 3), ("failed", 1), ("cancelled", 0)] {
            assert_eq!(
                value(
                    &seen,
                    "baton_class_ended_total",
                    &[("class", "send"), ("outcome", outcome)]
                ),
                &DebugValue::Counter(n),
                "{outcome}"
            );
        }
        assert_eq!(
            gauge(value(&seen, "baton_class_running", &[("class", "job")])),
            1.0
        );
        assert_eq!(
            gauge(value(&seen, "baton_class_queued", &[("class", "job")])),
            1.0
        );
        assert_eq!(job.running, 1);
        let samples =
            |seen: &[_], name: &str, class: &str| match value(seen, name, &[("class", class)]) {
                DebugValue::Histogram(v) => v.len() as u64,
                other => panic!("not a histogram: {other:?}"),
            };
        assert_eq!(
            samples(&seen, "baton_class_run_time_seconds", "send"),
            send.totals.run_time.count()
        );
        assert_eq!(
            samples(&seen, "baton_class_queue_wait_seconds", "send"),
            send.totals.queue_wait.count()
        );

        // The next publish records only the samples added since.
        running.cancel().unwrap();
        let _ = running.await;
        queued.await.unwrap();
        let seen = publish(&s);
        let job = &s.metrics().classes[1];
        assert_eq!(job.totals.run_time.count(), 2);
        assert_eq!(samples(&seen, "baton_class_run_time_seconds", "job"), 2);
        assert_eq!(samples(&seen, "baton_class_run_time_seconds", "send"), 0);
        assert_eq!(
            value(
                &seen,
                "baton_class_ended_total",
                &[("class", "job"), ("outcome", "cancelled")]
            ),
            &DebugValue::Counter(1)
        );
    });
}
