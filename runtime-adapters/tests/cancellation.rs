//! The three ways a running task stops, on both runtimes: it cooperates with `cancelled()`; it
//! ignores it and its future is dropped after the grace; or it is blocked in code that cannot be
//! aborted, stays held and is reported stuck. Plus deadlines, panics, parents and dropping the
//! scheduler.
#![cfg(all(not(loom), any(feature = "smol", feature = "tokio")))]

mod common;

use baton_kernel::{CancelReason, ClassConfig, Config, Explanation, TaskState};
use baton_runtime::{Scheduler, TaskError, TaskFailure};
use common::{Rt, eventually, ms};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_runtimes!(
    cooperative_cancel_frees_the_session_at_once,
    ignored_cancel_is_aborted_after_the_grace,
    blocked_code_stays_held_and_is_reported_stuck,
    run_timeout_and_heartbeat_stall,
    a_panic_fails_the_task_and_spares_the_driver,
    a_panic_in_drop_during_an_abort_still_ends_the_attempt,
    a_panic_in_drop_at_completion_fails_the_attempt,
    cancelling_a_parent_cancels_its_children,
    dropping_the_last_scheduler_shuts_down,
    shutdown_reports_stuck_tasks,
);

/// `op`: exclusive, no deadlines, 100 ms grace. `short`: 50 ms run timeout. `beat`: 60 ms
/// heartbeat (those two with a 2 s grace: they must stop by themselves, even on a loaded
/// machine). `bg`: background.
fn config() -> Config {
    let mut config = Config::new(vec![
        ClassConfig::exclusive("op", 5)
            .without_timeouts()
            .with_grace(ms(100)),
        ClassConfig::exclusive("short", 5)
            .without_timeouts()
            .with_run_timeout(ms(50))
            .with_grace(ms(2_000)),
        ClassConfig::exclusive("beat", 5)
            .without_timeouts()
            .with_heartbeat_timeout(ms(60))
            .with_grace(ms(2_000)),
        ClassConfig::background("bg", 1)
            .without_timeouts()
            .with_grace(ms(100)),
    ]);
    config.disconnect_grace = ms(300);
    config.cleanup_interval = ms(50);
    config
}

/// Sets its flag when dropped: shows that a body's future is really gone.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

async fn cooperative_cancel_frees_the_session_at_once(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let started = flag();
    let first = s.submit(a, "op", {
        let started = started.clone();
        move |ctx| {
            let started = started.clone();
            async move {
                started.store(true, SeqCst);
                Ok::<_, TaskFailure>(ctx.cancelled().await)
            }
        }
    });
    let second = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>("second") });
    eventually(&rt, "first started", || started.load(SeqCst)).await;
    let second_id = second.id().unwrap();
    assert!(matches!(
        s.explain(second_id),
        Some(Explanation::Queued { .. })
    ));
    first.cancel().unwrap();
    // It stopped by itself, before the grace: Cancelled, not Abandoned.
    assert_eq!(first.await, Err(TaskError::Cancelled(CancelReason::User)));
    assert_eq!(second.await, Ok("second"));
    assert!(s.stuck().is_empty());
}

async fn ignored_cancel_is_aborted_after_the_grace(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let (started, dropped) = (flag(), flag());
    let stubborn = s.submit(a, "op", {
        let (started, dropped) = (started.clone(), dropped.clone());
        move |_ctx| {
            let (started, dropped) = (started.clone(), dropped.clone());
            async move {
                let _guard = SetOnDrop(dropped);
                started.store(true, SeqCst);
                // Ignores cancellation; only dropping the future stops it.
                std::future::pending::<()>().await;
                Ok::<_, TaskFailure>(())
            }
        }
    });
    let next = s.submit(a, "op", {
        let dropped = dropped.clone();
        // Exclusivity: the next task on the session starts only after the future is gone.
        move |_| {
            let dropped = dropped.clone();
            async move { Ok::<_, TaskFailure>(dropped.load(SeqCst)) }
        }
    });
    eventually(&rt, "stubborn started", || started.load(SeqCst)).await;
    stubborn.cancel().unwrap();
    assert_eq!(stubborn.await, Err(TaskError::Abandoned));
    assert!(dropped.load(SeqCst));
    assert_eq!(next.await, Ok(true));
    assert!(s.stuck().is_empty());
}

/// Panics when dropped (not while unwinding: that would abort the process).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

