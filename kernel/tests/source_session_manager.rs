//! The messaging-account session manager's own tests (`test_task_tracking.py`,
//! `test_manager_concurrency_controls.py` in `shared/sources/`), restated against the kernel with
//! `preset::session_manager()`: task metadata and auto-cleanup, counts overall and by type, task
//! details, cancel-all on disconnect with a 5 s timeout that reports slow tasks, the scrape limit
//! of 5 across sessions, and metrics that never go below zero.

use baton_kernel::{
    Action, CancelReason, ClassId, Duration, Exit, Instant, Kernel, ListFilter, Notice, Outcome,
    RejectReason, Scope, SessionId, Submit, Target, TaskId, TaskState, preset,
};
use std::collections::BTreeMap;

fn at_ms(ms: u64) -> Instant {
    Instant::from_nanos(ms * 1_000_000)
}

fn at(secs: u64) -> Instant {
    at_ms(secs * 1000)
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

struct Manager {
    k: Kernel,
    monitoring: ClassId,
    scraping: ClassId,
    sending: ClassId,
}

fn manager() -> Manager {
    let k = Kernel::new(preset::session_manager()).unwrap();
    Manager {
        monitoring: k.class_id("monitoring").unwrap(),
        scraping: k.class_id("scraping").unwrap(),
        sending: k.class_id("sending").unwrap(),
        k,
    }
}

fn submit(k: &mut Kernel, now: Instant, class: ClassId, s: SessionId) -> TaskId {
    let id = k
        .submit(now, Submit::new(class, Target::Session(s)))
        .unwrap();
    drain(k);
    id
}

fn child_of(k: &mut Kernel, now: Instant, class: ClassId, s: SessionId, p: TaskId) -> TaskId {
    let id = k
        .submit(
            now,
            Submit {
                parent: Some(p),
                ..Submit::new(class, Target::Session(s))
            },
        )
        .unwrap();
    drain(k);
    id
}

/// Tasks not yet done (the source's `active_tasks`): waiting, running or cancelling.
fn active_count(k: &Kernel) -> u64 {
    k.counts().waiting() + k.counts().active()
}

#[test]
fn preset_matches_the_source_numbers() {
    let m = manager();
    let c = m.k.config();
    let class = |id: ClassId| &c.classes[id.index()];
    assert_eq!(class(m.monitoring).priority, 10);
    assert_eq!(class(m.scraping).priority, 5);
    assert_eq!(class(m.sending).priority, 1);
    assert_eq!(
        class(m.monitoring).run_timeout,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        class(m.scraping).run_timeout,
        Some(Duration::from_secs(300))
    );
    assert_eq!(class(m.sending).run_timeout, Some(Duration::from_secs(60)));
    assert_eq!(class(m.scraping).limit, Some(5));
    for id in [m.monitoring, m.scraping, m.sending] {
        assert!(class(id).exclusive);
        assert_eq!(class(id).queue_timeout, Some(Duration::from_secs(60)));
        assert_eq!(class(id).grace, Duration::from_secs(5));
    }
    assert_eq!(c.limits.queue_len_max, 100);
    assert_eq!(c.disconnect_grace, Duration::from_secs(5));
}

/// `test_create_task_with_metadata`: a task is registered with its type, parent, session and
/// creation time, and leaves the active set as soon as it completes (the record itself is kept
/// for the retention time, then removed).
#[test]
fn create_task_with_metadata_and_auto_cleanup() {
    let Manager {
        mut k,
        sending,
        monitoring,
        ..
    } = manager();
    let s = k.connect(at(0), "acct1").unwrap();
    let bulk = submit(&mut k, at(1), monitoring, s);
    let other = k.connect(at(1), "acct2").unwrap();
    let send = child_of(&mut k, at(2), sending, other, bulk);
    let v = k.task(send).unwrap();
    assert_eq!(v.class_name, "sending");
    assert_eq!(v.parent, Some(bulk));
    assert_eq!(v.session, Some(other));
    assert_eq!(k.session_label(other).as_deref(), Some("acct2#2"));
    assert_eq!(v.created_at, at(2));
    assert_eq!(v.state, TaskState::Running);
    assert_eq!(active_count(&k), 2);

    k.finished(at(3), send, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(
        active_count(&k),
        1,
        "done tasks leave the active set at once"
    );
    assert_eq!(k.task(send).unwrap().state, TaskState::Completed);
    // Auto-cleanup: the record leaves the registry within retention (300 s) + sweep (60 s).
    k.handle_timeout(Instant::from_nanos(at(3 + 300).as_nanos() - 1))
        .unwrap();
    assert!(drain(&mut k).is_empty());
    assert!(k.task(send).is_some(), "kept for the retention time");
    let gone_by = at(3 + 360);
    k.handle_timeout(gone_by).unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&Action::Notify(Notice::Removed { task: send })));
    assert!(k.task(send).is_none());
}

