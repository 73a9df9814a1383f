//! The one dispatch rule: the best ready task (priority, then FIFO) starts, repeatedly, until none
//! is ready; class limits hold across sessions; blocked tasks never block ready ones.

use baton_kernel::{
    Action, ClassConfig, ClassId, Config, Exit, Instant, Kernel, SessionId, Submit, Target, TaskId,
    TaskState,
};
use std::collections::{BTreeMap, BTreeSet};

const HI: ClassId = ClassId(0);
const MID: ClassId = ClassId(1);
const LO: ClassId = ClassId(2);
const BG: ClassId = ClassId(3);
const BG_LIMITED: ClassId = ClassId(4);

fn config(mid_limit: u32) -> Config {
    Config::new(vec![
        ClassConfig::exclusive("hi", 10).without_timeouts(),
        ClassConfig::exclusive("mid", 5)
            .without_timeouts()
            .with_limit(mid_limit),
        ClassConfig::exclusive("lo", 1).without_timeouts(),
        ClassConfig::background("bg", 3).without_timeouts(),
        ClassConfig::background("bg_limited", 3)
            .without_timeouts()
            .with_limit(2),
    ])
}

fn now() -> Instant {
    Instant::from_nanos(1_000)
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

/// The tasks started by these actions, in order.
fn starts(actions: &[Action]) -> Vec<TaskId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { task, .. } => Some(*task),
            _ => None,
        })
        .collect()
}

fn submit(k: &mut Kernel, class: ClassId, target: Target, priority: Option<u8>) -> TaskId {
    let s = Submit {
        priority,
        ..Submit::new(class, target)
    };
    k.submit(now(), s).unwrap()
}

fn sessions(k: &mut Kernel, n: usize) -> Vec<SessionId> {
    (0..n)
        .map(|i| k.connect(now(), &format!("s{i}")).unwrap())
        .collect()
}

/// Completes the holder of `s` until nothing more starts there; returns the start order.
fn run_out(k: &mut Kernel, s: SessionId) -> Vec<TaskId> {
    let mut order = Vec::new();
    while let Some(h) = k.session_holder(s) {
        k.finished(now(), h, Exit::Completed).unwrap();
        order.extend(starts(&drain(k)));
    }
    order
}

#[test]
fn priority_then_fifo_on_one_session() {
    let mut k = Kernel::new(config(10)).unwrap();
    let s = sessions(&mut k, 1)[0];
    let holder = submit(&mut k, LO, Target::Session(s), None);
    assert_eq!(starts(&drain(&mut k)), vec![holder]);
    let a = submit(&mut k, LO, Target::Session(s), None);
    let b = submit(&mut k, MID, Target::Session(s), None);
    let c = submit(&mut k, HI, Target::Session(s), None);
    let d = submit(&mut k, MID, Target::Session(s), None);
    let e = submit(&mut k, LO, Target::Session(s), None);
    let f = submit(&mut k, HI, Target::Session(s), None);
    assert_eq!(drain(&mut k), vec![], "the session is held");
    assert_eq!(run_out(&mut k, s), vec![c, f, b, d, a, e]);
}

#[test]
fn per_task_priority_overrides_the_class_default() {
    let mut k = Kernel::new(config(10)).unwrap();
    let s = sessions(&mut k, 1)[0];
    let holder = submit(&mut k, HI, Target::Session(s), None);
    drain(&mut k);
    let demoted = submit(&mut k, HI, Target::Session(s), Some(0));
    let plain_hi = submit(&mut k, HI, Target::Session(s), None);
    let promoted = submit(&mut k, LO, Target::Session(s), Some(200));
    let plain_lo = submit(&mut k, LO, Target::Session(s), None);
    assert_eq!(k.task(promoted).unwrap().priority, 200);
    assert_eq!(k.task(demoted).unwrap().priority, 0);
    assert_eq!(k.task(plain_lo).unwrap().priority, 1);
    assert_eq!(
        run_out(&mut k, s),
        vec![promoted, plain_hi, plain_lo, demoted]
    );
    assert_eq!(k.task(holder).unwrap().state, TaskState::Completed);
}

