//! The background job manager (`Task 6.2` in `shared/sources/`), restated against the kernel
//! with `preset::job_manager()`: enqueue with priority 1–10, status tracking through pending /
//! running / completed / failed / cancelled with timestamps, listing with filters and pages,
//! counts, cancel, and 3 retries with exponential backoff and jitter.

use baton_kernel::{
    Action, CancelReason, ClassId, Config, Duration, Exit, Instant, Kernel, ListFilter, Notice,
    Outcome, Submit, Target, TaskId, TaskState, preset,
};

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn jobs(config: Config) -> (Kernel, ClassId) {
    let k = Kernel::new(config).unwrap();
    let job = k.class_id("job").unwrap();
    (k, job)
}

/// The preset with a single worker, so queued jobs wait and their order shows.
fn one_worker() -> Config {
    let mut c = preset::job_manager();
    c.classes[0].limit = Some(1);
    c
}

fn enqueue(k: &mut Kernel, now: Instant, job: ClassId, priority: u8) -> TaskId {
    k.submit(
        now,
        Submit {
            priority: Some(priority),
            ..Submit::new(job, Target::None)
        },
    )
    .unwrap()
}

fn fail(k: &mut Kernel, now: Instant, t: TaskId, error: &str) -> Vec<Action> {
    k.finished(
        now,
        t,
        Exit::Failed {
            error: error.into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(k)
}

#[test]
fn preset_matches_the_source_numbers() {
    let (k, job) = jobs(preset::job_manager());
    let class = &k.config().classes[job.index()];
    assert_eq!(class.priority, 5, "default priority 5");
    assert_eq!(
        class.retry.max_attempts, 4,
        "the first attempt and 3 retries"
    );
    assert!(!class.exclusive);
}

#[test]
fn enqueue_with_priority_runs_high_priority_first_then_fifo() {
    let (mut k, job) = jobs(one_worker());
    let first = enqueue(&mut k, at(0), job, 1); // takes the worker at once
    let priorities = [3u8, 10, 5, 1, 10, 8, 5];
    let ids: Vec<TaskId> = priorities
        .iter()
        .map(|p| enqueue(&mut k, at(1), job, *p))
        .collect();
    drain(&mut k);
    let mut order = Vec::new();
    let mut current = first;
    for i in 0..=ids.len() {
        k.finished(at(2 + i as u64), current, Exit::Completed)
            .unwrap();
        let started: Vec<TaskId> = drain(&mut k)
            .iter()
            .filter_map(|a| match a {
                Action::Start { task, .. } => Some(*task),
                _ => None,
            })
            .collect();
        match started.as_slice() {
            [t] => {
                order.push(*t);
                current = *t;
            }
            [] => break,
            more => panic!("one worker started {more:?}"),
        }
    }
    let want = vec![ids[1], ids[4], ids[5], ids[2], ids[6], ids[0], ids[3]];
    assert_eq!(order, want);
    for (id, p) in ids.iter().zip(priorities) {
        assert_eq!(k.task(*id).unwrap().priority, p);
    }
}

#[test]
fn status_tracking_with_timestamps() {
    let (mut k, job) = jobs(one_worker());
    let busy = enqueue(&mut k, at(0), job, 5);
    let t = enqueue(&mut k, at(1), job, 5);
    drain(&mut k);
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Queued, "pending");
    assert_eq!(
        (v.created_at, v.started_at, v.finished_at),
        (at(1), None, None)
    );
    k.finished(at(3), busy, Exit::Completed).unwrap();
    drain(&mut k);
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Running);
    assert_eq!(v.started_at, Some(at(3)));
    k.finished(at(7), t, Exit::Completed).unwrap();
    drain(&mut k);
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Completed);
    assert_eq!(v.finished_at, Some(at(7)));
    assert_eq!(v.outcome, Some(Outcome::Completed));
    assert_eq!(v.attempt, 1, "retry count 0");
}

