//! Each edge of DESIGN.md's task lifecycle, with the exact actions the driver sees.

use baton_kernel::{
    Action, CancelReason, ClassConfig, ClassId, Config, Duration, Exit, Instant, Kernel, Notice,
    Outcome, RejectReason, RetryPolicy, SessionId, Submit, Target, TaskId, TaskState,
};

const IO: ClassId = ClassId(0);
const RETRY: ClassId = ClassId(1);
const BEAT: ClassId = ClassId(2);

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `io`: 30 s queue wait, 10 s run, 2 s grace, no retry. `retry`: 3 attempts, 1 s then 2 s
/// backoff without jitter. `beat`: 3 s heartbeat.
fn config() -> Config {
    let s = Duration::from_secs;
    Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .with_queue_timeout(s(30))
            .with_run_timeout(s(10))
            .with_grace(s(2)),
        ClassConfig::exclusive("retry", 5)
            .with_queue_timeout(s(30))
            .with_run_timeout(s(10))
            .with_grace(s(2))
            .with_retry(RetryPolicy {
                max_attempts: 3,
                base: s(1),
                cap: s(4),
                jitter_permille: 0,
            }),
        ClassConfig::exclusive("beat", 5)
            .with_run_timeout(s(100))
            .with_heartbeat_timeout(s(3))
            .with_grace(s(2)),
    ])
}

/// Drains every pending action and checks the invariants.
fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn setup() -> (Kernel, SessionId) {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    assert!(drain(&mut k).is_empty());
    (k, a)
}

fn submit(k: &mut Kernel, now: Instant, class: ClassId, s: SessionId) -> TaskId {
    k.submit(now, Submit::new(class, Target::Session(s)))
        .unwrap()
}

fn start(task: TaskId, class: ClassId, s: SessionId, attempt: u32) -> Action {
    Action::Start {
        task,
        class,
        session: Some(s),
        attempt,
    }
}

fn finished(task: TaskId, outcome: Outcome) -> Action {
    Action::Notify(Notice::Finished { task, outcome })
}

fn state(k: &Kernel, t: TaskId) -> TaskState {
    k.task(t).expect("task is registered").state
}

#[test]
fn queued_then_running_then_completed() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(1), IO, a);
    assert_eq!(drain(&mut k), vec![start(t, IO, a, 1)]);
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Running);
    assert_eq!(v.created_at, at(1));
    assert_eq!(v.started_at, Some(at(1)));
    assert_eq!(v.finished_at, None);
    assert_eq!(k.session_holder(a), Some(t));

    k.finished(at(4), t, Exit::Completed).unwrap();
    assert_eq!(drain(&mut k), vec![finished(t, Outcome::Completed)]);
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Completed);
    assert_eq!(v.outcome, Some(Outcome::Completed));
    assert_eq!(v.finished_at, Some(at(4)));
    assert_eq!(k.session_holder(a), None);
}

#[test]
fn a_second_task_waits_queued_until_the_first_stops() {
    let (mut k, a) = setup();
    let t1 = submit(&mut k, at(0), IO, a);
    let t2 = submit(&mut k, at(0), IO, a);
    assert_eq!(drain(&mut k), vec![start(t1, IO, a, 1)]);
    assert_eq!(state(&k, t2), TaskState::Queued);
    k.finished(at(1), t1, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t1, Outcome::Completed), start(t2, IO, a, 1)]
    );
    assert_eq!(k.task(t2).unwrap().started_at, Some(at(1)));
}

#[test]
fn running_then_failed_keeps_the_error_text() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    // Retryable, but the class allows a single attempt: it fails for good.
    k.finished(
        at(2),
        t,
        Exit::Failed {
            error: "boom".into(),
            retryable: true,
        },
    )
    .unwrap();
    assert_eq!(drain(&mut k), vec![finished(t, Outcome::Failed)]);
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Failed);
    assert_eq!(v.error.as_deref(), Some("boom"));
    assert_eq!(v.attempt, 1);
    assert_eq!(k.session_holder(a), None);
}

#[test]
fn non_retryable_failure_is_not_retried() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), RETRY, a);
    drain(&mut k);
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "fatal".into(),
            retryable: false,
        },
    )
    .unwrap();
    assert_eq!(drain(&mut k), vec![finished(t, Outcome::Failed)]);
    assert_eq!(k.task(t).unwrap().attempt, 1);
}

