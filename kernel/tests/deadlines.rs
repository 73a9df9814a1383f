//! Every deadline of DESIGN.md fires exactly at its instant: one nanosecond before, nothing
//! happens; at the deadline, it fires. `poll_timeout` is always the earliest deadline, ties fire
//! in the stated order, and a late `handle_timeout` behaves like a call at each deadline.

use baton_kernel::{
    Action, CancelReason, ClassConfig, ClassId, Config, Duration, Exit, Instant, Kernel,
    ListFilter, Notice, Outcome, Progress, RejectReason, RetryPolicy, Scope, SessionId, Submit,
    Target, TaskId, TaskState,
};

const HOLD: ClassId = ClassId(0);
const QUEUE: ClassId = ClassId(1);
const RUN: ClassId = ClassId(2);
const BEAT: ClassId = ClassId(3);
const TOTAL: ClassId = ClassId(4);
const BG: ClassId = ClassId(5);

/// An odd epoch offset, so no deadline lands on a round number by accident.
const T0: u64 = 1_000_000_007;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `T0 + n` seconds.
fn t(n: u64) -> Instant {
    Instant::from_nanos(T0) + secs(n)
}

fn just_before(at: Instant) -> Instant {
    Instant::from_nanos(at.as_nanos() - 1)
}

fn config() -> Config {
    let mut c = Config::new(vec![
        // Holds its session for as long as the test wants.
        ClassConfig::exclusive("hold", 5)
            .without_timeouts()
            .with_grace(secs(1)),
        ClassConfig::exclusive("queue", 5)
            .without_timeouts()
            .with_queue_timeout(secs(7)),
        ClassConfig::exclusive("run", 5)
            .without_timeouts()
            .with_run_timeout(secs(11))
            .with_grace(secs(3)),
        ClassConfig::exclusive("beat", 5)
            .without_timeouts()
            .with_heartbeat_timeout(secs(4))
            .with_grace(secs(3)),
        ClassConfig::exclusive("total", 5)
            .without_timeouts()
            .with_total_timeout(secs(20))
            .with_grace(secs(3))
            .with_retry(RetryPolicy {
                max_attempts: 3,
                base: secs(5),
                cap: secs(5),
                jitter_permille: 0,
            }),
        ClassConfig::background("bg", 5)
            .without_timeouts()
            .with_retention(secs(100))
            .with_retry(RetryPolicy {
                max_attempts: 2,
                base: secs(2),
                cap: secs(2),
                jitter_permille: 0,
            }),
    ]);
    c.cleanup_interval = secs(60);
    c.disconnect_grace = secs(5);
    c
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn kernel() -> (Kernel, SessionId, SessionId) {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(t(0), "a").unwrap();
    let b = k.connect(t(0), "b").unwrap();
    (k, a, b)
}

fn submit(k: &mut Kernel, now: Instant, class: ClassId, target: Target) -> TaskId {
    k.submit(now, Submit::new(class, target)).unwrap()
}

/// Every registered task's (id, state, stuck, attempt).
fn states(k: &Kernel) -> Vec<(TaskId, TaskState, bool, u32)> {
    k.list(&ListFilter::default(), None, 1000)
        .items
        .into_iter()
        .map(|v| (v.id, v.state, v.stuck, v.attempt))
        .collect()
}

/// Asserts `deadline` is the next one, that handling one nanosecond before it does nothing, and
/// returns what handling it at the deadline does (which must be something).
fn fire_at(k: &mut Kernel, deadline: Instant) -> Vec<Action> {
    assert_eq!(k.poll_timeout(), Some(deadline), "the next deadline");
    let before = states(k);
    k.handle_timeout(just_before(deadline)).unwrap();
    assert_eq!(drain(k), vec![], "nothing fires 1 ns early");
    assert_eq!(states(k), before, "nothing changes 1 ns early");
    assert_eq!(k.poll_timeout(), Some(deadline));
    k.handle_timeout(deadline).unwrap();
    let actions = drain(k);
    assert!(!actions.is_empty(), "the deadline at {deadline} fired");
    actions
}

fn finished(task: TaskId, outcome: Outcome) -> Action {
    Action::Notify(Notice::Finished { task, outcome })
}

fn cancel(task: TaskId, reason: CancelReason) -> Action {
    Action::Cancel { task, reason }
}

#[test]
fn queue_timeout_fires_at_submit_plus_queue_timeout() {
    let (mut k, a, _) = kernel();
    let _holder = submit(&mut k, t(0), HOLD, Target::Session(a));
    let q = submit(&mut k, t(1), QUEUE, Target::Session(a));
    drain(&mut k);
    assert_eq!(
        fire_at(&mut k, t(8)),
        vec![finished(q, Outcome::Rejected(RejectReason::QueueTimeout))]
    );
}

#[test]
fn a_started_task_loses_its_queue_deadline() {
    let (mut k, a, _) = kernel();
    let holder = submit(&mut k, t(0), HOLD, Target::Session(a));
    let q = submit(&mut k, t(1), QUEUE, Target::Session(a));
    drain(&mut k);
    k.finished(t(2), holder, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(k.task(q).unwrap().state, TaskState::Running);
    k.handle_timeout(t(50)).unwrap();
    assert_eq!(drain(&mut k), vec![]);
    assert_eq!(k.task(q).unwrap().state, TaskState::Running);
}

#[test]
fn run_timeout_fires_at_start_plus_run_timeout() {
    let (mut k, a, _) = kernel();
    let holder = submit(&mut k, t(0), HOLD, Target::Session(a));
    let r = submit(&mut k, t(0), RUN, Target::Session(a));
    drain(&mut k);
    // It starts at 3 s, so the deadline is 14 s (not 11 s after its submission).
    k.finished(t(3), holder, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(
        fire_at(&mut k, t(14)),
        vec![cancel(r, CancelReason::Timeout)]
    );
}

#[test]
fn heartbeat_fires_after_the_last_progress() {
    let (mut k, a, _) = kernel();
    let h = submit(&mut k, t(0), BEAT, Target::Session(a));
    drain(&mut k);
    assert_eq!(k.poll_timeout(), Some(t(4)));
    k.progress(t(3), h, Progress::default()).unwrap();
    assert_eq!(drain(&mut k), vec![]);
    // The old deadline passes quietly.
    k.handle_timeout(t(4)).unwrap();
    assert_eq!(drain(&mut k), vec![]);
    assert_eq!(
        fire_at(&mut k, t(7)),
        vec![cancel(h, CancelReason::Stalled)]
    );
    // Progress while cancelling is recorded but re-arms nothing.
    k.progress(
        t(8),
        h,
        Progress {
            current: 1,
            total: Some(2),
            message: "late".into(),
        },
    )
    .unwrap();
    assert_eq!(k.task(h).unwrap().progress.current, 1);
    assert_eq!(k.poll_timeout(), Some(t(10)), "only the grace is pending");
}

#[test]
fn total_timeout_rejects_a_queued_task() {
    let (mut k, a, _) = kernel();
    let _holder = submit(&mut k, t(0), HOLD, Target::Session(a));
    let x = submit(&mut k, t(2), TOTAL, Target::Session(a));
    drain(&mut k);
    assert_eq!(
        fire_at(&mut k, t(22)),
        vec![finished(x, Outcome::Rejected(RejectReason::QueueTimeout))]
    );
}

#[test]
fn total_timeout_ends_a_backing_off_task_timed_out() {
    let (mut k, a, _) = kernel();
    let x = submit(&mut k, t(0), TOTAL, Target::Session(a));
    drain(&mut k);
    k.finished(
        t(18),
        x,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    // Backoff would end at 23 s, but the total deadline (from first submission) is 20 s.
    assert_eq!(
        fire_at(&mut k, t(20)),
        vec![finished(x, Outcome::TimedOut(CancelReason::Timeout))]
    );
}

#[test]
fn total_timeout_cancels_a_running_retry_which_keeps_its_session() {
    let (mut k, a, _) = kernel();
    let x = submit(&mut k, t(0), TOTAL, Target::Session(a));
    drain(&mut k);
    k.finished(
        t(1),
        x,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    let actions = fire_at(&mut k, t(6));
    assert_eq!(
        actions,
        vec![Action::Start {
            task: x,
            class: TOTAL,
            session: Some(a),
            attempt: 2
        }]
    );
    assert_eq!(
        fire_at(&mut k, t(20)),
        vec![cancel(x, CancelReason::Timeout)]
    );
    assert_eq!(k.session_holder(a), Some(x));
    k.finished(t(21), x, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(x, Outcome::TimedOut(CancelReason::Timeout))]
    );
}

#[test]
fn cancel_grace_expiry_asks_for_abort() {
    let (mut k, a, _) = kernel();
    let r = submit(&mut k, t(0), RUN, Target::Session(a));
    drain(&mut k);
    k.cancel(t(2), r).unwrap();
    drain(&mut k);
    assert_eq!(fire_at(&mut k, t(5)), vec![Action::Abort { task: r }]);
    assert!(k.task(r).unwrap().stuck);
    // After the abort no deadline of the task is left: it waits for the driver forever.
    assert_eq!(k.poll_timeout(), None);
}

#[test]
fn backoff_ends_at_its_instant_and_the_retry_starts_then() {
    let (mut k, _, _) = kernel();
    let j = submit(&mut k, t(0), BG, Target::None);
    drain(&mut k);
    k.finished(
        t(1),
        j,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Notify(Notice::Retrying {
            task: j,
            attempt: 2,
            at: t(3)
        })]
    );
    assert_eq!(
        fire_at(&mut k, t(3)),
        vec![Action::Start {
            task: j,
            class: BG,
            session: None,
            attempt: 2
        }]
    );
    assert_eq!(k.task(j).unwrap().started_at, Some(t(3)));
}

#[test]
fn retention_removes_a_record_inside_its_window() {
    let (mut k, _, _) = kernel();
    let j = submit(&mut k, t(0), BG, Target::None);
    drain(&mut k);
    let done = t(1) + Duration::from_nanos(123_456);
    k.finished(done, j, Exit::Completed).unwrap();
    drain(&mut k);
    let gc = k.poll_timeout().expect("a retention deadline");
    let earliest = done + secs(100);
    let latest = done + secs(160);
    assert!(
        earliest <= gc && gc <= latest,
        "{gc} outside [{earliest}, {latest}]"
    );
    assert_eq!(
        fire_at(&mut k, gc),
        vec![Action::Notify(Notice::Removed { task: j })]
    );
    assert!(k.task(j).is_none());
    assert_eq!(k.registry_len(), 0);
}

#[test]
fn retention_with_no_cleanup_interval_is_exact() {
    let mut c = config();
    c.cleanup_interval = Duration::ZERO;
    let mut k = Kernel::new(c).unwrap();
    let j = submit(&mut k, t(0), BG, Target::None);
    drain(&mut k);
    let done = t(1) + Duration::from_nanos(3);
    k.finished(done, j, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(
        fire_at(&mut k, done + secs(100)),
        vec![Action::Notify(Notice::Removed { task: j })]
    );
}

#[test]
fn retention_applies_to_every_terminal_state() {
    let (mut k, a, _) = kernel();
    let _holder = submit(&mut k, t(0), HOLD, Target::Session(a));
    let q = submit(&mut k, t(0), QUEUE, Target::Session(a));
    drain(&mut k);
    k.handle_timeout(t(7)).unwrap();
    drain(&mut k);
    assert_eq!(k.task(q).unwrap().state, TaskState::Rejected);
    // Default retention 300 s, swept every 60 s.
    k.handle_timeout(just_before(t(307))).unwrap();
    assert!(k.task(q).is_some());
    k.handle_timeout(t(367)).unwrap();
    assert!(k.task(q).is_none());
}

#[test]
fn disconnect_cleanup_fires_at_disconnect_grace() {
    let (mut k, a, _) = kernel();
    let h = submit(&mut k, t(0), HOLD, Target::Session(a));
    let queued = submit(&mut k, t(0), QUEUE, Target::Session(a));
    drain(&mut k);
    k.disconnect(t(5), "a").unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            cancel(h, CancelReason::Disconnect),
            finished(queued, Outcome::Rejected(RejectReason::SessionClosed)),
        ]
    );
    // The class grace (1 s) asks for an abort first; the task still does not stop.
    assert_eq!(fire_at(&mut k, t(6)), vec![Action::Abort { task: h }]);
    let actions = fire_at(&mut k, t(10));
    assert_eq!(actions[0], finished(h, Outcome::Abandoned));
    let Some(Action::Notify(Notice::Closed(report))) = actions.last() else {
        panic!("no Closed report: {actions:?}");
    };
    assert_eq!(report.scope, Scope::Session(a));
    assert_eq!(report.at, t(10));
    assert_eq!(report.stuck.len(), 1);
    assert_eq!(report.stuck[0].task, h);
    assert_eq!(k.registry_len(), 0);
    assert!(
        k.sessions().all(|(id, _, _)| id != a),
        "the session is gone"
    );
}

#[test]
fn shutdown_cleanup_fires_at_its_grace() {
    let (mut k, a, b) = kernel();
    let h = submit(&mut k, t(0), HOLD, Target::Session(a));
    let r = submit(&mut k, t(0), RUN, Target::Session(b));
    drain(&mut k);
    k.shutdown(t(2), secs(7)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![
            cancel(h, CancelReason::Shutdown),
            cancel(r, CancelReason::Shutdown)
        ]
    );
    assert_eq!(fire_at(&mut k, t(3)), vec![Action::Abort { task: h }]);
    // r stops in time; h never does.
    k.finished(t(4), r, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![finished(r, Outcome::Cancelled(CancelReason::Shutdown))]
    );
    let actions = fire_at(&mut k, t(9));
    assert_eq!(actions[0], finished(h, Outcome::Abandoned));
    let Some(Action::Notify(Notice::Closed(report))) = actions.last() else {
        panic!("no Closed report: {actions:?}");
    };
    assert_eq!(report.scope, Scope::Shutdown);
    assert_eq!(
        report.stuck.iter().map(|s| s.task).collect::<Vec<_>>(),
        vec![h]
    );
    assert!(k.is_stopped());
    assert_eq!(k.registry_len(), 0);
    assert_eq!(k.poll_timeout(), None);
}

#[test]
fn poll_timeout_is_always_the_earliest_deadline() {
    let (mut k, a, b) = kernel();
    let c = k.connect(t(0), "c").unwrap();
    let _hold = submit(&mut k, t(0), HOLD, Target::Session(a));
    let _q = submit(&mut k, t(0), QUEUE, Target::Session(a)); // 7 s
    let _r = submit(&mut k, t(0), RUN, Target::Session(b)); // 11 s, then grace 14 s
    let _h = submit(&mut k, t(0), BEAT, Target::Session(c)); // 4 s, then grace 7 s
    let _x = submit(&mut k, t(0), TOTAL, Target::Session(a)); // 20 s
    drain(&mut k);
    let mut fired = Vec::new();
    while let Some(next) = k.poll_timeout() {
        if next > t(30) {
            break;
        }
        k.handle_timeout(just_before(next)).unwrap();
        assert_eq!(drain(&mut k), vec![]);
        k.handle_timeout(next).unwrap();
        drain(&mut k);
        fired.push(next);
    }
    // Heartbeat 4, queue 7, heartbeat grace 7 (same instant), run 11, run grace 14, total 20.
    assert_eq!(fired, vec![t(4), t(7), t(11), t(14), t(20)]);
}

#[test]
fn same_instant_deadlines_fire_by_task_id() {
    let (mut k, a, b) = kernel();
    let h1 = submit(&mut k, t(0), BEAT, Target::Session(a));
    let h2 = submit(&mut k, t(0), BEAT, Target::Session(b));
    drain(&mut k);
    // Arm the higher id first: the firing order must not depend on arming order.
    k.progress(t(1), h2, Progress::default()).unwrap();
    k.progress(t(1), h1, Progress::default()).unwrap();
    assert_eq!(
        fire_at(&mut k, t(5)),
        vec![
            cancel(h1, CancelReason::Stalled),
            cancel(h2, CancelReason::Stalled)
        ]
    );
}

#[test]
fn same_instant_run_deadline_fires_before_the_heartbeat() {
    let mut c = config();
    c.classes[BEAT.index()].run_timeout = Some(secs(12));
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(t(0), "a").unwrap();
    let h = submit(&mut k, t(0), BEAT, Target::Session(a));
    drain(&mut k);
    for beat in [3, 6, 8] {
        k.progress(t(beat), h, Progress::default()).unwrap();
    }
    // Run (12 s) and heartbeat (8 + 4 s) coincide: the run deadline wins, reason timeout.
    assert_eq!(
        fire_at(&mut k, t(12)),
        vec![cancel(h, CancelReason::Timeout)]
    );
}

#[test]
fn task_deadlines_fire_before_a_session_cleanup_at_the_same_instant() {
    let (mut k, a, b) = kernel();
    let h = submit(&mut k, t(0), HOLD, Target::Session(a));
    let r = submit(&mut k, t(0), RUN, Target::Session(b));
    assert!(h < r);
    drain(&mut k);
    k.disconnect(t(6), "a").unwrap();
    drain(&mut k);
    k.handle_timeout(t(7)).unwrap(); // h's abort
    drain(&mut k);
    // r's run deadline and a's cleanup are both at 11 s.
    let actions = fire_at(&mut k, t(11));
    assert_eq!(actions[0], cancel(r, CancelReason::Timeout));
    assert_eq!(actions[1], finished(h, Outcome::Abandoned));
    assert!(matches!(
        actions.last(),
        Some(Action::Notify(Notice::Closed(_)))
    ));
}

#[test]
fn a_late_input_first_fires_the_deadlines_it_passed() {
    let (mut k, a, _) = kernel();
    let _holder = submit(&mut k, t(0), HOLD, Target::Session(a));
    let q = submit(&mut k, t(0), QUEUE, Target::Session(a));
    drain(&mut k);
    assert_eq!(k.poll_timeout(), Some(t(7)));
    // No handle_timeout since 0 s: the submit at 50 s first does what handle_timeout(50 s)
    // would, and the rejection carries its own instant.
    let later = submit(&mut k, t(50), QUEUE, Target::Session(a));
    let actions: Vec<_> = std::iter::from_fn(|| k.poll_action_at()).collect();
    assert_eq!(
        actions,
        vec![(
            t(7),
            finished(q, Outcome::Rejected(RejectReason::QueueTimeout))
        )]
    );
    assert_eq!(k.task(q).unwrap().state, TaskState::Rejected);
    assert_eq!(k.task(later).unwrap().state, TaskState::Queued);
    assert_eq!(k.poll_timeout(), Some(t(57)));
}

#[test]
fn handle_timeout_is_idempotent() {
    let (mut k, a, _) = kernel();
    let _r = submit(&mut k, t(0), RUN, Target::Session(a));
    drain(&mut k);
    k.handle_timeout(t(11)).unwrap();
    assert_eq!(drain(&mut k).len(), 1);
    let json = serde_json::to_string(&k).unwrap();
    k.handle_timeout(t(11)).unwrap();
    assert_eq!(drain(&mut k), vec![]);
    assert_eq!(serde_json::to_string(&k).unwrap(), json);
}

#[test]
fn a_late_call_starts_a_retry_at_its_backoff_end() {
    let (mut k, _, _) = kernel();
    let j = submit(&mut k, t(0), BG, Target::None);
    drain(&mut k);
    k.finished(
        t(1),
        j,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    k.handle_timeout(t(500)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Start {
            task: j,
            class: BG,
            session: None,
            attempt: 2
        }]
    );
    assert_eq!(k.task(j).unwrap().started_at, Some(t(3)));
}

#[test]
fn a_late_call_starts_a_task_when_cleanup_freed_its_class_slot() {
    let mut c = config();
    c.classes[HOLD.index()].limit = Some(1);
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(t(0), "a").unwrap();
    let b = k.connect(t(0), "b").unwrap();
    let stuck = submit(&mut k, t(0), HOLD, Target::Session(a));
    let waiting = submit(&mut k, t(0), HOLD, Target::Session(b));
    drain(&mut k);
    assert_eq!(k.task(waiting).unwrap().state, TaskState::Queued);
    k.disconnect(t(1), "a").unwrap();
    drain(&mut k);
    // Abort at 2 s, cleanup at 6 s abandons `stuck` and frees the class slot: `waiting` starts
    // at 6 s even though the driver only calls at 100 s.
    k.handle_timeout(t(100)).unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&finished(stuck, Outcome::Abandoned)));
    assert!(actions.contains(&Action::Start {
        task: waiting,
        class: HOLD,
        session: Some(b),
        attempt: 1
    }));
    assert_eq!(k.task(waiting).unwrap().started_at, Some(t(6)));
}

