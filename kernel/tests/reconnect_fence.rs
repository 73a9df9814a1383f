//! Exclusivity survives reconnects, Abort on every abandon, group records with their member,
//! stale progress, validated snapshots.

use baton_kernel::{
    Action, Blocker, CancelReason, ClassConfig, ClassId, Config, Duration, Error, Exit,
    Explanation, Instant, Kernel, ListFilter, Notice, Outcome, Progress, RejectReason, RetryPolicy,
    Scope, Submit, Target, TaskId, TaskState, preset,
};

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn started(actions: &[Action]) -> Vec<TaskId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { task, .. } => Some(*task),
            _ => None,
        })
        .collect()
}

fn finished(task: TaskId, outcome: Outcome) -> Action {
    Action::Notify(Notice::Finished { task, outcome })
}

/// The source messaging-account manager: a send that ignores cancellation keeps running after
/// the account disconnects; the account reconnects at once. Without the fence the monitoring
/// task of the new generation would run beside the send on the same account.
#[test]
fn a_stubborn_send_fences_the_reconnected_account_until_it_is_reported() {
    let mut k = Kernel::new(preset::session_manager()).unwrap();
    let sending = k.class_id("sending").unwrap();
    let monitoring = k.class_id("monitoring").unwrap();
    let acct = k.connect(at(0), "acct").unwrap();
    let send = k
        .submit(at(0), Submit::new(sending, Target::Session(acct)))
        .unwrap();
    assert_eq!(started(&drain(&mut k)), vec![send]);

    k.disconnect(at(1), "acct").unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Cancel {
            task: send,
            reason: CancelReason::Disconnect
        }]
    );
    let again = k.connect(at(1), "acct").unwrap();
    assert_ne!(again, acct, "a new generation");
    let monitor = k
        .submit(at(1), Submit::new(monitoring, Target::Session(again)))
        .unwrap();
    assert_eq!(
        started(&drain(&mut k)),
        vec![],
        "fenced: the send may still run"
    );
    assert_eq!(
        k.explain(monitor),
        Some(Explanation::Queued {
            blockers: vec![Blocker::Fenced {
                session: again,
                by: send
            }]
        })
    );
    assert_eq!(k.fenced(), vec![("acct".to_owned(), vec![send])]);
    assert_eq!(k.metrics().fenced_names, 1);

    // The grace (5 s) runs out: Abort first, then the record is abandoned and removed; the
    // send has still not stopped, so the fence stays.
    k.handle_timeout(at(6)).unwrap();
    let actions = drain(&mut k);
    let abort = actions
        .iter()
        .position(|a| *a == Action::Abort { task: send });
    let abandoned = actions
        .iter()
        .position(|a| *a == finished(send, Outcome::Abandoned));
    assert!(abort.is_some() && abort < abandoned, "{actions:?}");
    assert!(k.task(send).is_none());
    assert_eq!(started(&actions), vec![]);
    assert_eq!(k.task(monitor).unwrap().state, TaskState::Queued);

    // The driver finally reports the send gone: the fence lifts and monitoring starts.
    k.finished(at(9), send, Exit::Dropped).unwrap();
    let actions = drain(&mut k);
    assert_eq!(started(&actions), vec![monitor]);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Notify(Notice::Finished { task, .. }) if *task == send)),
        "the send ended once, as Abandoned"
    );
    assert!(k.fenced().is_empty());
    assert_eq!(k.metrics().fenced_names, 0);
    // A second report is unknown and changes nothing.
    let before = k.clone();
    assert_eq!(
        k.finished(at(9), send, Exit::Dropped),
        Err(Error::UnknownTask(send))
    );
    assert_eq!(k, before);
}

#[test]
fn a_send_that_stops_within_its_grace_lifts_the_fence_by_its_ordinary_report() {
    let mut k = Kernel::new(preset::session_manager()).unwrap();
    let sending = k.class_id("sending").unwrap();
    let acct = k.connect(at(0), "acct").unwrap();
    let send = k
        .submit(at(0), Submit::new(sending, Target::Session(acct)))
        .unwrap();
    drain(&mut k);
    k.disconnect(at(1), "acct").unwrap();
    let again = k.connect(at(1), "acct").unwrap();
    let next = k
        .submit(at(1), Submit::new(sending, Target::Session(again)))
        .unwrap();
    drain(&mut k);
    k.finished(at(2), send, Exit::Completed).unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&finished(
        send,
        Outcome::Cancelled(CancelReason::Disconnect)
    )));
    assert_eq!(started(&actions), vec![next]);
    assert!(k.fenced().is_empty());
}

