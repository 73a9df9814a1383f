//! # baton-benches
//!
//! Criterion benchmarks of the baton kernel, measured side by side with what a user would
//! otherwise write, in one run, so every claim is a ratio (see `BENCHMARKS.md` at the
//! repository root for the numbers and the commands).
//!
//! - [`baseline_hand`] — (a) the hand-written Rust shape of the source systems:
//!   `Mutex<HashMap<session, BinaryHeap>>`, a per-class counter, a task `HashMap`; no deadlines.
//! - [`baseline_tokio`] — (b) the tokio-primitives shape: a `tokio::sync::Mutex` per session, a
//!   `Semaphore` per class, a `TaskTracker` + `HashMap` registry, `tokio::time::timeout`.
//! - [`baseline_lean`] — (c) the lean floor: a slab and `VecDeque`s, no features.
//! - (d) the Python asyncio shape is `benches/python/asyncio_baseline.py`.
//! - [`workload`] — the scenarios (op-cycle grid, limited class, timer-heavy, cancellation
//!   storms, group late binding), one driver per implementation, shared by the benchmarks, the
//!   memory report and the unit tests that show every implementation does the same work.

pub mod baseline_hand;
pub mod baseline_lean;
pub mod baseline_tokio;
pub mod workload;

/// Writes `value` as `<name>.json` into the directory named by the environment variable
/// `BATON_BENCH_OUT`, if it is set (the report reads it); otherwise does nothing.
pub fn record(name: &str, value: &serde_json::Value) {
    let Some(dir) = std::env::var_os("BATON_BENCH_OUT") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_vec_pretty(value).unwrap_or_default(),
        )
    });
    if let Err(e) = written {
        eprintln!("baton-benches: cannot write {name}.json: {e}");
    }
}
