//! Every kind of bad input returns its typed `Error` and leaves the serialized kernel
//! byte-identical; invalid configurations are refused on construction.

use baton_kernel::{
    ClassConfig, ClassId, Config, ConfigError, Duration, Error, Exit, GroupId, Input, Instant,
    Kernel, Progress, RetryPolicy, SessionId, Submit, Target, TaskId, TaskState,
};

const IO: ClassId = ClassId(0);
const BG: ClassId = ClassId(1);

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn at_ms(ms: u64) -> Instant {
    Instant::from_nanos(ms * 1_000_000)
}

fn config() -> Config {
    let mut c = Config::new(vec![
        ClassConfig::exclusive("io", 5).with_grace(Duration::from_secs(1)),
        ClassConfig::background("bg", 5),
    ]);
    c.limits.sessions_max = 4;
    c.limits.groups_max = 2;
    c.limits.groups_per_session_max = 1;
    c
}

/// A kernel with something in every state: `a` runs `running` with `queued` behind it; `b` runs
/// `cancelling`; `c` runs `stuck` (aborted, no report); `done` completed; `d` is closing; group
/// `g` has member `a`. The clock is at 10 s.
struct Fixture {
    k: Kernel,
    a: SessionId,
    closing: SessionId,
    g: GroupId,
    running: TaskId,
    queued: TaskId,
    cancelling: TaskId,
    stuck: TaskId,
    done: TaskId,
}

fn fixture() -> Fixture {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let c = k.connect(at(0), "c").unwrap();
    let d = k.connect(at(0), "d").unwrap();
    let g = k.join_group(at(0), "g", a).unwrap();
    let sub = |k: &mut Kernel, class, target| k.submit(at(0), Submit::new(class, target)).unwrap();
    let running = sub(&mut k, IO, Target::Session(a));
    let queued = sub(&mut k, IO, Target::Session(a));
    let cancelling = sub(&mut k, IO, Target::Session(b));
    let stuck = sub(&mut k, IO, Target::Session(c));
    let done = sub(&mut k, BG, Target::None);
    let _zombie = sub(&mut k, IO, Target::Session(d));
    k.cancel(at(1), stuck).unwrap();
    k.handle_timeout(at(2)).unwrap();
    k.finished(at(9), done, Exit::Completed).unwrap();
    // Late enough that its grace (1 s) has not run out at 10 s.
    k.cancel(at_ms(9_500), cancelling).unwrap();
    k.disconnect(at(10), "d").unwrap();
    while k.poll_action().is_some() {}
    k.check_invariants().unwrap();
    let v = |t| k.task(t).unwrap().state;
    assert_eq!(v(running), TaskState::Running);
    assert_eq!(v(queued), TaskState::Queued);
    assert_eq!(v(cancelling), TaskState::Cancelling);
    assert!(k.task(stuck).unwrap().stuck);
    assert_eq!(v(done), TaskState::Completed);
    Fixture {
        k,
        a,
        closing: d,
        g,
        running,
        queued,
        cancelling,
        stuck,
        done,
    }
}

/// Runs a bad input at `now`, returns its error, and checks the kernel changed by not one byte
/// beyond what `handle_timeout(now)` does (time keeps itself: every input first catches up).
fn bad<T: std::fmt::Debug>(
    k: &mut Kernel,
    now: Instant,
    input: impl FnOnce(&mut Kernel) -> Result<T, Error>,
) -> Error {
    let mut caught_up = k.clone();
    // A `now` in the past is refused before anything else: nothing changes at all.
    if now >= k.now() {
        caught_up.handle_timeout(now).unwrap();
    }
    let before = serde_json::to_string(&caught_up).unwrap();
    let result = input(k);
    let after = serde_json::to_string(&*k).unwrap();
    assert_eq!(after, before, "{result:?} changed the state");
    k.check_invariants().unwrap();
    result.expect_err("bad input is refused")
}

