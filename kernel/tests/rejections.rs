//! Every bound and every refusal at the boundary: a refused submit returns its typed
//! `RejectReason`, registers nothing, consumes no id, and leaves the serialized state
//! byte-identical.

use baton_kernel::{
    ClassConfig, ClassId, Config, Duration, Error, Exit, GroupId, Instant, Kernel, RejectReason,
    SessionId, Submit, Target, TaskId, TaskState,
};

const IO: ClassId = ClassId(0);
const BG: ClassId = ClassId(1);

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn config() -> Config {
    Config::new(vec![
        ClassConfig::exclusive("io", 5).without_timeouts(),
        ClassConfig::background("bg", 5)
            .without_timeouts()
            .with_limit(1)
            .with_retention(Duration::from_secs(10)),
    ])
}

fn drain(k: &mut Kernel) {
    while k.poll_action().is_some() {}
    k.check_invariants().expect("invariants hold");
}

fn submit(k: &mut Kernel, now: Instant, class: ClassId, target: Target) -> TaskId {
    let id = k.submit(now, Submit::new(class, target)).unwrap();
    drain(k);
    id
}

/// Submits, expects a refusal, and checks that nothing changed beyond what `handle_timeout(now)`
/// does (time keeps itself: every input first catches up with the deadlines it passed).
fn refused(k: &mut Kernel, now: Instant, s: Submit) -> RejectReason {
    let mut caught_up = k.clone();
    caught_up.handle_timeout(now).unwrap();
    let before = serde_json::to_string(&caught_up).unwrap();
    let counts = caught_up.counts();
    let r = k.submit(now, s);
    assert_eq!(
        serde_json::to_string(&*k).unwrap(),
        before,
        "a refused submit ({r:?}) changed the state"
    );
    assert_eq!(k.counts(), counts);
    k.check_invariants().unwrap();
    match r {
        Err(Error::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_default_session_queue_bound_is_100() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let _running = submit(&mut k, at(0), IO, Target::Session(a));
    let queued: Vec<TaskId> = (0..100)
        .map(|_| submit(&mut k, at(0), IO, Target::Session(a)))
        .collect();
    assert_eq!(k.session_counts(a).unwrap().get(TaskState::Queued), 100);
    assert_eq!(
        refused(&mut k, at(1), Submit::new(IO, Target::Session(a))),
        RejectReason::QueueFull
    );
    // The refusal consumed no id: the next accepted task gets the next one.
    k.cancel(at(2), queued[0]).unwrap();
    drain(&mut k);
    let next = submit(&mut k, at(2), IO, Target::Session(a));
    assert_eq!(next.0, queued[99].0 + 1);
    // Another session's queue is separate.
    let b = k.connect(at(2), "b").unwrap();
    submit(&mut k, at(2), IO, Target::Session(b));
}

#[test]
fn the_group_queue_bound_is_100() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let g = k.join_group(at(0), "g", a).unwrap();
    let _running = submit(&mut k, at(0), IO, Target::Group(g));
    for _ in 0..100 {
        submit(&mut k, at(0), IO, Target::Group(g));
    }
    assert_eq!(
        refused(&mut k, at(1), Submit::new(IO, Target::Group(g))),
        RejectReason::QueueFull
    );
    // The member's own queue is not the group's.
    submit(&mut k, at(1), IO, Target::Session(a));
}

#[test]
fn the_background_queue_has_its_own_bound() {
    let mut c = config();
    c.limits.background_queue_len_max = 3;
    let mut k = Kernel::new(c).unwrap();
    for _ in 0..4 {
        submit(&mut k, at(0), BG, Target::None); // one runs (limit 1), three wait
    }
    assert_eq!(
        refused(&mut k, at(0), Submit::new(BG, Target::None)),
        RejectReason::QueueFull
    );
}

#[test]
fn backing_off_tasks_count_toward_the_queue_bound() {
    let mut c = config();
    c.limits.queue_len_max = 2;
    c.classes[IO.index()].retry =
        baton_kernel::RetryPolicy::exponential(3, Duration::from_secs(5), Duration::from_secs(5));
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = submit(&mut k, at(0), IO, Target::Session(a));
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().state, TaskState::Backoff);
    let _u = submit(&mut k, at(1), IO, Target::Session(a)); // runs
    let _v = submit(&mut k, at(1), IO, Target::Session(a)); // waits: 2 waiting with t
    assert_eq!(
        refused(&mut k, at(1), Submit::new(IO, Target::Session(a))),
        RejectReason::QueueFull
    );
    // So the retry can always re-enter its queue.
    k.handle_timeout(at(10)).unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().state, TaskState::Queued);
}

#[test]
fn the_registry_bound_counts_retained_records() {
    let mut c = config();
    c.limits.tasks_max = 3;
    c.cleanup_interval = Duration::ZERO;
    let mut k = Kernel::new(c).unwrap();
    let first = submit(&mut k, at(0), BG, Target::None);
    submit(&mut k, at(0), BG, Target::None);
    k.finished(at(1), first, Exit::Completed).unwrap();
    drain(&mut k);
    submit(&mut k, at(1), BG, Target::None);
    assert_eq!(k.registry_len(), 3);
    assert_eq!(
        refused(&mut k, at(2), Submit::new(BG, Target::None)),
        RejectReason::Capacity
    );
    // Retention (10 s after 1 s) frees the record's place.
    k.handle_timeout(at(11)).unwrap();
    drain(&mut k);
    assert_eq!(k.registry_len(), 2);
    submit(&mut k, at(11), BG, Target::None);
}