#[test]
fn class_limit_holds_across_sessions_and_the_best_waiting_task_gets_the_slot() {
    let mut k = Kernel::new(config(3)).unwrap();
    let ss = sessions(&mut k, 10);
    let mut ids = Vec::new();
    for (i, s) in ss.iter().enumerate() {
        let prio = if i == 7 { Some(9) } else { None };
        ids.push(submit(&mut k, MID, Target::Session(*s), prio));
    }
    // The dispatcher runs after every submit, so the first three submits took the slots.
    assert_eq!(starts(&drain(&mut k)), vec![ids[0], ids[1], ids[2]]);
    assert_eq!(k.class_counts(MID).unwrap().active(), 3);

    k.finished(now(), ids[1], Exit::Completed).unwrap();
    assert_eq!(
        starts(&drain(&mut k)),
        vec![ids[7]],
        "priority 9 beats FIFO"
    );
    k.finished(now(), ids[0], Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![ids[3]]);
    k.finished(now(), ids[7], Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![ids[4]]);
    assert_eq!(k.class_counts(MID).unwrap().active(), 3);
    assert_eq!(k.class_counts(MID).unwrap().get(TaskState::Queued), 4);
}

#[test]
fn a_better_task_blocked_on_its_session_does_not_block_a_ready_one() {
    let mut k = Kernel::new(config(10)).unwrap();
    let ss = sessions(&mut k, 2);
    let (a, b) = (ss[0], ss[1]);
    let _holder = submit(&mut k, LO, Target::Session(a), None);
    drain(&mut k);
    let blocked = submit(&mut k, HI, Target::Session(a), None);
    let ready = submit(&mut k, LO, Target::Session(b), None);
    assert_eq!(starts(&drain(&mut k)), vec![ready]);
    assert_eq!(k.task(blocked).unwrap().state, TaskState::Queued);
}

#[test]
fn a_better_task_blocked_by_its_class_limit_does_not_block_a_ready_one() {
    let mut k = Kernel::new(config(1)).unwrap();
    let ss = sessions(&mut k, 2);
    let (a, b) = (ss[0], ss[1]);
    let m1 = submit(&mut k, MID, Target::Session(a), None);
    drain(&mut k);
    // mid is at its limit: the mid task on b waits, and the lower lo task on b runs instead.
    let m2 = submit(&mut k, MID, Target::Session(b), None);
    let low = submit(&mut k, LO, Target::Session(b), None);
    assert_eq!(starts(&drain(&mut k)), vec![low]);
    assert_eq!(k.task(m2).unwrap().state, TaskState::Queued);
    // The mid slot frees, but b is held by `low` now: m2 still waits; then b frees and it runs.
    k.finished(now(), m1, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![]);
    k.finished(now(), low, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![m2]);
}

#[test]
fn background_tasks_need_no_session() {
    let mut k = Kernel::new(config(10)).unwrap();
    let ids: Vec<TaskId> = (0..5)
        .map(|_| submit(&mut k, BG, Target::None, None))
        .collect();
    let actions = drain(&mut k);
    assert_eq!(starts(&actions), ids);
    for a in &actions {
        assert!(matches!(a, Action::Start { session: None, .. }), "{a:?}");
    }
    assert_eq!(k.counts().get(TaskState::Running), 5);
}

#[test]
fn a_limited_background_class_runs_at_most_its_limit() {
    let mut k = Kernel::new(config(10)).unwrap();
    let ids: Vec<TaskId> = (0..5)
        .map(|_| submit(&mut k, BG_LIMITED, Target::None, None))
        .collect();
    assert_eq!(starts(&drain(&mut k)), vec![ids[0], ids[1]]);
    let urgent = submit(&mut k, BG_LIMITED, Target::None, Some(9));
    assert_eq!(drain(&mut k), vec![]);
    k.finished(now(), ids[0], Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![urgent]);
    k.finished(now(), ids[1], Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![ids[2]]);
}

#[test]
fn exclusive_tasks_hold_the_session_and_background_ones_do_not() {
    let mut k = Kernel::new(config(10)).unwrap();
    let s = sessions(&mut k, 1)[0];
    let x1 = submit(&mut k, LO, Target::Session(s), None);
    let x2 = submit(&mut k, HI, Target::Session(s), None);
    // A background class aimed at the session runs beside the exclusive holder.
    let side = submit(&mut k, BG, Target::Session(s), None);
    let actions = drain(&mut k);
    assert_eq!(starts(&actions), vec![x1, side]);
    assert!(actions.contains(&Action::Start {
        task: side,
        class: BG,
        session: Some(s),
        attempt: 1
    }));
    assert_eq!(k.session_holder(s), Some(x1));
    assert_eq!(k.task(x2).unwrap().state, TaskState::Queued);
    // The background task finishing frees nothing exclusive.
    k.finished(now(), side, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![]);
    k.finished(now(), x1, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![x2]);
}