#[test]
fn time_going_backwards_is_refused_by_every_input() {
    let Fixture {
        mut k,
        a,
        running,
        queued,
        ..
    } = fixture();
    let past = at(9);
    let want = Error::TimeWentBackwards {
        now: past,
        last: at(10),
    };
    assert_eq!(bad(&mut k, past, |k| k.connect(past, "e")), want);
    assert_eq!(bad(&mut k, past, |k| k.disconnect(past, "a")), want);
    assert_eq!(bad(&mut k, past, |k| k.join_group(past, "h", a)), want);
    assert_eq!(bad(&mut k, past, |k| k.leave_group(past, "g", a)), want);
    assert_eq!(
        bad(&mut k, past, |k| k
            .submit(past, Submit::new(BG, Target::None))),
        want
    );
    assert_eq!(bad(&mut k, past, |k| k.cancel(past, queued)), want);
    assert_eq!(
        bad(&mut k, past, |k| k.progress(
            past,
            running,
            Progress::default()
        )),
        want
    );
    assert_eq!(
        bad(&mut k, past, |k| k.finished(past, running, Exit::Completed)),
        want
    );
    assert_eq!(
        bad(&mut k, past, |k| k.shutdown(past, Duration::ZERO)),
        want
    );
    assert_eq!(bad(&mut k, past, |k| k.handle_timeout(past)), want);
    assert_eq!(bad(&mut k, past, |k| k.apply(past, Input::Timeout)), want);
    // One nanosecond back is enough.
    let just = Instant::from_nanos(at(10).as_nanos() - 1);
    assert!(matches!(
        bad(&mut k, just, |k| k.handle_timeout(just)),
        Error::TimeWentBackwards { .. }
    ));
    // The same instant is fine.
    k.handle_timeout(at(10)).unwrap();
}

#[test]
fn unknown_task_ids() {
    let Fixture { mut k, a, .. } = fixture();
    let nobody = TaskId(999);
    assert_eq!(
        bad(&mut k, at(10), |k| k.cancel(at(10), nobody)),
        Error::UnknownTask(nobody)
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.progress(
            at(10),
            nobody,
            Progress::default()
        )),
        Error::UnknownTask(nobody)
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.finished(
            at(10),
            nobody,
            Exit::Completed
        )),
        Error::UnknownTask(nobody)
    );
    let orphan = Submit {
        parent: Some(nobody),
        ..Submit::new(IO, Target::Session(a))
    };
    assert_eq!(
        bad(&mut k, at(10), |k| k.submit(at(10), orphan)),
        Error::UnknownTask(nobody)
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.cancel(at(10), TaskId(0))),
        Error::UnknownTask(TaskId(0))
    );
}

#[test]
fn finish_reports_for_tasks_that_are_not_running() {
    let Fixture {
        mut k,
        queued,
        done,
        running,
        ..
    } = fixture();
    // A queued task cannot have finished.
    assert_eq!(
        bad(&mut k, at(10), |k| k.finished(
            at(10),
            queued,
            Exit::Completed
        )),
        Error::NotRunning {
            task: queued,
            state: TaskState::Queued
        }
    );
    // Double finish.
    assert_eq!(
        bad(&mut k, at(10), |k| k.finished(
            at(10),
            done,
            Exit::Completed
        )),
        Error::NotRunning {
            task: done,
            state: TaskState::Completed
        }
    );
    k.finished(at(11), running, Exit::Completed).unwrap();
    while k.poll_action().is_some() {}
    assert_eq!(
        bad(&mut k, at(12), |k| k.finished(
            at(12),
            running,
            Exit::Failed {
                error: "again".into(),
                retryable: true
            }
        )),
        Error::NotRunning {
            task: running,
            state: TaskState::Completed
        }
    );
    // Progress of a task that is not running.
    assert_eq!(
        bad(&mut k, at(12), |k| k.progress(
            at(12),
            done,
            Progress::default()
        )),
        Error::NotRunning {
            task: done,
            state: TaskState::Completed
        }
    );
}

#[test]
fn dropped_without_an_abort_is_refused() {
    let Fixture {
        mut k,
        running,
        cancelling,
        stuck,
        ..
    } = fixture();
    assert_eq!(
        bad(&mut k, at(10), |k| k.finished(
            at(10),
            running,
            Exit::Dropped
        )),
        Error::NotAborted(running)
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.finished(
            at(10),
            cancelling,
            Exit::Dropped
        )),
        Error::NotAborted(cancelling)
    );
    // After an abort it is the expected report.
    k.finished(at(10), stuck, Exit::Dropped).unwrap();
}

#[test]
fn cancel_of_an_ended_task() {
    let Fixture { mut k, done, .. } = fixture();
    assert_eq!(
        bad(&mut k, at(10), |k| k.cancel(at(10), done)),
        Error::AlreadyEnded(done)
    );
}

