//! Group 4 of issue 7: the runtime adapters (`baton-runtime`) against a bare `spawn` + `.await`
//! on the same runtime (see `BENCHMARKS.md`).
//!
//! - `adapter_overhead_{tokio,smol}`: one task at a time, submit → trivial body → handle
//!   resolved (kernel submit, dispatch, spawn, body, report, resolve), against spawning the same
//!   trivial body and awaiting its join handle. The approach of
//!   `runtime-adapters/benches/overhead.rs`: a current-thread tokio runtime, and one smol
//!   executor run on the bench thread, so neither side pays for waking another thread.
//! - `adapter_throughput_{tokio,smol}`: many sessions on both cores. [`TASKS`] tasks per
//!   iteration, submitted round robin to [`SESSIONS`] connected sessions in an exclusive class
//!   (so each session runs its tasks one after another), all awaited; against spawning as many
//!   trivial tasks and awaiting them all. A multi-thread tokio runtime with 2 workers, and a smol
//!   executor run by 2 threads.
//!
//! Function names: `bare_spawn` (the runtime alone), `baton` (through the scheduler), and on
//! tokio `tokio_primitives` — baseline (b), a `tokio::sync::Mutex` per session held by each
//! spawned task.

use baton_kernel::{ClassConfig, ClassId, Config, Duration as KDuration, SessionId, Target};
use baton_runtime::{Scheduler, SmolRuntime, TaskFailure, TokioRuntime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sessions in the throughput benchmark.
const SESSIONS: usize = 1_000;
/// Tasks per iteration of the throughput benchmark (10 per session).
const TASKS: usize = 10_000;
/// Worker threads in the throughput benchmark: the machine's 2 cores.
const WORKERS: usize = 2;

const OVERHEAD_CLASS: ClassId = ClassId(0);

/// One background class without deadlines (as in `runtime-adapters/benches/overhead.rs`);
/// records kept 100 ms and swept every 100 ms: criterion's batches run for seconds at about a
/// million tasks per second, and a 1 s retention would fill `tasks_max`.
fn overhead_config() -> Config {
    let mut config = Config::new(vec![
        ClassConfig::background("bench", 1)
            .without_timeouts()
            .with_retention(KDuration::from_millis(100)),
    ]);
    config.cleanup_interval = KDuration::from_millis(100);
    config
}

/// One exclusive class without deadlines (one running task per session); records kept 100 ms
/// and swept every 100 ms so the registry stays far below `tasks_max` at full speed.
fn throughput_config() -> Config {
    let mut config = Config::new(vec![
        ClassConfig::exclusive("op", 1)
            .without_timeouts()
            .with_retention(KDuration::from_millis(100)),
    ]);
    config.cleanup_interval = KDuration::from_millis(100);
    config
}

fn connect_all(scheduler: &Scheduler) -> Vec<SessionId> {
    (0..SESSIONS)
        .map(|i| scheduler.connect(&format!("s{i}")).expect("connect"))
        .collect()
}

fn overhead_tokio(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("adapter_overhead_tokio");
    group.bench_function("bare_spawn", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::spawn(async { black_box(1u64) }).await.expect("join"));
                }
                start.elapsed()
            })
        })
    });
    let scheduler = Scheduler::with_runtime(
        overhead_config(),
        Arc::new(TokioRuntime::new(rt.handle().clone())),
    )
    .expect("scheduler");
    group.bench_function("baton", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let handle = scheduler.submit(Target::None, OVERHEAD_CLASS, |_| async {
                        Ok::<_, TaskFailure>(black_box(1u64))
                    });
                    black_box(handle.await.expect("task"));
                }
                start.elapsed()
            })
        })
    });
    // The same with the input log on (`Scheduler::recording`), written to `io::sink()`: the
    // recorder's own cost (one JSON line per input, its actions included, into a 64 KiB
    // buffer), without the disk's.
    let recording = Scheduler::recording(
        overhead_config(),
        Some(Arc::new(TokioRuntime::new(rt.handle().clone()))),
        std::io::sink(),
    )
    .expect("scheduler");
    group.bench_function("baton_recording", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let handle = recording.submit(Target::None, OVERHEAD_CLASS, |_| async {
                        Ok::<_, TaskFailure>(black_box(1u64))
                    });
                    black_box(handle.await.expect("task"));
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    drop(scheduler);
    drop(recording);
}

