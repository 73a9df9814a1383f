//! `check_invariants`: recomputes every index and counter from the registry and compares.
//!
//! Slow on purpose (O(n log n)): it is the oracle's cross-check, written separately from the
//! incremental code it checks.

use crate::counts::StateCounts;
use crate::deadline::{Cleanup, TaskDeadline, TaskTimer};
use crate::id::{ClassId, SessionId, TaskId};
use crate::kernel::{Kernel, Lifecycle};
use crate::queue::{LaneRef, Rank};
use crate::task::{Target, TaskState};
use std::collections::{BTreeMap, BTreeSet};

/// A broken invariant: which one, in words, with the values that disagree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated: {0}")]
pub struct InvariantViolation(pub String);

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(InvariantViolation(format!($($fmt)*)));
        }
    };
}

impl Kernel {
    /// Cross-checks queues, registry, session holders, group free sets, class counters, the
    /// ready index and the timer set against each other, plus every bound and the
    /// work-conservation rule. O(n log n); for tests and the simulator.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.check_shape()?;
        self.check_counts()?;
        self.check_lanes()?;
        self.check_sessions()?;
        self.check_timers()?;
        self.check_bounds()?;
        ensure!(
            self.best_ready().is_none(),
            "work conservation: a ready task is left queued: {:?}",
            self.best_ready()
        );
        ensure!(
            self.pending_cancels.is_empty() && self.closing_checks.is_empty(),
            "work left pending between inputs"
        );
        Ok(())
    }

    /// The structure itself: a decoded snapshot must pass this before anything else is trusted.
    fn check_shape(&self) -> Result<(), InvariantViolation> {
        if let Err(e) = self.config.validate() {
            return Err(InvariantViolation(format!("config: {e}")));
        }
        if let Err(e) = self.tasks.consistent() {
            return Err(InvariantViolation(format!("tasks: {e}")));
        }
        if let Err(e) = self.sessions.consistent() {
            return Err(InvariantViolation(format!("sessions: {e}")));
        }
        ensure!(
            self.classes.len() == self.config.classes.len(),
            "{} class states for {} classes",
            self.classes.len(),
            self.config.classes.len()
        );
        for (i, g) in self.groups.iter().enumerate() {
            ensure!(g.id.0 as usize == i, "group at {i} says {}", g.id);
            ensure!(
                self.group_names.get(&g.name) == Some(&g.id),
                "{} not named {}",
                g.id,
                g.name
            );
        }
        ensure!(
            self.group_names.len() == self.groups.len(),
            "group names and groups disagree"
        );
        for s in self.sessions.values() {
            let sid = &s.id;
            ensure!(
                *sid == s.id && sid.0 > 0 && sid.0 < self.next_session,
                "bad session id {sid}"
            );
            ensure!(
                s.closing.is_none() || s.counts.waiting() == 0,
                "closing {sid} still has waiting tasks"
            );
        }
        for t in self.tasks.values() {
            ensure!(
                t.seq < self.next_seq || self.next_seq == u64::MAX,
                "{} seq not yet issued",
                t.id
            );
            ensure!(t.attempt >= 1, "{} attempt 0", t.id);
        }
        if self.lifecycle != Lifecycle::Open {
            ensure!(
                self.counts.waiting() == 0,
                "shutting down with waiting tasks"
            );
        }
        Ok(())
    }

    fn check_counts(&self) -> Result<(), InvariantViolation> {
        let mut global = StateCounts::default();
        let mut by_class = vec![StateCounts::default(); self.classes.len()];
        // Per session: its recomputed counts, and how many of its tasks its task set holds.
        let mut by_session: BTreeMap<SessionId, (StateCounts, usize)> = BTreeMap::new();
        let mut queue_len: BTreeMap<Target, u32> = BTreeMap::new();
        let member_of = self.session_members()?;
        for t in self.tasks.values() {
            let id = &t.id;
            ensure!(*id == t.id, "record under {id} says {}", t.id);
            ensure!(t.id.0 < self.next_task, "{} not yet issued", t.id);
            global.add(t.state);
            match by_class.get_mut(t.class.index()) {
                Some(c) => c.add(t.state),
                None => return Err(InvariantViolation(format!("{id} has unknown {}", t.class))),
            }
            if let Some(s) = t.counted_session() {
                let e = by_session.entry(s).or_default();
                e.0.add(t.state);
                e.1 += 1;
                ensure!(
                    member_of.get(id) == Some(&s),
                    "{id} counted against {s} but missing from its task set"
                );
            }
            if t.state.is_waiting() {
                *queue_len.entry(t.target).or_default() += 1;
            }
            ensure!(
                t.state.is_terminal() == t.outcome.is_some(),
                "{id}: state {:?} vs outcome {:?}",
                t.state,
                t.outcome
            );
            ensure!(
                t.state.is_terminal() == t.finished_at.is_some(),
                "{id}: finished_at vs state {:?}",
                t.state
            );
            ensure!(
                (t.state == TaskState::Cancelling) <= t.cancel().is_some(),
                "{id} cancelling without cancel info"
            );
        }
        ensure!(
            global == self.counts,
            "global counts {:?} != recomputed {global:?}",
            self.counts
        );
        for (i, cs) in self.classes.iter().enumerate() {
            let want = by_class.get(i).copied().unwrap_or_default();
            ensure!(
                cs.counts == want,
                "class {i} counts {:?} != {want:?}",
                cs.counts
            );
            if let Some(limit) = self.config.classes.get(i).and_then(|c| c.limit) {
                ensure!(
                    cs.counts.active() <= u64::from(limit),
                    "class {i} runs {} > limit {limit}",
                    cs.counts.active()
                );
            }
        }
        for s in self.sessions.values() {
            let sid = &s.id;
            let (counts, tasks) = by_session.remove(sid).unwrap_or_default();
            ensure!(
                s.counts == counts,
                "{sid} counts {:?} != {counts:?}",
                s.counts
            );
            // Every task counted against the session is in its set (checked above), so the set
            // is exactly those tasks when the sizes agree.
            ensure!(
                s.tasks.len() == tasks,
                "{sid} task list has {} entries, {tasks} tasks are counted against it",
                s.tasks.len()
            );
            let q = queue_len.remove(&Target::Session(*sid)).unwrap_or(0);
            ensure!(s.queue_len == q, "{sid} queue_len {} != {q}", s.queue_len);
        }
        ensure!(
            by_session.is_empty(),
            "tasks counted against missing sessions: {by_session:?}"
        );
        for g in &self.groups {
            let q = queue_len.remove(&Target::Group(g.id)).unwrap_or(0);
            ensure!(
                g.queue_len == q,
                "{} queue_len {} != {q}",
                g.id,
                g.queue_len
            );
        }
        let q = queue_len.remove(&Target::None).unwrap_or(0);
        ensure!(
            self.background_queue_len == q,
            "background queue_len {} != {q}",
            self.background_queue_len
        );
        ensure!(
            queue_len.is_empty(),
            "waiting tasks aimed at missing targets: {queue_len:?}"
        );
        Ok(())
    }

    /// Walks every session's task list: ids strictly increasing, links consistent both ways,
    /// the length as counted, no task in two lists. Returns each member's session.
    fn session_members(&self) -> Result<BTreeMap<TaskId, SessionId>, InvariantViolation> {
        let mut member_of = BTreeMap::new();
        for s in self.sessions.values() {
            let mut last: Option<TaskId> = None;
            let mut walked = 0usize;
            ensure!(
                s.tasks.len() > 0 || s.tasks.head() == TaskId(0),
                "{}'s empty task list starts at {}",
                s.id,
                s.tasks.head()
            );
            for id in s.tasks.iter(&self.tasks) {
                walked += 1;
                ensure!(
                    walked <= self.tasks.len(),
                    "{}'s task list walks more tasks than are registered",
                    s.id
                );
                let t = self.tasks.get(&id).ok_or_else(|| {
                    InvariantViolation(format!("{}'s task list holds unknown {id}", s.id))
                })?;
                ensure!(
                    t.member.prev == last.unwrap_or(TaskId(0)),
                    "{id}'s back link in {}'s task list is broken",
                    s.id
                );
                ensure!(
                    last.is_none_or(|l| l < id),
                    "{}'s task list out of id order at {id}",
                    s.id
                );
                ensure!(
                    member_of.insert(id, s.id).is_none(),
                    "{id} is in two sessions' task lists"
                );
                last = Some(id);
            }
            ensure!(
                s.tasks.len() == walked && s.tasks.tail() == last.unwrap_or(TaskId(0)),
                "{}'s task list counts {} and ends at {}, holds {walked} ending at {last:?}",
                s.id,
                s.tasks.len(),
                s.tasks.tail()
            );
        }
        for t in self.tasks.values() {
            ensure!(
                member_of.contains_key(&t.id) || t.member == crate::queue::Links::default(),
                "{} is in no session's task list but keeps its links",
                t.id
            );
        }
        Ok(member_of)
    }

    fn check_lanes(&self) -> Result<(), InvariantViolation> {
        let mut seen: BTreeSet<TaskId> = BTreeSet::new();
        let mut want_ready: Vec<BTreeSet<(Rank, LaneRef)>> =
            vec![BTreeSet::new(); self.classes.len()];
        let mut lanes: Vec<(LaneRef, ClassId, &crate::queue::Lane)> = Vec::new();
        for s in self.sessions.values() {
            for (c, l) in s.lanes.iter() {
                lanes.push((LaneRef::Session(s.id), *c, l));
            }
        }
        for g in &self.groups {
            for (c, l) in g.lanes.iter() {
                lanes.push((LaneRef::Group(g.id), *c, l));
            }
        }
        for (i, cs) in self.classes.iter().enumerate() {
            lanes.push((LaneRef::Background, ClassId(i as u16), &cs.background));
        }
        // A broken link could loop: no walk may visit more tasks than are queued.
        let queued = self.counts.get(TaskState::Queued) as usize;
        for (lref, class, lane) in lanes {
            let mut last: Option<Rank> = None;
            let mut walked = 0usize;
            for id in lane.iter(&self.tasks) {
                walked += 1;
                ensure!(
                    walked <= queued,
                    "lane {lref:?} {class} walks more tasks than are queued"
                );
                let t = self
                    .tasks
                    .get(&id)
                    .ok_or_else(|| InvariantViolation(format!("lane holds unknown {id}")))?;
                ensure!(
                    t.state == TaskState::Queued,
                    "{id} in a lane but {:?}",
                    t.state
                );
                ensure!(t.class == class, "{id} in lane of {class}");
                ensure!(
                    self.lane_ref(t.class, t.target) == lref,
                    "{id} in the wrong lane {lref:?}"
                );
                let rank = Rank::new(t.priority, t.seq);
                ensure!(
                    last.is_none_or(|l| l < rank),
                    "{id} out of dispatch order in {lref:?} {class}"
                );
                if let Some(prev) = self.tasks.get(&t.links.prev) {
                    ensure!(prev.links.next == id, "{id}'s back link is broken");
                }
                last = Some(rank);
                ensure!(seen.insert(id), "{id} queued twice");
            }
            ensure!(
                lane.len() == walked,
                "lane {lref:?} {class} counts {} tasks, holds {walked}",
                lane.len()
            );
            if let Some((rank, _)) = lane.head(&self.tasks)
                && self.lane_available(lref)
                && let Some(w) = want_ready.get_mut(class.index())
            {
                w.insert((rank, lref));
            }
        }
        ensure!(
            seen.len() as u64 == self.counts.get(TaskState::Queued),
            "{} tasks in lanes, {} queued",
            seen.len(),
            self.counts.get(TaskState::Queued)
        );
        for t in self.tasks.values() {
            ensure!(
                seen.contains(&t.id) || t.links == crate::queue::Links::default(),
                "{} is in no lane but keeps lane links",
                t.id
            );
        }
        for (i, cs) in self.classes.iter().enumerate() {
            let want = want_ready.get(i).cloned().unwrap_or_default();
            if let Err(e) = cs.ready.consistent() {
                return Err(InvariantViolation(format!("class {i}: {e}")));
            }
            ensure!(
                cs.ready.len() == want.len() && cs.ready.iter().eq(want.iter()),
                "class {i} ready index {:?} != {want:?}",
                cs.ready
            );
        }
        Ok(())
    }

    fn check_sessions(&self) -> Result<(), InvariantViolation> {
        for (name, id) in &self.session_names {
            let s = self
                .sessions
                .get(id)
                .ok_or_else(|| InvariantViolation(format!("name {name} maps to missing {id}")))?;
            ensure!(
                s.name == *name && s.closing.is_none(),
                "name {name} maps to {id} ({})",
                s.name
            );
        }
        if let Err(e) = self.fences.consistent() {
            return Err(InvariantViolation(e));
        }
        ensure!(
            self.config.fence_reconnect || self.fences.names_len() == 0,
            "fences without fence_reconnect"
        );
        for (task, fence) in self.fences.tasks() {
            let in_registry = self.tasks.get(task);
            ensure!(
                fence.abandoned == in_registry.is_none(),
                "fence of {task}: abandoned {} but record present {}",
                fence.abandoned,
                in_registry.is_some()
            );
            if let Some(t) = in_registry {
                ensure!(t.state.is_active(), "{task} fences but is {:?}", t.state);
            }
        }
        for s in self.sessions.values() {
            ensure!(
                s.closing.is_some() || self.session_names.get(&s.name) == Some(&s.id),
                "{} is open but not named",
                s.id
            );
            ensure!(
                s.closing.is_some() || s.fenced == self.fences.is_fenced(&s.name),
                "{} fenced {} but its name's fences say otherwise",
                s.id,
                s.fenced
            );
            let holders: Vec<TaskId> = s
                .tasks
                .iter(&self.tasks)
                .filter_map(|id| self.tasks.get(&id))
                .filter(|t| {
                    t.state.is_active()
                        && t.session == Some(s.id)
                        && self.class_config(t.class).is_some_and(|c| c.exclusive)
                })
                .map(|t| t.id)
                .collect();
            ensure!(
                holders.len() <= 1,
                "exclusivity: {} held by {holders:?}",
                s.id
            );
            ensure!(
                s.holder == holders.first().copied(),
                "{} holder {:?} but active exclusive tasks {holders:?}",
                s.id,
                s.holder
            );
            ensure!(
                s.closing.is_none() || s.groups.is_empty(),
                "closing {} still in groups",
                s.id
            );
            for g in &s.groups {
                let grp = self
                    .groups
                    .get(g.0 as usize)
                    .ok_or_else(|| InvariantViolation(format!("{} in missing {g}", s.id)))?;
                ensure!(grp.members.contains(&s.id), "{} thinks it is in {g}", s.id);
            }
        }
        for g in &self.groups {
            let mut want_free = BTreeSet::new();
            for m in &g.members {
                let s = self
                    .sessions
                    .get(m)
                    .ok_or_else(|| InvariantViolation(format!("{} lists missing {m}", g.id)))?;
                ensure!(
                    s.groups.contains(&g.id),
                    "{} lists {m} which does not list it",
                    g.id
                );
                if s.is_free() {
                    want_free.insert((s.idle_since, s.id));
                }
            }
            ensure!(
                g.free == want_free,
                "{} free set {:?} != {want_free:?}",
                g.id,
                g.free
            );
        }
        Ok(())
    }

    fn check_timers(&self) -> Result<(), InvariantViolation> {
        let live = |d: &TaskDeadline| crate::clock::live(&self.tasks, d);
        if let Err(e) = self.timers.consistent(live) {
            return Err(InvariantViolation(e));
        }
        let held = self.timers.live_task_deadlines(live);
        let mut expected = 0usize;
        for t in self.tasks.values() {
            let class = self
                .class_config(t.class)
                .ok_or_else(|| InvariantViolation(format!("{} unknown class", t.id)))?;
            let aborted = t.cancel().is_some_and(|c| c.abort_requested_at.is_some());
            for kind in TaskTimer::ALL {
                let armed = t.timers.get(kind);
                if let Some(at) = armed {
                    expected += 1;
                    ensure!(
                        held.contains(&TaskDeadline {
                            at,
                            task: t.id,
                            kind,
                            class: t.class,
                        }),
                        "{} {kind:?} at {at} missing from the timers",
                        t.id
                    );
                }
                let should = match kind {
                    TaskTimer::Queue => {
                        t.state == TaskState::Queued && class.queue_timeout.is_some()
                    }
                    TaskTimer::Run => t.state == TaskState::Running && class.run_timeout.is_some(),
                    TaskTimer::Heartbeat => {
                        t.state == TaskState::Running && class.heartbeat_timeout.is_some()
                    }
                    TaskTimer::Grace => t.state == TaskState::Cancelling && !aborted,
                    TaskTimer::Backoff => t.state == TaskState::Backoff,
                    TaskTimer::Retention => t.state.is_terminal(),
                    TaskTimer::Total => {
                        // Armed until it fires or the task is cancelled or ends.
                        if armed.is_some() {
                            ensure!(
                                class.total_timeout.is_some()
                                    && matches!(
                                        t.state,
                                        TaskState::Queued | TaskState::Backoff | TaskState::Running
                                    ),
                                "{} total timer armed in {:?}",
                                t.id,
                                t.state
                            );
                        }
                        armed.is_some()
                    }
                };
                // Run/heartbeat/queue may already have fired and moved the task on, but a task
                // in the state they guard always has them armed.
                ensure!(
                    should == armed.is_some(),
                    "{} in {:?}: {kind:?} armed={:?}",
                    t.id,
                    t.state,
                    armed
                );
            }
            let stuck = t.state == TaskState::Cancelling && aborted;
            ensure!(
                stuck == self.stuck.contains(&t.id),
                "{} stuck flag mismatch",
                t.id
            );
        }
        ensure!(
            self.stuck.iter().all(|id| self.tasks.contains_key(id)),
            "stuck set lists removed tasks"
        );
        ensure!(
            self.timers.armed() == expected && held.len() == expected,
            "the timers count {} live deadlines and hold {}, the records arm {expected}",
            self.timers.armed(),
            held.len()
        );
        let mut cleanups = 0usize;
        for s in self.sessions.values() {
            if let Some(at) = s.closing {
                cleanups += 1;
                ensure!(
                    self.timers.contains_cleanup(at, Cleanup::Session(s.id)),
                    "closing {} has no cleanup timer",
                    s.id
                );
            }
        }
        if let Lifecycle::ShuttingDown { deadline } = self.lifecycle {
            cleanups += 1;
            ensure!(
                self.timers.contains_cleanup(deadline, Cleanup::Shutdown),
                "no shutdown timer"
            );
        }
        let listed = self.timers.cleanups().count();
        ensure!(
            listed == cleanups,
            "{listed} cleanup timers, expected {cleanups}: {:?}",
            self.timers.cleanups().take(8).collect::<Vec<_>>()
        );
        Ok(())
    }

    fn check_bounds(&self) -> Result<(), InvariantViolation> {
        let l = &self.config.limits;
        ensure!(
            self.tasks.len() + self.fences.abandoned_len() <= l.tasks_max as usize,
            "registry over its bound"
        );
        ensure!(
            self.sessions.len() <= l.sessions_max as usize,
            "sessions over their bound"
        );
        ensure!(
            self.groups.len() <= l.groups_max as usize,
            "groups over their bound"
        );
        for s in self.sessions.values() {
            ensure!(
                s.queue_len <= l.queue_len_max,
                "{} queue over its bound",
                s.id
            );
        }
        for g in &self.groups {
            ensure!(
                g.queue_len <= l.queue_len_max,
                "{} queue over its bound",
                g.id
            );
        }
        ensure!(
            self.background_queue_len <= l.background_queue_len_max,
            "background queue over its bound"
        );
        for t in self.tasks.values() {
            ensure!(
                t.children().len() <= l.children_max as usize,
                "{} too many children",
                t.id
            );
            ensure!(
                t.progress().message.len() <= l.message_len_max as usize,
                "{} message too long",
                t.id
            );
            for c in t.children() {
                let child = self.tasks.get(c);
                ensure!(
                    child.is_some_and(|c| !c.state.is_terminal() && c.parent == Some(t.id)),
                    "{} lists {c} as an active child",
                    t.id
                );
            }
            ensure!(
                !t.state.is_terminal() || t.children().is_empty(),
                "ended {} keeps children",
                t.id
            );
            if let Some(p) = t.parent.and_then(|p| self.tasks.get(&p))
                && !t.state.is_terminal()
                && !p.state.is_terminal()
            {
                ensure!(
                    p.children().contains(&t.id),
                    "{} missing from {}'s children",
                    t.id,
                    p.id
                );
            }
        }
        if self.lifecycle == Lifecycle::Stopped {
            ensure!(
                self.tasks.is_empty() && self.sessions.is_empty(),
                "stopped but not empty"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::deadline::{Cleanup, Timers};
    use crate::{ClassConfig, ClassId, Config, Duration, Instant, Kernel, Submit, Target};

    fn running() -> Kernel {
        let mut k = Kernel::new(Config::new(vec![
            ClassConfig::exclusive("io", 5).with_run_timeout(Duration::from_secs(5)),
        ]))
        .expect("config");
        let a = k.connect(Instant::ZERO, "a").expect("connect");
        k.submit(Instant::ZERO, Submit::new(ClassId(0), Target::Session(a)))
            .expect("submit");
        while k.poll_action().is_some() {}
        k
    }

    #[test]
    fn a_deadline_the_timers_lost_is_found() {
        let mut k = running();
        assert!(k.check_invariants().is_ok());
        k.timers = Timers::new(1);
        let err = k.check_invariants().expect_err("lost deadline").0;
        assert!(err.contains("missing from the timers"), "{err}");
    }

    #[test]
    fn a_stray_cleanup_is_found() {
        let mut k = running();
        k.timers
            .insert_cleanup(Instant::from_nanos(7), Cleanup::Shutdown);
        let err = k.check_invariants().expect_err("stray cleanup").0;
        assert!(err.contains("1 cleanup timers, expected 0"), "{err}");
    }

    #[test]
    fn a_miscounted_timer_index_is_found() {
        let mut k = running();
        // Counted as disarmed while the record still arms it.
        k.timers.disarm(ClassId(0), crate::deadline::TaskTimer::Run);
        let err = k.check_invariants().expect_err("miscount").0;
        assert!(err.contains("count 0 live deadlines"), "{err}");
    }

    #[test]
    fn a_task_missing_from_its_session_list_is_found() {
        let mut k = running();
        let sid = crate::SessionId(1);
        let Kernel {
            sessions, tasks, ..
        } = &mut k;
        if let Some(s) = sessions.get_mut(&sid) {
            s.tasks.remove(tasks, crate::TaskId(1));
        }
        let err = k.check_invariants().expect_err("missing member").0;
        assert!(err.contains("missing from its task set"), "{err}");
    }

    #[test]
    fn a_session_list_out_of_order_or_miscounted_is_found() {
        let mut k = running();
        let a = k.session_id("a").expect("a");
        k.submit(Instant::ZERO, Submit::new(ClassId(0), Target::Session(a)))
            .expect("submit");
        assert!(k.check_invariants().is_ok());
        // Swap the two members' places by relinking task 1 after task 2.
        {
            let Kernel {
                sessions, tasks, ..
            } = &mut k;
            if let Some(s) = sessions.get_mut(&a) {
                s.tasks.remove(tasks, crate::TaskId(1));
                s.tasks.insert(tasks, crate::TaskId(1));
            }
        }
        // Insert keeps id order, so the list is still right...
        assert!(k.check_invariants().is_ok());
        // ...but a task linked into a second session's list is found.
        let b = k.connect(Instant::ZERO, "b").expect("b");
        {
            let Kernel {
                sessions, tasks, ..
            } = &mut k;
            if let Some(s) = sessions.get_mut(&b) {
                s.tasks.insert(tasks, crate::TaskId(2));
            }
        }
        let err = k.check_invariants().expect_err("corrupt lists").0;
        assert!(
            err.contains("back link") || err.contains("two sessions") || err.contains("counts"),
            "{err}"
        );
    }
}