#[test]
fn without_the_fence_a_reconnect_runs_at_once_and_late_reports_are_unknown() {
    let mut config = preset::session_manager();
    config.fence_reconnect = false;
    let mut k = Kernel::new(config).unwrap();
    let sending = k.class_id("sending").unwrap();
    let acct = k.connect(at(0), "acct").unwrap();
    let send = k
        .submit(at(0), Submit::new(sending, Target::Session(acct)))
        .unwrap();
    drain(&mut k);
    k.disconnect(at(1), "acct").unwrap();
    let again = k.connect(at(1), "acct").unwrap();
    let next = k
        .submit(at(1), Submit::new(sending, Target::Session(again)))
        .unwrap();
    assert_eq!(started(&drain(&mut k)), vec![next]);
    k.handle_timeout(at(6)).unwrap();
    drain(&mut k);
    assert_eq!(
        k.finished(at(7), send, Exit::Dropped),
        Err(Error::UnknownTask(send))
    );
    assert!(k.fenced().is_empty());
}

fn two_classes() -> Config {
    let mut c = Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_grace(Duration::from_secs(5)),
        ClassConfig::background("bg", 5).without_timeouts(),
    ]);
    c.disconnect_grace = Duration::from_secs(1);
    c
}
/// A kernel whose session "a" was disconnected while its exclusive task `t` ran, and whose
/// cleanup (1 s) has abandoned `t` without a report: "a" is fenced by `t`.
fn abandoned_on_a(config: Config) -> (Kernel, TaskId) {
    let mut k = Kernel::new(config).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    k.disconnect(at(0), "a").unwrap();
    k.handle_timeout(at(1)).unwrap();
    drain(&mut k);
    (k, t)
}

const IO: ClassId = ClassId(0);
const BG: ClassId = ClassId(1);

