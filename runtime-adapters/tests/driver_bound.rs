//! The driver performs a huge batch of actions in slices: at most `ACTIONS_PER_TURN` (256) per
//! lock hold, yielding to the executor in between. Here 50,000 queued tasks time out at one
//! instant on a current-thread runtime, and another task of that runtime runs — and sees the
//! batch half done — before the driver has resolved them all.
#![cfg(all(not(loom), feature = "tokio"))]

use baton_kernel::{ClassConfig, Config, Duration, Target};
use baton_runtime::{Scheduler, TaskError, TaskFailure, TokioRuntime};
use std::sync::Arc;
use std::time::Duration as StdDuration;

const BATCH: usize = 50_000;

#[test]
fn a_huge_batch_at_one_instant_lets_other_tasks_run_before_it_is_done() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        // One slot, held for ever by the first task; the others all wait with a 1 s queue
        // deadline, submitted at one (paused) instant, so they all time out at one instant.
        let config = Config::new(vec![
            ClassConfig::background("op", 1)
                .without_timeouts()
                .with_limit(1)
                .with_queue_timeout(Duration::from_secs(1)),
        ]);
        let runtime = Arc::new(TokioRuntime::new(tokio::runtime::Handle::current()));
        let s = Scheduler::with_runtime(config, runtime).unwrap();
        let holder = s.submit(Target::None, "op", |ctx| async move {
            ctx.cancelled().await;
            Ok::<_, TaskFailure>(())
        });
        let waiting: Vec<_> = (0..BATCH)
            .map(|_| s.submit(Target::None, "op", |_| async { Ok::<_, TaskFailure>(()) }))
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(s.pending_handles(), BATCH + 1);

        // Another task of the runtime: it notes how many handles are still unresolved each time
        // it runs, until only the holder's is left.
        let ticker = tokio::spawn({
            let s = s.clone();
            async move {
                let mut seen = Vec::new();
                loop {
                    let pending = s.pending_handles();
                    seen.push(pending);
                    if pending <= 1 {
                        return seen;
                    }
                    tokio::task::yield_now().await;
                }
            }
        });
        tokio::time::advance(StdDuration::from_secs(2)).await;
        let seen = ticker.await.unwrap();
        let midway: Vec<usize> = seen
            .iter()
            .copied()
            .filter(|&p| p > 1 && p < BATCH + 1)
            .collect();
        // 50,000 resolutions at 256 per lock hold are ~196 slices; the ticker runs between them.
        assert!(
            midway.len() >= 10,
            "the ticker ran only {} times while the batch was half done (seen: {} values, first \
             {:?}, last {:?})",
            midway.len(),
            seen.len(),
            seen.first(),
            seen.last()
        );
        for h in waiting {
            assert_eq!(h.await, Err(TaskError::QueueTimeout));
        }
        holder.cancel().unwrap();
        assert!(holder.await.is_err());
    });
}