/// A tiny deterministic generator for the load test (no dependency, same on every platform).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A naive reference of the dispatch rule for one limited exclusive class plus one unlimited
/// exclusive class: scan every queued task, take the best whose session is free and whose class
/// has a slot, repeat.
#[derive(Default)]
struct Reference {
    queued: BTreeMap<TaskId, (ClassId, u8, u64, SessionId)>,
    running: BTreeMap<TaskId, (ClassId, SessionId)>,
    seq: u64,
}

impl Reference {
    fn submit(&mut self, id: TaskId, class: ClassId, prio: u8, s: SessionId) {
        self.queued.insert(id, (class, prio, self.seq, s));
        self.seq += 1;
    }

    fn dispatch(&mut self, limit: usize) -> Vec<TaskId> {
        let mut started = Vec::new();
        loop {
            let held: BTreeSet<SessionId> = self.running.values().map(|r| r.1).collect();
            let mid_running = self.running.values().filter(|r| r.0 == MID).count();
            let best = self
                .queued
                .iter()
                .filter(|(_, (c, _, _, s))| !held.contains(s) && (*c != MID || mid_running < limit))
                .min_by_key(|(_, (_, p, seq, _))| (u8::MAX - p, *seq))
                .map(|(id, _)| *id);
            let Some(id) = best else { break };
            let (c, _, _, s) = self.queued.remove(&id).unwrap();
            self.running.insert(id, (c, s));
            started.push(id);
        }
        started
    }
}

#[test]
fn under_load_every_start_matches_a_naive_reference() {
    const LIMIT: u32 = 3;
    let mut k = Kernel::new(config(LIMIT)).unwrap();
    let ss = sessions(&mut k, 8);
    let mut model = Reference::default();
    let mut rng = Lcg(42);
    let mut max_mid = 0;
    for step in 0..600 {
        let running: Vec<TaskId> = model.running.keys().copied().collect();
        if !running.is_empty() && rng.below(3) == 0 {
            let id = running[rng.below(running.len() as u64) as usize];
            k.finished(now(), id, Exit::Completed).unwrap();
            model.running.remove(&id);
        } else {
            let s = ss[rng.below(ss.len() as u64) as usize];
            let class = if rng.below(4) == 0 { LO } else { MID };
            let prio = rng.below(4) as u8 + 1;
            let Ok(id) = k.submit(
                now(),
                Submit {
                    priority: Some(prio),
                    ..Submit::new(class, Target::Session(s))
                },
            ) else {
                continue; // queue full: refused, nothing registered
            };
            model.submit(id, class, prio, s);
        }
        let want = model.dispatch(LIMIT as usize);
        let got = starts(&drain(&mut k));
        assert_eq!(got, want, "step {step}");
        let mid = k.class_counts(MID).unwrap().active();
        assert!(mid <= u64::from(LIMIT));
        max_mid = max_mid.max(mid);
    }
    assert_eq!(
        max_mid,
        u64::from(LIMIT),
        "the limit was reached under load"
    );
}

/// A naive model of the whole rule: sessions, groups (idle-longest member, ties by lowest id),
/// background work, two limited classes, priorities, joins and leaves. Each decision scans
/// everything.
struct FullReference {
    /// id → (class, priority, seq, target)
    queued: BTreeMap<TaskId, (ClassId, u8, u64, Target)>,
    /// id → (class, session it holds, if exclusive)
    running: BTreeMap<TaskId, (ClassId, Option<SessionId>)>,
    idle_since: BTreeMap<SessionId, Instant>,
    members: BTreeMap<u32, BTreeSet<SessionId>>,
    seq: u64,
}

impl FullReference {
    fn exclusive(class: ClassId) -> bool {
        class != BG && class != BG_LIMITED
    }

    fn limit(class: ClassId, mid_limit: usize) -> Option<usize> {
        match class {
            MID => Some(mid_limit),
            BG_LIMITED => Some(2),
            _ => None,
        }
    }

    fn held(&self) -> BTreeSet<SessionId> {
        self.running.values().filter_map(|r| r.1).collect()
    }