fn overhead_smol(c: &mut Criterion) {
    let executor = Arc::new(smol::Executor::new());
    let mut group = c.benchmark_group("adapter_overhead_smol");
    group.bench_function("bare_spawn", |b| {
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
    let scheduler = Scheduler::with_runtime(overhead_config(), runtime).expect("scheduler");
    group.bench_function("baton", |b| {
        b.iter_custom(|iters| {
            smol::block_on(executor.run(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let handle = scheduler.submit(Target::None, OVERHEAD_CLASS, |_| async {
                        Ok::<_, TaskFailure>(black_box(1u64))
                    });
                    black_box(handle.await.expect("task"));
                }
                start.elapsed()
            }))
        })
    });
    group.finish();
    drop(scheduler);
}

/// Submits [`TASKS`] tasks round robin over `sessions` and awaits them all.
async fn baton_batch(scheduler: &Scheduler, sessions: &[SessionId]) {
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            scheduler.submit(sessions[i % sessions.len()], "op", |_| async {
                Ok::<_, TaskFailure>(black_box(1u64))
            })
        })
        .collect();
    for h in handles {
        black_box(h.await.expect("task"));
    }
}

fn throughput_tokio(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("adapter_throughput_tokio");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("bare_spawn", SESSIONS), |b| {
        b.iter(|| {
            rt.block_on(async {
                let handles: Vec<_> = (0..TASKS)
                    .map(|_| tokio::spawn(async { black_box(1u64) }))
                    .collect();
                for h in handles {
                    black_box(h.await.expect("join"));
                }
            })
        })
    });
    // (b), the tokio-primitives shape a user writes by hand: a `tokio::sync::Mutex` per
    // session, each task spawned and holding its session's lock while it runs.
    let locks: Vec<Arc<tokio::sync::Mutex<()>>> = (0..SESSIONS)
        .map(|_| Arc::new(tokio::sync::Mutex::new(())))
        .collect();
    group.bench_function(BenchmarkId::new("tokio_primitives", SESSIONS), |b| {
        b.iter(|| {
            rt.block_on(async {
                let handles: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let lock = locks[i % SESSIONS].clone();
                        tokio::spawn(async move {
                            let _held = lock.lock().await;
                            black_box(1u64)
                        })
                    })
                    .collect();
                for h in handles {
                    black_box(h.await.expect("join"));
                }
            })
        })
    });
    let scheduler = Scheduler::with_runtime(
        throughput_config(),
        Arc::new(TokioRuntime::new(rt.handle().clone())),
    )
    .expect("scheduler");
    let sessions = connect_all(&scheduler);
    group.bench_function(BenchmarkId::new("baton", SESSIONS), |b| {
        b.iter(|| rt.block_on(baton_batch(&scheduler, &sessions)))
    });
    group.finish();
    drop(scheduler);
}

fn throughput_smol(c: &mut Criterion) {
    let executor = Arc::new(smol::Executor::<'static>::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (executor, stopped) = (executor.clone(), stopped.clone());
            std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
        })
        .collect();
    let mut group = c.benchmark_group("adapter_throughput_smol");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("bare_spawn", SESSIONS), |b| {
        b.iter(|| {
            smol::block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| executor.spawn(async { black_box(1u64) }))
                    .collect();
                for t in tasks {
                    black_box(t.await);
                }
            })
        })
    });
    let runtime = Arc::new(SmolRuntime::with_executor(executor.clone()));
    let scheduler = Scheduler::with_runtime(throughput_config(), runtime).expect("scheduler");
    let sessions = connect_all(&scheduler);
    group.bench_function(BenchmarkId::new("baton", SESSIONS), |b| {
        b.iter(|| smol::block_on(baton_batch(&scheduler, &sessions)))
    });
    group.finish();
    drop(scheduler);
    drop(stop);
    for w in workers {
        // `recv` fails once the sender is gone: each worker's `run` returns.
        let _ = w.join().expect("smol worker");
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = overhead_tokio, overhead_smol, throughput_tokio, throughput_smol
}
criterion_main!(benches);