/// `test_get_active_task_count` and `test_get_active_task_count_by_type`.
#[test]
fn active_task_counts_overall_and_by_type() {
    let Manager {
        mut k,
        monitoring,
        scraping,
        sending,
    } = manager();
    assert_eq!(active_count(&k), 0);
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let m1 = submit(&mut k, at(0), monitoring, a);
    let _s1 = submit(&mut k, at(0), scraping, a);
    let _s2 = submit(&mut k, at(0), scraping, b);
    let _t1 = submit(&mut k, at(0), sending, b);
    let _t2 = submit(&mut k, at(0), sending, b);
    assert_eq!(active_count(&k), 5);
    let by_type = |k: &Kernel, c| {
        let n = k.class_counts(c).unwrap();
        n.waiting() + n.active()
    };
    assert_eq!(by_type(&k, monitoring), 1);
    assert_eq!(by_type(&k, scraping), 2);
    assert_eq!(by_type(&k, sending), 2);
    // Per session, as the manager's get_global_task_count(session_name).
    let per_session = |k: &Kernel, s| {
        let n = k.session_counts(s).unwrap();
        n.waiting() + n.active()
    };
    assert_eq!(per_session(&k, a), 2);
    assert_eq!(per_session(&k, b), 3);
    k.finished(at(1), m1, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(active_count(&k), 4);
    assert_eq!(by_type(&k, monitoring), 0);
    assert_eq!(per_session(&k, a), 1);
    // An unknown type has nothing.
    assert!(k.class_counts(ClassId(9)).is_none());
}

/// `test_get_task_details`: type, parent operation, session, age, creation time, done and
/// cancelled status of every task.
#[test]
fn task_details() {
    let Manager {
        mut k,
        monitoring,
        sending,
        ..
    } = manager();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let keepalive = submit(&mut k, at(10), monitoring, a);
    let send = child_of(&mut k, at(12), sending, b, keepalive);
    let queued = submit(&mut k, at(12), sending, b);
    k.cancel(at(13), queued).unwrap();
    drain(&mut k);
    k.handle_timeout(at(15)).unwrap();
    let details = k.list(&ListFilter::default(), None, 100).items;
    assert_eq!(details.len(), 3);
    let d: BTreeMap<TaskId, _> = details.into_iter().map(|v| (v.id, v)).collect();
    let v = &d[&keepalive];
    assert_eq!(
        (v.class_name.as_str(), v.parent, v.session),
        ("monitoring", None, Some(a))
    );
    assert_eq!((v.created_at, v.age), (at(10), Duration::from_secs(5)));
    assert!(!v.state.is_terminal());
    let v = &d[&send];
    assert_eq!(
        (v.class_name.as_str(), v.parent, v.session),
        ("sending", Some(keepalive), Some(b))
    );
    assert_eq!(v.age, Duration::from_secs(3));
    let v = &d[&queued];
    assert!(v.state.is_terminal(), "done");
    assert_eq!(
        v.outcome,
        Some(Outcome::Cancelled(CancelReason::User)),
        "cancelled"
    );
}

/// `test_cancel_all_tasks_with_timeout`: disconnect cancels every task of the session; tasks that
/// honour cancellation stop, nothing is reported stuck, and nothing of the session is left.
#[test]
fn cancel_all_on_disconnect_completes_cleanly() {
    let Manager {
        mut k,
        monitoring,
        sending,
        scraping,
    } = manager();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let running = submit(&mut k, at(0), monitoring, a);
    let queued1 = submit(&mut k, at(0), sending, a);
    let queued2 = submit(&mut k, at(0), scraping, a);
    let elsewhere = submit(&mut k, at(0), sending, b);
    k.disconnect(at(1), "a").unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&Action::Cancel {
        task: running,
        reason: CancelReason::Disconnect
    }));
    for q in [queued1, queued2] {
        assert!(actions.contains(&Action::Notify(Notice::Finished {
            task: q,
            outcome: Outcome::Rejected(RejectReason::SessionClosed)
        })));
    }
    k.finished(at_ms(1200), running, Exit::Completed).unwrap();
    let actions = drain(&mut k);
    let Some(Action::Notify(Notice::Closed(report))) = actions.last() else {
        panic!("no report: {actions:?}");
    };
    assert_eq!(report.scope, Scope::Session(a));
    assert!(report.stuck.is_empty());
    assert!(report.at <= at(1) + Duration::from_secs(5));
    for t in [running, queued1, queued2] {
        assert!(k.task(t).is_none());
    }
    assert_eq!(k.task(elsewhere).unwrap().state, TaskState::Running);
    assert_eq!(k.registry_len(), 1);
}