#[test]
fn bad_progress_reports() {
    let Fixture { mut k, running, .. } = fixture();
    let long = Progress {
        current: 0,
        total: None,
        message: "x".repeat(257),
    };
    assert_eq!(
        bad(&mut k, at(10), |k| k.progress(at(10), running, long)),
        Error::MessageTooLong { len: 257, max: 256 }
    );
    let over = Progress {
        current: 6,
        total: Some(5),
        message: String::new(),
    };
    assert_eq!(
        bad(&mut k, at(10), |k| k.progress(at(10), running, over)),
        Error::BadProgress {
            current: 6,
            total: 5
        }
    );
    // The bounds themselves are fine.
    k.progress(
        at(10),
        running,
        Progress {
            current: 5,
            total: Some(5),
            message: "x".repeat(256),
        },
    )
    .unwrap();
    assert_eq!(k.task(running).unwrap().progress.current, 5);
}

#[test]
fn unknown_sessions_groups_and_classes() {
    let Fixture {
        mut k, a, closing, ..
    } = fixture();
    assert_eq!(
        bad(&mut k, at(10), |k| k.disconnect(at(10), "nobody")),
        Error::UnknownSession("nobody".into())
    );
    // A closing session is no longer known by name.
    assert_eq!(
        bad(&mut k, at(10), |k| k.disconnect(at(10), "d")),
        Error::UnknownSession("d".into())
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.join_group(at(10), "g", SessionId(99))),
        Error::UnknownSessionId(SessionId(99))
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.join_group(at(10), "g", closing)),
        Error::UnknownSessionId(closing)
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.leave_group(
            at(10),
            "g",
            SessionId(99)
        )),
        Error::UnknownSessionId(SessionId(99))
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.leave_group(at(10), "nope", a)),
        Error::UnknownGroup("nope".into())
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k
            .submit(at(10), Submit::new(ClassId(2), Target::None))),
        Error::UnknownClass(ClassId(2))
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k
            .submit(at(10), Submit::new(IO, Target::None))),
        Error::TargetRequired(IO)
    );
}

#[test]
fn session_and_group_bookkeeping_errors() {
    let Fixture { mut k, a, g, .. } = fixture();
    assert_eq!(
        bad(&mut k, at(10), |k| k.connect(at(10), "a")),
        Error::AlreadyConnected("a".into())
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.connect(at(10), "")),
        Error::BadName(String::new())
    );
    let long = "n".repeat(129);
    assert_eq!(
        bad(&mut k, at(10), |k| k.connect(at(10), &long)),
        Error::BadName(long.clone())
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.join_group(at(10), "", a)),
        Error::BadName(String::new())
    );
    // Four sessions exist (d is closing but still counts).
    assert_eq!(
        bad(&mut k, at(10), |k| k.connect(at(10), "e")),
        Error::TooManySessions(4)
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.join_group(at(10), "g", a)),
        Error::AlreadyMember {
            session: a,
            group: g
        }
    );
    // a is in one group already, the most it may join.
    assert_eq!(
        bad(&mut k, at(10), |k| k.join_group(at(10), "h", a)),
        Error::TooManyGroupsForSession(a)
    );
    let b = k.session_id("b").unwrap();
    assert_eq!(
        bad(&mut k, at(10), |k| k.leave_group(at(10), "g", b)),
        Error::NotMember {
            session: b,
            group: g
        }
    );
    k.join_group(at(10), "h", b).unwrap();
    let c = k.session_id("c").unwrap();
    // Two groups exist, the bound.
    assert_eq!(
        bad(&mut k, at(10), |k| k.join_group(at(10), "i", c)),
        Error::TooManyGroups(2)
    );
}

#[test]
fn a_parent_that_has_ended_takes_no_children() {
    let Fixture { mut k, done, .. } = fixture();
    let s = Submit {
        parent: Some(done),
        ..Submit::new(BG, Target::None)
    };
    assert_eq!(
        bad(&mut k, at(10), |k| k.submit(at(10), s)),
        Error::ParentNotActive(done)
    );
}

#[test]
fn inputs_after_shutdown() {
    let Fixture { mut k, a, .. } = fixture();
    k.shutdown(at(10), Duration::from_secs(1)).unwrap();
    while k.poll_action().is_some() {}
    assert_eq!(
        bad(&mut k, at(10), |k| k.connect(at(10), "e")),
        Error::ShuttingDown
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.disconnect(at(10), "a")),
        Error::ShuttingDown
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.join_group(at(10), "g", a)),
        Error::ShuttingDown
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k.shutdown(at(10), Duration::ZERO)),
        Error::ShuttingDown
    );
    assert!(matches!(
        bad(&mut k, at(10), |k| k
            .submit(at(10), Submit::new(BG, Target::None))),
        Error::Refused(baton_kernel::RejectReason::Shutdown)
    ));
    k.handle_timeout(at(11)).unwrap();
    while k.poll_action().is_some() {}
    assert!(k.is_stopped());
    assert_eq!(
        bad(&mut k, at(12), |k| k.connect(at(12), "e")),
        Error::ShuttingDown
    );
    assert_eq!(
        bad(&mut k, at(12), |k| k.shutdown(at(12), Duration::ZERO)),
        Error::ShuttingDown
    );
}

