//! Memory: bytes per connected session and per queued task, for the kernel and the baselines,
//! measured with a counting global allocator (`stats_alloc`).
//!
//! "Bytes" are the live bytes requested from the allocator (allocated − freed ± reallocated)
//! between two points, divided by the number of sessions or tasks added; the allocator's own
//! per-block overhead (8–16 bytes per block for glibc malloc) is not included, the number of
//! live blocks is reported beside it.
//!
//! `cargo bench -p baton-benches --bench memory` prints the table (and writes `memory.json`
//! into `$BATON_BENCH_OUT` when set); with `-- --test` it runs at a small size as a smoke test.

use baton_benches::baseline_hand::HandWritten;
use baton_benches::baseline_lean::Lean;
use baton_benches::baseline_tokio::{TokioClass, TokioShape};
use baton_benches::workload::{self, PRIORITY};
use baton_kernel::{Instant, Kernel, Submit, Target};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live bytes and live blocks right now.
fn live() -> (i64, i64) {
    let s = GLOBAL.stats();
    let bytes = s.bytes_allocated as i64 - s.bytes_deallocated as i64 + s.bytes_reallocated as i64;
    let blocks = s.allocations as i64 - s.deallocations as i64;
    (bytes, blocks)
}

/// What adding `n` things cost.
#[derive(Clone, Copy, Debug)]
struct Cost {
    bytes: f64,
    blocks: f64,
}

fn per(before: (i64, i64), after: (i64, i64), n: usize) -> Cost {
    Cost {
        bytes: (after.0 - before.0) as f64 / n as f64,
        blocks: (after.1 - before.1) as f64 / n as f64,
    }
}

/// One implementation's row: per idle connected session, per queued task.
struct Row {
    name: &'static str,
    session: Cost,
    task: Cost,
}

fn kernel_row(sessions: usize, busy_sessions: usize, queued: usize) -> Row {
    // Per session: connect `sessions` idle sessions.
    let mut k = Kernel::new(workload::grid_config(sessions, queued)).expect("config");
    let b0 = live();
    for i in 0..sessions {
        k.connect(Instant::ZERO, &format!("s{i}")).expect("connect");
    }
    let session = per(b0, live(), sessions);
    drop(k);
    // Per queued task: `busy_sessions` sessions each running one task, then `queued` more.
    let mut k = Kernel::new(workload::grid_config(busy_sessions, queued)).expect("config");
    let class = k.class_id("op").expect("class");
    let ids: Vec<_> = (0..busy_sessions)
        .map(|i| k.connect(Instant::ZERO, &format!("s{i}")).expect("connect"))
        .collect();
    for s in &ids {
        k.submit(Instant::ZERO, Submit::new(class, Target::Session(*s)))
            .expect("submit");
    }
    while k.poll_action().is_some() {}
    let b0 = live();
    for i in 0..queued {
        let s = ids[i % busy_sessions];
        k.submit(Instant::ZERO, Submit::new(class, Target::Session(s)))
            .expect("submit");
    }
    let task = per(b0, live(), queued);
    black_box(&k);
    Row {
        name: "kernel",
        session,
        task,
    }
}

fn hand_row(sessions: usize, busy_sessions: usize, queued: usize) -> Row {
    let h = HandWritten::new(vec![None]);
    let b0 = live();
    for s in 0..sessions {
        h.connect(s as u64);
    }
    let session = per(b0, live(), sessions);
    drop(h);
    let h = HandWritten::new(vec![None]);
    let mut started = Vec::with_capacity(busy_sessions);
    for s in 0..busy_sessions {
        h.connect(s as u64);
        h.submit(s as u64, 0, PRIORITY, &mut started)
            .expect("submit");
    }
    let b0 = live();
    for i in 0..queued {
        h.submit((i % busy_sessions) as u64, 0, PRIORITY, &mut started)
            .expect("submit");
    }
    let task = per(b0, live(), queued);
    black_box(&h);
    Row {
        name: "a_hand",
        session,
        task,
    }
}

fn lean_row(sessions: usize, busy_sessions: usize, queued: usize) -> Row {
    let b0 = live();
    let l = Lean::new(sessions as u32, vec![None], None);
    let session = per(b0, live(), sessions);
    drop(l);
    let mut l = Lean::new(busy_sessions as u32, vec![None], None);
    let mut started = Vec::with_capacity(busy_sessions);
    for s in 0..busy_sessions {
        l.submit(0, s as u32, 0, &mut started);
    }
    let b0 = live();
    for i in 0..queued {
        l.submit(0, (i % busy_sessions) as u32, 0, &mut started);
    }
    let task = per(b0, live(), queued);
    black_box(&l);
    Row {
        name: "c_lean",
        session,
        task,
    }
}

fn tokio_row(sessions: usize, busy_sessions: usize, queued: usize) -> Row {
    let class = TokioClass {
        limit: None,
        queue_timeout: Duration::from_secs(60),
        run_timeout: Duration::from_secs(300),
    };
    let rt = workload::tokio_runtime(false);
    let session = rt.block_on(async {
        let b0 = live();
        let t = TokioShape::new(sessions, vec![class]);
        tokio::task::yield_now().await; // every worker parks on its Notify
        let c = per(b0, live(), sessions);
        drop(t);
        c
    });
    let task = rt.block_on(async {
        let mut t = TokioShape::new(busy_sessions, vec![class]);
        let mut running = Vec::with_capacity(busy_sessions);
        for s in 0..busy_sessions {
            t.submit(s, 0, PRIORITY);
        }
        for _ in 0..busy_sessions {
            running.push(t.next_started().await.expect("start"));
        }
        let b0 = live();
        for i in 0..queued {
            t.submit(i % busy_sessions, 0, PRIORITY);
        }
        tokio::task::yield_now().await; // every task arms its queue deadline
        let c = per(b0, live(), queued);
        black_box(&running);
        c
    });
    drop(rt);
    Row {
        name: "b_tokio",
        session,
        task,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Positional words are criterion-style filters; numbers are values of flags like
    // `--measurement-time 3`.
    let filters: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && a.chars().any(char::is_alphabetic))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "memory".contains(f.as_str())) {
        return; // `cargo bench -- <filter>` aimed at another bench target
    }
    let quick = args.iter().any(|a| a == "--test");
    let (sessions, busy, queued) = if quick {
        (1_000, 100, 10_000)
    } else {
        (100_000, 1_000, 100_000)
    };
    let rows = [
        kernel_row(sessions, busy, queued),
        hand_row(sessions, busy, queued),
        tokio_row(sessions, busy, queued),
        lean_row(sessions, busy, queued),
    ];
    println!(
        "memory: {sessions} idle sessions; {queued} queued tasks over {busy} busy sessions \
         (live bytes requested from the allocator, blocks in parentheses)"
    );
    println!("| impl | bytes per session | bytes per queued task |");
    println!("|---|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} ({:.1}) | {:.0} ({:.1}) |",
            r.name, r.session.bytes, r.session.blocks, r.task.bytes, r.task.blocks
        );
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "impl": r.name,
                "bytes_per_session": r.session.bytes,
                "blocks_per_session": r.session.blocks,
                "bytes_per_queued_task": r.task.bytes,
                "blocks_per_queued_task": r.task.blocks,
            })
        })
        .collect();
    if !quick {
        baton_benches::record(
            "memory",
            &serde_json::json!({
                "sessions": sessions,
                "busy_sessions": busy,
                "queued": queued,
                "rows": json,
            }),
        );
    }
    if quick {
        println!("memory: 1 passed, 0 failed");
    }
}
