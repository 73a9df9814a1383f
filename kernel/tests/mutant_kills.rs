//! Tests added for mutants that `scripts/mutants.sh` found surviving the rest of the suite (see
//! docs/mutants.md): each pins down one observable behaviour the other tests left free.

use baton_kernel::{
    Action, CLASSES_MAX, CancelReason, ClassConfig, ClassId, Config, ConfigError, Duration, Error,
    Exit, Histogram, Instant, Kernel, Outcome, Progress, RetryPolicy, Submit, Target, TaskId,
    TaskState,
};

const IO: ClassId = ClassId(0);

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn drain(k: &mut Kernel) {
    while k.poll_action().is_some() {}
    k.check_invariants().expect("invariants hold");
}

/// A snapshot of `k` as a JSON value, for doctoring.
fn snapshot(k: &Kernel) -> serde_json::Value {
    serde_json::to_value(k).unwrap()
}

/// Deserializes a (doctored) snapshot, returning the error text if it is refused.
fn restore(v: &serde_json::Value) -> Result<Kernel, String> {
    serde_json::from_value::<Kernel>(v.clone()).map_err(|e| e.to_string())
}

/// config.rs `Config::validate`: exactly `CLASSES_MAX` classes is allowed, one more is not.
#[test]
fn exactly_classes_max_classes_is_a_valid_config() {
    let classes = |n: usize| -> Vec<ClassConfig> {
        (0..n)
            .map(|i| ClassConfig::exclusive(&format!("c{i}"), 1))
            .collect()
    };
    let k = Kernel::new(Config::new(classes(CLASSES_MAX))).unwrap();
    assert_eq!(
        k.class_id(&format!("c{}", CLASSES_MAX - 1)),
        Some(ClassId(63))
    );
    assert!(matches!(
        Kernel::new(Config::new(classes(CLASSES_MAX + 1))),
        Err(ConfigError::TooManyClasses { count: 65, max: 64 })
    ));
}

/// Snapshots are canonical: they carry the records' armed deadlines, not the timer index, and the
/// index is rebuilt on load (the next deadline comes back the same).
#[test]
fn a_snapshot_carries_deadlines_in_the_records_and_rebuilds_the_timers() {
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5).with_run_timeout(Duration::from_secs(5)),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    k.submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    let v = snapshot(&k);
    assert!(v.get("timers").is_none(), "no timer index in {v}");
    let back = restore(&v).unwrap();
    assert_eq!(back.poll_timeout(), Some(at(5)));
    assert_eq!(back.poll_timeout(), k.poll_timeout());
}

/// A kernel with session `a` running one exclusive task (run timeout 5 s), in group `g`.
fn one_running() -> Kernel {
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5).with_run_timeout(Duration::from_secs(5)),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    k.join_group(at(0), "g", a).unwrap();
    k.submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    k
}

/// invariants.rs `check_shape`: a snapshot whose configuration is invalid, or whose task claims
/// attempt 0, is refused.
#[test]
fn a_snapshot_with_an_invalid_config_or_attempt_zero_is_refused() {
    let k = one_running();
    let v = snapshot(&k);
    assert_eq!(restore(&v).unwrap(), k);

    let mut bad = v.clone();
    bad["config"]["limits"]["page_len_max"] = 0.into();
    let err = restore(&bad).unwrap_err();
    assert!(err.contains("config"), "{err}");

    let mut bad = v.clone();
    bad["tasks"][0]["attempt"] = 0.into();
    let err = restore(&bad).unwrap_err();
    assert!(err.contains("attempt 0"), "{err}");
}

/// invariants.rs `check_sessions`: a snapshot whose session forgets the task holding it, or
/// whose name index points at another name, is refused.
#[test]
fn a_snapshot_with_a_wrong_session_holder_or_name_is_refused() {
    let k = one_running();
    let v = snapshot(&k);

    let mut bad = v.clone();
    assert_eq!(bad["sessions"][0]["holder"], 1);
    bad["sessions"][0]["holder"] = serde_json::Value::Null;
    let err = restore(&bad).unwrap_err();
    assert!(err.contains("holder"), "{err}");

    let mut bad = v.clone();
    bad["session_names"] = serde_json::json!({ "b": 1 });
    let err = restore(&bad).unwrap_err();
    assert!(err.contains("name b maps to"), "{err}");
}

