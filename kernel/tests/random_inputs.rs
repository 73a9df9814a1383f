//! Random input sequences: the kernel never panics, `check_invariants()` holds after every input,
//! and every rejected input leaves the serialized state byte-identical.

use baton_kernel::{
    ClassConfig, ClassId, Config, Duration, Exit, GroupId, Input, Instant, Kernel, ListFilter,
    Progress, RetryPolicy, SessionId, Submit, Target, TaskId, TaskState,
};
use proptest::prelude::*;

fn config(seed: u64) -> Config {
    let ms = Duration::from_millis;
    let mut c = Config::new(vec![
        ClassConfig::exclusive("monitor", 10)
            .with_queue_timeout(ms(50))
            .with_run_timeout(ms(200))
            .with_grace(ms(20)),
        ClassConfig::exclusive("scrape", 5)
            .with_queue_timeout(ms(80))
            .with_run_timeout(ms(60))
            .with_heartbeat_timeout(ms(25))
            .with_grace(ms(15))
            .with_limit(2)
            .with_retry(RetryPolicy::exponential(3, ms(5), ms(40))),
        ClassConfig::exclusive("send", 1)
            .with_total_timeout(ms(120))
            .with_grace(ms(10))
            .with_retry(RetryPolicy::exponential(2, ms(10), ms(10)))
            .with_retention(ms(30)),
        ClassConfig::background("fill", 3)
            .with_limit(3)
            .with_retention(Duration::ZERO)
            .with_retry(RetryPolicy::exponential(4, ms(1), ms(8))),
    ]);
    c.limits.queue_len_max = 4;
    c.limits.background_queue_len_max = 6;
    c.limits.tasks_max = 40;
    c.limits.sessions_max = 4;
    c.limits.children_max = 3;
    c.limits.groups_max = 2;
    c.limits.groups_per_session_max = 2;
    c.limits.message_len_max = 8;
    c.cleanup_interval = ms(7);
    c.disconnect_grace = ms(30);
    c.seed = seed;
    c
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u64),
    Connect(u8),
    Disconnect(u8),
    Join(u8, u8),
    Leave(u8, u8),
    Submit {
        class: u8,
        target: u8,
        prio: Option<u8>,
        parent: Option<u8>,
    },
    Cancel(u8),
    Progress(u8, u64, Option<u64>, u8),
    Finish(u8, u8),
    Shutdown(u64),
    Timeout,
    Backwards,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop_oneof![0u64..20, 0u64..150].prop_map(Op::Advance),
        2 => (0u8..5).prop_map(Op::Connect),
        1 => (0u8..5).prop_map(Op::Disconnect),
        1 => (0u8..3, 0u8..6).prop_map(|(g, s)| Op::Join(g, s)),
        1 => (0u8..3, 0u8..6).prop_map(|(g, s)| Op::Leave(g, s)),
        8 => (0u8..5, 0u8..10, proptest::option::of(0u8..12), proptest::option::weighted(0.2, 0u8..30))
            .prop_map(|(class, target, prio, parent)| Op::Submit { class, target, prio, parent }),
        2 => (0u8..40).prop_map(Op::Cancel),
        2 => (0u8..40, 0u64..5, proptest::option::of(0u64..5), 0u8..12).prop_map(|(t, c, tot, m)| Op::Progress(t, c, tot, m)),
        8 => (0u8..40, 0u8..6).prop_map(|(t, e)| Op::Finish(t, e)),
        1 => (0u64..50).prop_map(Op::Shutdown),
        4 => Just(Op::Timeout),
        1 => Just(Op::Backwards),
        1 => Just(Op::Restart),
    ]
}

