//! Restart: a recovered state taken over by a new process — interrupted attempts end
//! `Failed { interrupted, retryable }` and their retry policy applies; sessions wait detached for
//! their names; fences of abandoned work are lifted.

use baton_kernel::{
    Action, CancelReason, ClassConfig, Config, Duration, Error, INTERRUPTED, Instant, Kernel,
    Notice, Outcome, RejectReason, RetryPolicy, Submit, Target, TaskId, TaskState, preset,
};

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn started(actions: &[Action]) -> Vec<(TaskId, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { task, attempt, .. } => Some((*task, *attempt)),
            _ => None,
        })
        .collect()
}

/// One exclusive class with 3 attempts (1 s backoff, no jitter) and a 60 s queue wait, and one
/// background class with the same policy.
fn config() -> Config {
    let retry = RetryPolicy {
        jitter_permille: 0,
        ..RetryPolicy::exponential(3, Duration::from_secs(1), Duration::from_secs(1))
    };
    Config::new(vec![
        ClassConfig::exclusive("op", 5)
            .with_queue_timeout(Duration::from_secs(60))
            .with_retry(retry.clone())
            .with_grace(Duration::from_secs(5)),
        ClassConfig::background("bg", 5).with_retry(retry),
    ])
}

/// Round-trips the state through its snapshot, as a store recovering it would.
fn recovered(k: &Kernel) -> Kernel {
    serde_json::from_str(&serde_json::to_string(k).unwrap()).unwrap()
}

#[test]
fn an_interrupted_attempt_retries_on_its_session_once_the_name_connects_again() {
    let mut k = Kernel::new(config()).unwrap();
    let op = k.class_id("op").unwrap();
    let s = k.connect(at(0), "acct").unwrap();
    let t = k
        .submit(at(0), Submit::new(op, Target::Session(s)))
        .unwrap();
    let queued = k
        .submit(at(0), Submit::new(op, Target::Session(s)))
        .unwrap();
    assert_eq!(started(&drain(&mut k)), vec![(t, 1)]);

    let mut k = recovered(&k);
    k.restart(at(10)).unwrap();
    let actions = drain(&mut k);
    assert!(
        actions.contains(&Action::Notify(Notice::Retrying {
            task: t,
            attempt: 2,
            at: at(11)
        })),
        "{actions:?}"
    );
    assert_eq!(
        started(&actions),
        vec![],
        "the session's connection is gone"
    );
    let view = k.task(t).unwrap();
    assert_eq!(view.state, TaskState::Backoff);
    assert_eq!(view.error.as_deref(), Some(INTERRUPTED));

    // The backoff ends; the retry waits in the detached session, behind nothing.
    k.handle_timeout(at(11)).unwrap();
    assert_eq!(started(&drain(&mut k)), vec![]);
    assert_eq!(k.task(t).unwrap().state, TaskState::Queued);
    assert_eq!(k.task(queued).unwrap().state, TaskState::Queued);

    // The name comes back: the same generation, re-attached. The retry re-entered the queue
    // after the task that waited all along, so that one goes first (FIFO within a priority).
    assert_eq!(k.connect(at(12), "acct").unwrap(), s);
    let starts = started(&drain(&mut k));
    assert_eq!(starts.len(), 1);
    assert_eq!(starts, vec![(queued, 1)]);
    assert_eq!(
        k.connect(at(12), "acct"),
        Err(Error::AlreadyConnected("acct".into())),
        "attached again: a second connect is the usual error"
    );
}

#[test]
fn a_detached_session_rejects_its_queue_at_the_queue_deadline_if_its_name_never_returns() {
    let mut k = Kernel::new(config()).unwrap();
    let op = k.class_id("op").unwrap();
    let s = k.connect(at(0), "acct").unwrap();
    let first = k
        .submit(at(0), Submit::new(op, Target::Session(s)))
        .unwrap();
    let waiting = k
        .submit(at(0), Submit::new(op, Target::Session(s)))
        .unwrap();
    assert_eq!(started(&drain(&mut k)), vec![(first, 1)]);
    k.restart(at(1)).unwrap();
    drain(&mut k);
    assert_eq!(k.task(waiting).unwrap().state, TaskState::Queued);
    k.handle_timeout(at(60)).unwrap();
    let actions = drain(&mut k);
    assert!(actions.contains(&Action::Notify(Notice::Finished {
        task: waiting,
        outcome: Outcome::Rejected(RejectReason::QueueTimeout)
    })));
}

