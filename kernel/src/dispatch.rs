//! The one dispatch rule, and the indexes that make it cheap.
//!
//! A queued task is *ready* when its lane's resource is available (background; or its session is
//! free; or its group has a free member), its class has a free slot, and it is not in backoff
//! (backing-off tasks are in no lane). Each class keeps the heads of its available lanes in an
//! ordered set, so the best ready task is the best first entry among the classes with a free slot:
//! O(classes) to find. A lane's entry there changes only when its head does or its resource
//! comes or goes; appending behind a head (the usual submit) touches no index.

use crate::action::Action;
use crate::deadline::TaskTimer;
use crate::id::{ClassId, GroupId, SessionId, TaskId};
use crate::kernel::{ClassState, Kernel};
use crate::queue::{Lane, LaneRef, Lanes, Rank};
use crate::registry::Registry;
use crate::task::{Target, TaskState};
use crate::time::Instant;

fn unpublish(
    classes: &mut [ClassState],
    tasks: &Registry,
    class: ClassId,
    lane: &Lane,
    lref: LaneRef,
) {
    if let (Some(cs), Some((rank, _))) = (classes.get_mut(class.index()), lane.head(tasks)) {
        cs.ready.remove(&(rank, lref));
    }
}

fn publish(
    classes: &mut [ClassState],
    tasks: &Registry,
    class: ClassId,
    lane: &Lane,
    lref: LaneRef,
) {
    if let (Some(cs), Some((rank, _))) = (classes.get_mut(class.index()), lane.head(tasks)) {
        cs.ready.insert((rank, lref));
    }
}

fn unpublish_all(classes: &mut [ClassState], tasks: &Registry, lanes: &Lanes, lref: LaneRef) {
    for (class, lane) in lanes.iter() {
        unpublish(classes, tasks, *class, lane, lref);
    }
}

fn publish_all(classes: &mut [ClassState], tasks: &Registry, lanes: &Lanes, lref: LaneRef) {
    for (class, lane) in lanes.iter() {
        publish(classes, tasks, *class, lane, lref);
    }
}

impl Kernel {
    /// The lane a task waits in.
    pub(crate) fn lane_ref(&self, class: ClassId, target: Target) -> LaneRef {
        let exclusive = self.class_config(class).is_some_and(|c| c.exclusive);
        match target {
            Target::Session(s) if exclusive => LaneRef::Session(s),
            Target::Group(g) if exclusive => LaneRef::Group(g),
            _ => LaneRef::Background,
        }
    }

    /// Whether a lane's resource is available.
    pub(crate) fn lane_available(&self, lref: LaneRef) -> bool {
        match lref {
            LaneRef::Session(s) => self.sessions.get(&s).is_some_and(|s| s.is_free()),
            LaneRef::Group(g) => self
                .groups
                .get(g.0 as usize)
                .is_some_and(|g| !g.free.is_empty()),
            LaneRef::Background => true,
        }
    }

    /// The lane itself, if it exists.
    pub(crate) fn lane(&self, lref: LaneRef, class: ClassId) -> Option<&Lane> {
        match lref {
            LaneRef::Session(s) => self.sessions.get(&s)?.lanes.get(class),
            LaneRef::Group(g) => self.groups.get(g.0 as usize)?.lanes.get(class),
            LaneRef::Background => Some(&self.classes.get(class.index())?.background),
        }
    }