/// kernel.rs `check_attempt`: once a task has been retried, reports for its first attempt are
/// refused as stale and change nothing; reports for the running attempt are accepted.
#[test]
fn reports_for_an_earlier_attempt_are_refused_as_stale() {
    let retry = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
        jitter_permille: 0,
    };
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_retry(retry),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    let failed = Exit::Failed {
        error: "flaky".into(),
        retryable: true,
    };
    // The running attempt's reports are accepted.
    k.progress_attempt(at(1), t, 1, Progress::default())
        .unwrap();
    k.finished_attempt(at(1), t, 1, failed.clone()).unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().state, TaskState::Backoff);
    k.handle_timeout(at(2)).unwrap();
    let started: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    assert!(
        started.contains(&Action::Start {
            task: t,
            class: IO,
            session: Some(a),
            attempt: 2
        }),
        "{started:?}"
    );
    // Inputs catch the clock up first; compare states at the same instant.
    k.handle_timeout(at(3)).unwrap();
    let before = serde_json::to_string(&k).unwrap();
    let stale = Error::StaleReport {
        task: t,
        attempt: 1,
        current: 2,
    };
    assert_eq!(
        k.progress_attempt(at(3), t, 1, Progress::default()),
        Err(stale.clone())
    );
    assert_eq!(k.finished_attempt(at(3), t, 1, failed), Err(stale));
    assert_eq!(serde_json::to_string(&k).unwrap(), before);
    assert_eq!(k.task(t).unwrap().state, TaskState::Running);
    k.finished_attempt(at(3), t, 2, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().outcome, Some(Outcome::Completed));
}

/// metrics.rs `Histogram::record` and `quantile_upper_bound` (otherwise only exercised by a
/// doctest, which the mutation run skips): power-of-two buckets and the bucket-top quantiles.
#[test]
fn histogram_buckets_and_quantile_bounds() {
    let empty = Histogram::default();
    assert_eq!(empty.count(), 0);
    assert_eq!(empty.quantile_upper_bound(500), Duration::ZERO);
    assert_eq!(empty.quantile_upper_bound(1000), Duration::ZERO);

    let mut h = Histogram::default();
    for ns in [0, 1, 1000, 3_000_000_000] {
        h.record(Duration::from_nanos(ns));
    }
    assert_eq!(h.count(), 4);
    assert_eq!(h.sum(), Duration::from_nanos(3_000_001_001));
    let nonzero: Vec<(usize, u64)> = h
        .buckets()
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| n > 0)
        .collect();
    // 0 → bucket 0; 1 → [1, 2); 1000 → [512, 1024); 3 s → [2^31, 2^32).
    assert_eq!(nonzero, vec![(0, 1), (1, 1), (10, 1), (32, 1)]);
    assert_eq!(h.quantile_upper_bound(0), Duration::ZERO);
    assert_eq!(h.quantile_upper_bound(250), Duration::ZERO);
    assert_eq!(h.quantile_upper_bound(500), Duration::from_nanos(2));
    assert_eq!(h.quantile_upper_bound(750), Duration::from_nanos(1024));
    assert_eq!(h.quantile_upper_bound(1000), Duration::from_nanos(1 << 32));

    let mut top = Histogram::default();
    top.record(Duration::from_nanos(u64::MAX));
    assert_eq!(top.buckets()[64], 1);
    assert_eq!(
        top.quantile_upper_bound(500),
        Duration::from_nanos(u64::MAX)
    );
}

/// task.rs `CancelReason::name` (and `Outcome::name`): the trace spellings, as `explain` shows
/// them.
#[test]
fn cancel_reasons_and_outcomes_have_their_trace_names() {
    let reasons = [
        (CancelReason::User, "user"),
        (CancelReason::Timeout, "timeout"),
        (CancelReason::Stalled, "stalled"),
        (CancelReason::Disconnect, "disconnect"),
        (CancelReason::Shutdown, "shutdown"),
        (CancelReason::Parent, "parent"),
    ];
    for (r, name) in reasons {
        assert_eq!(r.name(), name);
    }
    assert_eq!(Outcome::Completed.name(), "completed");
    assert_eq!(Outcome::TimedOut(CancelReason::Stalled).name(), "timed_out");

    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_grace(Duration::from_secs(2)),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    k.cancel(at(1), t).unwrap();
    drain(&mut k);
    assert_eq!(k.explain(t).unwrap().to_string(), "cancelling (user)");
    k.handle_timeout(at(3)).unwrap();
    drain(&mut k);
    let text = k.explain(t).unwrap().to_string();
    assert!(
        text.starts_with("cancelling (user), stuck: abort requested at "),
        "{text}"
    );
}