async fn a_panic_in_drop_during_an_abort_still_ends_the_attempt(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let started = flag();
    let stubborn = s.submit(a, "op", {
        let started = started.clone();
        move |_ctx| {
            let started = started.clone();
            async move {
                let _bomb = PanicOnDrop("dropped during the abort");
                started.store(true, SeqCst);
                std::future::pending::<()>().await;
                Ok::<_, TaskFailure>(())
            }
        }
    });
    let next = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>("next ran") });
    eventually(&rt, "stubborn started", || started.load(SeqCst)).await;
    stubborn.cancel().unwrap();
    assert_eq!(stubborn.await, Err(TaskError::Abandoned));
    // The attempt still reported (its future is gone, panic or not): the session is free, the
    // next task runs, and nothing is listed as stuck.
    assert_eq!(next.await, Ok("next ran"));
    assert!(s.stuck().is_empty());
}

async fn a_panic_in_drop_at_completion_fails_the_attempt(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let h = s.submit(a, "op", |_| async {
        let _bomb = PanicOnDrop("dropped at completion");
        Ok::<_, TaskFailure>(1)
    });
    match h.await {
        Err(TaskError::Failed(f)) => assert_eq!(f.message(), "panicked: dropped at completion"),
        other => panic!("unexpected {other:?}"),
    }
    let next = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(2) });
    assert_eq!(next.await, Ok(2));
    assert!(s.stuck().is_empty());
}

async fn blocked_code_stays_held_and_is_reported_stuck(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let (started, release, dropped) = (flag(), flag(), flag());
    let blocked = s.submit(a, "op", {
        let (started, release, dropped) = (started.clone(), release.clone(), dropped.clone());
        move |ctx| {
            let (started, release, dropped) = (started.clone(), release.clone(), dropped.clone());
            async move {
                let _guard = SetOnDrop(dropped);
                started.store(true, SeqCst);
                ctx.spawn_blocking(move || {
                    while !release.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .await;
                Ok::<_, TaskFailure>(())
            }
        }
    });
    let next = s.submit(a, "op", {
        let release = release.clone();
        move |_| {
            let release = release.clone();
            async move { Ok::<_, TaskFailure>(release.load(SeqCst)) }
        }
    });
    let (blocked_id, next_id) = (blocked.id().unwrap(), next.id().unwrap());
    eventually(&rt, "blocked started", || started.load(SeqCst)).await;
    blocked.cancel().unwrap();
    eventually(&rt, "the blocked task reported stuck", || {
        s.stuck().len() == 1
    })
    .await;
    // The abort dropped the future, but the blocking job still runs: the session stays held.
    eventually(&rt, "the future dropped", || dropped.load(SeqCst)).await;
    let view = s.task(blocked_id).unwrap();
    assert!(view.stuck);
    assert_eq!(view.state, TaskState::Cancelling);
    assert!(matches!(
        s.explain(blocked_id),
        Some(Explanation::Cancelling {
            abort_requested_at: Some(_),
            ..
        })
    ));
    common::sleep(&rt, Duration::from_millis(50)).await;
    assert_eq!(s.task(next_id).unwrap().state, TaskState::Queued);
    assert!(!blocked.is_finished());
    assert_eq!(s.metrics().classes[0].stuck, 1);
    release.store(true, SeqCst);
    assert_eq!(blocked.await, Err(TaskError::Abandoned));
    assert_eq!(next.await, Ok(true));
    assert!(s.stuck().is_empty());
}

async fn run_timeout_and_heartbeat_stall(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let (a, b) = (s.connect("a").unwrap(), s.connect("b").unwrap());
    let slow = s.submit(a, "short", |ctx| async move {
        let reason = ctx.cancelled().await;
        Ok::<_, TaskFailure>(reason)
    });
    let silent = s.submit(b, "beat", |ctx| async move {
        for i in 0..3 {
            ctx.progress(i, 3, "working")?;
            ctx.sleep(Duration::from_millis(5)).await;
        }
        // Then no more heartbeats.
        ctx.cancelled().await;
        Ok::<_, TaskFailure>(())
    });
    assert_eq!(slow.await, Err(TaskError::RunTimeout));
    assert_eq!(silent.await, Err(TaskError::Stalled));
}

async fn a_panic_fails_the_task_and_spares_the_driver(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let in_future = s.submit(a, "op", |_| async {
        if true {
            panic!("boom");
        }
        Ok::<(), TaskFailure>(())
    });
    let in_call = s.submit(
        a,
        "op",
        |_| -> std::future::Ready<Result<(), TaskFailure>> { panic!("before the future existed") },
    );
    let after = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(7) });
    match in_future.await {
        Err(TaskError::Failed(f)) => assert_eq!(f.message(), "panicked: boom"),
        other => panic!("unexpected {other:?}"),
    }
    match in_call.await {
        Err(TaskError::Failed(f)) => assert!(f.message().contains("before the future")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(after.await, Ok(7));
    let id = s.list(&Default::default(), None, 10).items[0].id;
    assert_eq!(s.task(id).unwrap().error.as_deref(), Some("panicked: boom"));
}

async fn cancelling_a_parent_cancels_its_children(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let children = Arc::new(Mutex::new(Vec::new()));
    let parent = s.submit(a, "op", {
        let children = children.clone();
        move |ctx| {
            let children = children.clone();
            async move {
                for _ in 0..3 {
                    let child = ctx.spawn_child("bg", |cctx| async move {
                        Ok::<_, TaskFailure>(cctx.cancelled().await)
                    });
                    children.lock().unwrap().push(child);
                }
                ctx.cancelled().await;
                Ok::<_, TaskFailure>(())
            }
        }
    });
    eventually(&rt, "children spawned", || {
        children.lock().unwrap().len() == 3
    })
    .await;
    let parent_id = parent.id().unwrap();
    let child_handles: Vec<_> = children.lock().unwrap().drain(..).collect();
    for child in &child_handles {
        let view = s.task(child.id().unwrap()).unwrap();
        assert_eq!(view.parent, Some(parent_id));
        assert_eq!(view.session, Some(a));
    }
    assert_eq!(s.task(parent_id).unwrap().children, 3);
    parent.cancel().unwrap();
    assert_eq!(parent.await, Err(TaskError::Cancelled(CancelReason::User)));
    for child in child_handles {
        assert_eq!(child.await, Err(TaskError::Cancelled(CancelReason::Parent)));
    }
}

async fn dropping_the_last_scheduler_shuts_down(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let started = flag();
    let running = s.submit(a, "op", {
        let started = started.clone();
        move |ctx| {
            let started = started.clone();
            async move {
                started.store(true, SeqCst);
                ctx.cancelled().await;
                Ok::<_, TaskFailure>(())
            }
        }
    });
    let queued = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(()) });
    eventually(&rt, "running", || started.load(SeqCst)).await;
    let clone = s.clone();
    drop(s);
    common::sleep(&rt, Duration::from_millis(20)).await;
    assert!(!running.is_finished(), "a clone still owns the scheduler");
    drop(clone);
    assert_eq!(
        running.await,
        Err(TaskError::Cancelled(CancelReason::Shutdown))
    );
    assert_eq!(queued.await, Err(TaskError::Shutdown));
}

