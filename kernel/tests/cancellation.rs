//! Real cancellation: a session is released only when the driver reports the task stopped,
//! stuck tasks are visible, disconnect reports them, and cancellation flows from parents to
//! children (a completed parent leaves its children running).

use baton_kernel::{
    Action, CancelReason, ClassConfig, ClassId, Config, Duration, Error, Exit, Explanation,
    Instant, Kernel, Notice, Outcome, RejectReason, Scope, SessionId, StuckTask, Submit, Target,
    TaskId, TaskState,
};

const IO: ClassId = ClassId(0);
const SIDE: ClassId = ClassId(1);
const BG: ClassId = ClassId(2);

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn config() -> Config {
    let mut c = Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_grace(Duration::from_secs(2)),
        ClassConfig::exclusive("side", 3)
            .without_timeouts()
            .with_grace(Duration::from_secs(2)),
        ClassConfig::background("bg", 3)
            .without_timeouts()
            .with_grace(Duration::from_secs(2))
            .with_limit(1),
    ]);
    c.disconnect_grace = Duration::from_secs(5);
    c
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn submit(k: &mut Kernel, now: Instant, class: ClassId, target: Target) -> TaskId {
    k.submit(now, Submit::new(class, target)).unwrap()
}

fn child(k: &mut Kernel, now: Instant, class: ClassId, target: Target, parent: TaskId) -> TaskId {
    k.submit(
        now,
        Submit {
            parent: Some(parent),
            ..Submit::new(class, target)
        },
    )
    .unwrap()
}

fn setup() -> (Kernel, SessionId, SessionId) {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    (k, a, b)
}

fn state(k: &Kernel, t: TaskId) -> TaskState {
    k.task(t).unwrap().state
}

fn finished(task: TaskId, outcome: Outcome) -> Action {
    Action::Notify(Notice::Finished { task, outcome })
}

#[test]
fn the_session_is_released_only_by_the_drivers_report() {
    let (mut k, a, _) = setup();
    let t = submit(&mut k, at(0), IO, Target::Session(a));
    let next = submit(&mut k, at(0), IO, Target::Session(a));
    drain(&mut k);
    k.cancel(at(1), t).unwrap();
    drain(&mut k);
    assert_eq!(k.session_holder(a), Some(t), "not released at Cancel");
    assert_eq!(state(&k, next), TaskState::Queued);
    k.handle_timeout(at(3)).unwrap();
    assert_eq!(drain(&mut k), vec![Action::Abort { task: t }]);
    assert_eq!(k.session_holder(a), Some(t), "not released at Abort");
    assert_eq!(state(&k, next), TaskState::Queued);
    // However long it takes.
    k.handle_timeout(at(10_000)).unwrap();
    assert_eq!(drain(&mut k), vec![]);
    assert_eq!(k.session_holder(a), Some(t));
    assert_eq!(
        k.class_counts(IO).unwrap().active(),
        1,
        "the class slot is held too"
    );
    k.finished(at(10_001), t, Exit::Dropped).unwrap();
    let actions = drain(&mut k);
    assert_eq!(actions[0], finished(t, Outcome::Abandoned));
    assert!(actions.contains(&Action::Start {
        task: next,
        class: IO,
        session: Some(a),
        attempt: 1
    }));
    assert_eq!(k.session_holder(a), Some(next));
}

#[test]
fn a_stuck_background_task_keeps_its_class_slot() {
    let (mut k, _, _) = setup();
    let t = submit(&mut k, at(0), BG, Target::None);
    let next = submit(&mut k, at(0), BG, Target::None);
    drain(&mut k);
    k.cancel(at(0), t).unwrap();
    k.handle_timeout(at(100)).unwrap();
    drain(&mut k);
    assert_eq!(state(&k, next), TaskState::Queued, "limit 1 is still taken");
    k.finished(at(101), t, Exit::Dropped).unwrap();
    drain(&mut k);
    assert_eq!(state(&k, next), TaskState::Running);
}