#[test]
fn three_retries_with_exponential_backoff_then_failed() {
    let (mut k, job) = jobs(preset::job_manager());
    let t = enqueue(&mut k, at(0), job, 5);
    drain(&mut k);
    let mut now = at(10);
    let mut delays = Vec::new();
    for attempt in 1..=3u32 {
        let actions = fail(&mut k, now, t, &format!("smtp error {attempt}"));
        let [
            Action::Notify(Notice::Retrying {
                task,
                attempt: next,
                at: until,
            }),
        ] = actions.as_slice()
        else {
            panic!("expected a Retrying notice, got {actions:?}");
        };
        assert_eq!((*task, *next), (t, attempt + 1));
        let v = k.task(t).unwrap();
        assert_eq!(v.state, TaskState::Backoff);
        assert_eq!(v.attempt, attempt + 1);
        assert_eq!(
            v.error.as_deref(),
            Some(format!("smtp error {attempt}").as_str())
        );
        delays.push(until.as_nanos() - now.as_nanos());
        // Base 1 s doubling, 10 % jitter that only shortens: within [0.9·d, d].
        let nominal = 1_000_000_000u64 << (attempt - 1);
        let delay = until.as_nanos() - now.as_nanos();
        assert!(
            delay <= nominal && delay >= nominal / 10 * 9,
            "attempt {attempt}: delay {delay} outside [{}, {nominal}]",
            nominal / 10 * 9
        );
        // Nothing restarts before the backoff ends.
        k.handle_timeout(Instant::from_nanos(until.as_nanos() - 1))
            .unwrap();
        assert_eq!(drain(&mut k), vec![]);
        k.handle_timeout(*until).unwrap();
        assert_eq!(
            drain(&mut k),
            vec![Action::Start {
                task: t,
                class: job,
                session: None,
                attempt: attempt + 1
            }]
        );
        now = *until + Duration::from_secs(1);
    }
    let actions = fail(&mut k, now, t, "smtp error 4");
    assert_eq!(
        actions,
        vec![Action::Notify(Notice::Finished {
            task: t,
            outcome: Outcome::Failed
        })]
    );
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Failed);
    assert_eq!(v.attempt, 4);
    assert_eq!(v.error.as_deref(), Some("smtp error 4"));
    let totals = &k.metrics().classes[job.index()].totals;
    assert_eq!(totals.retries, 3);
    assert_eq!(totals.started, 4);
    assert_eq!(totals.ended(Outcome::Failed), 1);
    assert_eq!(delays.len(), 3);
}

#[test]
fn backoff_is_capped_at_60_seconds() {
    let mut c = preset::job_manager();
    c.classes[0].retry.max_attempts = 10;
    let (mut k, job) = jobs(c);
    let t = enqueue(&mut k, at(0), job, 5);
    drain(&mut k);
    let mut now = at(1);
    for attempt in 1..10u32 {
        let actions = fail(&mut k, now, t, "e");
        let Some(Action::Notify(Notice::Retrying { at: until, .. })) = actions.first() else {
            panic!("no retry: {actions:?}");
        };
        let delay = until.as_nanos() - now.as_nanos();
        let nominal = (1_000_000_000u64 << (attempt - 1)).min(60_000_000_000);
        assert!(
            delay <= nominal,
            "attempt {attempt}: {delay} above {nominal}"
        );
        assert!(
            delay >= nominal / 10 * 9,
            "attempt {attempt}: {delay} too short"
        );
        assert!(delay <= 60_000_000_000, "the cap holds");
        k.handle_timeout(*until).unwrap();
        drain(&mut k);
        now = *until;
    }
}

#[test]
fn jitter_comes_from_the_seeded_generator() {
    let delays = |seed: u64| -> Vec<u64> {
        let mut c = preset::job_manager();
        c.seed = seed;
        let (mut k, job) = jobs(c);
        let ids: Vec<TaskId> = (0..8).map(|_| enqueue(&mut k, at(0), job, 5)).collect();
        drain(&mut k);
        ids.iter()
            .map(|t| match fail(&mut k, at(1), *t, "e").first() {
                Some(Action::Notify(Notice::Retrying { at: until, .. })) => {
                    until.as_nanos() - at(1).as_nanos()
                }
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(delays(1), delays(1), "same seed, same delays");
    assert_ne!(delays(1), delays(2), "another seed draws other jitter");
    let d = delays(3);
    assert!(
        d.iter().any(|x| *x != d[0]),
        "jitter varies between draws: {d:?}"
    );
}

#[test]
fn a_non_retryable_failure_fails_at_once() {
    let (mut k, job) = jobs(preset::job_manager());
    let t = enqueue(&mut k, at(0), job, 5);
    drain(&mut k);
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "bad input".into(),
            retryable: false,
        },
    )
    .unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Notify(Notice::Finished {
            task: t,
            outcome: Outcome::Failed
        })]
    );
}