/// `test_cancel_all_tasks_with_timeout_logs_slow_tasks`: a task that ignores cancellation is
/// reported (type, parent operation, age) when the 5 s timeout runs out, and it is removed from
/// the registry all the same.
#[test]
fn cancel_all_reports_the_slow_task_after_5_seconds() {
    let Manager {
        mut k,
        monitoring,
        sending,
        ..
    } = manager();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let bulk = submit(&mut k, at(0), monitoring, b);
    let slow = child_of(&mut k, at(2), sending, a, bulk);
    k.disconnect(at(10), "a").unwrap();
    drain(&mut k);
    k.handle_timeout(at_ms(14_999)).unwrap();
    assert_eq!(drain(&mut k), vec![]);
    assert_eq!(k.task(slow).unwrap().state, TaskState::Cancelling);
    k.handle_timeout(at(15)).unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&Action::Abort { task: slow }));
    let Some(Action::Notify(Notice::Closed(report))) = actions.last() else {
        panic!("no report: {actions:?}");
    };
    assert_eq!(report.at, at(15));
    assert_eq!(report.stuck.len(), 1);
    let s = &report.stuck[0];
    assert_eq!(s.task, slow);
    assert_eq!(k.config().classes[s.class.index()].name, "sending");
    assert_eq!(s.parent, Some(bulk));
    assert_eq!(s.age, Duration::from_secs(13));
    assert!(k.task(slow).is_none(), "still removed from the registry");
    assert!(k.sessions().all(|(id, _, _)| id != a));
    assert_eq!(k.task(bulk).unwrap().state, TaskState::Running);
}