#[test]
fn failed_then_backoff_then_queued_with_next_attempt_and_fresh_sequence() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), RETRY, a);
    assert_eq!(drain(&mut k), vec![start(t, RETRY, a, 1)]);
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "flaky".into(),
            retryable: true,
        },
    )
    .unwrap();
    // base 1 s, no jitter: back at t = 2 s as attempt 2.
    assert_eq!(
        drain(&mut k),
        vec![Action::Notify(Notice::Retrying {
            task: t,
            attempt: 2,
            at: at(2),
        })]
    );
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Backoff);
    assert_eq!(v.attempt, 2);
    assert_eq!(k.session_holder(a), None, "backoff gives the session back");

    // During the backoff: one equal-priority task takes the free session, one more waits.
    let busy = submit(&mut k, Instant::from_nanos(1_500_000_000), RETRY, a);
    let waiting = submit(&mut k, Instant::from_nanos(1_600_000_000), RETRY, a);
    assert_eq!(drain(&mut k), vec![start(busy, RETRY, a, 1)]);

    k.handle_timeout(at(2)).unwrap();
    assert!(drain(&mut k).is_empty(), "the session is held by {busy}");
    assert_eq!(state(&k, t), TaskState::Queued);

    // The retried task re-entered with a fresh sequence number: behind `waiting`.
    k.finished(at(3), busy, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            finished(busy, Outcome::Completed),
            start(waiting, RETRY, a, 1)
        ]
    );
    k.finished(at(4), waiting, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(waiting, Outcome::Completed), start(t, RETRY, a, 2)]
    );
    // Queue wait counts from the re-queue (t = 2 s), not from the first submission.
    let v = k.task(t).unwrap();
    assert_eq!(v.created_at, at(0));
    assert_eq!(v.started_at, Some(at(4)));
}

#[test]
fn retried_task_restarts_its_queue_timeout_at_requeue() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), RETRY, a);
    drain(&mut k);
    let failing = Exit::Failed {
        error: "x".into(),
        retryable: true,
    };
    k.finished(at(1), t, failing).unwrap();
    drain(&mut k);
    // Hold the session for good (the holder will ignore cancel and abort), so the retry waits.
    let holder = submit(&mut k, Instant::from_nanos(1_500_000_000), IO, a);
    assert_eq!(drain(&mut k), vec![start(holder, IO, a, 1)]);
    k.handle_timeout(at(2)).unwrap();
    drain(&mut k);
    assert_eq!(state(&k, t), TaskState::Queued);
    // First submitted at 0 s with a 30 s queue wait, but re-queued at 2 s: rejected at 32 s.
    k.handle_timeout(at(30)).unwrap();
    drain(&mut k);
    assert_eq!(state(&k, t), TaskState::Queued);
    k.handle_timeout(Instant::from_nanos(32_000_000_000 - 1))
        .unwrap();
    drain(&mut k);
    assert_eq!(state(&k, t), TaskState::Queued);
    k.handle_timeout(at(32)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t, Outcome::Rejected(RejectReason::QueueTimeout))]
    );
}

#[test]
fn retries_run_out_after_max_attempts() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), RETRY, a);
    drain(&mut k);
    let mut now = at(0);
    let mut seen = Vec::new();
    for attempt in 1..=3u32 {
        now = now + Duration::from_secs(1);
        k.finished(
            now,
            t,
            Exit::Failed {
                error: format!("attempt {attempt}"),
                retryable: true,
            },
        )
        .unwrap();
        let actions = drain(&mut k);
        seen.extend(actions.clone());
        if let Some(Action::Notify(Notice::Retrying { at: until, .. })) = actions.first() {
            now = *until;
            k.handle_timeout(now).unwrap();
            assert_eq!(drain(&mut k), vec![start(t, RETRY, a, attempt + 1)]);
        }
    }
    let retrying: Vec<u32> = seen
        .iter()
        .filter_map(|a| match a {
            Action::Notify(Notice::Retrying { attempt, .. }) => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retrying, vec![2, 3]);
    assert_eq!(seen.last(), Some(&finished(t, Outcome::Failed)));
    let v = k.task(t).unwrap();
    assert_eq!(v.attempt, 3);
    assert_eq!(v.error.as_deref(), Some("attempt 3"));
}