#[test]
fn stuck_tasks_are_visible_in_queries_and_metrics() {
    let (mut k, a, b) = setup();
    let t = submit(&mut k, at(0), IO, Target::Session(a));
    let fine = submit(&mut k, at(0), IO, Target::Session(b));
    drain(&mut k);
    assert!(k.stuck().is_empty());
    k.cancel(at(1), t).unwrap();
    k.cancel(at(1), fine).unwrap();
    drain(&mut k);
    assert!(k.stuck().is_empty(), "cancelling is not stuck yet");
    assert!(!k.task(t).unwrap().stuck);
    k.handle_timeout(at(3)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Abort { task: t }, Action::Abort { task: fine }]
    );
    k.finished(at(3), fine, Exit::Dropped).unwrap();
    drain(&mut k);
    let stuck: Vec<TaskId> = k.stuck().iter().map(|v| v.id).collect();
    assert_eq!(stuck, vec![t]);
    let v = k.task(t).unwrap();
    assert!(v.stuck);
    assert_eq!(v.state, TaskState::Cancelling);
    assert_eq!(v.cancel_reason, Some(CancelReason::User));
    assert_eq!(k.metrics().classes[IO.index()].stuck, 1);
    assert_eq!(
        k.explain(t),
        Some(Explanation::Cancelling {
            reason: Some(CancelReason::User),
            since: Some(at(1)),
            abort_requested_at: Some(at(3)),
        })
    );
    k.finished(at(4), t, Exit::Dropped).unwrap();
    drain(&mut k);
    assert!(k.stuck().is_empty());
    assert_eq!(k.metrics().classes[IO.index()].stuck, 0);
}

#[test]
fn disconnect_reports_stuck_tasks_with_class_parent_and_age() {
    let (mut k, a, b) = setup();
    let parent = submit(&mut k, at(0), IO, Target::Session(b));
    let stuck = child(&mut k, at(1), IO, Target::Session(a), parent);
    let polite = child(&mut k, at(2), BG, Target::Session(a), parent);
    let queued = submit(&mut k, at(2), SIDE, Target::Session(a));
    drain(&mut k);
    k.disconnect(at(10), "a").unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            Action::Cancel {
                task: stuck,
                reason: CancelReason::Disconnect
            },
            Action::Cancel {
                task: polite,
                reason: CancelReason::Disconnect
            },
            finished(queued, Outcome::Rejected(RejectReason::SessionClosed)),
        ]
    );
    k.finished(at(11), polite, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(
            polite,
            Outcome::Cancelled(CancelReason::Disconnect)
        )]
    );
    k.handle_timeout(at(12)).unwrap();
    assert_eq!(drain(&mut k), vec![Action::Abort { task: stuck }]);
    k.handle_timeout(at(15)).unwrap();
    let actions = drain(&mut k);
    assert_eq!(actions[0], finished(stuck, Outcome::Abandoned));
    let Some(Action::Notify(Notice::Closed(report))) = actions.last() else {
        panic!("no report: {actions:?}");
    };
    assert_eq!(report.scope, Scope::Session(a));
    assert_eq!(report.at, at(15));
    assert_eq!(
        report.stuck,
        vec![StuckTask {
            task: stuck,
            class: IO,
            parent: Some(parent),
            age: Duration::from_secs(14),
            reason: Some(CancelReason::Disconnect),
        }]
    );
    // Every record of the session is gone, stuck one included; the parent elsewhere runs on.
    for t in [stuck, polite, queued] {
        assert!(k.task(t).is_none(), "{t} left the registry");
        assert!(actions.contains(&Action::Notify(Notice::Removed { task: t })));
    }
    assert_eq!(state(&k, parent), TaskState::Running);
    assert_eq!(k.task(parent).unwrap().children, 0);
    // The abandoned task fences its session's name until the driver reports it gone: the late
    // report is accepted once (and notifies nothing); a second one is refused and changes nothing.
    assert_eq!(k.fenced(), vec![("a".to_owned(), vec![stuck])]);
    assert_eq!(k.finished(at(16), stuck, Exit::Dropped), Ok(()));
    assert_eq!(drain(&mut k), vec![]);
    assert!(k.fenced().is_empty());
    let json = serde_json::to_string(&k).unwrap();
    assert_eq!(
        k.finished(at(16), stuck, Exit::Dropped),
        Err(Error::UnknownTask(stuck))
    );
    assert_eq!(serde_json::to_string(&k).unwrap(), json);
}

#[test]
fn disconnect_with_nothing_running_closes_at_once() {
    let (mut k, a, _) = setup();
    let t = submit(&mut k, at(0), IO, Target::Session(a));
    drain(&mut k);
    k.finished(at(1), t, Exit::Completed).unwrap();
    drain(&mut k);
    k.disconnect(at(2), "a").unwrap();
    let actions = drain(&mut k);
    // The retained record leaves too.
    assert_eq!(
        actions,
        vec![
            Action::Notify(Notice::Removed { task: t }),
            Action::Notify(Notice::Closed(baton_kernel::CleanupReport {
                scope: Scope::Session(a),
                at: at(2),
                stuck: vec![],
            })),
        ]
    );
    assert_eq!(k.registry_len(), 0);
    assert_eq!(k.poll_timeout(), None);
}

