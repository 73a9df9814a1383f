//! The source systems' tests (`shared/sources/`), restated against the scheduler and run on
//! both runtimes. Durations are scaled down (the 5 s grace becomes 100–300 ms) so the suite
//! stays fast; what each test checks is the source's.
#![cfg(all(not(loom), any(feature = "smol", feature = "tokio")))]

mod common;

use baton_kernel::{
    CancelReason, ClassConfig, Config, Explanation, ListFilter, Outcome, RetryPolicy, Target,
    TaskState,
};
use baton_runtime::{Scheduler, TaskError, TaskFailure};
use common::{Rt, eventually, ms, session_manager};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_runtimes!(
    task_metadata_and_auto_cleanup,
    active_task_counts_overall_and_by_type,
    task_details,
    cancel_all_within_grace_reports_the_stubborn_task,
    scrape_limit_of_five_holds_across_sessions_under_load,
    global_tracking_across_sessions,
    metrics_never_go_below_zero,
    progress_complete_fail_status_polling_and_cleanup_by_age,
    enqueue_with_priority_one_to_ten,
    three_retries_with_exponential_backoff,
    list_filter_page_and_cancel_jobs,
);

fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// A body that runs until `release` is set (checking every millisecond) or it is cancelled.
fn until_released(
    release: &Arc<AtomicBool>,
) -> impl Fn(baton_runtime::TaskContext) -> futures::future::BoxFuture<'static, Result<(), TaskFailure>>
+ Send
+ Sync
+ 'static {
    let release = release.clone();
    move |ctx| {
        let release = release.clone();
        Box::pin(async move {
            while !release.load(SeqCst) && !ctx.is_cancelled() {
                ctx.sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        })
    }
}

// ---- session manager, task tracking (source 000) ----

/// test_create_task_with_metadata: a task is registered with its type, parent operation,
/// session and creation time, and leaves the registry by itself once it has completed.
async fn task_metadata_and_auto_cleanup(rt: Rt) {
    let mut config = session_manager(100, 300);
    for class in &mut config.classes {
        class.retention = ms(0);
    }
    config.cleanup_interval = ms(0);
    let s = Scheduler::with_runtime(config, rt.clone()).unwrap();
    let a = s.connect("acct-1").unwrap();
    let release = flag();
    let monitor = s.submit(a, "monitoring", until_released(&release));
    let id = monitor.id().unwrap();
    eventually(&rt, "monitoring running", || {
        s.task(id).is_some_and(|v| v.state == TaskState::Running)
    })
    .await;
    let view = s.task(id).unwrap();
    assert_eq!(view.class_name, "monitoring");
    assert_eq!(view.session, Some(a));
    assert_eq!(view.parent, None);
    assert!(view.started_at.is_some());
    assert_eq!(s.registry_len(), 1);
    release.store(true, SeqCst);
    monitor.await.unwrap();
    // Auto-cleanup: retention zero removes the record as soon as the driver's timer fires.
    eventually(&rt, "record removed", || s.task(id).is_none()).await;
    assert_eq!(s.registry_len(), 0);
    assert_eq!(s.pending_handles(), 0);
}

/// test_get_active_task_count / _by_type: counts of active tasks, overall and per type.
async fn active_task_counts_overall_and_by_type(rt: Rt) {
    let s = Scheduler::with_runtime(session_manager(100, 300), rt.clone()).unwrap();
    let release = flag();
    let sessions: Vec<_> = (0..3)
        .map(|i| s.connect(&format!("acct-{i}")).unwrap())
        .collect();
    let mut handles = Vec::new();
    // One scrape running on each session, a send queued behind each.
    for &session in &sessions {
        handles.push(s.submit(session, "scraping", until_released(&release)));
        handles.push(s.submit(session, "sending", until_released(&release)));
    }
    // And two bulk-send children (background) on the first session.
    for _ in 0..2 {
        handles.push(s.submit(sessions[0], "send_one", until_released(&release)));
    }
    eventually(&rt, "5 running", || s.counts().active() == 5).await;
    let counts = s.counts();
    assert_eq!(counts.get(TaskState::Running), 5);
    assert_eq!(counts.get(TaskState::Queued), 3);
    assert_eq!(s.class_counts("scraping").unwrap().active(), 3);
    assert_eq!(s.class_counts("send_one").unwrap().active(), 2);
    assert_eq!(s.class_counts("sending").unwrap().waiting(), 3);
    assert_eq!(s.class_counts("monitoring").unwrap().total(), 0);
    release.store(true, SeqCst);
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(s.counts().active(), 0);
    assert_eq!(s.counts().get(TaskState::Completed), 8);
}

