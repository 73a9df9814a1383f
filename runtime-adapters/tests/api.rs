//! The user-facing API on both runtimes: refusals, handles, groups, progress errors, reconnects.
#![cfg(all(not(loom), any(feature = "smol", feature = "tokio")))]

mod common;

use baton_kernel::{ClassConfig, Config, Error, RejectReason, Target, TaskState};
use baton_runtime::{Scheduler, TaskContext, TaskError, TaskFailure, TaskHandle};
use common::{Rt, eventually, ms};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

on_both_runtimes!(
    refusals_resolve_at_once,
    queue_timeout_rejects_a_waiting_task,
    group_tasks_bind_late,
    progress_is_validated,
    reconnecting_makes_a_new_generation,
    dropped_handles_detach,
);

fn assert_send_sync<T: Send + Sync + Clone>() {}
fn assert_send<T: Send>() {}

#[test]
fn handles_are_thread_safe() {
    assert_send_sync::<Scheduler>();
    assert_send_sync::<TaskContext>();
    assert_send::<TaskHandle<String>>();
}

#[cfg(feature = "tokio")]
#[test]
fn new_picks_tokio_inside_a_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Scheduler::new(config()).unwrap();
        assert!(format!("{s:?}").contains("TokioRuntime"));
        let a = s.connect("a").unwrap();
        let h = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(1) });
        assert_eq!(h.await, Ok(1));
    });
}

#[cfg(feature = "smol")]
#[test]
fn new_picks_smol_outside_tokio() {
    let s = Scheduler::new(config()).unwrap();
    assert!(format!("{s:?}").contains("SmolRuntime(global)"));
    let h = s.submit(Target::None, "bg", |_| async { Ok::<_, TaskFailure>(2) });
    assert_eq!(smol::block_on(h), Ok(2));
}

#[cfg(not(feature = "smol"))]
#[test]
fn new_without_a_runtime_is_an_error() {
    assert_eq!(
        Scheduler::new(config()).err(),
        Some(baton_runtime::BuildError::NoRuntime)
    );
}

fn config() -> Config {
    let mut config = Config::new(vec![
        ClassConfig::exclusive("op", 5).without_timeouts(),
        ClassConfig::background("bg", 5).without_timeouts(),
        ClassConfig::exclusive("impatient", 5).with_queue_timeout(ms(30)),
    ]);
    config.limits.queue_len_max = 2;
    config
}

async fn refusals_resolve_at_once(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let unknown = s.submit(a, "nope", |_| async { Ok::<_, TaskFailure>(()) });
    assert_eq!(unknown.id(), None);
    assert!(unknown.is_finished());
    assert_eq!(unknown.await, Err(TaskError::UnknownClass("nope".into())));
    let no_target = s.submit(Target::None, "op", |_| async { Ok::<_, TaskFailure>(()) });
    assert!(matches!(
        no_target.await,
        Err(TaskError::Refused(Error::TargetRequired(_)))
    ));
    // One running, two queued (the bound), the fourth refused.
    let release = Arc::new(AtomicBool::new(false));
    let mut held = Vec::new();
    for _ in 0..3 {
        let release = release.clone();
        held.push(s.submit(a, "op", move |ctx| {
            let release = release.clone();
            async move {
                while !release.load(SeqCst) {
                    ctx.sleep(Duration::from_millis(1)).await;
                }
                Ok::<_, TaskFailure>(())
            }
        }));
    }
    let full = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(()) });
    assert_eq!(full.await, Err(TaskError::QueueFull));
    assert!(TaskError::QueueFull.is_rejected());
    release.store(true, SeqCst);
    for h in held {
        h.await.unwrap();
    }
    let gone = s.disconnect("a").await.unwrap();
    assert!(gone.stuck.is_empty());
    let closed = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(()) });
    assert_eq!(closed.await, Err(TaskError::SessionClosed));
    assert_eq!(s.connect("").unwrap_err(), Error::BadName(String::new()));
    assert!(matches!(
        s.disconnect("a").await,
        Err(Error::UnknownSession(_))
    ));
}

async fn queue_timeout_rejects_a_waiting_task(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let holder = s.submit(a, "op", |ctx| async move {
        ctx.cancelled().await;
        Ok::<_, TaskFailure>(())
    });
    let waiter = s.submit(a, "impatient", |_| async { Ok::<_, TaskFailure>(()) });
    assert_eq!(waiter.await, Err(TaskError::QueueTimeout));
    holder.cancel().unwrap();
    assert!(holder.await.unwrap_err().is_cancelled());
    let report = s.shutdown(Duration::from_millis(50)).await.unwrap();
    assert!(report.stuck.is_empty());
}

async fn group_tasks_bind_late(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let a = s.connect("a").unwrap();
    let b = s.connect("b").unwrap();
    let pool = s.join_group("pool", a).unwrap();
    s.join_group("pool", b).unwrap();
    // Occupy `a`; two group tasks: the first runs on `b`, the second waits for whichever
    // frees first.
    let hold_a = s.submit(a, "op", |ctx| async move {
        ctx.cancelled().await;
        Ok::<_, TaskFailure>(())
    });
    let first = s.submit(pool, "op", |ctx| async move {
        Ok::<_, TaskFailure>(ctx.session())
    });
    assert_eq!(first.await, Ok(Some(b)));
    hold_a.cancel().unwrap();
    let _ = hold_a.await;
    let second = s.submit(pool, "op", |ctx| async move {
        Ok::<_, TaskFailure>(ctx.session())
    });
    assert!(matches!(second.await, Ok(Some(_))));
}

async fn progress_is_validated(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let h = s.submit(Target::None, "bg", |ctx| async move {
        assert!(matches!(
            ctx.progress(5, 3, "too far"),
            Err(Error::BadProgress { .. })
        ));
        assert!(matches!(
            ctx.progress(1, None, "x".repeat(10_000)),
            Err(Error::MessageTooLong { .. })
        ));
        ctx.progress(1, None, "fine")?;
        Ok::<_, TaskFailure>(ctx.id())
    });
    let id = h.await.unwrap();
    let v = s.task(id).unwrap();
    assert_eq!(v.progress.current, 1);
    assert_eq!(v.progress.total, None);
}

async fn reconnecting_makes_a_new_generation(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let old = s.connect("acct").unwrap();
    s.disconnect("acct").await.unwrap();
    let new = s.connect("acct").unwrap();
    assert_ne!(old, new);
    assert_eq!(s.session_id("acct"), Some(new));
    let stale = s.submit(old, "op", |_| async { Ok::<_, TaskFailure>(()) });
    assert_eq!(stale.await, Err(TaskError::SessionClosed));
    let fresh = s.submit(new, "op", |_| async { Ok::<_, TaskFailure>(()) });
    fresh.await.unwrap();
    assert_eq!(
        TaskError::from_rejection(RejectReason::UnknownTarget),
        TaskError::UnknownTarget
    );
}

async fn dropped_handles_detach(rt: Rt) {
    let s = Scheduler::with_runtime(config(), rt.clone()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let id = {
        let done = done.clone();
        let h = s.submit(Target::None, "bg", move |_| {
            let done = done.clone();
            async move {
                done.store(true, SeqCst);
                Ok::<_, TaskFailure>(())
            }
        });
        h.id().unwrap()
    };
    eventually(&rt, "detached task ran", || done.load(SeqCst)).await;
    eventually(&rt, "and completed", || {
        s.task(id).is_some_and(|v| v.state == TaskState::Completed)
    })
    .await;
    assert_eq!(s.pending_handles(), 0);
}