/// A busy scenario with deadlines of every kind pending.
fn busy_kernel() -> Kernel {
    let mut c = config();
    c.classes[RUN.index()].limit = Some(1);
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(t(0), "a").unwrap();
    let b = k.connect(t(0), "b").unwrap();
    let c = k.connect(t(0), "c").unwrap();
    let d = k.connect(t(0), "d").unwrap();
    let now = t(0);
    for s in [a, b] {
        submit(&mut k, now, RUN, Target::Session(s));
        submit(&mut k, now, QUEUE, Target::Session(s));
        submit(&mut k, now, TOTAL, Target::Session(s));
    }
    submit(&mut k, now, BEAT, Target::Session(c));
    submit(&mut k, now, HOLD, Target::Session(d));
    submit(&mut k, now, TOTAL, Target::Session(d));
    for _ in 0..3 {
        submit(&mut k, now, BG, Target::None);
    }
    drain(&mut k);
    // Fail the background jobs (retry), leave the rest to their deadlines.
    let running: Vec<TaskId> = k
        .list(
            &ListFilter {
                class: Some(BG),
                ..ListFilter::default()
            },
            None,
            100,
        )
        .items
        .iter()
        .map(|v| v.id)
        .collect();
    for id in running {
        k.finished(
            t(1),
            id,
            Exit::Failed {
                error: "e".into(),
                retryable: true,
            },
        )
        .unwrap();
    }
    k.disconnect(t(2), "d").unwrap();
    drain(&mut k);
    k
}

