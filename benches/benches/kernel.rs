//! The kernel benchmarks, each group with its baselines side by side (see `BENCHMARKS.md`).
//!
//! Function names: `kernel`, `a_hand` (hand-written Rust shape), `b_tokio` (tokio primitives),
//! `c_lean` (lean floor). Every state is built lazily inside the first call of its routine (so a
//! filtered-out benchmark costs nothing) and kept across samples: the timed loop is the
//! steady-state cycle only.

use baton_benches::workload::{
    self, HandGrid, HandGroup, HandLimited, HandStorm, KernelGrid, KernelGroup, KernelLimited,
    KernelStorm, KernelTimers, LeanGrid, LeanGroup, LeanLimited, LeanStorm, LeanTimers, TokioGrid,
    TokioLimited, TokioStorm, TokioTimers,
};
use baton_kernel::{ListFilter, TaskState};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// A tokio workload with the runtime that drives it (the workload is dropped first).
struct OnTokio<T> {
    state: T,
    rt: Runtime,
}

/// One timed step of a tokio workload.
trait Step {
    /// Runs one cycle (or storm).
    async fn step(&mut self);
}

impl Step for TokioGrid {
    async fn step(&mut self) {
        self.cycle().await
    }
}

impl Step for TokioLimited {
    async fn step(&mut self) {
        self.cycle().await
    }
}

impl Step for TokioTimers {
    async fn step(&mut self) {
        self.cycle().await
    }
}

impl Step for TokioStorm {
    async fn step(&mut self) {
        self.storm().await
    }
}

impl<T: Step> OnTokio<T> {
    fn new<F: Future<Output = T>>(paused: bool, make: impl FnOnce() -> F) -> Self {
        let rt = workload::tokio_runtime(paused);
        let state = rt.block_on(make());
        OnTokio { state, rt }
    }

    /// Runs `iters` steps inside one `block_on` and times them.
    fn time(&mut self, iters: u64) -> Duration {
        let OnTokio { state, rt } = self;
        rt.block_on(async {
            let t0 = Instant::now();
            for _ in 0..iters {
                state.step().await;
            }
            t0.elapsed()
        })
    }
}

const GRID: [(&str, usize, &[usize]); 3] = [
    ("1", 1, &[100, 100_000, 1_000_000]),
    ("1k", 1_000, &[100, 1_000, 10_000, 100_000, 1_000_000]),
    ("100k", 100_000, &[100, 100_000, 1_000_000]),
];

fn op_cycle(c: &mut Criterion) {
    for (label, sessions, queues) in GRID {
        let mut group = c.benchmark_group(format!("op_cycle_sessions_{label}"));
        for &queued in queues {
            let mut k: Option<KernelGrid> = None;
            group.bench_function(BenchmarkId::new("kernel", queued), |b| {
                let g = k.get_or_insert_with(|| KernelGrid::new(sessions, queued));
                b.iter(|| g.cycle());
            });
            drop(k);
            let mut h: Option<HandGrid> = None;
            group.bench_function(BenchmarkId::new("a_hand", queued), |b| {
                let g = h.get_or_insert_with(|| HandGrid::new(sessions, queued));
                b.iter(|| g.cycle());
            });
            drop(h);
            let mut t: Option<OnTokio<TokioGrid>> = None;
            group.bench_function(BenchmarkId::new("b_tokio", queued), |b| {
                let g = t.get_or_insert_with(|| {
                    OnTokio::new(false, || TokioGrid::new(sessions, queued))
                });
                b.iter_custom(|iters| g.time(iters));
            });
            drop(t);
            let mut l: Option<LeanGrid> = None;
            group.bench_function(BenchmarkId::new("c_lean", queued), |b| {
                let g = l.get_or_insert_with(|| LeanGrid::new(sessions, queued));
                b.iter(|| g.cycle());
            });
            drop(l);
        }
        group.finish();
    }
}

/// Backlog of the limited-class scenario.
const LIMITED_QUEUED: usize = 100_000;

