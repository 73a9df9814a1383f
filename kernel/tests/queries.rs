//! Queries: O(1) counters agree with the registry, paged lists with cursors and filters,
//! `explain` for every blocker and state, metrics, and snapshot round-trips.

use baton_kernel::{
    Action, Blocker, CancelReason, ClassConfig, ClassId, Config, Duration, Exit, Explanation,
    Instant, Kernel, ListFilter, Outcome, Progress, RejectReason, RetryPolicy, SessionId, Submit,
    Target, TaskId, TaskState,
};

const IO: ClassId = ClassId(0);
const LIMITED: ClassId = ClassId(1);
const BG: ClassId = ClassId(2);

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn config() -> Config {
    let s = Duration::from_secs;
    Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .with_queue_timeout(s(30))
            .with_run_timeout(s(20))
            .with_grace(s(2)),
        ClassConfig::exclusive("limited", 5)
            .without_timeouts()
            .with_limit(2),
        ClassConfig::background("bg", 5)
            .without_timeouts()
            .with_limit(3)
            .with_retry(RetryPolicy {
                max_attempts: 2,
                base: s(4),
                cap: s(4),
                jitter_permille: 0,
            }),
    ])
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

fn submit(k: &mut Kernel, now: Instant, class: ClassId, target: Target) -> TaskId {
    let id = k.submit(now, Submit::new(class, target)).unwrap();
    drain(k);
    id
}

fn ids(k: &Kernel, filter: ListFilter) -> Vec<TaskId> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = k.list(&filter, after, 7);
        out.extend(page.items.iter().map(|v| v.id));
        match page.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

/// Every counter equals what a filtered listing finds.
fn assert_counts_match_list(k: &Kernel, sessions: &[SessionId]) {
    assert_eq!(k.counts().total(), k.registry_len() as u64);
    for state in TaskState::ALL {
        let by_state = ListFilter {
            state: Some(state),
            ..ListFilter::default()
        };
        assert_eq!(
            k.counts().get(state),
            ids(k, by_state.clone()).len() as u64,
            "{state:?}"
        );
        for class in [IO, LIMITED, BG] {
            let f = ListFilter {
                class: Some(class),
                ..by_state.clone()
            };
            assert_eq!(
                k.class_counts(class).unwrap().get(state),
                ids(k, f).len() as u64,
                "{class} {state:?}"
            );
        }
        for s in sessions {
            let Some(counts) = k.session_counts(*s) else {
                continue;
            };
            let f = ListFilter {
                session: Some(*s),
                ..by_state.clone()
            };
            assert_eq!(counts.get(state), ids(k, f).len() as u64, "{s} {state:?}");
        }
    }
    let m = k.metrics();
    for class in [IO, LIMITED, BG] {
        let c = k.class_counts(class).unwrap();
        assert_eq!(m.classes[class.index()].running, c.active());
        assert_eq!(m.classes[class.index()].queued, c.waiting());
    }
    assert_eq!(m.registry_len, k.registry_len() as u64);
}

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

