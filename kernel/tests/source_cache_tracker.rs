//! The cache's async task tracker (`Task-02` in `shared/sources/`), restated against the kernel
//! with `preset::cache_tracker()`: register a task, update its progress, complete or fail it,
//! poll its status, and clean up finished tasks by age (retention 300 s, swept every 60 s).

use std::collections::BTreeMap;

use baton_kernel::{
    Action, ClassId, Duration, Error, Exit, Instant, Kernel, Notice, Outcome, Progress, Submit,
    Target, TaskId, TaskState, preset,
};

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn cache() -> (Kernel, ClassId) {
    let k = Kernel::new(preset::cache_tracker()).unwrap();
    let fill = k.class_id("cache_fill").unwrap();
    (k, fill)
}

/// `register_task(ref_id, task)`: the tracker learns of a background task.
fn register(k: &mut Kernel, now: Instant, fill: ClassId) -> TaskId {
    let id = k.submit(now, Submit::new(fill, Target::None)).unwrap();
    assert!(drain(k).contains(&Action::Start {
        task: id,
        class: fill,
        session: None,
        attempt: 1
    }));
    id
}

fn removed(actions: &[Action]) -> Vec<TaskId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(Notice::Removed { task }) => Some(*task),
            _ => None,
        })
        .collect()
}

#[test]
fn preset_matches_the_source_numbers() {
    let (k, fill) = cache();
    let c = k.config();
    assert_eq!(c.classes[fill.index()].retention, Duration::from_secs(300));
    assert_eq!(c.cleanup_interval, Duration::from_secs(60));
    assert!(!c.classes[fill.index()].exclusive);
}

#[test]
fn register_then_poll_status() {
    let (mut k, fill) = cache();
    let t = register(&mut k, at(1), fill);
    let status = k.task(t).expect("get_task_status returns the task");
    assert_eq!(status.state, TaskState::Running);
    assert_eq!(status.progress, Progress::default());
    assert_eq!(status.created_at, at(1));
    // get_task_status of an unknown ref returns None.
    assert!(k.task(TaskId(42)).is_none());
}

#[test]
fn update_task_progress() {
    let (mut k, fill) = cache();
    let t = register(&mut k, at(0), fill);
    for (i, msg) in ["fetching", "parsing", "storing"].iter().enumerate() {
        let p = Progress {
            current: i as u64 + 1,
            total: Some(3),
            message: (*msg).into(),
        };
        k.progress(at(i as u64 + 1), t, p.clone()).unwrap();
        assert_eq!(k.task(t).unwrap().progress, p);
    }
    // Progress without a known total is fine; current above total is refused.
    k.progress(
        at(5),
        t,
        Progress {
            current: 10,
            total: None,
            message: String::new(),
        },
    )
    .unwrap();
    assert_eq!(
        k.progress(
            at(5),
            t,
            Progress {
                current: 4,
                total: Some(3),
                message: String::new()
            }
        ),
        Err(Error::BadProgress {
            current: 4,
            total: 3
        })
    );
    assert_eq!(k.task(t).unwrap().progress.current, 10);
}

#[test]
fn complete_task() {
    let (mut k, fill) = cache();
    let t = register(&mut k, at(0), fill);
    k.finished(at(2), t, Exit::Completed).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Notify(Notice::Finished {
            task: t,
            outcome: Outcome::Completed
        })]
    );
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Completed);
    assert_eq!(v.finished_at, Some(at(2)));
    // Progress after completion is refused.
    assert!(matches!(
        k.progress(at(3), t, Progress::default()),
        Err(Error::NotRunning { .. })
    ));
}

#[test]
fn fail_task_keeps_the_error() {
    let (mut k, fill) = cache();
    let t = register(&mut k, at(0), fill);
    k.finished(
        at(2),
        t,
        Exit::Failed {
            error: "upstream returned 503".into(),
            retryable: false,
        },
    )
    .unwrap();
    drain(&mut k);
    let v = k.task(t).unwrap();
    assert_eq!(v.state, TaskState::Failed);
    assert_eq!(v.error.as_deref(), Some("upstream returned 503"));
    assert_eq!(v.finished_at, Some(at(2)));
}