/// test_get_task_details: type, parent operation, session, age, done and cancelled.
async fn task_details(rt: Rt) {
    let s = Scheduler::with_runtime(session_manager(100, 300), rt.clone()).unwrap();
    let a = s.connect("acct").unwrap();
    let child_ids = Arc::new(Mutex::new(Vec::new()));
    let bulk = s.submit(a, "sending", {
        let child_ids = child_ids.clone();
        move |ctx| {
            let child_ids = child_ids.clone();
            async move {
                let mut children = Vec::new();
                for i in 0..3u32 {
                    let child = ctx
                        .spawn_child("send_one", move |_| async move { Ok::<_, TaskFailure>(i) });
                    child_ids.lock().unwrap().push(child.id().unwrap());
                    children.push(child);
                }
                let mut sent = 0;
                for child in children {
                    sent += child.await.map_err(TaskFailure::new)?;
                }
                ctx.cancelled().await;
                Ok::<_, TaskFailure>(sent)
            }
        }
    });
    let bulk_id = bulk.id().unwrap();
    eventually(&rt, "children done", || {
        let ids = child_ids.lock().unwrap();
        ids.len() == 3
            && ids
                .iter()
                .all(|id| s.task(*id).is_some_and(|v| v.state.is_terminal()))
    })
    .await;
    for id in child_ids.lock().unwrap().iter() {
        let v = s.task(*id).unwrap();
        assert_eq!(v.class_name, "send_one");
        assert_eq!(v.parent, Some(bulk_id));
        assert_eq!(v.session, Some(a));
        assert_eq!(v.state, TaskState::Completed); // done
        assert_eq!(v.cancel_reason, None); // not cancelled
    }
    common::sleep(&rt, Duration::from_millis(5)).await;
    let v = s.task(bulk_id).unwrap();
    assert!(v.age.as_nanos() >= 5_000_000, "age grows: {}", v.age);
    assert!(!v.state.is_terminal());
    bulk.cancel().unwrap();
    assert_eq!(bulk.await, Err(TaskError::Cancelled(CancelReason::User)));
    let v = s.task(bulk_id).unwrap();
    assert!(v.state.is_terminal()); // done
    assert_eq!(v.cancel_reason, Some(CancelReason::User)); // cancelled
}