/// Drives a mixed workload for `steps` inputs, checking counters against listings as it goes.
fn churn(k: &mut Kernel, sessions: &mut Vec<SessionId>, rng: &mut Lcg, steps: u32) {
    let mut now = k.now();
    for _ in 0..steps {
        now = now + Duration::from_millis(rng.below(3000));
        let live: Vec<TaskId> = k
            .list(&ListFilter::default(), None, 1000)
            .items
            .iter()
            .filter(|v| !v.state.is_terminal())
            .map(|v| v.id)
            .collect();
        let active: Vec<TaskId> = k
            .list(&ListFilter::default(), None, 1000)
            .items
            .iter()
            .filter(|v| v.state.is_active())
            .map(|v| v.id)
            .collect();
        let pick = |rng: &mut Lcg, v: &[TaskId]| v.get(rng.below(v.len() as u64) as usize).copied();
        match rng.below(10) {
            0..=3 => {
                let class = [IO, LIMITED, BG][rng.below(3) as usize];
                let target = if class == BG {
                    Target::None
                } else {
                    Target::Session(sessions[rng.below(sessions.len() as u64) as usize])
                };
                let parent = if rng.below(4) == 0 {
                    pick(rng, &live)
                } else {
                    None
                };
                let _ = k.submit(
                    now,
                    Submit {
                        parent,
                        ..Submit::new(class, target)
                    },
                );
            }
            4..=6 => {
                if let Some(t) = pick(rng, &active) {
                    let exit = match rng.below(4) {
                        0 => Exit::Failed {
                            error: "e".into(),
                            retryable: true,
                        },
                        1 => Exit::Dropped,
                        _ => Exit::Completed,
                    };
                    let _ = k.finished(now, t, exit);
                }
            }
            7 => {
                if let Some(t) = pick(rng, &live) {
                    k.cancel(now, t).unwrap();
                }
            }
            8 => {
                if rng.below(4) == 0 {
                    let name = format!("s{}", rng.below(4));
                    if k.session_id(&name).is_some() {
                        k.disconnect(now, &name).unwrap();
                    } else if let Ok(s) = k.connect(now, &name) {
                        sessions.push(s);
                    }
                }
            }
            _ => k.handle_timeout(now).unwrap(),
        }
        drain(k);
        assert_counts_match_list(k, sessions);
    }
}

#[test]
fn counters_agree_with_listings_throughout_a_mixed_run() {
    let mut k = Kernel::new(config()).unwrap();
    let mut sessions: Vec<SessionId> = (0..4)
        .map(|i| k.connect(at(0), &format!("s{i}")).unwrap())
        .collect();
    let mut rng = Lcg(7);
    churn(&mut k, &mut sessions, &mut rng, 400);
    assert!(
        k.metrics()
            .classes
            .iter()
            .map(|c| c.totals.submitted)
            .sum::<u64>()
            > 50
    );
}

#[test]
fn paged_listing_walks_every_match_once_in_id_order() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let mut all = Vec::new();
    for i in 0..25 {
        let s = if i % 3 == 0 { b } else { a };
        all.push(submit(&mut k, at(0), IO, Target::Session(s)));
    }
    let p1 = k.list(&ListFilter::default(), None, 10);
    assert_eq!(p1.items.len(), 10);
    assert_eq!(p1.next, Some(all[9]));
    let p2 = k.list(&ListFilter::default(), p1.next, 10);
    assert_eq!(p2.items.len(), 10);
    assert_eq!(p2.next, Some(all[19]));
    let p3 = k.list(&ListFilter::default(), p2.next, 10);
    assert_eq!(p3.items.len(), 5);
    assert_eq!(p3.next, None);
    let walked: Vec<TaskId> = [p1, p2, p3]
        .iter()
        .flat_map(|p| p.items.iter().map(|v| v.id))
        .collect();
    assert_eq!(walked, all);
    // An exact last page says there is no next one.
    let exact = k.list(&ListFilter::default(), Some(all[14]), 10);
    assert_eq!(exact.items.len(), 10);
    assert_eq!(exact.next, None);
    // Filters: session, state, both.
    let on_b: Vec<TaskId> = all.iter().copied().step_by(3).collect();
    let f = ListFilter {
        session: Some(b),
        ..ListFilter::default()
    };
    assert_eq!(ids(&k, f.clone()), on_b);
    let running = ListFilter {
        state: Some(TaskState::Running),
        ..ListFilter::default()
    };
    assert_eq!(ids(&k, running.clone()), vec![all[0], all[1]]);
    let running_on_b = ListFilter {
        session: Some(b),
        ..running
    };
    assert_eq!(ids(&k, running_on_b), vec![all[0]]);
    // The cursor also works inside a session filter.
    let page = k.list(&f, Some(on_b[2]), 2);
    assert_eq!(
        page.items.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![on_b[3], on_b[4]]
    );
    assert_eq!(page.next, Some(on_b[4]));
    // An unknown session matches nothing.
    let nobody = ListFilter {
        session: Some(SessionId(77)),
        ..ListFilter::default()
    };
    assert!(k.list(&nobody, None, 10).items.is_empty());
}