#[test]
fn list_with_filters_and_pagination_and_counts() {
    let (mut k, job) = jobs(one_worker());
    let ids: Vec<TaskId> = (0..12)
        .map(|i| enqueue(&mut k, at(0), job, 1 + i % 10))
        .collect();
    drain(&mut k);
    k.finished(at(1), ids[0], Exit::Completed).unwrap();
    drain(&mut k);
    let running: Vec<TaskId> = k
        .list(
            &ListFilter {
                state: Some(TaskState::Running),
                ..ListFilter::default()
            },
            None,
            50,
        )
        .items
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(running.len(), 1);
    k.finished(
        at(2),
        running[0],
        Exit::Failed {
            error: "x".into(),
            retryable: false,
        },
    )
    .unwrap();
    drain(&mut k);
    // get_task_count(status=...)
    let c = k.counts();
    assert_eq!(c.get(TaskState::Completed), 1);
    assert_eq!(c.get(TaskState::Failed), 1);
    assert_eq!(c.get(TaskState::Running), 1);
    assert_eq!(c.get(TaskState::Queued), 9);
    assert_eq!(c.total(), 12);
    // list_tasks(status=pending, task_type=job, limit=4), page by page.
    let pending = ListFilter {
        state: Some(TaskState::Queued),
        class: Some(job),
        ..ListFilter::default()
    };
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = k.list(&pending, after, 4);
        pages += 1;
        assert!(page.items.len() <= 4);
        assert!(page.items.iter().all(|v| v.state == TaskState::Queued));
        seen.extend(page.items.iter().map(|v| v.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 9);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered by id");
}

#[test]
fn cancel_a_pending_and_a_running_job() {
    let (mut k, job) = jobs(one_worker());
    let running = enqueue(&mut k, at(0), job, 5);
    let pending = enqueue(&mut k, at(0), job, 5);
    drain(&mut k);
    k.cancel(at(1), pending).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Notify(Notice::Finished {
            task: pending,
            outcome: Outcome::Cancelled(CancelReason::User)
        })]
    );
    k.cancel(at(1), running).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Cancel {
            task: running,
            reason: CancelReason::User
        }]
    );
    assert_eq!(k.task(running).unwrap().state, TaskState::Cancelling);
    k.finished(at(2), running, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(k.task(running).unwrap().state, TaskState::Cancelled);
    assert_eq!(k.counts().get(TaskState::Cancelled), 2);
}

#[test]
fn a_retry_waits_behind_jobs_enqueued_during_its_backoff() {
    let (mut k, job) = jobs(one_worker());
    let flaky = enqueue(&mut k, at(0), job, 5);
    drain(&mut k);
    let retry_at = match fail(&mut k, at(1), flaky, "e").first() {
        Some(Action::Notify(Notice::Retrying { at, .. })) => *at,
        other => panic!("{other:?}"),
    };
    // The worker is free during the backoff: another job takes it, a third waits.
    let b = enqueue(&mut k, at(1), job, 5);
    let c = enqueue(&mut k, at(1), job, 5);
    drain(&mut k);
    k.handle_timeout(retry_at).unwrap();
    drain(&mut k);
    k.finished(retry_at, b, Exit::Completed).unwrap();
    let started: Vec<TaskId> = drain(&mut k)
        .iter()
        .filter_map(|a| match a {
            Action::Start { task, .. } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![c], "the retry re-entered behind c");
    // A higher priority is still honoured on re-entry.
    let (mut k, job) = jobs(one_worker());
    let flaky = enqueue(&mut k, at(0), job, 9);
    drain(&mut k);
    let retry_at = match fail(&mut k, at(1), flaky, "e").first() {
        Some(Action::Notify(Notice::Retrying { at, .. })) => *at,
        other => panic!("{other:?}"),
    };
    let b = enqueue(&mut k, at(1), job, 5);
    let _c = enqueue(&mut k, at(1), job, 5);
    k.handle_timeout(retry_at).unwrap();
    drain(&mut k);
    k.finished(retry_at, b, Exit::Completed).unwrap();
    assert!(drain(&mut k).contains(&Action::Start {
        task: flaky,
        class: job,
        session: None,
        attempt: 2
    }));
}