/// test_cancel_all_tasks_with_timeout (+ _logs_slow_tasks): disconnect cancels every task of
/// the session; within the grace they stop, and one that ignores cancellation is reported with
/// its type, parent operation and age, and is removed from the registry all the same.
async fn cancel_all_within_grace_reports_the_stubborn_task(rt: Rt) {
    // Class grace 100 ms, disconnect grace 300 ms (the source's 5 s, scaled).
    let s = Scheduler::with_runtime(session_manager(100, 300), rt.clone()).unwrap();
    let a = s.connect("acct").unwrap();
    let other = s.connect("other").unwrap();
    let (started, release) = (flag(), flag());
    // The session's operation: monitoring, which spawns a keepalive child that cooperates, and
    // a stubborn child blocked in code that cannot be aborted.
    let stubborn_id = Arc::new(Mutex::new(None));
    let monitor = s.submit(a, "monitoring", {
        let (started, release, stubborn_id) =
            (started.clone(), release.clone(), stubborn_id.clone());
        move |ctx| {
            let (started, release, stubborn_id) =
                (started.clone(), release.clone(), stubborn_id.clone());
            async move {
                ctx.spawn_child("send_one", |c| async move {
                    c.cancelled().await;
                    Ok::<_, TaskFailure>(())
                })
                .detach();
                let stubborn = ctx.spawn_child("send_one", move |c| {
                    let release = release.clone();
                    async move {
                        c.spawn_blocking(move || {
                            while !release.load(SeqCst) {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        })
                        .await;
                        Ok::<_, TaskFailure>(())
                    }
                });
                *stubborn_id.lock().unwrap() = stubborn.id();
                stubborn.detach();
                started.store(true, SeqCst);
                ctx.cancelled().await;
                Ok::<_, TaskFailure>(())
            }
        }
    });
    let queued = s.submit(a, "scraping", |_| async { Ok::<_, TaskFailure>(()) });
    let elsewhere = s.submit(other, "monitoring", until_released(&release));
    eventually(&rt, "monitoring started", || started.load(SeqCst)).await;
    let monitor_id = monitor.id().unwrap();
    let stubborn_id = stubborn_id.lock().unwrap().unwrap();
    eventually(&rt, "children running", || {
        s.session_counts(a).unwrap().active() == 3
    })
    .await;

    let begun = rt.now();
    let report = s.disconnect("acct").await.unwrap();
    let took = rt.now().duration_since(begun);
    assert!(took < Duration::from_secs(2), "cleanup took {took:?}");
    // Only the stubborn task is reported, with its type, parent and age.
    assert_eq!(report.stuck.len(), 1, "{report:?}");
    let stuck = &report.stuck[0];
    assert_eq!(stuck.task, stubborn_id);
    assert_eq!(stuck.class, s.class_id("send_one").unwrap());
    assert_eq!(stuck.parent, Some(monitor_id));
    assert!(stuck.age.as_nanos() > 0);
    // Everything of the session left the registry, stubborn task included.
    assert!(s.task(stubborn_id).is_none());
    assert!(s.task(monitor_id).is_none());
    assert!(s.session_counts(a).is_none());
    assert_eq!(
        monitor.await,
        Err(TaskError::Cancelled(CancelReason::Disconnect))
    );
    assert_eq!(queued.await, Err(TaskError::SessionClosed));
    // The other session is untouched.
    assert_eq!(s.session_counts(other).unwrap().active(), 1);
    release.store(true, SeqCst);
    elsewhere.await.unwrap();
}

// ---- manager-level concurrency controls (source 002) ----

/// test_scrape_semaphore_limits_concurrent_operations: at most 5 scrapes at once across all
/// sessions, under load; the limit is reached.
async fn scrape_limit_of_five_holds_across_sessions_under_load(rt: Rt) {
    let s = Scheduler::with_runtime(session_manager(100, 300), rt.clone()).unwrap();
    let running = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for i in 0..20 {
        let session = s.connect(&format!("acct-{i}")).unwrap();
        for _ in 0..3 {
            let (running, peak) = (running.clone(), peak.clone());
            handles.push(s.submit(session, "scraping", move |ctx| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    ctx.sleep(Duration::from_millis(2)).await;
                    running.fetch_sub(1, SeqCst);
                    Ok::<_, TaskFailure>(())
                }
            }));
        }
    }
    let mut seen_max = 0;
    while !handles.iter().all(|h| h.is_finished()) {
        let m = s.metrics();
        let scraping = &m.classes[1];
        assert!(
            scraping.running <= 5,
            "{} scrapes running",
            scraping.running
        );
        seen_max = seen_max.max(scraping.running);
        common::sleep(&rt, Duration::from_millis(1)).await;
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(
        peak.load(SeqCst),
        5,
        "physically at most 5, and the limit was reached"
    );
    assert!(seen_max <= 5);
    assert_eq!(s.metrics().classes[1].totals.ended(Outcome::Completed), 60);
}