/// time.rs `Duration::is_zero`.
#[test]
fn only_the_zero_duration_is_zero() {
    assert!(Duration::ZERO.is_zero());
    assert!(Duration::from_nanos(0).is_zero());
    assert!(!Duration::from_nanos(1).is_zero());
    assert!(!Duration::from_secs(3).is_zero());
}

/// kernel.rs `check_name`: a session or group name of exactly `name_len_max` bytes is accepted,
/// one byte more is refused.
#[test]
fn names_of_exactly_the_maximum_length_are_accepted() {
    let mut c = Config::new(vec![ClassConfig::exclusive("io", 5)]);
    c.limits.name_len_max = 4;
    let mut k = Kernel::new(c).unwrap();
    let s = k.connect(at(0), "abcd").unwrap();
    assert_eq!(k.session_id("abcd"), Some(s));
    assert_eq!(
        k.connect(at(0), "abcde"),
        Err(Error::BadName("abcde".into()))
    );
    let g = k.join_group(at(0), "wxyz", s).unwrap();
    assert_eq!(k.group_id("wxyz"), Some(g));
    assert_eq!(
        k.join_group(at(0), "vwxyz", s),
        Err(Error::BadName("vwxyz".into()))
    );
}

/// fence.rs `Fences::names_len`: `metrics().fenced_names` counts the names fenced by abandoned
/// exclusive tasks, and drops back when the driver reports the task gone.
#[test]
fn metrics_count_fenced_names() {
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_grace(Duration::from_secs(2)),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    assert_eq!(k.metrics().fenced_names, 0);
    k.disconnect(at(1), "a").unwrap();
    drain(&mut k);
    // The task never reports: it is aborted, the session is cleaned up, its name stays fenced.
    k.handle_timeout(at(60)).unwrap();
    drain(&mut k);
    assert_eq!(k.fenced(), vec![("a".to_owned(), vec![t])]);
    assert_eq!(k.metrics().fenced_names, 1);
    k.finished(at(61), t, Exit::Dropped).unwrap();
    drain(&mut k);
    assert!(k.fenced().is_empty());
    assert_eq!(k.metrics().fenced_names, 0);
}

/// kernel.rs `check_attempt`: only an active task's attempt is checked. A late report for a task
/// that is backing off or has ended is `NotRunning`, whatever attempt it names.
#[test]
fn reports_for_tasks_that_are_not_running_are_not_running_whatever_the_attempt() {
    let retry = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
        jitter_permille: 0,
    };
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_retry(retry),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    let failed = Exit::Failed {
        error: "flaky".into(),
        retryable: true,
    };
    k.finished_attempt(at(1), t, 1, failed.clone()).unwrap();
    drain(&mut k);
    let backoff = Error::NotRunning {
        task: t,
        state: TaskState::Backoff,
    };
    for attempt in [1, 2, 3] {
        assert_eq!(
            k.finished_attempt(at(1), t, attempt, failed.clone()),
            Err(backoff.clone())
        );
        assert_eq!(
            k.progress_attempt(at(1), t, attempt, Progress::default()),
            Err(backoff.clone())
        );
    }
    k.handle_timeout(at(2)).unwrap();
    drain(&mut k);
    k.finished_attempt(at(3), t, 2, Exit::Completed).unwrap();
    drain(&mut k);
    let ended = Error::NotRunning {
        task: t,
        state: TaskState::Completed,
    };
    for attempt in [1, 2, 3] {
        assert_eq!(
            k.finished_attempt(at(3), t, attempt, Exit::Completed),
            Err(ended.clone())
        );
    }
}