#[test]
fn a_late_call_behaves_like_calls_at_each_deadline() {
    let far = t(1000);
    let mut stepped = busy_kernel();
    let mut late = stepped.clone();

    let mut stepped_actions = Vec::new();
    while let Some(next) = stepped.poll_timeout().filter(|n| *n <= far) {
        stepped.handle_timeout(next).unwrap();
        stepped_actions.extend(drain(&mut stepped));
    }
    stepped.handle_timeout(far).unwrap();
    stepped_actions.extend(drain(&mut stepped));

    late.handle_timeout(far).unwrap();
    let late_actions = drain(&mut late);

    assert!(
        stepped_actions.len() > 15,
        "a busy run: {stepped_actions:?}"
    );
    assert_eq!(late_actions, stepped_actions);
    assert_eq!(
        serde_json::to_string(&late).unwrap(),
        serde_json::to_string(&stepped).unwrap()
    );
}

#[test]
fn a_deadlines_consequences_land_before_the_next_deadline_at_the_same_instant() {
    let (mut k, a, b) = kernel();
    let parent = submit(&mut k, t(0), RUN, Target::Session(a)); // run deadline 11 s
    let _holder = submit(&mut k, t(0), HOLD, Target::Session(b));
    let child = k
        .submit(
            t(4),
            Submit {
                parent: Some(parent),
                ..Submit::new(QUEUE, Target::Session(b))
            },
        )
        .unwrap(); // queue deadline 11 s
    drain(&mut k);
    assert!(parent < child);
    // The parent's deadline fires first (lower id) and cancels the child at once, before the
    // child's own queue deadline at the same instant would reject it.
    assert_eq!(
        fire_at(&mut k, t(11)),
        vec![
            cancel(parent, CancelReason::Timeout),
            finished(child, Outcome::Cancelled(CancelReason::Parent)),
        ]
    );
}