#[test]
fn class_and_parent_filters() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let p = submit(&mut k, at(0), IO, Target::Session(a));
    let mut kids = Vec::new();
    for i in 0..4 {
        let class = if i % 2 == 0 { BG } else { LIMITED };
        let target = if class == BG {
            Target::None
        } else {
            Target::Session(a)
        };
        kids.push(
            k.submit(
                at(0),
                Submit {
                    parent: Some(p),
                    ..Submit::new(class, target)
                },
            )
            .unwrap(),
        );
    }
    let other = submit(&mut k, at(0), BG, Target::None);
    drain(&mut k);
    let by_parent = ListFilter {
        parent: Some(p),
        ..ListFilter::default()
    };
    assert_eq!(ids(&k, by_parent.clone()), kids);
    let bg = ListFilter {
        class: Some(BG),
        ..ListFilter::default()
    };
    assert_eq!(ids(&k, bg.clone()), vec![kids[0], kids[2], other]);
    let bg_children = ListFilter {
        class: Some(BG),
        ..by_parent
    };
    assert_eq!(ids(&k, bg_children), vec![kids[0], kids[2]]);
}

#[test]
fn page_length_is_capped_by_the_limit() {
    let mut c = config();
    c.limits.page_len_max = 5;
    let mut k = Kernel::new(c).unwrap();
    for _ in 0..8 {
        submit(&mut k, at(0), BG, Target::None);
    }
    let page = k.list(&ListFilter::default(), None, 1000);
    assert_eq!(page.items.len(), 5);
    assert!(page.next.is_some());
}

#[test]
fn task_view_reports_everything_known() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let p = submit(&mut k, at(1), BG, Target::None);
    let t = k
        .submit(
            at(2),
            Submit {
                parent: Some(p),
                priority: Some(7),
                ..Submit::new(IO, Target::Session(a))
            },
        )
        .unwrap();
    drain(&mut k);
    k.progress(
        at(3),
        t,
        Progress {
            current: 3,
            total: Some(10),
            message: "copying".into(),
        },
    )
    .unwrap();
    k.handle_timeout(at(5)).unwrap();
    let v = k.task(t).unwrap();
    assert_eq!(v.id, t);
    assert_eq!(v.class, IO);
    assert_eq!(v.class_name, "io");
    assert_eq!(v.target, Target::Session(a));
    assert_eq!(v.session, Some(a));
    assert_eq!(v.parent, Some(p));
    assert_eq!(v.priority, 7);
    assert_eq!(v.state, TaskState::Running);
    assert_eq!(v.attempt, 1);
    assert_eq!(v.created_at, at(2));
    assert_eq!(v.started_at, Some(at(2)));
    assert_eq!(v.finished_at, None);
    assert_eq!(v.age, Duration::from_secs(3));
    assert_eq!(v.progress.current, 3);
    assert_eq!(v.progress.total, Some(10));
    assert_eq!(v.progress.message, "copying");
    assert_eq!(v.outcome, None);
    assert_eq!(v.error, None);
    assert_eq!(v.cancel_reason, None);
    assert!(!v.stuck);
    assert_eq!(k.task(p).unwrap().children, 1);
    assert!(k.task(TaskId(99)).is_none());
}