/// invariants.rs `check_counts`: a snapshot whose counters disagree with its records (the global
/// count, a class's count, a session's count) is refused, and the error names the counter.
#[test]
fn a_snapshot_whose_counters_disagree_with_its_records_is_refused() {
    let k = one_running();
    let v = snapshot(&k);
    assert!(restore(&v).is_ok());
    let running = TaskState::Running as usize;
    let doctored = [
        ("/counts/by_state", "global counts"),
        ("/classes/0/counts/by_state", "class 0 counts"),
        ("/sessions/0/counts/by_state", "counts"),
    ];
    for (path, says) in doctored {
        let mut v = v.clone();
        let counts = v.pointer_mut(path).unwrap().as_array_mut().unwrap();
        assert_eq!(counts[running], 1, "{path}: one running task");
        counts[running] = serde_json::json!(2);
        let err = restore(&v).unwrap_err();
        assert!(err.contains(says), "{path}: {err}");
    }
}

/// id.rs `Display for TaskId`: ids print as DESIGN's error messages and `explain` show them.
#[test]
fn ids_print_with_their_kind_and_number() {
    assert_eq!(baton_kernel::TaskId(17).to_string(), "task 17");
    let err = Kernel::new(Config::new(vec![ClassConfig::exclusive("io", 1)]))
        .unwrap()
        .cancel(at(0), baton_kernel::TaskId(17))
        .unwrap_err();
    assert!(err.to_string().contains("task 17"), "{err}");
}