#[test]
fn an_interrupted_attempt_with_no_attempt_left_ends_failed() {
    let mut k = Kernel::new(preset::session_manager()).unwrap();
    let send = k.class_id("sending").unwrap();
    let s = k.connect(at(0), "acct").unwrap();
    let t = k
        .submit(at(0), Submit::new(send, Target::Session(s)))
        .unwrap();
    drain(&mut k);
    k.restart(at(1)).unwrap();
    assert!(drain(&mut k).contains(&Action::Notify(Notice::Finished {
        task: t,
        outcome: Outcome::Failed
    })));
    assert_eq!(k.counts().get(TaskState::Failed), 1);
}

#[test]
fn background_work_restarts_without_waiting_for_any_session() {
    let mut k = Kernel::new(config()).unwrap();
    let bg = k.class_id("bg").unwrap();
    let t = k.submit(at(0), Submit::new(bg, Target::None)).unwrap();
    assert_eq!(started(&drain(&mut k)), vec![(t, 1)]);
    k.restart(at(5)).unwrap();
    drain(&mut k);
    k.handle_timeout(at(6)).unwrap();
    assert_eq!(started(&drain(&mut k)), vec![(t, 2)]);
}

#[test]
fn a_cancelling_attempt_ends_as_its_cancellation_says() {
    let mut k = Kernel::new(config()).unwrap();
    let op = k.class_id("op").unwrap();
    let s = k.connect(at(0), "acct").unwrap();
    let t = k
        .submit(at(0), Submit::new(op, Target::Session(s)))
        .unwrap();
    drain(&mut k);
    k.cancel(at(1), t).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Cancel {
            task: t,
            reason: CancelReason::User
        }]
    );
    k.restart(at(2)).unwrap();
    assert!(drain(&mut k).contains(&Action::Notify(Notice::Finished {
        task: t,
        outcome: Outcome::Cancelled(CancelReason::User)
    })));
}

#[test]
fn fences_of_abandoned_work_are_lifted_and_a_new_generation_runs() {
    let mut k = Kernel::new(preset::session_manager()).unwrap();
    let send = k.class_id("sending").unwrap();
    let acct = k.connect(at(0), "acct").unwrap();
    let stubborn = k
        .submit(at(0), Submit::new(send, Target::Session(acct)))
        .unwrap();
    drain(&mut k);
    k.disconnect(at(1), "acct").unwrap();
    k.handle_timeout(at(6)).unwrap();
    drain(&mut k);
    assert!(k.task(stubborn).is_none(), "abandoned and removed");
    assert_eq!(k.fenced(), vec![("acct".to_owned(), vec![stubborn])]);
    let again = k.connect(at(7), "acct").unwrap();
    let next = k
        .submit(at(7), Submit::new(send, Target::Session(again)))
        .unwrap();
    assert_eq!(started(&drain(&mut k)), vec![], "fenced");

    let mut k = recovered(&k);
    k.restart(at(8)).unwrap();
    drain(&mut k);
    assert_eq!(
        k.fenced(),
        vec![],
        "the stubborn future is gone with its process"
    );
    assert_eq!(k.connect(at(9), "acct").unwrap(), again);
    assert_eq!(started(&drain(&mut k)), vec![(next, 1)]);
}

#[test]
fn a_detached_session_survives_a_snapshot_and_can_still_be_disconnected() {
    let mut k = Kernel::new(config()).unwrap();
    let op = k.class_id("op").unwrap();
    let s = k.connect(at(0), "acct").unwrap();
    let waiting = k
        .submit(at(0), Submit::new(op, Target::Session(s)))
        .unwrap();
    k.restart(at(0)).unwrap();
    drain(&mut k);
    let mut k = recovered(&k);
    assert_eq!(
        started(&drain(&mut k)),
        vec![],
        "still detached after a snapshot"
    );
    k.disconnect(at(1), "acct").unwrap();
    assert!(drain(&mut k).contains(&Action::Notify(Notice::Finished {
        task: waiting,
        outcome: Outcome::Rejected(RejectReason::SessionClosed)
    })));
    assert_ne!(
        k.connect(at(2), "acct").unwrap(),
        s,
        "a new generation after a disconnect"
    );
}

#[test]
fn restart_refuses_time_going_backwards_and_changes_nothing() {
    let mut k = Kernel::new(config()).unwrap();
    k.connect(at(5), "acct").unwrap();
    let before = serde_json::to_string(&k).unwrap();
    assert!(matches!(
        k.restart(at(1)),
        Err(Error::TimeWentBackwards { .. })
    ));
    assert_eq!(serde_json::to_string(&k).unwrap(), before);
}