/// Turns an abstract op into a concrete input at `now`, aiming ids at plausible values.
fn input(k: &Kernel, op: &Op, now: &mut Instant) -> (Instant, Input) {
    let names = ["a", "b", "c", "d", "e"];
    let session = |i: u8| {
        k.session_id(names[(i % 5) as usize])
            .unwrap_or(SessionId(u64::from(i)))
    };
    // Mostly aim at tasks that exist in a fitting state; sometimes at any id.
    let pick = |i: u8, states: &[TaskState]| {
        if i % 8 == 7 {
            return TaskId(u64::from(i));
        }
        let ids: Vec<TaskId> = states
            .iter()
            .flat_map(|s| {
                let f = ListFilter {
                    state: Some(*s),
                    ..ListFilter::default()
                };
                k.list(&f, None, 1000).items.into_iter().map(|v| v.id)
            })
            .collect();
        ids.get(i as usize % ids.len().max(1))
            .copied()
            .unwrap_or(TaskId(u64::from(i)))
    };
    const ACTIVE: &[TaskState] = &[TaskState::Running, TaskState::Cancelling];
    const LIVE: &[TaskState] = &[
        TaskState::Queued,
        TaskState::Backoff,
        TaskState::Running,
        TaskState::Cancelling,
    ];
    match op {
        Op::Advance(ms) => {
            *now = *now + Duration::from_millis(*ms);
            (*now, Input::Timeout)
        }
        Op::Connect(i) => (
            *now,
            Input::Connect {
                name: names[*i as usize % 5].into(),
            },
        ),
        Op::Disconnect(i) => (
            *now,
            Input::Disconnect {
                name: names[*i as usize % 5].into(),
            },
        ),
        Op::Join(g, s) => (
            *now,
            Input::JoinGroup {
                group: format!("g{g}"),
                session: session(*s),
            },
        ),
        Op::Leave(g, s) => (
            *now,
            Input::LeaveGroup {
                group: format!("g{g}"),
                session: session(*s),
            },
        ),
        Op::Submit {
            class,
            target,
            prio,
            parent,
        } => {
            let target = match target {
                0..=4 => Target::Session(session(*target)),
                5 | 6 => Target::Group(GroupId(u32::from(*target - 5))),
                7 => Target::Session(SessionId(99)),
                _ => Target::None,
            };
            let s = Submit {
                class: ClassId(u16::from(*class)),
                target,
                priority: *prio,
                parent: parent.map(|p| pick(p, LIVE)),
            };
            (*now, Input::Submit(s))
        }
        Op::Cancel(t) => (
            *now,
            Input::Cancel {
                task: pick(*t, LIVE),
            },
        ),
        Op::Progress(t, c, tot, m) => (
            *now,
            Input::Progress {
                task: pick(*t, ACTIVE),
                progress: Progress {
                    current: *c,
                    total: *tot,
                    message: "x".repeat(*m as usize),
                },
            },
        ),
        Op::Finish(t, e) => {
            let exit = match e {
                0 | 1 => Exit::Completed,
                2 | 3 => Exit::Failed {
                    error: "boom".into(),
                    retryable: true,
                },
                4 => Exit::Failed {
                    error: "é".repeat(2000),
                    retryable: false,
                },
                _ => Exit::Dropped,
            };
            (
                *now,
                Input::Finished {
                    task: pick(*t, ACTIVE),
                    exit,
                },
            )
        }
        // Shutdown ends a run's interesting part, so it is rare.
        Op::Shutdown(ms) if *ms < 2 => (
            *now,
            Input::Shutdown {
                grace: Duration::from_millis(*ms * 20),
            },
        ),
        Op::Shutdown(_) => (*now, Input::Timeout),
        Op::Timeout => (*now, Input::Timeout),
        Op::Restart => (*now, Input::Restart),
        Op::Backwards => (
            Instant::from_nanos(now.as_nanos().saturating_sub(1)),
            Input::Timeout,
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_errors_change_nothing(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..120)) {
        let mut k = Kernel::new(config(seed)).expect("valid config");
        let mut now = Instant::from_nanos(1_000_000);
        for (step, op) in ops.iter().enumerate() {
            let (at, inp) = input(&k, op, &mut now);
            // Time keeps itself: a refused input leaves exactly what handle_timeout(at) leaves (and
            // nothing changes at all when `at` is in the past).
            let mut caught_up = k.clone();
            if at >= k.now() {
                caught_up.handle_timeout(at).expect("not in the past");
            }
            let before = serde_json::to_string(&caught_up).expect("serializable");
            let timeout = inp == Input::Timeout;
            match k.apply(at, inp.clone()) {
                Ok(_) => {
                    // handle_timeout fires everything due, including what it arms on the way.
                    if timeout && let Some(t) = k.poll_timeout() {
                        prop_assert!(t > at, "step {}: deadline {} still due after handle_timeout({})", step, t, at);
                    }
                }
                Err(e) => {
                    let after = serde_json::to_string(&k).expect("serializable");
                    prop_assert_eq!(&before, &after, "step {} input {:?} failed with {} but changed more than handle_timeout", step, inp, e);
                }
            }
            while k.poll_action().is_some() {}
            if let Err(v) = k.check_invariants() {
                prop_assert!(false, "step {step} after {inp:?}: {v}");
            }
        }
        // Snapshot round-trip: the whole state survives serde and keeps its invariants.
        let json = serde_json::to_string(&k).expect("serializable");
        let back: Kernel = serde_json::from_str(&json).expect("deserializable");
        prop_assert_eq!(&back, &k);
        back.check_invariants().map_err(|v| TestCaseError::fail(v.to_string()))?;
    }

    /// Property 11 at the kernel level: the same inputs at the same instants give the same
    /// decisions at the same kernel instants whether the driver calls `handle_timeout` at every
    /// deadline (punctual) or never (lazy: every input catches up by itself).
    #[test]
    fn punctual_and_lazy_drivers_decide_alike(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..120)) {
        let mut punctual = Kernel::new(config(seed)).expect("valid config");
        let mut lazy = punctual.clone();
        let mut now = Instant::from_nanos(1_000_000);
        let (mut seen_p, mut seen_l) = (Vec::new(), Vec::new());
        for (step, op) in ops.iter().enumerate() {
            let (at, inp) = input(&punctual, op, &mut now);
            if inp == Input::Timeout || at < punctual.now() {
                continue; // the lazy driver has no timer at all
            }
            while let Some(due) = punctual.poll_timeout().filter(|d| *d <= at) {
                punctual.handle_timeout(due).expect("punctual timer");
            }
            let rp = punctual.apply(at, inp.clone());
            let rl = lazy.apply(at, inp.clone());
            prop_assert_eq!(&rp, &rl, "step {} {:?}: answers differ", step, inp);
            seen_p.extend(std::iter::from_fn(|| punctual.poll_action_at()));
            seen_l.extend(std::iter::from_fn(|| lazy.poll_action_at()));
            prop_assert_eq!(&seen_p, &seen_l, "step {} {:?}: decisions differ", step, inp);
        }
        let end = now + Duration::from_secs(3600);
        punctual.handle_timeout(end).expect("end");
        lazy.handle_timeout(end).expect("end");
        seen_p.extend(std::iter::from_fn(|| punctual.poll_action_at()));
        seen_l.extend(std::iter::from_fn(|| lazy.poll_action_at()));
        prop_assert_eq!(&seen_p, &seen_l);
        prop_assert_eq!(serde_json::to_string(&punctual).expect("json"), serde_json::to_string(&lazy).expect("json"));
        // Instants are never out of order.
        prop_assert!(seen_p.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn same_inputs_same_actions(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..80)) {
        let run = || {
            let mut k = Kernel::new(config(seed)).expect("valid config");
            let mut now = Instant::from_nanos(1_000_000);
            let mut log = Vec::new();
            for op in &ops {
                let (at, inp) = input(&k, op, &mut now);
                log.push(format!("{:?}", k.apply(at, inp)));
                while let Some(a) = k.poll_action() {
                    log.push(format!("{a:?}"));
                }
            }
            log
        };
        prop_assert_eq!(run(), run());
    }
}