/// kernel.rs `caught_up_actions`: an input that passes a due deadline reports how many of its
/// pending actions are the deadline's (the driver's timer would have produced them), and they
/// come first.
#[test]
fn caught_up_actions_counts_the_deadline_actions_an_input_caught_up_on() {
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5).with_queue_timeout(Duration::from_secs(1)),
    ]))
    .unwrap();
    let s = k.connect(at(0), "s").unwrap();
    k.submit(at(0), Submit::new(IO, Target::Session(s)))
        .unwrap();
    let b = k
        .submit(at(0), Submit::new(IO, Target::Session(s)))
        .unwrap();
    let c = k
        .submit(at(0), Submit::new(IO, Target::Session(s)))
        .unwrap();
    drain(&mut k);
    assert_eq!(k.caught_up_actions(), 0);
    // 5 s later b and c are past their queue deadline: the next submit first rejects both.
    k.submit(at(5), Submit::new(IO, Target::Session(s)))
        .unwrap();
    assert_eq!(k.caught_up_actions(), 2);
    // query.rs `pending_actions`: both rejections wait to be drained (the new task queues).
    assert_eq!(k.pending_actions(), 2);
    let mut ended = Vec::new();
    for _ in 0..2 {
        match k.poll_action() {
            Some(Action::Notify(baton_kernel::Notice::Finished { task, .. })) => ended.push(task),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert_eq!(ended, vec![b, c]);
    assert_eq!(k.caught_up_actions(), 0);
    assert_eq!(k.pending_actions(), 0);
}

/// A snapshot written before kernel v2 carried its indexes too (the timer set, each session's
/// lanes and task set, each class's ready set and background lane); they are ignored on load and
/// rebuilt from the records, so such a snapshot still loads to the same state.
#[test]
fn a_snapshot_with_the_old_index_fields_still_loads() {
    let mut k = one_running();
    let a = k.session_id("a").unwrap();
    k.submit(at(1), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    let mut v = snapshot(&k);
    v["timers"] = serde_json::json!({ "set": [[5_000_000_000u64, { "Task": [1, "Run"] }]] });
    v["sessions"][0]["lanes"] =
        serde_json::json!({ "0": { "entries": [[{ "urgency": 250, "seq": 1 }, 2]] } });
    v["sessions"][0]["tasks"] = serde_json::json!([1, 2]);
    v["groups"][0]["lanes"] = serde_json::json!({});
    v["classes"][0]["ready"] = serde_json::json!([]);
    v["classes"][0]["background"] = serde_json::json!({ "entries": [] });
    assert_eq!(restore(&v).unwrap(), k);
}

/// Snapshots carry no session task lists: they are rebuilt from the records, so a session's
/// page of tasks reads the same after a restore.
#[test]
fn a_snapshot_rebuilds_the_session_task_lists() {
    let mut k = one_running();
    let a = k.session_id("a").unwrap();
    for i in 1..4 {
        k.submit(at(i), Submit::new(IO, Target::Session(a)))
            .unwrap();
    }
    drain(&mut k);
    let v = snapshot(&k);
    assert!(
        v.pointer("/sessions/0/tasks").is_none(),
        "no task list in {v}"
    );
    let back = restore(&v).unwrap();
    assert_eq!(back, k);
    let filter = baton_kernel::ListFilter {
        session: Some(a),
        ..Default::default()
    };
    let ids = |k: &Kernel, after| {
        k.list(&filter, after, 10)
            .items
            .iter()
            .map(|t| t.id.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&back, None), vec![1, 2, 3, 4]);
    assert_eq!(ids(&back, Some(TaskId(2))), ids(&k, Some(TaskId(2))));
    assert_eq!(ids(&back, Some(TaskId(2))), vec![3, 4]);
}

/// A kernel whose name "a" is fenced by task 1: disconnected while it ran, aborted after its
/// grace, cleaned up, never reported.
fn fenced_a() -> Kernel {
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_grace(Duration::from_secs(2)),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    k.submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    k.disconnect(at(1), "a").unwrap();
    k.handle_timeout(at(60)).unwrap();
    drain(&mut k);
    assert_eq!(k.fenced().len(), 1);
    k
}

/// fence.rs `Fences::consistent`: a snapshot whose fence indexes disagree (a fence missing under
/// its name, a name listing a task with no fence, a wrong abandoned count) is refused.
#[test]
fn a_snapshot_with_inconsistent_fences_is_refused() {
    let v = snapshot(&fenced_a());
    assert!(restore(&v).is_ok());
    let doctor = |path: &str, value: serde_json::Value| {
        let mut v = v.clone();
        *v.pointer_mut(path).unwrap() = value;
        restore(&v).unwrap_err()
    };
    let err = doctor("/fences/by_name", serde_json::json!({}));
    assert!(err.contains("fence of task 1 missing under"), "{err}");
    let err = doctor("/fences/by_name/a", serde_json::json!([1, 7]));
    assert!(err.contains("fence"), "{err}");
    let err = doctor("/fences/abandoned", serde_json::json!(2));
    assert!(err.contains("abandoned"), "{err}");
}

/// config.rs `default_fence`: a configuration written before `fence_reconnect` existed (the
/// field absent) reads with the fence on, DESIGN's default.
#[test]
fn a_config_without_fence_reconnect_reads_with_the_fence_on() {
    let mut v = serde_json::to_value(Config::new(vec![ClassConfig::exclusive("io", 5)])).unwrap();
    v.as_object_mut()
        .unwrap()
        .remove("fence_reconnect")
        .unwrap();
    let config: Config = serde_json::from_value(v).unwrap();
    assert!(config.fence_reconnect);
}

/// counts.rs `StateCounts::terminal`: finished records still retained are counted as terminal.
#[test]
fn terminal_counts_retained_records() {
    let mut k = one_running();
    assert_eq!(k.counts().terminal(), 0);
    let id = baton_kernel::TaskId(1);
    k.finished(at(1), id, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(k.counts().terminal(), 1);
    assert_eq!(k.counts().get(TaskState::Completed), 1);
}

/// id.rs and task.rs `Display`: sessions, groups and reject reasons print as error messages use
/// them.
#[test]
fn sessions_groups_and_reject_reasons_print_their_names() {
    assert_eq!(baton_kernel::SessionId(3).to_string(), "session 3");
    assert_eq!(baton_kernel::GroupId(4).to_string(), "group 4");
    assert_eq!(
        baton_kernel::RejectReason::SessionClosed.to_string(),
        baton_kernel::RejectReason::SessionClosed.name()
    );
    assert!(
        !baton_kernel::RejectReason::SessionClosed
            .to_string()
            .is_empty()
    );
}

/// registry.rs `Slab::is_empty`, through `check_invariants`: a stopped kernel must be empty, so a
/// snapshot that says "stopped" but still holds a record is refused.
#[test]
fn a_stopped_snapshot_that_still_holds_a_record_is_refused() {
    let mut k = one_running();
    k.finished(at(1), baton_kernel::TaskId(1), Exit::Completed)
        .unwrap();
    drain(&mut k);
    let mut v = snapshot(&k);
    v["lifecycle"] = serde_json::json!("Stopped");
    let err = restore(&v).unwrap_err();
    assert!(err.contains("stopped but not empty"), "{err}");
}

/// config.rs `Config::validate`: a class name of exactly `name_len_max` bytes and a jitter of
/// exactly 1000‰ are valid; one more of either is not.
#[test]
fn class_names_and_jitter_at_their_bounds_are_valid() {
    let max = Config::new(vec![]).limits.name_len_max as usize;
    let named = |n: usize| Config::new(vec![ClassConfig::exclusive(&"c".repeat(n), 1)]);
    assert!(named(max).validate().is_ok());
    assert!(matches!(
        named(max + 1).validate(),
        Err(ConfigError::BadClassName { .. })
    ));
    let jitter = |permille: u16| {
        Config::new(vec![ClassConfig::exclusive("io", 1).with_retry(
            RetryPolicy {
                max_attempts: 2,
                base: Duration::from_secs(1),
                cap: Duration::from_secs(2),
                jitter_permille: permille,
            },
        )])
    };
    assert!(jitter(1000).validate().is_ok());
    assert!(matches!(
        jitter(1001).validate(),
        Err(ConfigError::JitterTooLarge { .. })
    ));
}

/// fence.rs `Fences::consistent`: a name listed with no fencing task at all is refused even when
/// the totals agree.
#[test]
fn a_snapshot_with_an_empty_fenced_name_is_refused() {
    let mut v = snapshot(&fenced_a());
    v["fences"]["by_name"]["b"] = serde_json::json!([]);
    let err = restore(&v).unwrap_err();
    assert!(err.contains("fence name index disagrees"), "{err}");
}

/// kernel.rs `may_retry`: `max_attempts` counts every attempt, the first included — two
/// retryable failures with `max_attempts: 2` fail the task, with no third attempt.
#[test]
fn max_attempts_counts_the_first_attempt() {
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_retry(RetryPolicy {
                max_attempts: 2,
                base: Duration::from_secs(1),
                cap: Duration::from_secs(1),
                jitter_permille: 0,
            }),
    ]))
    .unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    let flaky = || Exit::Failed {
        error: "flaky".to_owned(),
        retryable: true,
    };
    k.finished(at(1), t, flaky()).unwrap();
    drain(&mut k);
    k.handle_timeout(at(2)).unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().attempt, 2);
    assert_eq!(k.task(t).unwrap().state, TaskState::Running);
    k.finished(at(3), t, flaky()).unwrap();
    drain(&mut k);
    k.handle_timeout(at(10)).unwrap();
    let view = k.task(t).unwrap();
    assert_eq!(view.state, TaskState::Failed);
    assert_eq!(view.attempt, 2);
}