fn limited_class(c: &mut Criterion) {
    let mut group = c.benchmark_group("limited_class");
    let q = LIMITED_QUEUED;
    let mut k: Option<KernelLimited> = None;
    group.bench_function(BenchmarkId::new("kernel", q), |b| {
        let g = k.get_or_insert_with(|| KernelLimited::new(q));
        b.iter(|| g.cycle());
    });
    drop(k);
    let mut h: Option<HandLimited> = None;
    group.bench_function(BenchmarkId::new("a_hand", q), |b| {
        let g = h.get_or_insert_with(|| HandLimited::new(q));
        b.iter(|| g.cycle());
    });
    drop(h);
    let mut t: Option<OnTokio<TokioLimited>> = None;
    group.bench_function(BenchmarkId::new("b_tokio", q), |b| {
        let g = t.get_or_insert_with(|| OnTokio::new(false, || TokioLimited::new(q)));
        b.iter_custom(|iters| g.time(iters));
    });
    drop(t);
    let mut l: Option<LeanLimited> = None;
    group.bench_function(BenchmarkId::new("c_lean", q), |b| {
        let g = l.get_or_insert_with(|| LeanLimited::new(q));
        b.iter(|| g.cycle());
    });
    drop(l);
    group.finish();
}

fn timer_heavy(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_heavy");
    let mut k: Option<KernelTimers> = None;
    group.bench_function("kernel", |b| {
        let g = k.get_or_insert_with(KernelTimers::new);
        b.iter(|| g.cycle());
    });
    drop(k);
    let mut t: Option<OnTokio<TokioTimers>> = None;
    group.bench_function("b_tokio", |b| {
        let g = t.get_or_insert_with(|| OnTokio::new(true, TokioTimers::new));
        b.iter_custom(|iters| g.time(iters));
    });
    drop(t);
    let mut l: Option<LeanTimers> = None;
    group.bench_function("c_lean", |b| {
        let g = l.get_or_insert_with(LeanTimers::new);
        b.iter(|| g.cycle());
    });
    drop(l);
    group.finish();
}

fn cancel_storm(c: &mut Criterion) {
    let mut group = c.benchmark_group("cancel_storm");
    // One storm cancels STORM_DEPTH + 1 tasks and submits as many.
    group.throughput(Throughput::Elements((workload::STORM_DEPTH + 1) as u64));
    let mut k: Option<KernelStorm> = None;
    group.bench_function("kernel", |b| {
        let g = k.get_or_insert_with(KernelStorm::new);
        b.iter(|| g.storm());
    });
    drop(k);
    let mut h: Option<HandStorm> = None;
    group.bench_function("a_hand", |b| {
        let g = h.get_or_insert_with(HandStorm::new);
        b.iter(|| g.storm());
    });
    drop(h);
    let mut t: Option<OnTokio<TokioStorm>> = None;
    group.bench_function("b_tokio", |b| {
        let g = t.get_or_insert_with(|| OnTokio::new(false, TokioStorm::new));
        b.iter_custom(|iters| g.time(iters));
    });
    drop(t);
    let mut l: Option<LeanStorm> = None;
    group.bench_function("c_lean", |b| {
        let g = l.get_or_insert_with(LeanStorm::new);
        b.iter(|| g.storm());
    });
    drop(l);
    group.finish();
}

fn group_late_binding(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_late_binding");
    let mut k: Option<KernelGroup> = None;
    group.bench_function("kernel", |b| {
        let g = k.get_or_insert_with(KernelGroup::new);
        b.iter(|| g.cycle());
    });
    drop(k);
    let mut h: Option<HandGroup> = None;
    group.bench_function("a_hand", |b| {
        let g = h.get_or_insert_with(HandGroup::new);
        b.iter(|| g.cycle());
    });
    drop(h);
    let mut l: Option<LeanGroup> = None;
    group.bench_function("c_lean", |b| {
        let g = l.get_or_insert_with(LeanGroup::new);
        b.iter(|| g.cycle());
    });
    drop(l);
    group.finish();
}

