//! The driver fires what is due one deadline instant per lock hold, yielding in between: after
//! a wake-up that finds many instants due (here a clock jump), the recorded input log shows one
//! `handle_timeout` per instant, at that instant, not one at the end.
#![cfg(all(not(loom), feature = "tokio"))]

use baton_kernel::{ClassConfig, Config, Duration, Input, LogEntry, Target};
use baton_runtime::{MemoryLog, Scheduler, TaskFailure, TokioRuntime};
use std::sync::Arc;
use std::time::Duration as StdDuration;

#[test]
fn a_clock_jump_is_caught_up_one_deadline_instant_at_a_time() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let buffer = MemoryLog::default();
    const WAITING: usize = 20;
    rt.block_on(async {
        // One slot: the first task holds it for ever; the others wait, each with a 1 s queue
        // deadline, submitted 1 ms apart, so their deadlines are WAITING distinct instants.
        let config = Config::new(vec![
            ClassConfig::background("op", 1)
                .without_timeouts()
                .with_limit(1)
                .with_queue_timeout(Duration::from_secs(1)),
        ]);
        let runtime = Arc::new(TokioRuntime::new(tokio::runtime::Handle::current()));
        let s = Scheduler::recording(config, Some(runtime), buffer.clone()).unwrap();
        let holder = s.submit(Target::None, "op", |ctx| async move {
            ctx.cancelled().await;
            Ok::<_, TaskFailure>(())
        });
        let mut waiting = Vec::new();
        for _ in 0..WAITING {
            waiting.push(s.submit(Target::None, "op", |_| async { Ok::<_, TaskFailure>(()) }));
            // Advance the paused clock without letting the driver's timer fire.
            tokio::time::advance(StdDuration::from_millis(1)).await;
        }
        // Jump 10 s: every queue deadline is due at once.
        tokio::time::advance(StdDuration::from_secs(10)).await;
        for h in waiting {
            assert!(h.await.is_err(), "rejected by its queue deadline");
        }
        holder.cancel().unwrap();
        let _ = holder.await;
        s.flush_recording().unwrap();
    });
    let text = buffer.text();
    let timeouts: Vec<u64> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<LogEntry>(l).unwrap())
        .filter(|e| e.input == Input::Timeout)
        .map(|e| e.t.as_nanos())
        .collect();
    let mut distinct = timeouts.clone();
    distinct.dedup();
    // One `handle_timeout` per due instant (plus the final one at the wake-up's `now`).
    assert!(
        distinct.len() > WAITING,
        "{} distinct handle_timeout instants for {WAITING} due deadlines: {timeouts:?}",
        distinct.len()
    );
}