#[test]
fn running_then_cancelling_then_cancelled_by_user() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), IO, a);
    let next = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.cancel(at(1), t).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Cancel {
            task: t,
            reason: CancelReason::User
        }]
    );
    assert_eq!(state(&k, t), TaskState::Cancelling);
    assert_eq!(
        k.session_holder(a),
        Some(t),
        "held until the driver reports"
    );
    assert_eq!(state(&k, next), TaskState::Queued);
    // Whatever the body returns, a cancelled task ends Cancelled.
    k.finished(at(2), t, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            finished(t, Outcome::Cancelled(CancelReason::User)),
            start(next, IO, a, 1)
        ]
    );
    assert_eq!(k.task(t).unwrap().cancel_reason, Some(CancelReason::User));
}

#[test]
fn cancelling_a_cancelling_task_changes_nothing() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.cancel(at(1), t).unwrap();
    drain(&mut k);
    k.cancel(at(2), t).unwrap();
    assert!(drain(&mut k).is_empty());
    // The grace still counts from the first request.
    assert_eq!(k.poll_timeout(), Some(at(3)));
}

#[test]
fn run_timeout_cancels_and_ends_timed_out() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.handle_timeout(at(10)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Cancel {
            task: t,
            reason: CancelReason::Timeout
        }]
    );
    k.finished(
        at(11),
        t,
        Exit::Failed {
            error: "interrupted".into(),
            retryable: true,
        },
    )
    .unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t, Outcome::TimedOut(CancelReason::Timeout))]
    );
    assert_eq!(state(&k, t), TaskState::TimedOut);
}

#[test]
fn a_timed_out_retryable_task_is_not_retried() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), RETRY, a);
    drain(&mut k);
    k.handle_timeout(at(10)).unwrap();
    drain(&mut k);
    k.finished(
        at(10),
        t,
        Exit::Failed {
            error: "x".into(),
            retryable: true,
        },
    )
    .unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t, Outcome::TimedOut(CancelReason::Timeout))]
    );
}

#[test]
fn missing_heartbeat_cancels_as_stalled_and_ends_timed_out() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), BEAT, a);
    drain(&mut k);
    k.handle_timeout(at(3)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Cancel {
            task: t,
            reason: CancelReason::Stalled
        }]
    );
    k.finished(at(4), t, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t, Outcome::TimedOut(CancelReason::Stalled))]
    );
}

#[test]
fn grace_expiry_aborts_and_the_drop_report_ends_abandoned() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), IO, a);
    let next = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.cancel(at(1), t).unwrap();
    drain(&mut k);
    k.handle_timeout(at(3)).unwrap();
    assert_eq!(drain(&mut k), vec![Action::Abort { task: t }]);
    assert_eq!(state(&k, t), TaskState::Cancelling);
    assert!(k.task(t).unwrap().stuck);
    assert_eq!(k.session_holder(a), Some(t));
    k.finished(at(5), t, Exit::Dropped).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t, Outcome::Abandoned), start(next, IO, a, 1)]
    );
    assert!(!k.task(t).unwrap().stuck);
}

#[test]
fn an_aborted_task_that_returns_anyway_is_abandoned() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.cancel(at(0), t).unwrap();
    k.handle_timeout(at(2)).unwrap();
    drain(&mut k);
    k.finished(at(2), t, Exit::Completed).unwrap();
    assert_eq!(drain(&mut k), vec![finished(t, Outcome::Abandoned)]);
}

#[test]
fn queued_cancel_ends_cancelled_without_a_cancel_action() {
    let (mut k, a) = setup();
    let t1 = submit(&mut k, at(0), IO, a);
    let t2 = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.cancel(at(1), t2).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t2, Outcome::Cancelled(CancelReason::User))]
    );
    assert_eq!(state(&k, t2), TaskState::Cancelled);
    assert_eq!(k.task(t2).unwrap().started_at, None);
    assert_eq!(state(&k, t1), TaskState::Running);
}

#[test]
fn backoff_cancel_ends_cancelled() {
    let (mut k, a) = setup();
    let t = submit(&mut k, at(0), RETRY, a);
    drain(&mut k);
    k.finished(
        at(0),
        t,
        Exit::Failed {
            error: "x".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    assert_eq!(state(&k, t), TaskState::Backoff);
    k.cancel(at(0), t).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(t, Outcome::Cancelled(CancelReason::User))]
    );
    // The backoff timer is gone: nothing restarts it.
    k.handle_timeout(at(5)).unwrap();
    assert!(drain(&mut k).is_empty());
    assert_eq!(state(&k, t), TaskState::Cancelled);
}