/// test_global_task_tracking_multiple_sessions / test_cleanup_session_tasks: tasks are tracked
/// per session and globally; cleaning up one session leaves the others' counts intact.
async fn global_tracking_across_sessions(rt: Rt) {
    let s = Scheduler::with_runtime(session_manager(100, 300), rt.clone()).unwrap();
    let release = flag();
    let a = s.connect("a").unwrap();
    let b = s.connect("b").unwrap();
    let mut handles = Vec::new();
    for _ in 0..2 {
        handles.push(s.submit(a, "send_one", until_released(&release)));
    }
    for _ in 0..3 {
        handles.push(s.submit(b, "send_one", until_released(&release)));
    }
    handles.push(s.submit(Target::None, "send_one", until_released(&release)));
    eventually(&rt, "all running", || s.counts().active() == 6).await;
    assert_eq!(s.session_counts(a).unwrap().active(), 2);
    assert_eq!(s.session_counts(b).unwrap().active(), 3);
    assert_eq!(s.counts().active(), 6);
    let report = s.disconnect("a").await.unwrap();
    assert!(report.stuck.is_empty());
    assert!(s.session_counts(a).is_none());
    assert_eq!(s.session_counts(b).unwrap().active(), 3);
    assert_eq!(s.counts().active(), 4);
    release.store(true, SeqCst);
    let results: Vec<_> = futures::future::join_all(handles).await;
    let cancelled = results
        .iter()
        .filter(|r| **r == Err(TaskError::Cancelled(CancelReason::Disconnect)))
        .count();
    assert_eq!(cancelled, 2);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
}

/// test_increment_and_decrement_operation_metrics: metrics count up and down and never go
/// below zero, whatever mix of outcomes.
async fn metrics_never_go_below_zero(rt: Rt) {
    let s = Scheduler::with_runtime(session_manager(20, 50), rt.clone()).unwrap();
    let sessions: Vec<_> = (0..4)
        .map(|i| s.connect(&format!("acct-{i}")).unwrap())
        .collect();
    let mut handles = Vec::new();
    for round in 0..40u64 {
        let session = sessions[(round % 4) as usize];
        let class = ["monitoring", "scraping", "sending", "send_one"][(round % 4) as usize];
        handles.push(s.submit(session, class, move |ctx| async move {
            ctx.sleep(Duration::from_millis(round % 3)).await;
            match round % 5 {
                0 => Err(TaskFailure::new("failed")),
                1 => {
                    ctx.cancelled().await;
                    Ok(())
                }
                _ => Ok(()),
            }
        }));
        if round % 7 == 0 {
            let _ = handles[handles.len() / 2].cancel();
        }
        let m = s.metrics();
        assert!(m.classes.iter().all(|c| c.running <= 40 && c.queued <= 40));
    }
    s.disconnect("acct-1").await.unwrap();
    for h in &handles {
        let _ = h.cancel();
    }
    futures::future::join_all(handles).await;
    let m = s.metrics();
    for class in &m.classes {
        assert_eq!(class.running, 0, "{class:?}");
        assert_eq!(class.queued, 0, "{class:?}");
        assert_eq!(class.stuck, 0, "{class:?}");
        let ended: u64 = class.totals.outcomes.iter().sum();
        assert_eq!(ended, class.totals.submitted, "{class:?}");
    }
    assert_eq!(s.counts().active() + s.counts().waiting(), 0);
}

// ---- the cache's task tracker (source 003) ----