/// `test_cleanup_session_tasks` / shutdown: every task of every session is gone within 5 s.
#[test]
fn shutdown_cleans_up_every_session_within_the_grace() {
    let Manager {
        mut k,
        monitoring,
        scraping,
        sending,
    } = manager();
    let mut ids = Vec::new();
    for i in 0..4 {
        let s = k.connect(at(0), &format!("acct{i}")).unwrap();
        ids.push(submit(&mut k, at(0), monitoring, s));
        ids.push(submit(&mut k, at(0), scraping, s));
        ids.push(submit(&mut k, at(0), sending, s));
    }
    k.shutdown(at(1), Duration::from_secs(5)).unwrap();
    drain(&mut k);
    // Two monitoring tasks stop; the other two ignore cancellation.
    k.finished(at(2), ids[0], Exit::Completed).unwrap();
    k.finished(at(2), ids[3], Exit::Completed).unwrap();
    drain(&mut k);
    k.handle_timeout(at(6)).unwrap();
    let actions = drain(&mut k);
    let Some(Action::Notify(Notice::Closed(report))) = actions.last() else {
        panic!("no report: {actions:?}");
    };
    assert_eq!(report.scope, Scope::Shutdown);
    assert_eq!(
        report.stuck.iter().map(|s| s.task).collect::<Vec<_>>(),
        vec![ids[6], ids[9]]
    );
    assert_eq!(k.registry_len(), 0);
    assert!(k.is_stopped());
}

/// `test_scrape_semaphore_limits_concurrent_operations`: at most 5 scrapes at once across all
/// accounts, under load, and the limit is used fully while scrapes wait.
#[test]
fn scrape_limit_of_5_across_many_sessions_under_load() {
    let Manager {
        mut k, scraping, ..
    } = manager();
    let sessions: Vec<SessionId> = (0..20)
        .map(|i| k.connect(at(0), &format!("acct{i}")).unwrap())
        .collect();
    let mut ids = Vec::new();
    for round in 0..3 {
        for s in &sessions {
            ids.push(
                k.submit(at(round), Submit::new(scraping, Target::Session(*s)))
                    .unwrap(),
            );
        }
    }
    drain(&mut k);
    // Each scrape takes 1–3 s, by a fixed pattern; drive virtual time until all are done.
    let mut ends: BTreeMap<TaskId, Instant> = BTreeMap::new();
    let mut now = at(2);
    let mut peak = 0;
    loop {
        let running = k.class_counts(scraping).unwrap().active();
        let waiting = k.class_counts(scraping).unwrap().get(TaskState::Queued);
        assert!(running <= 5, "{running} scrapes at once");
        if waiting > 0 {
            assert_eq!(running, 5, "a slot is idle while scrapes wait");
        }
        peak = peak.max(running);
        for v in k
            .list(
                &ListFilter {
                    state: Some(TaskState::Running),
                    ..ListFilter::default()
                },
                None,
                100,
            )
            .items
        {
            let started = v.started_at.unwrap();
            ends.entry(v.id)
                .or_insert(started + Duration::from_millis(1000 + (v.id.0 * 737) % 2000));
        }
        let Some((&id, &end)) = ends
            .iter()
            .filter(|(id, _)| k.task(**id).unwrap().state == TaskState::Running)
            .min_by_key(|(id, end)| (**end, **id))
        else {
            break;
        };
        now = now.max(end);
        k.finished(now, id, Exit::Completed).unwrap();
        drain(&mut k);
    }
    assert_eq!(peak, 5);
    for id in ids {
        assert_eq!(k.task(id).unwrap().state, TaskState::Completed, "{id}");
    }
    let totals = &k.metrics().classes[scraping.index()].totals;
    assert_eq!(totals.ended(Outcome::Completed), 60);
    assert!(now < at(60), "all done before any queue wait ran out");
}

/// Priorities: monitoring (10) before scraping (5) before sending (1) on one account.
#[test]
fn operations_on_one_account_run_by_priority() {
    let Manager {
        mut k,
        monitoring,
        scraping,
        sending,
    } = manager();
    let a = k.connect(at(0), "a").unwrap();
    let first = submit(&mut k, at(0), sending, a);
    let send = submit(&mut k, at(1), sending, a);
    let scrape = submit(&mut k, at(2), scraping, a);
    let monitor = submit(&mut k, at(3), monitoring, a);
    let mut order = Vec::new();
    let mut holder = Some(first);
    let mut now = at(4);
    while let Some(h) = holder {
        k.finished(now, h, Exit::Completed).unwrap();
        for a in drain(&mut k) {
            if let Action::Start { task, .. } = a {
                order.push(task);
            }
        }
        holder = k.session_holder(a);
        now = now + Duration::from_secs(1);
    }
    assert_eq!(order, vec![monitor, scrape, send]);
}