#[test]
fn apply_refuses_like_the_methods() {
    let Fixture { mut k, done, .. } = fixture();
    assert_eq!(
        bad(&mut k, at(10), |k| k
            .apply(at(10), Input::Cancel { task: done })),
        Error::AlreadyEnded(done)
    );
    assert_eq!(
        bad(&mut k, at(10), |k| k
            .apply(at(10), Input::Connect { name: "a".into() })),
        Error::AlreadyConnected("a".into())
    );
}

/// Recognises the error a bad config must produce.
type Expected = fn(&ConfigError) -> bool;

#[test]
fn invalid_configs_are_refused_on_construction() {
    let base = || Config::new(vec![ClassConfig::exclusive("a", 1)]);
    let mut cases: Vec<(Config, Expected)> = Vec::new();

    let mut c = base();
    c.classes.clear();
    cases.push((c, |e| matches!(e, ConfigError::NoClasses)));

    let mut c = base();
    c.classes = (0..65)
        .map(|i| ClassConfig::exclusive(&format!("c{i}"), 1))
        .collect();
    cases.push((c, |e| {
        matches!(e, ConfigError::TooManyClasses { count: 65, .. })
    }));

    for field in [
        "sessions_max",
        "tasks_max",
        "queue_len_max",
        "background_queue_len_max",
        "name_len_max",
        "page_len_max",
    ] {
        let mut c = base();
        let l = &mut c.limits;
        *match field {
            "sessions_max" => &mut l.sessions_max,
            "tasks_max" => &mut l.tasks_max,
            "queue_len_max" => &mut l.queue_len_max,
            "background_queue_len_max" => &mut l.background_queue_len_max,
            "name_len_max" => &mut l.name_len_max,
            _ => &mut l.page_len_max,
        } = 0;
        assert_eq!(
            Kernel::new(c).unwrap_err(),
            ConfigError::ZeroBound { field },
            "{field}"
        );
    }

    let mut c = base();
    c.classes[0].name = "x".repeat(129);
    cases.push((c, |e| matches!(e, ConfigError::BadClassName { .. })));

    let mut c = base();
    c.classes.push(ClassConfig::background("a", 2));
    cases.push((c, |e| matches!(e, ConfigError::DuplicateClass { .. })));

    let mut c = base();
    c.classes[0].limit = Some(0);
    cases.push((c, |e| matches!(e, ConfigError::ZeroLimit { .. })));

    let mut c = base();
    c.classes[0].retry = RetryPolicy {
        max_attempts: 0,
        ..RetryPolicy::NONE
    };
    cases.push((c, |e| matches!(e, ConfigError::ZeroAttempts { .. })));

    let mut c = base();
    c.classes[0].retry =
        RetryPolicy::exponential(2, Duration::from_secs(2), Duration::from_secs(1));
    cases.push((c, |e| matches!(e, ConfigError::BaseAboveCap { .. })));

    let mut c = base();
    c.classes[0].retry.jitter_permille = 1001;
    cases.push((c, |e| matches!(e, ConfigError::JitterTooLarge { .. })));

    for field in ["run_timeout", "heartbeat_timeout", "total_timeout"] {
        let mut c = base();
        match field {
            "run_timeout" => c.classes[0].run_timeout = Some(Duration::ZERO),
            "heartbeat_timeout" => c.classes[0].heartbeat_timeout = Some(Duration::ZERO),
            _ => c.classes[0].total_timeout = Some(Duration::ZERO),
        }
        assert!(matches!(
            Kernel::new(c.clone()).unwrap_err(),
            ConfigError::ZeroTimeout { field: f, .. } if f == field
        ));
        assert!(c.validate().is_err());
    }

    for (config, is_expected) in cases {
        let validated = config.validate();
        let err = Kernel::new(config).unwrap_err();
        assert!(is_expected(&err), "unexpected {err}");
        assert_eq!(validated, Err(err));
    }
    assert!(Kernel::new(base()).is_ok());
}