/// Size of the query scenario: the target cell of the op-cycle grid.
const QUERY_SESSIONS: usize = 1_000;
const QUERY_QUEUED: usize = 100_000;

fn queries(c: &mut Criterion) {
    let mut group = c.benchmark_group("queries");
    let mut k: Option<KernelGrid> = None;
    let mut h: Option<HandGrid> = None;
    group.bench_function("counts/kernel", |b| {
        let g = k.get_or_insert_with(|| KernelGrid::new(QUERY_SESSIONS, QUERY_QUEUED));
        b.iter(|| black_box(g.kernel.counts()));
    });
    group.bench_function("counts/a_hand", |b| {
        let g = h.get_or_insert_with(|| HandGrid::new(QUERY_SESSIONS, QUERY_QUEUED));
        b.iter(|| black_box(g.hand.counts()));
    });
    group.bench_function("list_page/kernel", |b| {
        let g = k.get_or_insert_with(|| KernelGrid::new(QUERY_SESSIONS, QUERY_QUEUED));
        let filter = ListFilter {
            state: Some(TaskState::Queued),
            class: Some(g.class()),
            ..Default::default()
        };
        b.iter(|| black_box(g.kernel.list(&filter, None, 100)));
    });
    group.bench_function("list_page/a_hand", |b| {
        let g = h.get_or_insert_with(|| HandGrid::new(QUERY_SESSIONS, QUERY_QUEUED));
        b.iter(|| {
            black_box(
                g.hand
                    .list(baton_benches::baseline_hand::HandState::Queued, 0, 0, 100),
            )
        });
    });
    drop(h);
    group.bench_function("list_session_page/kernel", |b| {
        let g = k.get_or_insert_with(|| KernelGrid::new(QUERY_SESSIONS, QUERY_QUEUED));
        let filter = ListFilter {
            session: Some(g.first_session()),
            ..Default::default()
        };
        b.iter(|| black_box(g.kernel.list(&filter, None, 100)));
    });
    group.bench_function("explain/kernel", |b| {
        let g = k.get_or_insert_with(|| KernelGrid::new(QUERY_SESSIONS, QUERY_QUEUED));
        let task = g.queued_task(50).expect("a queued task 50 deep");
        b.iter(|| black_box(g.kernel.explain(task)));
    });
    group.bench_function("metrics/kernel", |b| {
        let g = k.get_or_insert_with(|| KernelGrid::new(QUERY_SESSIONS, QUERY_QUEUED));
        b.iter(|| black_box(g.kernel.metrics()));
    });
    drop(k);
    group.finish();
}

/// Size of the snapshot scenario: 1k sessions with 10 queued tasks each.
const SNAPSHOT_SESSIONS: usize = 1_000;
const SNAPSHOT_QUEUED: usize = 10_000;

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(20);
    let mut k: Option<(KernelGrid, Vec<u8>)> = None;
    let mut make = || {
        let g = KernelGrid::new(SNAPSHOT_SESSIONS, SNAPSHOT_QUEUED);
        let bytes = serde_json::to_vec(&g.kernel).expect("serialize");
        baton_benches::record(
            "snapshot",
            &serde_json::json!({
                "sessions": SNAPSHOT_SESSIONS,
                "queued": SNAPSHOT_QUEUED,
                "records": g.kernel.registry_len(),
                "json_bytes": bytes.len(),
            }),
        );
        (g, bytes)
    };
    group.bench_function("serialize/kernel", |b| {
        let (g, _) = k.get_or_insert_with(&mut make);
        b.iter(|| black_box(serde_json::to_vec(&g.kernel).expect("serialize")));
    });
    group.bench_function("deserialize/kernel", |b| {
        let (_, bytes) = k.get_or_insert_with(&mut make);
        b.iter(|| {
            black_box(serde_json::from_slice::<baton_kernel::Kernel>(bytes).expect("deserialize"))
        });
    });
    drop(k);
    group.finish();
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
    targets = op_cycle, limited_class, timer_heavy, cancel_storm, group_late_binding, queries, snapshot
}
criterion_main!(benches);