/// The source's queue: 100 pending operations per account, each waiting at most 60 s.
#[test]
fn the_operation_queue_holds_100_and_waits_at_most_60_seconds() {
    let Manager { mut k, sending, .. } = manager();
    let a = k.connect(at(0), "a").unwrap();
    let _busy = submit(&mut k, at(0), sending, a);
    let queued: Vec<TaskId> = (0..100)
        .map(|_| submit(&mut k, at(0), sending, a))
        .collect();
    assert_eq!(
        k.submit(at(0), Submit::new(sending, Target::Session(a))),
        Err(baton_kernel::Error::Refused(RejectReason::QueueFull))
    );
    // The first operation runs into its 60 s timeout, is cancelled, and ignores it; the queued
    // ones are rejected once they have waited 60 s.
    k.handle_timeout(at(60)).unwrap();
    let actions = drain(&mut k);
    let rejected = actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Notify(Notice::Finished {
                    outcome: Outcome::Rejected(RejectReason::QueueTimeout),
                    ..
                })
            )
        })
        .count();
    assert_eq!(rejected, 100);
    assert!(
        queued
            .iter()
            .all(|t| k.task(*t).unwrap().state == TaskState::Rejected)
    );
}

/// `test_increment_and_decrement_operation_metrics`: counters go up and down with the work and
/// never below zero, even when reports are duplicated or arrive for unknown tasks.
#[test]
fn metrics_never_go_below_zero() {
    let Manager {
        mut k,
        monitoring,
        scraping,
        sending,
    } = manager();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let m = submit(&mut k, at(0), monitoring, a);
    let s = submit(&mut k, at(0), scraping, b);
    let t = submit(&mut k, at(0), sending, b);
    let running =
        |k: &Kernel| -> Vec<u64> { k.metrics().classes.iter().map(|c| c.running).collect() };
    let queued =
        |k: &Kernel| -> Vec<u64> { k.metrics().classes.iter().map(|c| c.queued).collect() };
    assert_eq!(running(&k), vec![1, 1, 0]);
    assert_eq!(queued(&k), vec![0, 0, 1]);
    for id in [m, s] {
        k.finished(at(1), id, Exit::Completed).unwrap();
        drain(&mut k);
        // Duplicate and stray reports are refused and decrement nothing.
        assert!(k.finished(at(1), id, Exit::Completed).is_err());
        assert!(k.finished(at(1), TaskId(999), Exit::Completed).is_err());
        assert!(k.cancel(at(1), id).is_err());
    }
    assert_eq!(running(&k), vec![0, 0, 1]);
    k.finished(at(2), t, Exit::Completed).unwrap();
    drain(&mut k);
    assert!(k.finished(at(2), t, Exit::Completed).is_err());
    assert_eq!(running(&k), vec![0, 0, 0]);
    assert_eq!(queued(&k), vec![0, 0, 0]);
    assert_eq!(k.counts().active(), 0);
    assert_eq!(k.counts().waiting(), 0);
    assert_eq!(k.counts().get(TaskState::Completed), 3);
    // Cleanup removes the records; the counters fall to zero, not below.
    k.disconnect(at(3), "a").unwrap();
    k.disconnect(at(3), "b").unwrap();
    drain(&mut k);
    assert_eq!(k.counts().total(), 0);
    let totals: u64 = k
        .metrics()
        .classes
        .iter()
        .map(|c| c.totals.ended(Outcome::Completed))
        .sum();
    assert_eq!(totals, 3, "totals are history: cleanup does not undo them");
}