#[test]
fn queue_timeout_rejects() {
    let (mut k, a) = setup();
    let t1 = submit(&mut k, at(0), IO, a);
    let t2 = submit(&mut k, at(5), IO, a);
    drain(&mut k);
    // t1 times out at 10 s and is cancelled; the session stays held, so t2 waits on.
    k.handle_timeout(at(35)).unwrap();
    let actions = drain(&mut k);
    assert_eq!(
        actions,
        vec![
            Action::Cancel {
                task: t1,
                reason: CancelReason::Timeout
            },
            Action::Abort { task: t1 },
            finished(t2, Outcome::Rejected(RejectReason::QueueTimeout)),
        ]
    );
    assert_eq!(state(&k, t2), TaskState::Rejected);
    assert_eq!(k.task(t2).unwrap().finished_at, Some(at(35)));
}

#[test]
fn disconnect_rejects_queued_and_cancels_running() {
    let (mut k, a) = setup();
    let run = submit(&mut k, at(0), IO, a);
    let queued = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.disconnect(at(1), "a").unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            Action::Cancel {
                task: run,
                reason: CancelReason::Disconnect
            },
            finished(queued, Outcome::Rejected(RejectReason::SessionClosed)),
        ]
    );
    k.finished(at(2), run, Exit::Completed).unwrap();
    let actions = drain(&mut k);
    assert_eq!(
        actions[0],
        finished(run, Outcome::Cancelled(CancelReason::Disconnect))
    );
    // Cleanup: every record leaves the registry and the report closes the session.
    assert!(actions.contains(&Action::Notify(Notice::Removed { task: run })));
    assert!(actions.contains(&Action::Notify(Notice::Removed { task: queued })));
    match actions.last() {
        Some(Action::Notify(Notice::Closed(r))) => {
            assert_eq!(r.scope, baton_kernel::Scope::Session(a));
            assert!(r.stuck.is_empty());
            assert_eq!(r.at, at(2));
        }
        other => panic!("expected the Closed report, got {other:?}"),
    }
    assert_eq!(k.registry_len(), 0);
}

#[test]
fn shutdown_rejects_queued_and_cancels_running() {
    let (mut k, a) = setup();
    let run = submit(&mut k, at(0), IO, a);
    let queued = submit(&mut k, at(0), IO, a);
    drain(&mut k);
    k.shutdown(at(1), Duration::from_secs(5)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            Action::Cancel {
                task: run,
                reason: CancelReason::Shutdown
            },
            finished(queued, Outcome::Rejected(RejectReason::Shutdown)),
        ]
    );
    assert!(!k.is_stopped());
    k.finished(at(2), run, Exit::Completed).unwrap();
    let actions = drain(&mut k);
    assert_eq!(
        actions[0],
        finished(run, Outcome::Cancelled(CancelReason::Shutdown))
    );
    assert!(matches!(
        actions.last(),
        Some(Action::Notify(Notice::Closed(r))) if r.scope == baton_kernel::Scope::Shutdown && r.stuck.is_empty()
    ));
    assert!(k.is_stopped());
    assert_eq!(k.registry_len(), 0);
}

#[test]
fn every_task_reaches_exactly_one_terminal_notice() {
    let (mut k, a) = setup();
    let b = k.connect(at(0), "b").unwrap();
    let mut ids = Vec::new();
    for i in 0..6u64 {
        let s = if i % 2 == 0 { a } else { b };
        ids.push(submit(&mut k, at(0), if i < 3 { IO } else { RETRY }, s));
    }
    let mut actions = drain(&mut k);
    k.cancel(at(1), ids[2]).unwrap();
    actions.extend(drain(&mut k));
    k.finished(at(1), ids[0], Exit::Completed).unwrap();
    actions.extend(drain(&mut k));
    k.handle_timeout(at(100)).unwrap();
    actions.extend(drain(&mut k));
    k.shutdown(at(100), ms(0)).unwrap();
    actions.extend(drain(&mut k));
    // The stuck ones are abandoned when the (zero) shutdown grace is handled.
    k.handle_timeout(at(100)).unwrap();
    actions.extend(drain(&mut k));
    assert!(k.is_stopped());
    for id in ids {
        let n = actions
            .iter()
            .filter(|a| matches!(a, Action::Notify(Notice::Finished { task, .. }) if *task == id))
            .count();
        assert_eq!(n, 1, "{id} got {n} terminal notices: {actions:?}");
    }
}