/// kernel.rs `submit`: a task aimed at a session is bound to it from the moment it is queued
/// (its view shows the session).
#[test]
fn a_queued_task_shows_its_session() {
    let mut k = one_running();
    let a = k.session_id("a").unwrap();
    let queued = k
        .submit(at(1), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    let view = k.task(queued).unwrap();
    assert_eq!(view.state, TaskState::Queued);
    assert_eq!(view.session, Some(a));
}

/// Snapshots carry no lanes: they are rebuilt from the records, in dispatch order (priority,
/// then submission), so a restored kernel starts the same task next.
#[test]
fn a_snapshot_rebuilds_the_lanes_in_dispatch_order() {
    let mut k = one_running();
    let a = k.session_id("a").unwrap();
    let low = k
        .submit(at(1), Submit::new(IO, Target::Session(a)))
        .unwrap();
    let high = k
        .submit(
            at(1),
            Submit {
                priority: Some(9),
                ..Submit::new(IO, Target::Session(a))
            },
        )
        .unwrap();
    drain(&mut k);
    let v = snapshot(&k);
    assert!(v["sessions"][0].get("lanes").is_none(), "no lanes in {v}");
    let mut back = restore(&v).unwrap();
    assert_eq!(back, k);
    let running = k.session_holder(a).unwrap();
    for kernel in [&mut k, &mut back] {
        kernel.finished(at(2), running, Exit::Completed).unwrap();
        let started: Vec<TaskId> = std::iter::from_fn(|| kernel.poll_action())
            .filter_map(|action| match action {
                Action::Start { task, .. } => Some(task),
                _ => None,
            })
            .collect();
        assert_eq!(started, vec![high]);
    }
    assert_eq!(back.explain(low), k.explain(low));
}

/// invariants.rs `check_timers`: a record that arms a deadline its state does not allow (a
/// running task with a queue deadline) is refused.
#[test]
fn a_snapshot_with_a_deadline_its_state_does_not_allow_is_refused() {
    let v = snapshot(&one_running());
    let mut doctored = v.clone();
    let timers = &mut doctored["tasks"][0]["timers"];
    assert!(timers[0].is_null(), "queue deadline unarmed: {timers}");
    timers[0] = serde_json::json!(9_000_000_000u64);
    let err = restore(&doctored).unwrap_err();
    assert!(err.contains("Queue armed"), "{err}");
}

/// id.rs `Display for ClassId`.
#[test]
fn class_ids_print_with_their_number() {
    assert_eq!(ClassId(7).to_string(), "class 7");
}

/// invariants.rs `check_invariants` over `Fences::tasks`: a fence that says its task is still in
/// the registry when the record is gone is refused.
#[test]
fn a_snapshot_whose_fence_disagrees_with_the_registry_is_refused() {
    let mut v = snapshot(&fenced_a());
    v["fences"]["by_task"]["1"]["abandoned"] = serde_json::json!(false);
    v["fences"]["abandoned"] = serde_json::json!(0);
    let err = restore(&v).unwrap_err();
    assert!(err.contains("fence of task 1"), "{err}");
}

/// invariants.rs `check_bounds`: a snapshot with more sessions than its `sessions_max` is
/// refused.
#[test]
fn a_snapshot_over_its_session_bound_is_refused() {
    let mut k = Kernel::new(Config::new(vec![ClassConfig::exclusive("io", 5)])).unwrap();
    k.connect(at(0), "a").unwrap();
    k.connect(at(0), "b").unwrap();
    let mut v = snapshot(&k);
    assert!(restore(&v).is_ok());
    v["config"]["limits"]["sessions_max"] = serde_json::json!(1);
    let err = restore(&v).unwrap_err();
    assert!(err.contains("sessions over their bound"), "{err}");
}

/// kernel.rs `submit`: a session id the kernel never issued is an unknown target, not a closed
/// session.
#[test]
fn a_never_issued_session_is_an_unknown_target() {
    let mut k = Kernel::new(Config::new(vec![ClassConfig::exclusive("io", 5)])).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let next = baton_kernel::SessionId(a.0 + 1);
    assert_eq!(
        k.submit(at(0), Submit::new(IO, Target::Session(next))),
        Err(Error::Refused(baton_kernel::RejectReason::UnknownTarget))
    );
    k.disconnect(at(0), "a").unwrap();
    drain(&mut k);
    assert_eq!(
        k.submit(at(0), Submit::new(IO, Target::Session(a))),
        Err(Error::Refused(baton_kernel::RejectReason::SessionClosed))
    );
}

/// kernel.rs `truncate`: an over-long error is cut on a character boundary at or below
/// `error_len_max` bytes, never above.
#[test]
fn over_long_errors_are_cut_on_a_character_boundary() {
    let mut config = Config::new(vec![ClassConfig::exclusive("io", 5).without_timeouts()]);
    config.limits.error_len_max = 5;
    let mut k = Kernel::new(config).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let t = k
        .submit(at(0), Submit::new(IO, Target::Session(a)))
        .unwrap();
    drain(&mut k);
    // 'é' is two bytes, at bytes 4..6: a cut at 5 would split it.
    let exit = Exit::Failed {
        error: "abcdéfgh".to_owned(),
        retryable: false,
    };
    k.finished(at(1), t, exit).unwrap();
    drain(&mut k);
    assert_eq!(k.task(t).unwrap().error.as_deref(), Some("abcd"));
}

/// kernel.rs `may_retry`: a retry re-enters its queue, so it needs room there — a group task or
/// a background task whose queue is exactly full is not retried and ends failed.
#[test]
fn a_retry_into_an_exactly_full_queue_is_not_made() {
    let retry = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
        jitter_permille: 0,
    };
    let flaky = || Exit::Failed {
        error: "flaky".to_owned(),
        retryable: true,
    };
    for target_kind in ["group", "background"] {
        let mut config = Config::new(vec![
            ClassConfig::exclusive("io", 5)
                .without_timeouts()
                .with_limit(1)
                .with_retry(retry.clone()),
            ClassConfig::background("bg", 5)
                .without_timeouts()
                .with_limit(1)
                .with_retry(retry.clone()),
        ]);
        config.limits.queue_len_max = 1;
        config.limits.background_queue_len_max = 1;
        let mut k = Kernel::new(config).unwrap();
        let a = k.connect(at(0), "a").unwrap();
        let (class, target) = match target_kind {
            "group" => (IO, Target::Group(k.join_group(at(0), "g", a).unwrap())),
            _ => (ClassId(1), Target::None),
        };
        let first = k.submit(at(0), Submit::new(class, target)).unwrap();
        // The second waits: the queue now holds exactly its bound.
        let second = k.submit(at(0), Submit::new(class, target)).unwrap();
        drain(&mut k);
        assert_eq!(k.task(second).unwrap().state, TaskState::Queued);
        k.finished(at(1), first, flaky()).unwrap();
        drain(&mut k);
        let view = k.task(first).unwrap();
        assert_eq!(
            view.state,
            TaskState::Failed,
            "{target_kind}: no room to retry"
        );
        assert_eq!(view.attempt, 1, "{target_kind}");
    }
}