#[test]
fn cleanup_sooner_than_the_class_grace_aborts_before_abandoning() {
    let mut k = Kernel::new(two_classes()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    k.disconnect(at(0), "a").unwrap();
    drain(&mut k);
    k.handle_timeout(at(1)).unwrap();
    let actions = drain(&mut k);
    assert_eq!(actions[0], Action::Abort { task: t });
    assert_eq!(actions[1], finished(t, Outcome::Abandoned));
    assert!(matches!(
        actions.last(),
        Some(Action::Notify(Notice::Closed(r))) if r.scope == Scope::Session(a) && r.stuck.len() == 1
    ));
    // Exactly one Abort.
    assert_eq!(
        actions
            .iter()
            .filter(|x| matches!(x, Action::Abort { .. }))
            .count(),
        1
    );
}

#[test]
fn a_fenced_member_takes_no_group_task_until_the_report() {
    let (mut k, t) = abandoned_on_a(two_classes());
    let again = k.connect(at(2), "a").unwrap();
    let g = k.join_group(at(2), "pool", again).unwrap();
    let gt = k.submit(at(2), Submit::new(IO, Target::Group(g))).unwrap();
    assert_eq!(started(&drain(&mut k)), vec![]);
    k.finished(at(3), t, Exit::Completed).unwrap();
    let actions = drain(&mut k);
    assert_eq!(started(&actions), vec![gt]);
    assert!(actions.contains(&Action::Start {
        task: gt,
        class: IO,
        session: Some(again),
        attempt: 1
    }));
}

#[test]
fn a_stale_report_for_an_abandoned_task_is_refused() {
    let (mut k, t) = abandoned_on_a(two_classes());
    let before = k.clone();
    assert_eq!(
        k.finished_attempt(at(1), t, 2, Exit::Completed),
        Err(Error::StaleReport {
            task: t,
            attempt: 2,
            current: 1
        })
    );
    assert_eq!(k, before);
    k.finished_attempt(at(1), t, 1, Exit::Completed).unwrap();
    assert!(k.fenced().is_empty());
}

#[test]
fn abandoned_unreported_tasks_count_toward_the_registry_bound() {
    let mut c = two_classes();
    c.limits.tasks_max = 2;
    let (mut k, t) = abandoned_on_a(c);
    assert_eq!(k.registry_len(), 0);
    let _one = k.submit(at(1), Submit::new(BG, Target::None)).unwrap();
    assert_eq!(
        k.submit(at(1), Submit::new(BG, Target::None)),
        Err(Error::Refused(RejectReason::Capacity)),
        "the abandoned task may still run: it keeps its place"
    );
    k.finished(at(2), t, Exit::Completed).unwrap();
    k.submit(at(2), Submit::new(BG, Target::None)).unwrap();
}

#[test]
fn shutdown_abandons_with_abort_and_accepts_the_late_reports() {
    let mut k = Kernel::new(two_classes()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    let b = k.submit(at(0), Submit::new(BG, Target::None)).unwrap();
    drain(&mut k);
    k.shutdown(at(1), Duration::from_secs(1)).unwrap();
    drain(&mut k);
    k.handle_timeout(at(2)).unwrap();
    let actions = drain(&mut k);
    for task in [t, b] {
        let abort = actions.iter().position(|x| *x == Action::Abort { task });
        let end = actions
            .iter()
            .position(|x| *x == finished(task, Outcome::Abandoned));
        assert!(abort.is_some() && abort < end, "{task}: {actions:?}");
    }
    assert!(k.is_stopped());
    // Only the exclusive task fenced its name.
    assert_eq!(k.fenced(), vec![("a".to_owned(), vec![t])]);
    k.finished(at(3), t, Exit::Dropped).unwrap();
    assert_eq!(
        k.finished(at(3), b, Exit::Dropped),
        Err(Error::UnknownTask(b))
    );
}

#[test]
fn a_group_tasks_record_stays_with_the_member_it_ran_on() {
    let mut k = Kernel::new(two_classes()).unwrap();
    let m = k.connect(at(0), "m").unwrap();
    let g = k.join_group(at(0), "pool", m).unwrap();
    let gt = k.submit(at(0), Submit::new(IO, Target::Group(g))).unwrap();
    drain(&mut k);
    k.finished(at(1), gt, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(k.session_counts(m).unwrap().total(), 1);
    let on_m = ListFilter {
        session: Some(m),
        ..ListFilter::default()
    };
    assert_eq!(
        k.list(&on_m, None, 10)
            .items
            .iter()
            .map(|v| v.id)
            .collect::<Vec<_>>(),
        vec![gt]
    );
    // The member's disconnect removes it with the member, retention notwithstanding.
    k.disconnect(at(2), "m").unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&Action::Notify(Notice::Removed { task: gt })));
    assert!(k.task(gt).is_none());
}

#[test]
fn a_group_task_waiting_for_a_retry_belongs_to_no_member() {
    let mut c = two_classes();
    c.classes[0].retry = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_secs(10),
        cap: Duration::from_secs(10),
        jitter_permille: 0,
    };
    let mut k = Kernel::new(c).unwrap();
    let m = k.connect(at(0), "m").unwrap();
    let g = k.join_group(at(0), "pool", m).unwrap();
    let gt = k.submit(at(0), Submit::new(IO, Target::Group(g))).unwrap();
    drain(&mut k);
    k.finished(
        at(1),
        gt,
        Exit::Failed {
            error: "x".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    assert_eq!(k.task(gt).unwrap().state, TaskState::Backoff);
    assert_eq!(k.session_counts(m).unwrap().total(), 0);
    // The member leaves for good; the task still ends cleanly later (cancelled by the user).
    k.disconnect(at(2), "m").unwrap();
    drain(&mut k);
    assert_eq!(k.task(gt).unwrap().state, TaskState::Backoff);
    k.cancel(at(3), gt).unwrap();
    drain(&mut k);
    assert_eq!(k.task(gt).unwrap().state, TaskState::Cancelled);
}

#[test]
fn progress_for_a_stale_attempt_is_refused() {
    let mut c = two_classes();
    c.classes[1].retry = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
        jitter_permille: 0,
    };
    let mut k = Kernel::new(c).unwrap();
    let t = k.submit(at(0), Submit::new(BG, Target::None)).unwrap();
    drain(&mut k);
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "x".into(),
            retryable: true,
        },
    )
    .unwrap();
    k.handle_timeout(at(2)).unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().attempt, 2);
    let before = k.clone();
    assert_eq!(
        k.progress_attempt(at(2), t, 1, Progress::default()),
        Err(Error::StaleReport {
            task: t,
            attempt: 1,
            current: 2
        })
    );
    assert_eq!(k, before);
    k.progress_attempt(at(2), t, 2, Progress::default())
        .unwrap();
}

#[test]
fn a_snapshot_that_breaks_an_invariant_is_refused() {
    let mut k = Kernel::new(two_classes()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    k.submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    let json = serde_json::to_string(&k).unwrap();
    let back: Kernel = serde_json::from_str(&json).unwrap();
    assert_eq!(back, k);
    // The session says it is free while its task runs.
    let doctored = json.replace("\"holder\":1", "\"holder\":null");
    assert_ne!(doctored, json);
    let err = serde_json::from_str::<Kernel>(&doctored).unwrap_err();
    assert!(err.to_string().contains("invalid kernel state"), "{err}");
}