    /// Where the task would run now, if it is ready: `Some(None)` for no session.
    fn placement(
        &self,
        class: ClassId,
        target: Target,
        mid_limit: usize,
    ) -> Option<Option<SessionId>> {
        let active = self.running.values().filter(|r| r.0 == class).count();
        if Self::limit(class, mid_limit).is_some_and(|l| active >= l) {
            return None;
        }
        if !Self::exclusive(class) {
            return Some(match target {
                Target::Session(s) => Some(s),
                _ => None,
            });
        }
        let held = self.held();
        match target {
            Target::Session(s) => (!held.contains(&s)).then_some(Some(s)),
            Target::Group(g) => self
                .members
                .get(&g.0)
                .into_iter()
                .flatten()
                .filter(|s| !held.contains(s))
                .min_by_key(|s| (self.idle_since[s], **s))
                .map(|s| Some(*s)),
            Target::None => None,
        }
    }

    fn dispatch(&mut self, mid_limit: usize) -> Vec<(TaskId, Option<SessionId>)> {
        let mut started = Vec::new();
        loop {
            let best = self
                .queued
                .iter()
                .filter_map(|(id, (c, p, seq, t))| {
                    self.placement(*c, *t, mid_limit)
                        .map(|s| ((u8::MAX - p, *seq), *id, s))
                })
                .min();
            let Some((_, id, session)) = best else { break };
            let (class, ..) = self.queued.remove(&id).unwrap();
            let holds = if Self::exclusive(class) {
                session
            } else {
                None
            };
            self.running.insert(id, (class, holds));
            started.push((id, session));
        }
        started
    }
}

#[test]
fn with_groups_and_background_work_every_start_matches_a_naive_reference() {
    const MID_LIMIT: usize = 2;
    for seed in 1..=6u64 {
        let mut k = Kernel::new(config(MID_LIMIT as u32)).unwrap();
        let mut model = FullReference {
            queued: BTreeMap::new(),
            running: BTreeMap::new(),
            idle_since: BTreeMap::new(),
            members: BTreeMap::new(),
            seq: 0,
        };
        let mut rng = Lcg(seed);
        let mut now = Instant::from_nanos(0);
        let ss: Vec<SessionId> = (0..6)
            .map(|i| {
                let s = k.connect(now, &format!("s{i}")).unwrap();
                model.idle_since.insert(s, now);
                s
            })
            .collect();
        for step in 0..500 {
            now = now + baton_kernel::Duration::from_millis(rng.below(3));
            let running: Vec<TaskId> = model.running.keys().copied().collect();
            match rng.below(10) {
                0..=2 if !running.is_empty() => {
                    let id = running[rng.below(running.len() as u64) as usize];
                    k.finished(now, id, Exit::Completed).unwrap();
                    if let Some((_, Some(s))) = model.running.remove(&id) {
                        model.idle_since.insert(s, now);
                    }
                }
                3 => {
                    let name = format!("g{}", rng.below(2));
                    let s = ss[rng.below(ss.len() as u64) as usize];
                    let member = k
                        .group_id(&name)
                        .is_some_and(|g| model.members.get(&g.0).is_some_and(|m| m.contains(&s)));
                    if member {
                        k.leave_group(now, &name, s).unwrap();
                        let g = k.group_id(&name).unwrap();
                        model.members.entry(g.0).or_default().remove(&s);
                    } else {
                        let g = k.join_group(now, &name, s).unwrap();
                        model.members.entry(g.0).or_default().insert(s);
                    }
                }
                _ => {
                    let class = [HI, MID, LO, BG, BG_LIMITED][rng.below(5) as usize];
                    let target = match rng.below(4) {
                        _ if !FullReference::exclusive(class) && rng.below(2) == 0 => Target::None,
                        0 => match k.group_id(&format!("g{}", rng.below(2))) {
                            Some(g) => Target::Group(g),
                            None => Target::Session(ss[0]),
                        },
                        _ => Target::Session(ss[rng.below(ss.len() as u64) as usize]),
                    };
                    let prio = rng.below(3) as u8 + 1;
                    let s = Submit {
                        priority: Some(prio),
                        ..Submit::new(class, target)
                    };
                    let Ok(id) = k.submit(now, s) else { continue };
                    model.queued.insert(id, (class, prio, model.seq, target));
                    model.seq += 1;
                }
            }
            let want = model.dispatch(MID_LIMIT);
            let got: Vec<(TaskId, Option<SessionId>)> = drain(&mut k)
                .iter()
                .filter_map(|a| match a {
                    Action::Start { task, session, .. } => Some((*task, *session)),
                    _ => None,
                })
                .collect();
            assert_eq!(got, want, "seed {seed} step {step}");
        }
        assert!(model.seq > 100);
    }
}