/// A deterministic generator for the driver simulation below.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// How a simulated body behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    /// Completes after this many ms; stops 50 ms after a cancel.
    Completes(u64),
    /// Fails (retryably) after this many ms; stops 50 ms after a cancel.
    Fails(u64),
    /// Ignores cancel, drops a little after the abort.
    Stubborn,
    /// Never reports anything (blocking code).
    Zombie,
}

fn ms_d(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A tiny runtime: runs bodies, delivers their reports and the kernel's deadlines in time order,
/// and checks every action against what it physically knows.
struct Sim {
    k: Kernel,
    rng: Lcg,
    now: Instant,
    bodies: std::collections::BTreeMap<TaskId, Body>,
    /// Bodies physically running, with the session they run on.
    physical: std::collections::BTreeMap<TaskId, Option<SessionId>>,
    reports: Vec<(Instant, TaskId, Exit)>,
    submitted: std::collections::BTreeSet<TaskId>,
    ended: std::collections::BTreeSet<TaskId>,
    removed: std::collections::BTreeSet<TaskId>,
    /// Latest (re-)queue, start and cancel instants.
    enqueued: std::collections::BTreeMap<TaskId, Instant>,
    started: std::collections::BTreeMap<TaskId, Instant>,
    cancelled: std::collections::BTreeMap<TaskId, Instant>,
}

impl Sim {
    fn class_of(&self, t: TaskId) -> ClassId {
        self.k.task(t).map_or(IO, |v| v.class)
    }

    /// Processes every pending action, checking it.
    fn drain(&mut self) {
        let now = self.now;
        let s = Duration::from_secs;
        while let Some(action) = self.k.poll_action() {
            match action {
                Action::Start { task, session, .. } => {
                    assert!(!self.ended.contains(&task), "{task} started after it ended");
                    assert!(!self.physical.contains_key(&task), "{task} started twice");
                    if let Some(sid) = session {
                        let clash = self.physical.iter().find(|(_, p)| **p == Some(sid));
                        assert!(clash.is_none(), "{task} and {clash:?} both on {sid}");
                    }
                    assert!(now >= self.enqueued[&task]);
                    self.physical.insert(task, session);
                    self.started.insert(task, now);
                    match self.bodies[&task] {
                        Body::Completes(ms) => {
                            self.reports.push((now + ms_d(ms), task, Exit::Completed))
                        }
                        Body::Fails(ms) => self.reports.push((
                            now + ms_d(ms),
                            task,
                            Exit::Failed {
                                error: "e".into(),
                                retryable: true,
                            },
                        )),
                        Body::Stubborn | Body::Zombie => {}
                    }
                }
                Action::Cancel { task, reason } => {
                    assert!(!self.ended.contains(&task));
                    assert!(
                        self.physical.contains_key(&task),
                        "cancel of a stopped {task}"
                    );
                    let started = self.started[&task];
                    match (reason, self.class_of(task)) {
                        (CancelReason::Timeout, BEAT) => assert_eq!(now, started + s(100)),
                        (CancelReason::Timeout, _) => assert_eq!(now, started + s(10)),
                        (CancelReason::Stalled, _) => assert_eq!(now, started + s(3)),
                        _ => {}
                    }
                    self.cancelled.insert(task, now);
                    if let Body::Completes(_) | Body::Fails(_) = self.bodies[&task] {
                        self.reports.retain(|r| r.1 != task);
                        self.reports.push((now + ms_d(50), task, Exit::Completed));
                    }
                }
                Action::Abort { task } => {
                    assert!(!self.ended.contains(&task));
                    assert_eq!(now, self.cancelled[&task] + s(2), "{task} aborted off time");
                    if self.bodies[&task] == Body::Stubborn {
                        let d = ms_d(self.rng.below(20));
                        self.reports.push((now + d, task, Exit::Dropped));
                    }
                }
                Action::Notify(Notice::Finished { task, outcome }) => {
                    assert!(self.ended.insert(task), "{task} ended twice");
                    if outcome == Outcome::Rejected(RejectReason::QueueTimeout) {
                        let wait = if self.class_of(task) == BEAT { 60 } else { 30 };
                        assert_eq!(
                            now,
                            self.enqueued[&task] + s(wait),
                            "{task} rejected off time"
                        );
                    }
                    // Only cleanup ends a task whose body still runs (a stubborn or zombie
                    // body): its session goes with it, so no later task can clash with it.
                    if let Some(Some(sid)) = self.physical.get(&task) {
                        assert!(
                            self.k.sessions().all(|(id, _, _)| id != *sid),
                            "{task} ended while still running on the live {sid}"
                        );
                    }
                }
                Action::Notify(Notice::Retrying { task, at, .. }) => {
                    assert!(at > now);
                    self.enqueued.insert(task, at);
                }
                Action::Notify(Notice::Removed { task }) => {
                    assert!(self.ended.contains(&task), "{task} removed before it ended");
                    assert!(self.removed.insert(task), "{task} removed twice");
                }
                Action::Notify(Notice::Closed(_)) => {}
            }
        }
        self.k.check_invariants().expect("invariants hold");
    }

    /// Delivers the earliest report or deadline if it is due by `until`; false if none is.
    fn deliver_next(&mut self, until: Instant) -> bool {
        self.reports.sort_by_key(|r| (r.0, r.1));
        let next_report = self.reports.first().map(|r| r.0);
        let next = [next_report, self.k.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= until => {
                self.now = self.now.max(t);
                if next_report == Some(t) {
                    let (_, task, exit) = self.reports.remove(0);
                    self.physical.remove(&task);
                    // A report for a task cleanup already removed is refused harmlessly.
                    let _ = self.k.finished(self.now, task, exit);
                } else {
                    self.k.handle_timeout(self.now).unwrap();
                }
                self.drain();
                true
            }
            _ => false,
        }
    }

    fn random_input(&mut self, names: &[&str]) {
        let now = self.now;
        match self.rng.below(14) {
            0 => {
                let n = names[self.rng.below(names.len() as u64) as usize];
                if self.k.session_id(n).is_some() {
                    self.k.disconnect(now, n).unwrap();
                } else if let Ok(sid) = self.k.connect(now, n) {
                    self.k.join_group(now, "g", sid).unwrap();
                }
            }
            1 => {
                let live: Vec<TaskId> = self.submitted.difference(&self.ended).copied().collect();
                if let Some(t) = live.get(self.rng.below(live.len() as u64) as usize) {
                    self.k.cancel(now, *t).unwrap();
                }
            }
            _ => {
                let target = match self.rng.below(4) {
                    0 => match self.k.group_id("g") {
                        Some(g) => Target::Group(g),
                        None => return,
                    },
                    _ => match self
                        .k
                        .session_id(names[self.rng.below(names.len() as u64) as usize])
                    {
                        Some(sid) => Target::Session(sid),
                        None => return,
                    },
                };
                let class = [IO, RETRY, BEAT][self.rng.below(3) as usize];
                let body = match self.rng.below(10) {
                    0 => Body::Zombie,
                    1 => Body::Stubborn,
                    2 | 3 => Body::Fails(self.rng.below(3000)),
                    4 => Body::Completes(self.rng.below(12_000)),
                    _ => Body::Completes(self.rng.below(3000)),
                };
                let live: Vec<TaskId> = self
                    .submitted
                    .difference(&self.ended)
                    .filter(|t| {
                        self.k
                            .task(**t)
                            .is_some_and(|v| v.state != TaskState::Cancelling)
                    })
                    .copied()
                    .collect();
                let parent = match self.rng.below(5) {
                    0 => live
                        .get(self.rng.below(live.len() as u64) as usize)
                        .copied(),
                    _ => None,
                };
                let submit = Submit {
                    parent,
                    ..Submit::new(class, target)
                };
                if let Ok(t) = self.k.submit(now, submit) {
                    self.bodies.insert(t, body);
                    self.submitted.insert(t);
                    self.enqueued.insert(t, now);
                }
            }
        }
        self.drain();
    }
}

/// Drives the kernel like a runtime would, with bodies of every behaviour, groups, children,
/// disconnects and a final shutdown, and checks the accounting: a task starts only when not
/// physically running; exclusive bodies never overlap on a session; deadlines fire exactly on
/// time; nothing is asked of a task after its terminal notice; every task gets exactly one
/// terminal notice and leaves the registry exactly once.
#[test]
fn a_simulated_driver_sees_every_task_end_exactly_once() {
    let names = ["a", "b", "c"];
    for seed in 0..40u64 {
        let mut sim = Sim {
            k: Kernel::new(config()).unwrap(),
            rng: Lcg(seed),
            now: Instant::ZERO,
            bodies: Default::default(),
            physical: Default::default(),
            reports: Vec::new(),
            submitted: Default::default(),
            ended: Default::default(),
            removed: Default::default(),
            enqueued: Default::default(),
            started: Default::default(),
            cancelled: Default::default(),
        };
        for n in names {
            let sid = sim.k.connect(Instant::ZERO, n).unwrap();
            sim.k.join_group(Instant::ZERO, "g", sid).unwrap();
        }
        for _ in 0..400 {
            let horizon = sim.now + ms_d(sim.rng.below(400));
            if !sim.deliver_next(horizon) {
                sim.now = horizon;
                sim.random_input(&names);
            }
        }
        // Liveness: shut down and let everything play out.
        sim.k.shutdown(sim.now, Duration::from_secs(10)).unwrap();
        sim.drain();
        while !sim.k.is_stopped() {
            assert!(
                sim.deliver_next(Instant::MAX),
                "something is pending until it stops"
            );
        }
        assert_eq!(
            sim.ended, sim.submitted,
            "seed {seed}: every task ended exactly once"
        );
        assert_eq!(
            sim.removed, sim.submitted,
            "seed {seed}: every record left the registry"
        );
        assert_eq!(sim.k.registry_len(), 0);
        assert!(sim.submitted.len() > 50, "seed {seed}: a busy run");
    }
}

#[test]
fn disconnect_rejects_a_backing_off_task_and_a_failure_while_closing_is_not_retried() {
    let (mut k, a) = setup();
    let b = k.connect(at(0), "b").unwrap();
    let backing_off = submit(&mut k, at(0), RETRY, a);
    let running = submit(&mut k, at(0), RETRY, b);
    drain(&mut k);
    let failing = Exit::Failed {
        error: "x".into(),
        retryable: true,
    };
    k.finished(at(1), backing_off, failing.clone()).unwrap();
    drain(&mut k);
    assert_eq!(state(&k, backing_off), TaskState::Backoff);
    k.disconnect(at(1), "a").unwrap();
    assert_eq!(
        drain(&mut k)[0],
        finished(backing_off, Outcome::Rejected(RejectReason::SessionClosed))
    );
    // b's task is cancelled by the disconnect; its failure report ends it, no retry.
    k.disconnect(at(2), "b").unwrap();
    drain(&mut k);
    k.finished(at(3), running, failing).unwrap();
    let actions = drain(&mut k);
    assert_eq!(
        actions[0],
        finished(running, Outcome::Cancelled(CancelReason::Disconnect))
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Notify(Notice::Retrying { .. })))
    );
}