#[test]
fn children_per_task_are_bounded() {
    let mut c = config();
    c.limits.children_max = 2;
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    let with_parent = |p| Submit {
        parent: Some(p),
        ..Submit::new(BG, Target::None)
    };
    let c1 = k.submit(at(0), with_parent(p)).unwrap();
    k.submit(at(0), with_parent(p)).unwrap();
    drain(&mut k);
    assert_eq!(
        refused(&mut k, at(0), with_parent(p)),
        RejectReason::Capacity
    );
    // Only active children count: once one ends, there is room again.
    k.finished(at(1), c1, Exit::Completed).unwrap();
    drain(&mut k);
    k.submit(at(1), with_parent(p)).unwrap();
    drain(&mut k);
    assert_eq!(k.task(p).unwrap().children, 2);
}

#[test]
fn a_closing_or_gone_session_is_session_closed() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    submit(&mut k, at(0), IO, Target::Session(a)); // ignores cancellation
    k.disconnect(at(1), "a").unwrap();
    k.disconnect(at(1), "b").unwrap();
    drain(&mut k);
    // a is closing (its task has not stopped), b is gone.
    assert!(k.sessions().any(|(id, _, closing)| id == a && closing));
    assert!(k.sessions().all(|(id, _, _)| id != b));
    assert_eq!(
        refused(&mut k, at(2), Submit::new(IO, Target::Session(a))),
        RejectReason::SessionClosed
    );
    assert_eq!(
        refused(&mut k, at(2), Submit::new(IO, Target::Session(b))),
        RejectReason::SessionClosed
    );
    // A reconnected name is a new generation; the old id stays closed.
    let b2 = k.connect(at(3), "b").unwrap();
    assert_ne!(b2, b);
    assert_eq!(
        refused(&mut k, at(3), Submit::new(IO, Target::Session(b))),
        RejectReason::SessionClosed
    );
    submit(&mut k, at(3), IO, Target::Session(b2));
}

#[test]
fn an_unknown_session_or_group_is_unknown_target() {
    let mut k = Kernel::new(config()).unwrap();
    k.connect(at(0), "a").unwrap();
    for target in [
        Target::Session(SessionId(0)),
        Target::Session(SessionId(99)),
        Target::Group(GroupId(0)),
        Target::Group(GroupId(7)),
    ] {
        assert_eq!(
            refused(&mut k, at(0), Submit::new(IO, target)),
            RejectReason::UnknownTarget,
            "{target:?}"
        );
    }
}

#[test]
fn submits_during_and_after_shutdown_are_refused() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    submit(&mut k, at(0), IO, Target::Session(a)); // keeps the shutdown open
    k.shutdown(at(1), Duration::from_secs(5)).unwrap();
    drain(&mut k);
    assert!(!k.is_stopped());
    assert_eq!(
        refused(&mut k, at(2), Submit::new(IO, Target::Session(a))),
        RejectReason::Shutdown
    );
    assert_eq!(
        refused(&mut k, at(2), Submit::new(BG, Target::None)),
        RejectReason::Shutdown
    );
    k.handle_timeout(at(6)).unwrap();
    drain(&mut k);
    assert!(k.is_stopped());
    assert_eq!(
        refused(&mut k, at(7), Submit::new(BG, Target::None)),
        RejectReason::Shutdown
    );
}

#[test]
fn every_reason_has_its_trace_name() {
    let names: Vec<&str> = [
        RejectReason::QueueFull,
        RejectReason::Capacity,
        RejectReason::QueueTimeout,
        RejectReason::SessionClosed,
        RejectReason::Shutdown,
        RejectReason::UnknownTarget,
    ]
    .iter()
    .map(|r| r.name())
    .collect();
    assert_eq!(
        names,
        [
            "queue_full",
            "capacity",
            "queue_timeout",
            "session_closed",
            "shutdown",
            "unknown_target"
        ]
    );
    assert_eq!(
        serde_json::to_string(&RejectReason::QueueFull).unwrap(),
        "\"queue_full\""
    );
}

#[test]
fn a_retry_never_pushes_a_full_queue_past_its_bound() {
    let mut c = config();
    c.limits.queue_len_max = 2;
    c.classes[IO.index()].retry =
        baton_kernel::RetryPolicy::exponential(3, Duration::from_secs(5), Duration::from_secs(5));
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    // bg (limit 1) is busy elsewhere, so two bg tasks aimed at a fill a's queue and stay.
    submit(&mut k, at(0), BG, Target::None);
    let t = submit(&mut k, at(0), IO, Target::Session(a)); // running: not in the queue
    submit(&mut k, at(0), BG, Target::Session(a));
    submit(&mut k, at(0), BG, Target::Session(a));
    assert_eq!(k.task(t).unwrap().state, TaskState::Running);
    assert_eq!(k.session_counts(a).unwrap().waiting(), 2);
    // The failure is retryable, but backing off would make three waiting tasks in a queue of
    // two: the retry is not made and the task ends Failed.
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().state, TaskState::Failed);
    assert_eq!(k.session_counts(a).unwrap().waiting(), 2);
    assert_eq!(k.metrics().classes[IO.index()].totals.retries, 0);
}