#[test]
fn cancelling_a_parent_cancels_its_children_recursively() {
    let (mut k, a, b) = setup();
    let c = k.connect(at(0), "c").unwrap();
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    let c1 = child(&mut k, at(0), IO, Target::Session(b), p);
    let g1 = child(&mut k, at(0), IO, Target::Session(b), c1); // queued behind c1
    let g2 = child(&mut k, at(0), IO, Target::Session(c), c1); // running
    let unrelated = submit(&mut k, at(0), IO, Target::Session(b));
    drain(&mut k);
    assert_eq!(k.task(p).unwrap().children, 1);
    assert_eq!(k.task(c1).unwrap().children, 2);
    k.cancel(at(1), p).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            Action::Cancel {
                task: p,
                reason: CancelReason::User
            },
            Action::Cancel {
                task: c1,
                reason: CancelReason::Parent
            },
            finished(g1, Outcome::Cancelled(CancelReason::Parent)),
            Action::Cancel {
                task: g2,
                reason: CancelReason::Parent
            },
        ]
    );
    assert_eq!(state(&k, unrelated), TaskState::Queued);
    for t in [p, c1, g2] {
        k.finished(at(2), t, Exit::Completed).unwrap();
    }
    let actions = drain(&mut k);
    assert!(actions.contains(&finished(c1, Outcome::Cancelled(CancelReason::Parent))));
    assert!(actions.contains(&finished(g2, Outcome::Cancelled(CancelReason::Parent))));
    assert_eq!(state(&k, unrelated), TaskState::Running);
}

#[test]
fn cancelling_a_queued_parent_cancels_its_queued_children() {
    let (mut k, a, _) = setup();
    let _holder = submit(&mut k, at(0), IO, Target::Session(a));
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    let c = child(&mut k, at(0), IO, Target::Session(a), p);
    drain(&mut k);
    k.cancel(at(1), p).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            finished(p, Outcome::Cancelled(CancelReason::User)),
            finished(c, Outcome::Cancelled(CancelReason::Parent)),
        ]
    );
}

#[test]
fn a_completed_parent_leaves_its_children_running() {
    let (mut k, a, b) = setup();
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    let c = child(&mut k, at(0), IO, Target::Session(b), p);
    let queued_child = child(&mut k, at(0), IO, Target::Session(b), p);
    drain(&mut k);
    k.finished(at(1), p, Exit::Completed).unwrap();
    assert_eq!(drain(&mut k), vec![finished(p, Outcome::Completed)]);
    assert_eq!(state(&k, c), TaskState::Running);
    assert_eq!(state(&k, queued_child), TaskState::Queued);
    assert_eq!(
        k.task(c).unwrap().parent,
        Some(p),
        "the link is still reported"
    );
    assert_eq!(k.task(p).unwrap().children, 0);
    // Cancelling the ended parent is an error and touches no child.
    assert_eq!(k.cancel(at(2), p), Err(Error::AlreadyEnded(p)));
    assert_eq!(state(&k, c), TaskState::Running);
}

#[test]
fn a_failed_parent_cancels_its_children() {
    let (mut k, a, b) = setup();
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    let c = child(&mut k, at(0), IO, Target::Session(b), p);
    drain(&mut k);
    k.finished(
        at(1),
        p,
        Exit::Failed {
            error: "e".into(),
            retryable: false,
        },
    )
    .unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            finished(p, Outcome::Failed),
            Action::Cancel {
                task: c,
                reason: CancelReason::Parent
            }
        ]
    );
}

#[test]
fn a_timed_out_parent_cancels_its_children_when_it_stops() {
    let mut cfg = config();
    cfg.classes[IO.index()].run_timeout = Some(Duration::from_secs(10));
    let mut k = Kernel::new(cfg).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    let c = child(&mut k, at(1), SIDE, Target::Session(b), p);
    drain(&mut k);
    k.handle_timeout(at(10)).unwrap();
    // Cancelling the parent (reason timeout) cancels the child at once (reason parent).
    assert_eq!(
        drain(&mut k),
        vec![
            Action::Cancel {
                task: p,
                reason: CancelReason::Timeout
            },
            Action::Cancel {
                task: c,
                reason: CancelReason::Parent
            },
        ]
    );
    k.finished(at(11), c, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(c, Outcome::Cancelled(CancelReason::Parent))]
    );
}

#[test]
fn children_of_a_cancelling_parent_are_refused() {
    let (mut k, a, b) = setup();
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    drain(&mut k);
    k.cancel(at(1), p).unwrap();
    drain(&mut k);
    let json = serde_json::to_string(&k).unwrap();
    let r = k.submit(
        at(1),
        Submit {
            parent: Some(p),
            ..Submit::new(IO, Target::Session(b))
        },
    );
    assert_eq!(r, Err(Error::ParentNotActive(p)));
    assert_eq!(serde_json::to_string(&k).unwrap(), json);
}