/// query.rs `better_competitors`: a group task of a limited class counts the better tasks of
/// its own group lane once, and those of the other groups' lanes as slot competitors.
#[test]
fn explain_counts_other_groups_and_its_own_group_once() {
    let mut k = Kernel::new(Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_limit(1),
    ]))
    .unwrap();
    let s1 = k.connect(at(0), "s1").unwrap();
    let s2 = k.connect(at(0), "s2").unwrap();
    let s3 = k.connect(at(0), "s3").unwrap();
    let g1 = k.join_group(at(0), "g1", s1).unwrap();
    let g2 = k.join_group(at(0), "g2", s2).unwrap();
    // The one slot is taken on s3.
    k.submit(at(0), Submit::new(IO, Target::Session(s3)))
        .unwrap();
    // Queued in order: two on g1, one on g2, then the one explained, on g1.
    for g in [g1, g1, g2] {
        k.submit(at(1), Submit::new(IO, Target::Group(g))).unwrap();
    }
    let last = k.submit(at(2), Submit::new(IO, Target::Group(g1))).unwrap();
    drain(&mut k);
    assert_eq!(
        k.explain(last),
        Some(baton_kernel::Explanation::Queued {
            blockers: vec![
                baton_kernel::Blocker::ClassAtLimit {
                    class: IO,
                    running: 1,
                    limit: 1
                },
                baton_kernel::Blocker::BehindBetter { count: 3 }
            ]
        })
    );
}

