//! Per-task overhead of the adapter: submit → trivial body → handle resolved, against a bare
//! `spawn` + await on the same runtime. One task at a time, so each iteration is the latency
//! of one task through the scheduler (kernel submit, dispatch, spawn, body, report, resolve).
//!
//! ```text
//! cargo bench -p baton-runtime --features smol,tokio --bench overhead
//! ```

use baton_kernel::{
    ClassConfig, ClassId, Config, Duration, Exit, Instant as KInstant, Kernel, Submit, Target,
};
use baton_runtime::{Scheduler, SmolRuntime, TaskFailure};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Instant;

/// One background class without deadlines; records are kept 1 s and swept every second (the
/// realistic shape: a retention, batched), so the registry stays bounded during a run.
fn config() -> Config {
    let mut config = Config::new(vec![
        ClassConfig::background("bench", 1)
            .without_timeouts()
            .with_retention(Duration::from_secs(1)),
    ]);
    config.cleanup_interval = Duration::from_secs(1);
    config
}

const BENCH: ClassId = ClassId(0);

fn tokio_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tokio");
    group.bench_function("spawn+await", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::spawn(async { black_box(1u64) }).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    let scheduler = rt.block_on(async { Scheduler::new(config()).unwrap() });
    group.bench_function("baton submit+await", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let handle = scheduler.submit(Target::None, BENCH, |_| async {
                        Ok::<_, TaskFailure>(black_box(1u64))
                    });
                    black_box(handle.await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn smol_overhead(c: &mut Criterion) {
    // One executor, run on the bench thread, for both: the comparison is then not dominated by
    // waking the global executor's thread.
    let executor = Arc::new(smol::Executor::new());
    let mut group = c.benchmark_group("smol");
    group.bench_function("spawn+await", |b| {
        b.iter_custom(|iters| {
            smol::block_on(executor.run(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(executor.spawn(async { black_box(1u64) }).await);
                }
                start.elapsed()
            }))
        })
    });
    let runtime = Arc::new(SmolRuntime::with_executor(executor.clone()));
    let scheduler = Scheduler::with_runtime(config(), runtime).unwrap();
    group.bench_function("baton submit+await", |b| {
        b.iter_custom(|iters| {
            smol::block_on(executor.run(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let handle = scheduler.submit(Target::None, BENCH, |_| async {
                        Ok::<_, TaskFailure>(black_box(1u64))
                    });
                    black_box(handle.await.unwrap());
                }
                start.elapsed()
            }))
        })
    });
    group.finish();
}

/// The kernel alone, for scale: submit, start, finished and draining, with no runtime.
fn kernel_alone(c: &mut Criterion) {
    let mut kernel = Kernel::new(config()).unwrap();
    let epoch = Instant::now();
    c.bench_function("kernel alone: submit+start+finished", |b| {
        b.iter(|| {
            let now = KInstant::from_nanos(epoch.elapsed().as_nanos() as u64);
            let task = kernel
                .submit(now, Submit::new(BENCH, Target::None))
                .unwrap();
            while let Some(action) = kernel.poll_action() {
                black_box(action);
            }
            kernel.finished(now, task, Exit::Completed).unwrap();
            while let Some(action) = kernel.poll_action() {
                black_box(action);
            }
            kernel.handle_timeout(now).unwrap();
            while let Some(action) = kernel.poll_action() {
                black_box(action);
            }
        })
    });
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

/// `criterion_group!` defines an undocumented `pub fn`, hence the module.
mod group {
    #![allow(missing_docs)]
    use super::*;
    criterion_group! {
        name = benches;
        config = quick();
        targets = kernel_alone, tokio_overhead, smol_overhead
    }
}
criterion_main!(group::benches);