#[test]
fn explain_names_every_blocker() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let c = k.connect(at(0), "c").unwrap();
    let holder = submit(&mut k, at(0), IO, Target::Session(a));
    let first = submit(&mut k, at(0), IO, Target::Session(a));
    let second = submit(&mut k, at(0), IO, Target::Session(a));
    assert_eq!(
        k.explain(first),
        Some(Explanation::Queued {
            blockers: vec![Blocker::SessionHeld {
                session: a,
                by: holder
            }]
        })
    );
    assert_eq!(
        k.explain(second),
        Some(Explanation::Queued {
            blockers: vec![
                Blocker::SessionHeld {
                    session: a,
                    by: holder
                },
                Blocker::BehindBetter { count: 1 }
            ]
        })
    );
    let text = k.explain(second).unwrap().to_string();
    assert!(text.contains(&format!("{a} held by {holder}")), "{text}");
    assert!(text.contains("behind 1 better"), "{text}");

    // Class at its limit 2/2, on a free session.
    submit(&mut k, at(0), LIMITED, Target::Session(b));
    let d = k.connect(at(0), "d").unwrap();
    submit(&mut k, at(0), LIMITED, Target::Session(d));
    let capped = submit(&mut k, at(0), LIMITED, Target::Session(c));
    assert_eq!(
        k.explain(capped),
        Some(Explanation::Queued {
            blockers: vec![Blocker::ClassAtLimit {
                class: LIMITED,
                running: 2,
                limit: 2
            }]
        })
    );
    assert!(
        k.explain(capped)
            .unwrap()
            .to_string()
            .contains("at its limit 2/2")
    );

    // Running, then ended with its error.
    assert_eq!(
        k.explain(holder),
        Some(Explanation::Running {
            since: Some(at(0)),
            session: Some(a)
        })
    );
    k.finished(
        at(1),
        holder,
        Exit::Failed {
            error: "disk full".into(),
            retryable: false,
        },
    )
    .unwrap();
    drain(&mut k);
    assert_eq!(
        k.explain(holder),
        Some(Explanation::Ended {
            outcome: Some(Outcome::Failed),
            at: Some(at(1)),
            error: Some("disk full".into())
        })
    );
    assert!(k.explain(holder).unwrap().to_string().contains("disk full"));
    assert_eq!(k.explain(TaskId(999)), None);
}

#[test]
fn explain_backoff_and_cancelling() {
    let mut k = Kernel::new(config()).unwrap();
    let j = submit(&mut k, at(0), BG, Target::None);
    k.finished(
        at(1),
        j,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    assert_eq!(
        k.explain(j),
        Some(Explanation::Backoff {
            until: Some(at(5)),
            attempt: 2
        })
    );
    assert!(k.explain(j).unwrap().to_string().contains("until"));
    k.handle_timeout(at(5)).unwrap();
    drain(&mut k);
    k.cancel(at(6), j).unwrap();
    drain(&mut k);
    assert_eq!(
        k.explain(j),
        Some(Explanation::Cancelling {
            reason: Some(CancelReason::User),
            since: Some(at(6)),
            abort_requested_at: None
        })
    );
}

#[test]
fn metrics_count_outcomes_work_and_waits() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let done = submit(&mut k, at(0), IO, Target::Session(a)); // runs 0..2
    let waits = submit(&mut k, at(0), IO, Target::Session(a)); // waits 2 s, runs 2..3
    let timed_out = submit(&mut k, at(0), IO, Target::Session(b));
    let aborted = submit(&mut k, at(0), IO, Target::Session(b));
    k.finished(at(2), done, Exit::Completed).unwrap();
    drain(&mut k);
    k.finished(
        at(3),
        waits,
        Exit::Failed {
            error: "x".into(),
            retryable: false,
        },
    )
    .unwrap();
    drain(&mut k);
    // b's first task times out at 20 s and stops at 21 s.
    k.handle_timeout(at(20)).unwrap();
    drain(&mut k);
    k.finished(at(21), timed_out, Exit::Completed).unwrap();
    drain(&mut k);
    // `aborted` started at 21 s when b freed; cancel it and let the grace run out.
    k.cancel(at(22), aborted).unwrap();
    k.handle_timeout(at(24)).unwrap();
    k.finished(at(25), aborted, Exit::Dropped).unwrap();
    let user_cancelled = submit(&mut k, at(25), IO, Target::Session(a));
    k.cancel(at(26), user_cancelled).unwrap();
    k.finished(at(26), user_cancelled, Exit::Completed).unwrap();
    drain(&mut k);
    let io = &k.metrics().classes[IO.index()];
    assert_eq!(io.name, "io");
    let t = &io.totals;
    assert_eq!(t.submitted, 5);
    assert_eq!(t.started, 5);
    assert_eq!(t.retries, 0);
    assert_eq!(t.ended(Outcome::Completed), 1);
    assert_eq!(t.ended(Outcome::Failed), 1);
    assert_eq!(t.ended(Outcome::TimedOut(CancelReason::Timeout)), 1);
    assert_eq!(t.ended(Outcome::Abandoned), 1);
    assert_eq!(t.ended(Outcome::Cancelled(CancelReason::User)), 1);
    assert_eq!(t.ended(Outcome::Rejected(RejectReason::QueueTimeout)), 0);
    assert_eq!(t.outcomes.iter().sum::<u64>(), 5);
    assert_eq!(t.queue_wait.count(), 5);
    // Waits: 0, 2, 0, 21, 0 seconds.
    assert_eq!(t.queue_wait.sum(), Duration::from_secs(23));
    assert_eq!(t.run_time.count(), 5);
    // Runs: 2, 1, 21, 4, 1 seconds.
    assert_eq!(t.run_time.sum(), Duration::from_secs(29));
    assert_eq!((io.running, io.queued, io.stuck), (0, 0, 0));
    // A rejection before starting counts as an outcome but not as a start.
    let c = k.connect(at(30), "c").unwrap();
    let _h = submit(&mut k, at(30), IO, Target::Session(c));
    let r = submit(&mut k, at(30), IO, Target::Session(c));
    k.handle_timeout(at(60)).unwrap();
    drain(&mut k);
    let totals = &k.metrics().classes[IO.index()].totals;
    assert_eq!(
        totals.ended(Outcome::Rejected(RejectReason::QueueTimeout)),
        1
    );
    assert_eq!(totals.started, 6);
    assert_eq!(k.task(r).unwrap().state, TaskState::Rejected);
    let m = k.metrics();
    assert_eq!(m.classes[IO.index()].running, 1);
    assert_eq!(m.sessions, 3);
}

