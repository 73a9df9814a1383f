//! The kernel's lock cannot deadlock a current-thread runtime.
//!
//! The scenario that deadlocked with an async mutex taken by `lock_blocking` from sync entry
//! points: on a current-thread tokio runtime, a blocking thread keeps reporting progress (taking
//! the lock again and again), so the async waiters on the runtime's one thread (task reports, the
//! driver) wait long enough to be "starved"; a starved waiter makes the lock hand itself to that
//! waiter next, while the runtime's one thread — the only one that can poll it — sits in a body's
//! synchronous `ctx.progress()`, waiting for the lock. Nothing moves again. With a synchronous
//! lock that is never held across an `.await` there are no async waiters to hand off to, so every
//! caller gets the lock within one critical section.
#![cfg(all(not(loom), feature = "tokio"))]

use baton_kernel::{ClassConfig, Config, Target};
use baton_runtime::{Scheduler, TaskFailure, TokioRuntime};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

/// How long the blocking reporter hammers the lock.
const HAMMER: Duration = Duration::from_millis(1500);
/// The whole scenario must end within this (it takes about `HAMMER` when nothing deadlocks).
const WATCHDOG: Duration = Duration::from_secs(30);
/// Short tasks whose reports and progress calls compete with the hammer on the runtime thread.
const TASKS: usize = 2_000;

fn scenario() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let runtime = Arc::new(TokioRuntime::new(rt.handle().clone()));
    let config = Config::new(vec![
        ClassConfig::background("hammer", 1),
        ClassConfig::background("short", 64),
    ]);
    let scheduler = Scheduler::with_runtime(config, runtime).expect("scheduler");
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        // A long task whose progress is reported from a plain thread, as a blocking job would.
        let hammer = {
            let stop = stop.clone();
            scheduler.submit(Target::None, "hammer", move |ctx| {
                let stop = stop.clone();
                async move {
                    let reporter = std::thread::spawn(move || {
                        let start = std::time::Instant::now();
                        let mut n = 0u64;
                        while start.elapsed() < HAMMER {
                            ctx.progress(n, None, "hammering").expect("progress");
                            n += 1;
                        }
                        stop.store(true, SeqCst);
                        n
                    });
                    // Wait without blocking the runtime thread.
                    while !reporter.is_finished() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok::<_, TaskFailure>(reporter.join().expect("reporter"))
                }
            })
        };
        // Meanwhile, on the runtime's one thread: tasks that report progress synchronously and
        // finish (each finish is a report that waits for the lock).
        let mut rounds = 0usize;
        while !stop.load(SeqCst) || rounds == 0 {
            let handles: Vec<_> = (0..TASKS / 10)
                .map(|i| {
                    scheduler.submit(Target::None, "short", move |ctx| async move {
                        ctx.progress(1, 2, "half way").expect("progress");
                        tokio::task::yield_now().await;
                        ctx.progress(2, 2, "done").expect("progress");
                        Ok::<_, TaskFailure>(i)
                    })
                })
                .collect();
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await, Ok(i));
            }
            rounds += 1;
        }
        let reports = hammer.await.expect("hammer task");
        assert!(reports > 0);
        assert!(rounds > 0);
    });
}

#[test]
fn a_blocking_reporter_cannot_starve_a_current_thread_runtime() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock: the scenario did not finish within {WATCHDOG:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the scenario panicked (see its output above)")
        }
    }
}