async fn shutdown_reports_stuck_tasks(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let (started, release) = (flag(), flag());
    let blocked = s.submit(a, "op", {
        let (started, release) = (started.clone(), release.clone());
        move |ctx| {
            let (started, release) = (started.clone(), release.clone());
            async move {
                started.store(true, SeqCst);
                ctx.spawn_blocking(move || {
                    while !release.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .await;
                Ok::<_, TaskFailure>(())
            }
        }
    });
    let id = blocked.id().unwrap();
    eventually(&rt, "started", || started.load(SeqCst)).await;
    let report = s.shutdown(Duration::from_millis(150)).await.unwrap();
    assert_eq!(report.stuck.len(), 1);
    assert_eq!(report.stuck[0].task, id);
    assert_eq!(report.stuck[0].reason, Some(CancelReason::Shutdown));
    assert_eq!(s.registry_len(), 0);
    // Shutdown cleanup ended it Abandoned; its code is still running.
    assert_eq!(blocked.await, Err(TaskError::Abandoned));
    // A second shutdown waits for (here: returns) the same report; submits are refused.
    assert_eq!(s.shutdown(Duration::ZERO).await.unwrap(), report);
    let refused = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(()) });
    assert!(refused.id().is_none());
    assert_eq!(refused.await, Err(TaskError::Shutdown));
    release.store(true, SeqCst);
    // The late report of the blocking job is ignored by the stopped kernel.
    common::sleep(&rt, Duration::from_millis(20)).await;
    assert_eq!(s.pending_handles(), 0);
}
