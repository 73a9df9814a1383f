//! Durable submits: the cost of "acknowledged means durable", and what group commit buys.
//!
//! Each iteration submits 256 durable tasks on a SQLite store (WAL, `synchronous = FULL`, a
//! real `fsync` per commit) and waits for every acknowledgement:
//! - `one at a time`: each submit awaited before the next — one commit per task, the shape a
//!   job table written row by row has;
//! - `256 at once`: all submitted concurrently — the committer writes whatever waits in one
//!   transaction (group commit);
//! - `in memory`: the same 256 submits on a scheduler without a store (handles not awaited),
//!   for scale.
//!
//! ```text
//! cargo bench -p baton-runtime --features store,tokio --bench durable
//! ```

use baton_kernel::{ClassConfig, Config, Duration, Target};
use baton_runtime::{DurableOptions, Kinds, Scheduler, TaskFailure};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Instant;

const TASKS: u64 = 256;

fn config() -> Config {
    let mut config = Config::new(vec![
        ClassConfig::background("jobs", 1)
            .without_timeouts()
            .with_retention(Duration::from_secs(1)),
    ]);
    config.cleanup_interval = Duration::from_secs(1);
    config.limits.background_queue_len_max = 1_000_000;
    config
}

fn kinds() -> Kinds {
    Kinds::new().register(
        "noop",
        |_ctx, n: u64| async move { Ok::<_, TaskFailure>(n) },
    )
}

fn durable(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("durable submit");
    group.throughput(Throughput::Elements(TASKS));
    group.sample_size(10);
    let (s, _) = rt.block_on(async {
        Scheduler::open_durable(
            dir.path().join("bench.db"),
            config(),
            kinds(),
            None,
            DurableOptions::default(),
        )
        .unwrap()
    });
    group.bench_function("one at a time", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for n in 0..TASKS {
                        let h = s
                            .submit_durable(Target::None, "jobs", "noop", n)
                            .await
                            .unwrap();
                        h.detach();
                    }
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("256 at once", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let submits =
                        (0..TASKS).map(|n| s.submit_durable(Target::None, "jobs", "noop", n));
                    for h in futures::future::join_all(submits).await {
                        h.unwrap().detach();
                    }
                }
                start.elapsed()
            })
        })
    });
    let memory = rt.block_on(async { Scheduler::new(config()).unwrap() });
    group.bench_function("in memory", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for n in 0..TASKS {
                        memory
                            .submit(Target::None, "jobs", move |_| async move {
                                Ok::<_, TaskFailure>(n)
                            })
                            .detach();
                    }
                    tokio::task::yield_now().await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// `criterion_group!` defines an undocumented `pub fn`, hence the module.
mod group {
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(benches, durable);
}
criterion_main!(group::benches);