#[test]
fn long_error_text_is_truncated_not_refused() {
    let (mut k, fill) = cache();
    let t = register(&mut k, at(0), fill);
    let max = k.config().limits.error_len_max as usize;
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "é".repeat(max),
            retryable: false,
        },
    )
    .unwrap();
    drain(&mut k);
    let error = k.task(t).unwrap().error.unwrap();
    assert!(error.len() <= max);
    assert!(error.len() >= max - 1);
    assert!(error.chars().all(|c| c == 'é'));
}

#[test]
fn cleanup_removes_finished_tasks_by_age() {
    let (mut k, fill) = cache();
    let completed = register(&mut k, at(10), fill);
    let failed = register(&mut k, at(10), fill);
    let active = register(&mut k, at(10), fill);
    k.finished(at(20), completed, Exit::Completed).unwrap();
    k.finished(
        at(50),
        failed,
        Exit::Failed {
            error: "e".into(),
            retryable: false,
        },
    )
    .unwrap();
    drain(&mut k);
    // Up to 300 s after finishing, both are still there for debugging.
    k.handle_timeout(Instant::from_nanos(at(320).as_nanos() - 1))
        .unwrap();
    assert!(removed(&drain(&mut k)).is_empty());
    assert!(k.task(completed).is_some());
    // The sweep at 360 s removes the completed one (finished 20 s + 300 s = 320 s, swept at the
    // next 60 s mark) and the failed one (50 s + 300 s = 350 s, same sweep).
    k.handle_timeout(Instant::from_nanos(at(360).as_nanos() - 1))
        .unwrap();
    let early = drain(&mut k);
    k.handle_timeout(at(360)).unwrap();
    let actions = drain(&mut k);
    let mut gone = removed(&early);
    gone.extend(removed(&actions));
    assert_eq!(gone, vec![completed, failed]);
    assert!(removed(&early).is_empty(), "one batched sweep at 360 s");
    assert!(k.task(completed).is_none());
    assert!(k.task(failed).is_none());
    // The active task is never removed by age; its own run timeout (300 s) cancelled it.
    let v = k.task(active).unwrap();
    assert_eq!(v.state, TaskState::Cancelling);
    assert_eq!(k.registry_len(), 1);
}

/// Fires every deadline up to `to` at its instant (as a driver sleeping on `poll_timeout`
/// would), noting when each record leaves the registry.
fn advance(k: &mut Kernel, to: Instant, gone_at: &mut BTreeMap<TaskId, Instant>) {
    while let Some(next) = k.poll_timeout().filter(|n| *n <= to) {
        k.handle_timeout(next).unwrap();
        for t in removed(&drain(k)) {
            gone_at.insert(t, next);
        }
    }
    k.handle_timeout(to).unwrap();
    drain(k);
}

#[test]
fn each_record_lives_within_its_retention_window() {
    let (mut k, fill) = cache();
    let mut finished_at = Vec::new();
    let mut gone_at = BTreeMap::new();
    let mut now = at(0);
    for i in 0..20u64 {
        let t = register(&mut k, now, fill);
        now = now + Duration::from_millis(7_919 * (i + 1));
        advance(&mut k, now, &mut gone_at);
        k.finished(now, t, Exit::Completed).unwrap();
        drain(&mut k);
        finished_at.push((t, now));
    }
    advance(&mut k, now + Duration::from_secs(400), &mut gone_at);
    assert_eq!(k.registry_len(), 0);
    for (t, done) in finished_at {
        let gone = gone_at[&t];
        assert!(gone >= done + Duration::from_secs(300), "{t} removed early");
        assert!(gone <= done + Duration::from_secs(360), "{t} removed late");
        assert_eq!(
            gone.as_nanos() % 60_000_000_000,
            0,
            "removed by the periodic sweep"
        );
    }
}
