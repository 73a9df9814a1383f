//! Time keeps itself: every deadline passed by a late input fires at its own instant, exactly as
//! a punctual driver would have fired it, before the input applies.
//!
//! Each test drives the same script twice — `Driver::Lazy` never calls `handle_timeout`, so every
//! deadline is caught up by the next input; `Driver::Punctual` calls `handle_timeout` at each
//! deadline — checks that both give the same decisions at the same kernel instants, then checks
//! the decisions themselves.

use baton_kernel::{
    Action, CancelReason, ClassConfig, ClassId, Config, Duration, Error, Exit, Input, Instant,
    Kernel, Notice, Outcome, Progress, RejectReason, RetryPolicy, SessionId, Submit, Target,
    TaskId, TaskState,
};

const HOLD: ClassId = ClassId(0);
const QUEUE: ClassId = ClassId(1);
const RUN: ClassId = ClassId(2);
const BEAT: ClassId = ClassId(3);
const TOTAL: ClassId = ClassId(4);
const RETRY: ClassId = ClassId(5);

fn ms(n: u64) -> Instant {
    Instant::from_nanos(n * 1_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn config() -> Config {
    let mut c = Config::new(vec![
        ClassConfig::exclusive("hold", 5)
            .without_timeouts()
            .with_grace(secs(2)),
        ClassConfig::exclusive("queue", 5)
            .without_timeouts()
            .with_queue_timeout(secs(5)),
        ClassConfig::exclusive("run", 5)
            .without_timeouts()
            .with_run_timeout(secs(10))
            .with_grace(secs(2)),
        ClassConfig::exclusive("beat", 5)
            .without_timeouts()
            .with_heartbeat_timeout(secs(4))
            .with_grace(secs(2)),
        ClassConfig::background("total", 5)
            .without_timeouts()
            .with_total_timeout(secs(6))
            .with_retry(RetryPolicy {
                max_attempts: 3,
                base: secs(10),
                cap: secs(10),
                jitter_permille: 0,
            }),
        ClassConfig::background("retry", 5)
            .without_timeouts()
            .with_retention(secs(10))
            .with_retry(RetryPolicy {
                max_attempts: 2,
                base: secs(2),
                cap: secs(2),
                jitter_permille: 0,
            }),
    ]);
    c.cleanup_interval = Duration::ZERO;
    c.disconnect_grace = secs(5);
    c
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    Lazy,
    Punctual,
}

/// What a script run produced: the kernel, every decision with its instant, every answer.
struct Run {
    k: Kernel,
    decisions: Vec<(Instant, Action)>,
    answers: Vec<String>,
}

/// Applies `script` (instant in ms, input) with the given driver, then (both drivers) a final
/// `handle_timeout` at `end_ms` if given.
fn run(driver: Driver, script: &[(u64, Input)], end_ms: Option<u64>) -> Run {
    let mut k = Kernel::new(config()).unwrap();
    let mut decisions = Vec::new();
    let mut answers = Vec::new();
    for (at, input) in script {
        let at = ms(*at);
        if driver == Driver::Punctual {
            while let Some(due) = k.poll_timeout().filter(|d| *d <= at) {
                k.handle_timeout(due).unwrap();
                decisions.extend(std::iter::from_fn(|| k.poll_action_at()));
            }
        }
        answers.push(format!("{:?}", k.apply(at, input.clone())));
        decisions.extend(std::iter::from_fn(|| k.poll_action_at()));
        k.check_invariants().unwrap();
    }
    if let Some(end) = end_ms {
        k.handle_timeout(ms(end)).unwrap();
        decisions.extend(std::iter::from_fn(|| k.poll_action_at()));
    }
    Run {
        k,
        decisions,
        answers,
    }
}

/// Runs both drivers, asserts they agree, returns the lazy run.
fn both(script: &[(u64, Input)], end_ms: Option<u64>) -> Run {
    let lazy = run(Driver::Lazy, script, end_ms);
    let punctual = run(Driver::Punctual, script, end_ms);
    assert_eq!(lazy.answers, punctual.answers, "answers differ");
    assert_eq!(lazy.decisions, punctual.decisions, "decisions differ");
    assert_eq!(
        serde_json::to_string(&lazy.k).unwrap(),
        serde_json::to_string(&punctual.k).unwrap(),
        "final states differ"
    );
    lazy
}

fn connect(name: &str) -> Input {
    Input::Connect { name: name.into() }
}

fn submit(class: ClassId, target: Target) -> Input {
    Input::Submit(Submit::new(class, target))
}

fn finish(task: u64, exit: Exit) -> Input {
    Input::Finished {
        task: TaskId(task),
        exit,
    }
}

fn start(task: u64, class: ClassId, session: Option<u64>, attempt: u32) -> Action {
    Action::Start {
        task: TaskId(task),
        class,
        session: session.map(SessionId),
        attempt,
    }
}

fn ended(task: u64, outcome: Outcome) -> Action {
    Action::Notify(Notice::Finished {
        task: TaskId(task),
        outcome,
    })
}

fn cancel(task: u64, reason: CancelReason) -> Action {
    Action::Cancel {
        task: TaskId(task),
        reason,
    }
}

const A: Target = Target::Session(SessionId(1));

#[test]
fn a_queue_deadline_passed_by_a_late_finish_rejects_and_never_starts() {
    let r = both(
        &[
            (0, connect("a")),
            (0, submit(HOLD, A)),  // 1 holds a
            (0, submit(QUEUE, A)), // 2 waits, queue deadline 5 s
            (10_000, finish(1, Exit::Completed)),
        ],
        None,
    );
    assert_eq!(
        r.decisions,
        vec![
            (ms(0), start(1, HOLD, Some(1), 1)),
            (
                ms(5_000),
                ended(2, Outcome::Rejected(RejectReason::QueueTimeout))
            ),
            (ms(10_000), ended(1, Outcome::Completed)),
        ],
        "task 2 must not start 5 s after its queue deadline"
    );
}

#[test]
fn a_finish_after_the_run_deadline_ends_timed_out() {
    let r = both(
        &[
            (0, connect("a")),
            (0, submit(RUN, A)),
            (11_000, finish(1, Exit::Completed)),
        ],
        None,
    );
    assert_eq!(
        r.decisions,
        vec![
            (ms(0), start(1, RUN, Some(1), 1)),
            (ms(10_000), cancel(1, CancelReason::Timeout)),
            (
                ms(11_000),
                ended(1, Outcome::TimedOut(CancelReason::Timeout))
            ),
        ]
    );
}

#[test]
fn a_finish_100_s_after_the_run_deadline_ends_abandoned_after_the_abort() {
    let r = both(
        &[
            (0, connect("a")),
            (0, submit(RUN, A)),
            (110_000, finish(1, Exit::Completed)),
        ],
        None,
    );
    assert_eq!(
        r.decisions,
        vec![
            (ms(0), start(1, RUN, Some(1), 1)),
            (ms(10_000), cancel(1, CancelReason::Timeout)),
            (ms(12_000), Action::Abort { task: TaskId(1) }),
            (ms(110_000), ended(1, Outcome::Abandoned)),
        ]
    );
}

#[test]
fn a_progress_report_after_the_heartbeat_deadline_does_not_revive() {
    let beat = Input::Progress {
        task: TaskId(1),
        progress: Progress::default(),
    };
    let r = both(
        &[
            (0, connect("a")),
            (0, submit(BEAT, A)),
            (3_000, beat.clone()), // in time: the deadline moves to 7 s
            (8_000, beat),         // 1 s late: the task is already cancelled (stalled)
        ],
        None,
    );
    assert_eq!(
        r.answers[3], "Ok(Done)",
        "a cancelling task may still report"
    );
    assert_eq!(
        r.decisions,
        vec![
            (ms(0), start(1, BEAT, Some(1), 1)),
            (ms(7_000), cancel(1, CancelReason::Stalled)),
        ]
    );
    assert_eq!(r.k.task(TaskId(1)).unwrap().state, TaskState::Cancelling);
    // And its grace runs from 7 s, not from the late report.
    assert_eq!(r.k.poll_timeout(), Some(ms(9_000)));
}

#[test]
fn a_total_deadline_passed_in_backoff_ends_timed_out_without_a_restart() {
    let r = both(
        &[
            (0, submit(TOTAL, Target::None)),
            (
                1_000,
                finish(
                    1,
                    Exit::Failed {
                        error: "flaky".into(),
                        retryable: true,
                    },
                ),
            ),
            (30_000, connect("late")),
        ],
        None,
    );
    assert_eq!(
        r.decisions,
        vec![
            (ms(0), start(1, TOTAL, None, 1)),
            (
                ms(1_000),
                Action::Notify(Notice::Retrying {
                    task: TaskId(1),
                    attempt: 2,
                    at: ms(11_000)
                })
            ),
            (
                ms(6_000),
                ended(1, Outcome::TimedOut(CancelReason::Timeout))
            ),
        ]
    );
}

#[test]
fn a_total_deadline_passed_while_running_cancels_with_timeout() {
    let r = both(
        &[
            (0, submit(TOTAL, Target::None)),
            (7_000, finish(1, Exit::Completed)),
        ],
        None,
    );
    assert_eq!(
        r.decisions,
        vec![
            (ms(0), start(1, TOTAL, None, 1)),
            (ms(6_000), cancel(1, CancelReason::Timeout)),
            (
                ms(7_000),
                ended(1, Outcome::TimedOut(CancelReason::Timeout))
            ),
        ]
    );
}

#[test]
fn a_backoff_end_passed_by_a_late_input_restarts_at_its_instant() {
    let r = both(
        &[
            (0, submit(RETRY, Target::None)),
            (
                1_000,
                finish(
                    1,
                    Exit::Failed {
                        error: "flaky".into(),
                        retryable: true,
                    },
                ),
            ),
            (50_000, finish(1, Exit::Completed)),
        ],
        None,
    );
    assert_eq!(
        r.decisions,
        vec![
            (ms(0), start(1, RETRY, None, 1)),
            (
                ms(1_000),
                Action::Notify(Notice::Retrying {
                    task: TaskId(1),
                    attempt: 2,
                    at: ms(3_000)
                })
            ),
            (ms(3_000), start(1, RETRY, None, 2)),
            (ms(50_000), ended(1, Outcome::Completed)),
        ]
    );
    let v = r.k.task(TaskId(1)).unwrap();
    assert_eq!(v.started_at, Some(ms(3_000)));
}

#[test]
fn retention_passed_by_a_late_input_removes_at_its_instant() {
    let r = both(
        &[
            (0, submit(RETRY, Target::None)),
            (1_000, finish(1, Exit::Completed)),
            (30_000, connect("late")),
        ],
        None,
    );
    assert_eq!(
        r.decisions.last(),
        Some(&(
            ms(11_000),
            Action::Notify(Notice::Removed { task: TaskId(1) })
        ))
    );
    assert!(r.k.task(TaskId(1)).is_none());
}

#[test]
fn a_grace_and_a_session_cleanup_passed_by_a_late_reconnect() {
    let r = both(
        &[
            (0, connect("a")),
            (0, submit(HOLD, A)),
            (1_000, Input::Disconnect { name: "a".into() }),
            (20_000, connect("a")),
            (20_000, submit(HOLD, Target::Session(SessionId(2)))),
        ],
        None,
    );
    let at_of = |want: &Action| r.decisions.iter().find(|(_, a)| a == want).map(|(t, _)| *t);
    assert_eq!(at_of(&cancel(1, CancelReason::Disconnect)), Some(ms(1_000)));
    assert_eq!(at_of(&Action::Abort { task: TaskId(1) }), Some(ms(3_000)));
    assert_eq!(at_of(&ended(1, Outcome::Abandoned)), Some(ms(6_000)));
    // The task never reported: the name stays fenced and the new generation's task waits.
    assert_eq!(r.k.fenced(), vec![("a".to_owned(), vec![TaskId(1)])]);
    assert_eq!(r.k.task(TaskId(2)).unwrap().state, TaskState::Queued);
}

#[test]
fn an_input_exactly_at_a_deadline_comes_after_it() {
    // The finish of 1 and the queue deadline of 2 are both at 5 s: the deadline fires first.
    let r = both(
        &[
            (0, connect("a")),
            (0, submit(HOLD, A)),
            (0, submit(QUEUE, A)),
            (5_000, finish(1, Exit::Completed)),
        ],
        None,
    );
    assert_eq!(
        r.decisions[1],
        (
            ms(5_000),
            ended(2, Outcome::Rejected(RejectReason::QueueTimeout))
        )
    );
    assert!(
        !r.decisions
            .iter()
            .any(|(_, a)| *a == start(2, QUEUE, Some(1), 1)),
        "2 never starts"
    );
}

#[test]
fn a_refused_input_still_catches_up_and_changes_nothing_else() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(ms(0), "a").unwrap();
    let _h = k
        .submit(ms(0), Submit::new(HOLD, Target::Session(a)))
        .unwrap();
    let q = k
        .submit(ms(0), Submit::new(QUEUE, Target::Session(a)))
        .unwrap();
    while k.poll_action().is_some() {}
    let mut expected = k.clone();
    expected.handle_timeout(ms(9_000)).unwrap();
    // An unknown task at 9 s: refused, but the queue deadline at 5 s has fired.
    assert_eq!(
        k.cancel(ms(9_000), TaskId(99)),
        Err(Error::UnknownTask(TaskId(99)))
    );
    assert_eq!(k, expected);
    assert_eq!(k.task(q).unwrap().state, TaskState::Rejected);
    // Time going backwards changes nothing at all.
    let before = k.clone();
    assert!(matches!(
        k.cancel(ms(8_000), q),
        Err(Error::TimeWentBackwards { .. })
    ));
    assert_eq!(k, before);
}