    /// Inserts (`Change::Enter`) or removes (`Change::Leave`) a queued task in its lane; when the
    /// lane's head changes and its resource is available, the class's ready index follows.
    fn lane_update(&mut self, id: TaskId, change: LaneChange) {
        let Some(t) = self.tasks.get(&id) else { return };
        let (class, priority) = (t.class, t.priority);
        let lref = self.lane_ref(class, t.target);
        let available = self.lane_available(lref);
        let Kernel {
            sessions,
            groups,
            classes,
            tasks,
            ..
        } = self;
        let lane = match lref {
            LaneRef::Session(s) => sessions.get_mut(&s).and_then(|s| s.lanes.entry(class)),
            LaneRef::Group(g) => groups
                .get_mut(g.0 as usize)
                .and_then(|g| g.lanes.entry(class)),
            LaneRef::Background => classes.get_mut(class.index()).map(|c| &mut c.background),
        };
        let Some(lane) = lane else { return };
        // An unavailable lane is in no ready index: nothing to compare.
        let before = if available { lane.head(tasks) } else { None };
        match change {
            LaneChange::Enter => lane.push(tasks, id, priority),
            LaneChange::Leave => lane.remove(tasks, id, priority),
        }
        if !available {
            return;
        }
        let after = lane.head(tasks);
        if before == after {
            return;
        }
        let Some(cs) = classes.get_mut(class.index()) else {
            return;
        };
        if let Some((rank, _)) = before {
            cs.ready.remove(&(rank, lref));
        }
        if let Some((rank, _)) = after {
            cs.ready.insert((rank, lref));
        }
    }