#[test]
fn a_parent_disconnected_elsewhere_cancels_its_children() {
    let (mut k, a) = setup();
    let b = k.connect(at(0), "b").unwrap();
    let parent = submit(&mut k, at(0), IO, a);
    let child = k
        .submit(
            at(0),
            Submit {
                parent: Some(parent),
                ..Submit::new(IO, Target::Session(b))
            },
        )
        .unwrap();
    drain(&mut k);
    k.disconnect(at(1), "a").unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            Action::Cancel {
                task: parent,
                reason: CancelReason::Disconnect
            },
            Action::Cancel {
                task: child,
                reason: CancelReason::Parent
            },
        ]
    );
    // b itself stays connected.
    assert_eq!(k.session_id("b"), Some(b));
}

#[test]
fn time_near_the_end_of_the_range_saturates() {
    let (mut k, a) = setup();
    let late = Instant::MAX;
    let start_at = Instant::from_nanos(u64::MAX - 1_000_000_000);
    let t = submit(&mut k, start_at, IO, a);
    let q = submit(&mut k, start_at, IO, a);
    drain(&mut k);
    // Every deadline saturates at the last instant instead of wrapping.
    assert_eq!(k.poll_timeout(), Some(late));
    k.handle_timeout(late).unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&Action::Cancel {
        task: t,
        reason: CancelReason::Timeout
    }));
    assert!(actions.contains(&finished(q, Outcome::Rejected(RejectReason::QueueTimeout))));
    // The grace saturates at the same last instant, so the abort follows at once.
    assert!(actions.contains(&Action::Abort { task: t }));
    k.finished(late, t, Exit::Dropped).unwrap();
    drain(&mut k);
    assert_eq!(state(&k, t), TaskState::Abandoned);
    k.handle_timeout(late).unwrap();
    drain(&mut k);
}