/// register_task / update_task_progress / complete_task / fail_task / get_task_status /
/// cleanup_tasks(max_age): progress is visible while running, completion and failure (with
/// its error) after, and records older than the retention are swept.
async fn progress_complete_fail_status_polling_and_cleanup_by_age(rt: Rt) {
    let mut config = Config::new(vec![
        ClassConfig::background("cache_fill", 5)
            .with_retention(ms(150))
            .with_run_timeout(ms(5_000)),
    ]);
    config.cleanup_interval = ms(50);
    let s = Scheduler::with_runtime(config, rt.clone()).unwrap();
    let step = Arc::new(AtomicU64::new(0));
    let fill = s.submit(Target::None, "cache_fill", {
        let step = step.clone();
        move |ctx| {
            let step = step.clone();
            async move {
                for i in 1..=3u64 {
                    ctx.progress(i, 3, format!("chunk {i}"))?;
                    while step.load(SeqCst) < i {
                        ctx.sleep(Duration::from_millis(1)).await;
                    }
                }
                Ok::<_, TaskFailure>("filled")
            }
        }
    });
    let id = fill.id().unwrap();
    // Status polling sees each progress report.
    for i in 1..=3u64 {
        eventually(&rt, "progress reported", || {
            s.task(id).is_some_and(|v| v.progress.current == i)
        })
        .await;
        let v = s.task(id).unwrap();
        assert_eq!(v.progress.total, Some(3));
        assert_eq!(v.progress.message, format!("chunk {i}"));
        assert_eq!(v.state, TaskState::Running);
        step.store(i, SeqCst);
    }
    assert_eq!(fill.await, Ok("filled"));
    assert_eq!(s.task(id).unwrap().state, TaskState::Completed);

    let bad = s.submit(Target::None, "cache_fill", |_| async {
        Err::<(), _>(std::io::Error::other("upstream 503"))
    });
    let bad_id = bad.id().unwrap();
    assert!(matches!(bad.await, Err(TaskError::Failed(f)) if f.message() == "upstream 503"));
    let v = s.task(bad_id).unwrap();
    assert_eq!(v.state, TaskState::Failed);
    assert_eq!(v.error.as_deref(), Some("upstream 503"));
    // Cleanup by age: both records leave after the retention (150 ms, swept every 50 ms);
    // a newer one stays.
    eventually(&rt, "old records swept", || {
        s.task(id).is_none() && s.task(bad_id).is_none()
    })
    .await;
    let fresh = s.submit(Target::None, "cache_fill", |_| async {
        Ok::<_, TaskFailure>(())
    });
    let fresh_id = fresh.id().unwrap();
    fresh.await.unwrap();
    assert!(s.task(fresh_id).is_some());
    assert_eq!(s.registry_len(), 1);
}

// ---- the background job manager (source 004) ----

fn job_config(max_attempts: u32) -> Config {
    let mut retry = RetryPolicy::exponential(max_attempts, ms(20), ms(1_000));
    retry.jitter_permille = 0;
    Config::new(vec![
        ClassConfig::background("job", 5)
            .with_limit(1)
            .with_retry(retry)
            .without_timeouts(),
    ])
}