    /// Rebuilds every lane and the ready index from the records (after loading a snapshot).
    pub(crate) fn rebuild_lanes(&mut self) {
        for s in self.sessions.values_mut() {
            s.lanes = Lanes::default();
        }
        for g in &mut self.groups {
            g.lanes = Lanes::default();
        }
        for c in &mut self.classes {
            c.background = Lane::default();
            c.ready.clear();
        }
        let mut queued: Vec<(u64, TaskId)> = self
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Queued)
            .map(|t| (t.seq, t.id))
            .collect();
        queued.sort_unstable();
        for (_, id) in queued {
            self.enqueue(id);
        }
    }

    /// Puts a Queued task into its lane. O(1) (O(log n) when its lane's head changes while
    /// available).
    pub(crate) fn enqueue(&mut self, id: TaskId) {
        self.lane_update(id, LaneChange::Enter);
    }

    /// Takes a Queued task out of its lane. O(1) (O(log n) when its lane's head changes while
    /// available).
    pub(crate) fn dequeue(&mut self, id: TaskId) {
        self.lane_update(id, LaneChange::Leave);
    }

    /// The session is about to stop being free (held, or closing): hide its lanes and take it out
    /// of its groups' free sets. O(lanes + groups) · O(log n).
    pub(crate) fn session_busy(&mut self, sid: SessionId) {
        let Kernel {
            sessions,
            groups,
            classes,
            tasks,
            ..
        } = self;
        let Some(s) = sessions.get(&sid) else { return };
        unpublish_all(classes, tasks, &s.lanes, LaneRef::Session(sid));
        for g in &s.groups {
            if let Some(grp) = groups.get_mut(g.0 as usize) {
                grp.free.remove(&(s.idle_since, sid));
                if grp.free.is_empty() {
                    unpublish_all(classes, tasks, &grp.lanes, LaneRef::Group(*g));
                }
            }
        }
    }

    /// The session has just become free: it is idle since now; show its lanes and add it to its
    /// groups' free sets. O(lanes + groups) · O(log n).
    pub(crate) fn session_free(&mut self, sid: SessionId) {
        let now = self.now;
        let Kernel {
            sessions,
            groups,
            classes,
            tasks,
            ..
        } = self;
        let Some(s) = sessions.get_mut(&sid) else {
            return;
        };
        s.idle_since = now;
        publish_all(classes, tasks, &s.lanes, LaneRef::Session(sid));
        for g in &s.groups {
            if let Some(grp) = groups.get_mut(g.0 as usize) {
                let was_empty = grp.free.is_empty();
                grp.free.insert((now, sid));
                if was_empty {
                    publish_all(classes, tasks, &grp.lanes, LaneRef::Group(*g));
                }
            }
        }
    }

    /// A free session joined group `g`.
    pub(crate) fn group_member_free(&mut self, g: GroupId, idle: Instant, sid: SessionId) {
        let Kernel {
            groups,
            classes,
            tasks,
            ..
        } = self;
        if let Some(grp) = groups.get_mut(g.0 as usize) {
            let was_empty = grp.free.is_empty();
            grp.free.insert((idle, sid));
            if was_empty {
                publish_all(classes, tasks, &grp.lanes, LaneRef::Group(g));
            }
        }
    }

    /// A free session left group `g`.
    pub(crate) fn group_member_busy(&mut self, g: GroupId, idle: Instant, sid: SessionId) {
        let Kernel {
            groups,
            classes,
            tasks,
            ..
        } = self;
        if let Some(grp) = groups.get_mut(g.0 as usize) {
            grp.free.remove(&(idle, sid));
            if grp.free.is_empty() {
                unpublish_all(classes, tasks, &grp.lanes, LaneRef::Group(g));
            }
        }
    }

    /// Whether the class can start one more task.
    pub(crate) fn class_has_slot(&self, class: ClassId) -> bool {
        let active = self
            .classes
            .get(class.index())
            .map_or(0, |c| c.counts.active());
        match self.class_config(class).and_then(|c| c.limit) {
            Some(limit) => active < u64::from(limit),
            None => true,
        }
    }

    /// The best ready task: the smallest rank among the ready heads of classes with a free slot.
    /// O(classes).
    pub(crate) fn best_ready(&self) -> Option<(Rank, LaneRef, ClassId)> {
        let mut best: Option<(Rank, LaneRef, ClassId)> = None;
        for (i, cs) in self.classes.iter().enumerate() {
            let class = ClassId(i as u16);
            let Some(&(rank, lref)) = cs.ready.first() else {
                continue;
            };
            if !self.class_has_slot(class) {
                continue;
            }
            if best.is_none_or(|(r, _, _)| rank < r) {
                best = Some((rank, lref, class));
            }
        }
        best
    }

    /// Starts the best ready task, repeatedly, until none is ready (DESIGN.md's one rule).
    pub(crate) fn dispatch(&mut self) {
        while let Some((rank, lref, class)) = self.best_ready() {
            let head = self.lane(lref, class).and_then(|l| l.head(&self.tasks));
            match head {
                Some((r, id)) if r == rank => self.start(id, lref),
                _ => {
                    // The ready index disagrees with the lane: repair rather than loop forever.
                    debug_assert!(false, "stale ready entry {rank:?} {lref:?} in {class}");
                    if let Some(cs) = self.classes.get_mut(class.index()) {
                        cs.ready.remove(&(rank, lref));
                    }
                }
            }
        }
    }

    fn start(&mut self, id: TaskId, lref: LaneRef) {
        let session = match lref {
            LaneRef::Session(s) => Some(s),
            LaneRef::Group(g) => self
                .groups
                .get(g.0 as usize)
                .and_then(|g| g.free.first())
                .map(|(_, s)| *s),
            LaneRef::Background => match self.tasks.get(&id).map(|t| t.target) {
                Some(Target::Session(s)) => Some(s),
                _ => None,
            },
        };
        // The session is taken first, so leaving the lane republishes nothing it would only
        // have to unpublish again.
        if matches!(lref, LaneRef::Session(_) | LaneRef::Group(_))
            && let Some(s2) = session
        {
            self.session_busy(s2);
            if let Some(sess) = self.sessions.get_mut(&s2) {
                sess.holder = Some(id);
            }
        }
        self.dequeue(id);
        let now = self.now;
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        t.session = session;
        t.started_at = Some(now);
        t.last_heartbeat = now;
        let (class, attempt, wait) = (t.class, t.attempt, now.saturating_since(t.enqueued_at));
        self.set_state(id, TaskState::Running);
        self.disarm(id, TaskTimer::Queue);
        let (run, heartbeat) = self
            .class_config(class)
            .map_or((None, None), |c| (c.run_timeout, c.heartbeat_timeout));
        if let Some(d) = run {
            self.arm(id, TaskTimer::Run, now + d);
        }
        if let Some(d) = heartbeat {
            self.arm(id, TaskTimer::Heartbeat, now + d);
        }
        if let Some(cs) = self.classes.get_mut(class.index()) {
            cs.totals.started = cs.totals.started.saturating_add(1);
            cs.totals.queue_wait.record(wait);
        }
        self.emit(Action::Start {
            task: id,
            class,
            session,
            attempt,
        });
    }
}

/// Which way a task moves through its lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LaneChange {
    Enter,
    Leave,
}
