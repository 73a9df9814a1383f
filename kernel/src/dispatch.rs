//! The one dispatch rule, and the indexes that make it O(log n).
//!
//! A queued task is *ready* when its lane's resource is available (background; or its session is
//! free; or its group has a free member), its class has a free slot, and it is not in backoff
//! (backing-off tasks are in no lane). Each class keeps the heads of its available lanes in an
//! ordered set, so the best ready task is the best first entry among the classes with a free slot:
//! O(classes) to find, O(log n) to start. Whenever a lane or its resource changes, its head is
//! unpublished before and republished after.

use crate::action::Action;
use crate::deadline::TaskTimer;
use crate::id::{ClassId, GroupId, SessionId, TaskId};
use crate::kernel::{ClassState, Kernel};
use crate::queue::{Lane, LaneRef, Rank};
use crate::task::{Target, TaskState};
use crate::time::Instant;
use std::collections::BTreeMap;

fn unpublish(classes: &mut [ClassState], class: ClassId, lane: &Lane, lref: LaneRef) {
    if let (Some(cs), Some((rank, _))) = (classes.get_mut(class.index()), lane.head()) {
        cs.ready.remove(&(rank, lref));
    }
}

fn publish(classes: &mut [ClassState], class: ClassId, lane: &Lane, lref: LaneRef) {
    if let (Some(cs), Some((rank, _))) = (classes.get_mut(class.index()), lane.head()) {
        cs.ready.insert((rank, lref));
    }
}

fn unpublish_all(classes: &mut [ClassState], lanes: &BTreeMap<ClassId, Lane>, lref: LaneRef) {
    for (class, lane) in lanes {
        unpublish(classes, *class, lane, lref);
    }
}

fn publish_all(classes: &mut [ClassState], lanes: &BTreeMap<ClassId, Lane>, lref: LaneRef) {
    for (class, lane) in lanes {
        publish(classes, *class, lane, lref);
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
            LaneRef::Session(s) => self.sessions.get(&s)?.lanes.get(&class),
            LaneRef::Group(g) => self.groups.get(g.0 as usize)?.lanes.get(&class),
            LaneRef::Background => Some(&self.classes.get(class.index())?.background),
        }
    }

    /// Inserts (`insert = true`) or removes a queued task in its lane, keeping the ready index.
    fn lane_update(&mut self, id: TaskId, insert: bool) {
        let Some(t) = self.tasks.get(&id) else { return };
        let (class, rank) = (t.class, Rank::new(t.priority, t.seq));
        let lref = self.lane_ref(class, t.target);
        let available = self.lane_available(lref);
        let Kernel {
            sessions,
            groups,
            classes,
            ..
        } = self;
        let (lanes, background): (Option<&mut BTreeMap<ClassId, Lane>>, _) = match lref {
            LaneRef::Session(s) => (sessions.get_mut(&s).map(|s| &mut s.lanes), false),
            LaneRef::Group(g) => (groups.get_mut(g.0 as usize).map(|g| &mut g.lanes), false),
            LaneRef::Background => (None, true),
        };
        if background {
            let Some(cs) = classes.get_mut(class.index()) else {
                return;
            };
            let mut lane = std::mem::take(&mut cs.background);
            let classes_slice = classes.as_mut_slice();
            unpublish(classes_slice, class, &lane, lref);
            if insert {
                lane.insert(rank, id);
            } else {
                lane.remove(rank, id);
            }
            publish(classes_slice, class, &lane, lref);
            if let Some(cs) = classes.get_mut(class.index()) {
                cs.background = lane;
            }
            return;
        }
        let Some(lanes) = lanes else { return };
        let lane = lanes.entry(class).or_default();
        unpublish(classes, class, lane, lref);
        if insert {
            lane.insert(rank, id);
        } else {
            lane.remove(rank, id);
        }
        if available {
            publish(classes, class, lane, lref);
        }
        if lane.is_empty() {
            lanes.remove(&class);
        }
    }

    /// Puts a Queued task into its lane. O(log n).
    pub(crate) fn enqueue(&mut self, id: TaskId) {
        self.lane_update(id, true);
    }

    /// Takes a Queued task out of its lane. O(log n).
    pub(crate) fn dequeue(&mut self, id: TaskId) {
        self.lane_update(id, false);
    }

    /// The session is about to stop being free (held, or closing): hide its lanes and take it out
    /// of its groups' free sets. O(lanes + groups) · O(log n).
    pub(crate) fn session_busy(&mut self, sid: SessionId) {
        let Kernel {
            sessions,
            groups,
            classes,
            ..
        } = self;
        let Some(s) = sessions.get(&sid) else { return };
        unpublish_all(classes, &s.lanes, LaneRef::Session(sid));
        for g in &s.groups {
            if let Some(grp) = groups.get_mut(g.0 as usize) {
                grp.free.remove(&(s.idle_since, sid));
                if grp.free.is_empty() {
                    unpublish_all(classes, &grp.lanes, LaneRef::Group(*g));
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
            ..
        } = self;
        let Some(s) = sessions.get_mut(&sid) else {
            return;
        };
        s.idle_since = now;
        publish_all(classes, &s.lanes, LaneRef::Session(sid));
        for g in &s.groups {
            if let Some(grp) = groups.get_mut(g.0 as usize) {
                let was_empty = grp.free.is_empty();
                grp.free.insert((now, sid));
                if was_empty {
                    publish_all(classes, &grp.lanes, LaneRef::Group(*g));
                }
            }
        }
    }

    /// A free session joined group `g`.
    pub(crate) fn group_member_free(&mut self, g: GroupId, idle: Instant, sid: SessionId) {
        let Kernel {
            groups, classes, ..
        } = self;
        if let Some(grp) = groups.get_mut(g.0 as usize) {
            let was_empty = grp.free.is_empty();
            grp.free.insert((idle, sid));
            if was_empty {
                publish_all(classes, &grp.lanes, LaneRef::Group(g));
            }
        }
    }

    /// A free session left group `g`.
    pub(crate) fn group_member_busy(&mut self, g: GroupId, idle: Instant, sid: SessionId) {
        let Kernel {
            groups, classes, ..
        } = self;
        if let Some(grp) = groups.get_mut(g.0 as usize) {
            grp.free.remove(&(idle, sid));
            if grp.free.is_empty() {
                unpublish_all(classes, &grp.lanes, LaneRef::Group(g));
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
            let head = self.lane(lref, class).and_then(Lane::head);
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
        if matches!(lref, LaneRef::Session(_) | LaneRef::Group(_))
            && let Some(s2) = session
        {
            self.session_busy(s2);
            if let Some(sess) = self.sessions.get_mut(&s2) {
                sess.holder = Some(id);
            }
        }
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