/// enqueue_task with priority 1–10: higher priority runs first.
async fn enqueue_with_priority_one_to_ten(rt: Rt) {
    let s = Scheduler::with_runtime(job_config(1), rt.clone()).unwrap();
    let release = flag();
    let blocker = s.submit(Target::None, "job", until_released(&release));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for priority in [3u8, 9, 1, 10, 5, 7, 2, 8, 6, 4] {
        let order = order.clone();
        handles.push(
            s.task_builder(Target::None, "job")
                .priority(priority)
                .submit(move |_| {
                    let order = order.clone();
                    async move {
                        order.lock().unwrap().push(priority);
                        Ok::<_, TaskFailure>(())
                    }
                }),
        );
    }
    let lowest = handles[2].id().unwrap();
    match s.explain(lowest) {
        Some(Explanation::Queued { blockers }) => assert!(!blockers.is_empty()),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(s.task(lowest).unwrap().priority, 1);
    release.store(true, SeqCst);
    blocker.await.unwrap();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
}

/// max_retries=3: a job failing with a retryable error is run again after 20, 40, 80 ms; the
/// fourth attempt succeeds. A job that keeps failing ends Failed after its fourth attempt; a
/// non-retryable error is never retried.
async fn three_retries_with_exponential_backoff(rt: Rt) {
    let s = Scheduler::with_runtime(job_config(4), rt.clone()).unwrap();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let flaky = s.submit(Target::None, "job", {
        let starts = starts.clone();
        let rt = rt.clone();
        move |ctx| {
            starts.lock().unwrap().push(rt.now());
            async move {
                if ctx.attempt() < 4 {
                    Err(TaskFailure::retryable(format!(
                        "attempt {} failed",
                        ctx.attempt()
                    )))
                } else {
                    Ok(ctx.attempt())
                }
            }
        }
    });
    let id = flaky.id().unwrap();
    assert_eq!(flaky.await, Ok(4));
    let starts = starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 4);
    for (i, pair) in starts.windows(2).enumerate() {
        let gap = pair[1].duration_since(pair[0]);
        let backoff = Duration::from_millis(20 << i);
        assert!(
            gap >= backoff,
            "retry {} after {gap:?}, backoff {backoff:?}",
            i + 1
        );
    }
    let v = s.task(id).unwrap();
    assert_eq!(v.attempt, 4);
    assert_eq!(s.metrics().classes[0].totals.retries, 3);

    let hopeless = s.submit(Target::None, "job", |ctx| async move {
        Err::<(), _>(TaskFailure::retryable(format!("attempt {}", ctx.attempt())))
    });
    let hopeless_id = hopeless.id().unwrap();
    match hopeless.await {
        Err(TaskError::Failed(f)) => assert_eq!(f.message(), "attempt 4"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(s.task(hopeless_id).unwrap().attempt, 4);

    let fatal = s.submit(Target::None, "job", |ctx| async move {
        let _: u32 = "x".parse()?;
        Ok::<_, TaskFailure>(ctx.attempt())
    });
    let fatal_id = fatal.id().unwrap();
    assert!(matches!(fatal.await, Err(TaskError::Failed(_))));
    assert_eq!(s.task(fatal_id).unwrap().attempt, 1);
}

/// list_tasks(status, type, limit, offset) / get_task_count / cancel_task.
async fn list_filter_page_and_cancel_jobs(rt: Rt) {
    let mut config = job_config(1);
    config.classes.push(
        ClassConfig::background("report", 5)
            .with_limit(1)
            .without_timeouts(),
    );
    let s = Scheduler::with_runtime(config, rt.clone()).unwrap();
    let release = flag();
    let mut handles = Vec::new();
    for i in 0..12 {
        let class = if i % 3 == 0 { "report" } else { "job" };
        handles.push(s.submit(Target::None, class, until_released(&release)));
    }
    eventually(&rt, "two running", || s.counts().active() == 2).await;
    let job = s.class_id("job").unwrap();
    let filter = ListFilter {
        state: Some(TaskState::Queued),
        class: Some(job),
        ..ListFilter::default()
    };
    // 8 jobs: one running, 7 queued; pages of 4 by id with a cursor.
    let first = s.list(&filter, None, 4);
    assert_eq!(first.items.len(), 4);
    let second = s.list(&filter, first.next, 4);
    assert_eq!(second.items.len(), 3);
    assert!(second.next.is_none());
    assert!(first.items[3].id < second.items[0].id);
    assert!(
        first
            .items
            .iter()
            .chain(&second.items)
            .all(|v| v.class == job && v.state == TaskState::Queued)
    );
    assert_eq!(s.class_counts(job).unwrap().get(TaskState::Queued), 7);
    // Cancel a queued job: it ends at once.
    let victim = second.items[0].id;
    s.cancel(victim).unwrap();
    assert_eq!(
        s.task(victim).unwrap().outcome,
        Some(Outcome::Cancelled(CancelReason::User))
    );
    assert_eq!(s.class_counts(job).unwrap().get(TaskState::Queued), 6);
    release.store(true, SeqCst);
    let results = futures::future::join_all(handles).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 11);
}