#[test]
fn metrics_count_retries_per_class() {
    let mut k = Kernel::new(config()).unwrap();
    let j = submit(&mut k, at(0), BG, Target::None);
    k.finished(
        at(1),
        j,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    let bg = &k.metrics().classes[BG.index()];
    assert_eq!(bg.totals.retries, 1);
    assert_eq!(bg.queued, 1, "backing off counts as queued");
    assert_eq!(bg.running, 0);
    k.handle_timeout(at(5)).unwrap();
    drain(&mut k);
    let bg = &k.metrics().classes[BG.index()];
    assert_eq!(bg.totals.started, 2);
    assert_eq!(bg.running, 1);
    assert_eq!(bg.totals.outcomes.iter().sum::<u64>(), 0);
}

#[test]
fn a_snapshot_round_trips_and_both_copies_continue_identically() {
    let mut k = Kernel::new(config()).unwrap();
    let mut sessions: Vec<SessionId> = (0..4)
        .map(|i| k.connect(at(0), &format!("s{i}")).unwrap())
        .collect();
    let mut rng = Lcg(99);
    churn(&mut k, &mut sessions, &mut rng, 150);
    // Leave an action undrained: it is part of the state.
    let fresh = k.connect(k.now(), "fresh").unwrap();
    let t = k
        .submit(k.now(), Submit::new(IO, Target::Session(fresh)))
        .unwrap();
    assert!(k.pending_actions() > 0);

    let json = serde_json::to_string(&k).unwrap();
    let mut copy: Kernel = serde_json::from_str(&json).unwrap();
    assert_eq!(copy, k);
    assert_eq!(serde_json::to_string(&copy).unwrap(), json);
    copy.check_invariants().unwrap();
    assert_eq!(copy.task(t), k.task(t));

    let mut sessions2 = sessions.clone();
    let mut rng2 = Lcg(rng.0);
    // Record both runs' actions with the same inputs.
    let before = (k.pending_actions(), copy.pending_actions());
    assert_eq!(before.0, before.1);
    let record = |k: &mut Kernel, sessions: &mut Vec<SessionId>, rng: &mut Lcg| {
        let mut log = Vec::new();
        let mut now = k.now();
        for _ in 0..100 {
            now = now + Duration::from_millis(rng.below(5000));
            log.push(format!("{:?}", k.handle_timeout(now)));
            let id = k.submit(now, Submit::new(BG, Target::None));
            log.push(format!("{id:?}"));
            if let Ok(id) = id
                && rng.below(2) == 0
            {
                log.push(format!(
                    "{:?}",
                    k.finished(
                        now,
                        id,
                        Exit::Failed {
                            error: "e".into(),
                            retryable: true
                        }
                    )
                ));
            }
            while let Some(a) = k.poll_action() {
                log.push(format!("{a:?}"));
            }
        }
        churn(k, sessions, rng, 100);
        log
    };
    let log1 = record(&mut k, &mut sessions, &mut rng);
    let log2 = record(&mut copy, &mut sessions2, &mut rng2);
    assert_eq!(log1, log2);
    assert_eq!(
        serde_json::to_string(&k).unwrap(),
        serde_json::to_string(&copy).unwrap()
    );
}

/// DESIGN's "behind m better tasks" counts every competitor, not only the task's own lane:
/// better tasks of other classes waiting for the same session, and better tasks of a limited
/// class waiting on other sessions for the same slot. (The kernel used to count its own lane
/// only: the simulator's query check found it, seed 0 of `shutdown-mid-flight`.)
#[test]
fn explain_counts_competitors_for_the_session_and_for_the_class_slot() {
    let mut k = Kernel::new(config()).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let c = k.connect(at(0), "c").unwrap();
    // Session a is held; an io task and a better `limited` task wait for it.
    let holder = submit(&mut k, at(0), IO, Target::Session(a));
    let io_waiting = submit(&mut k, at(1), IO, Target::Session(a));
    let urgent = Submit {
        priority: Some(9),
        ..Submit::new(LIMITED, Target::Session(a))
    };
    k.submit(at(1), urgent).unwrap();
    drain(&mut k);
    assert_eq!(
        k.explain(io_waiting),
        Some(Explanation::Queued {
            blockers: vec![
                Blocker::SessionHeld {
                    session: a,
                    by: holder
                },
                Blocker::BehindBetter { count: 1 }
            ]
        })
    );
    // `limited` (limit 2) fills up on b and c; a later task on a fresh session waits for a
    // slot behind the better `limited` task queued on a.
    submit(&mut k, at(2), LIMITED, Target::Session(b));
    submit(&mut k, at(2), LIMITED, Target::Session(c));
    let d = k.connect(at(3), "d").unwrap();
    let late = submit(&mut k, at(3), LIMITED, Target::Session(d));
    assert_eq!(
        k.explain(late),
        Some(Explanation::Queued {
            blockers: vec![
                Blocker::ClassAtLimit {
                    class: LIMITED,
                    running: 2,
                    limit: 2
                },
                Blocker::BehindBetter { count: 1 }
            ]
        })
    );
}

/// A task of a limited background class counts the better tasks of its own lane once: the
/// class's other lanes are added as slot competitors, its own lane is not added again.
#[test]
fn explain_counts_a_background_lane_once() {
    let mut k = Kernel::new(config()).unwrap();
    // `bg` (limit 3) runs three tasks; two more queue.
    for _ in 0..3 {
        submit(&mut k, at(0), BG, Target::None);
    }
    let first = submit(&mut k, at(1), BG, Target::None);
    let second = submit(&mut k, at(2), BG, Target::None);
    drain(&mut k);
    let at_limit = Blocker::ClassAtLimit {
        class: BG,
        running: 3,
        limit: 3,
    };
    assert_eq!(
        k.explain(second),
        Some(Explanation::Queued {
            blockers: vec![at_limit.clone(), Blocker::BehindBetter { count: 1 }]
        })
    );
    assert_eq!(
        k.explain(first),
        Some(Explanation::Queued {
            blockers: vec![at_limit]
        })
    );
}