/// log.rs `LogHeader::check`: a header of this format and version is readable; another format
/// or version is a typed error naming what was found.
#[test]
fn log_headers_of_another_format_or_version_are_refused() {
    use baton_kernel::{LOG_FORMAT, LOG_VERSION, LogError, LogHeader};
    let good = LogHeader::new(Config::new(vec![ClassConfig::exclusive("io", 5)]));
    assert_eq!(good.check(), Ok(()));
    let mut other = good.clone();
    other.format = "something-else".to_owned();
    assert_eq!(
        other.check(),
        Err(LogError::NotALog {
            format: "something-else".to_owned()
        })
    );
    let mut newer = good.clone();
    newer.version = LOG_VERSION + 1;
    assert_eq!(
        newer.check(),
        Err(LogError::Version {
            found: LOG_VERSION + 1,
            supported: LOG_VERSION
        })
    );
    assert_eq!(good.format, LOG_FORMAT);
}

/// time.rs `Display for Instant`: instants print in human units after `t=`, as error messages
/// (`TimeWentBackwards`) show them.
#[test]
fn instants_print_in_human_units() {
    assert_eq!(Instant::from_nanos(1_500_000_000).to_string(), "t=1.500s");
    assert_eq!(
        Instant::from_nanos(1_500_000_000).to_string(),
        format!("t={}", Duration::from_millis(1500))
    );
}
