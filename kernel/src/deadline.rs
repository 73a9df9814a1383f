//! Deadlines: almost every deadline is "now + a per-class constant", so they arrive in order.
//!
//! Task deadlines live in one FIFO per (class, kind), an intrusive doubly linked list through the
//! task records: a deadline whose key `(at, task)` is not smaller than its FIFO's last goes to
//! the back, O(1); one that would break the order (backoff's random delays, a tie with a smaller
//! task id at the same instant) goes to an ordered set instead, O(log n). Each FIFO keeps the key
//! of its head, so the next deadline is the smallest head among the FIFOs in use (a bit set says
//! which) or the set's first, found without touching a record. Disarming is exact: an unlink,
//! O(1). Session and shutdown cleanups, which are few, sit in an ordered set and fire after the
//! task deadlines of their instant.
//!
//! A record has three deadline slots, because no task ever has more kinds armed at once: its
//! *phase* deadline (queue, run, grace, backoff or retention — one per state), its heartbeat and
//! its total deadline. Each slot holds the instant, the kind and the slot's links.
//!
//! Firing order at one instant is the key order: task deadlines by task id, then by
//! [`TaskTimer`] order; then session cleanups by session id; then the shutdown cleanup.

use crate::id::{ClassId, SessionId, TaskId};
use crate::registry::Registry;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Number of per-task timer kinds.
pub(crate) const TASK_TIMERS: usize = 7;

/// Deadline slots per record (see the module docs).
const SLOTS: usize = 3;

const NIL: TaskId = TaskId(0);

/// A per-task deadline kind, in firing order for equal instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum TaskTimer {
    /// Queued too long.
    Queue = 0,
    /// Total deadline since first submission.
    Total = 1,
    /// Running too long.
    Run = 2,
    /// No progress for too long.
    Heartbeat = 3,
    /// Cancel grace over: abort.
    Grace = 4,
    /// Backoff over: re-queue.
    Backoff = 5,
    /// Retention over: remove the record.
    Retention = 6,
}

impl TaskTimer {
    pub(crate) const ALL: [TaskTimer; TASK_TIMERS] = [
        TaskTimer::Queue,
        TaskTimer::Total,
        TaskTimer::Run,
        TaskTimer::Heartbeat,
        TaskTimer::Grace,
        TaskTimer::Backoff,
        TaskTimer::Retention,
    ];

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The record slot this kind uses.
    const fn slot(self) -> usize {
        match self {
            TaskTimer::Heartbeat => 1,
            TaskTimer::Total => 2,
            _ => 0,
        }
    }
}

/// One armed deadline of a record, with its links in its FIFO.
#[derive(Clone, Copy, Debug)]
struct Slot {
    at: Instant,
    kind: TaskTimer,
    armed: bool,
    /// In the out-of-order set rather than its FIFO.
    in_set: bool,
    prev: TaskId,
    next: TaskId,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            at: Instant::ZERO,
            kind: TaskTimer::Queue,
            armed: false,
            in_set: false,
            prev: NIL,
            next: NIL,
        }
    }
}

/// A record's armed deadlines: three slots (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Armed {
    slots: [Slot; SLOTS],
}

/// Equal when the same kinds are armed at the same instants (links are an index).
impl PartialEq for Armed {
    fn eq(&self, other: &Self) -> bool {
        self.to_array() == other.to_array()
    }
}

impl Eq for Armed {}

impl Armed {
    fn slot(&self, kind: TaskTimer) -> Option<&Slot> {
        self.slots.get(kind.slot())
    }

    fn slot_mut(&mut self, kind: TaskTimer) -> Option<&mut Slot> {
        self.slots.get_mut(kind.slot())
    }

    /// The instant `kind` is armed at.
    pub(crate) fn get(&self, kind: TaskTimer) -> Option<Instant> {
        self.slot(kind)
            .filter(|s| s.armed && s.kind == kind)
            .map(|s| s.at)
    }

    /// The armed kinds with their instants.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskTimer, Instant)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.armed)
            .map(|s| (s.kind, s.at))
    }

    /// As snapshots carry them: one optional instant per kind.
    pub(crate) fn to_array(self) -> [Option<Instant>; TASK_TIMERS] {
        TaskTimer::ALL.map(|kind| self.get(kind))
    }

    /// From a snapshot: the deadlines armed but not yet linked (the load links them). The record
    /// was refused first if two of its kinds share a slot.
    pub(crate) fn from_array(a: [Option<Instant>; TASK_TIMERS]) -> Self {
        let mut armed = Armed::default();
        for (kind, at) in TaskTimer::ALL.iter().zip(a) {
            if let (Some(at), Some(slot)) = (at, armed.slot_mut(*kind)) {
                *slot = Slot {
                    at,
                    kind: *kind,
                    armed: true,
                    ..Slot::default()
                };
            }
        }
        armed
    }
}

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum TimerKind {
    Task(TaskId, TaskTimer),
    SessionCleanup(SessionId),
    ShutdownCleanup,
}

/// A task deadline, ordered by `(at, task, kind)`: the firing order (the class, last, is the
/// task's and never decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TaskDeadline {
    pub(crate) at: Instant,
    pub(crate) task: TaskId,
    pub(crate) kind: TaskTimer,
    pub(crate) class: ClassId,
}

/// A cleanup deadline (a closing session's or the shutdown's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Cleanup {
    Session(SessionId),
    Shutdown,
}

/// A set of small integers (FIFO indexes), one bit each.
#[derive(Clone, Debug, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn with_len(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }

    fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn remove(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The members, ascending.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(k * 64 + bit)
            })
        })
    }
}

/// One (class, kind) FIFO: its ends, with the head's and tail's instants kept here so that
/// comparing FIFOs touches no record.
#[derive(Clone, Copy, Debug)]
struct Fifo {
    head: TaskId,
    head_at: Instant,
    tail: TaskId,
    tail_at: Instant,
    len: usize,
}

impl Default for Fifo {
    fn default() -> Self {
        Fifo {
            head: NIL,
            head_at: Instant::ZERO,
            tail: NIL,
            tail_at: Instant::ZERO,
            len: 0,
        }
    }
}

/// Every pending deadline (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Timers {
    /// One list per (class, kind), at `class * TASK_TIMERS + kind`, each in key order.
    fifos: Vec<Fifo>,
    /// The FIFOs that hold deadlines.
    nonempty: Bits,
    /// Deadlines that did not fit their FIFO's order.
    set: BTreeSet<TaskDeadline>,
    cleanups: BTreeSet<(Instant, Cleanup)>,
    /// Task deadlines armed.
    armed: usize,
    /// No task deadline is earlier than this; `exact` says it is the next one. Most inputs find
    /// nothing due by comparing one instant, and `poll_timeout` reads it.
    low: Instant,
    exact: bool,
}

/// Timers are an index over the records' armed deadlines: two are equal when they count the
/// same deadlines and hold the same cleanups, whatever their layout.
impl PartialEq for Timers {
    fn eq(&self, other: &Self) -> bool {
        self.armed == other.armed && self.cleanups == other.cleanups
    }
}

impl Eq for Timers {}

fn slot_of(tasks: &Registry, id: TaskId, kind: TaskTimer) -> Option<&Slot> {
    tasks.get(&id)?.timers.slot(kind)
}

fn slot_mut(tasks: &mut Registry, id: TaskId, kind: TaskTimer) -> Option<&mut Slot> {
    tasks.get_mut(&id)?.timers.slot_mut(kind)
}

impl Timers {
    /// Empty, with one FIFO per (class, kind) for `classes` classes.
    pub(crate) fn new(classes: usize) -> Self {
        let n = classes * TASK_TIMERS;
        Timers {
            fifos: vec![Fifo::default(); n],
            nonempty: Bits::with_len(n),
            low: Instant::MAX,
            exact: true,
            ..Timers::default()
        }
    }

    fn fifo_index(class: ClassId, kind: TaskTimer) -> usize {
        class.index() * TASK_TIMERS + kind.index()
    }

    /// Arms `kind` of task `id` at `at`, replacing whatever its slot held. O(1) when it keeps its
    /// FIFO's order, O(log n) otherwise.
    pub(crate) fn arm(&mut self, tasks: &mut Registry, id: TaskId, kind: TaskTimer, at: Instant) {
        let Some(t) = tasks.get(&id) else { return };
        let class = t.class;
        if let Some(cur) = t.timers.slot(kind).copied().filter(|s| s.armed) {
            if cur.kind == kind && cur.at == at {
                return;
            }
            self.unlink(tasks, id, class, cur);
        }
        self.link(
            tasks,
            TaskDeadline {
                at,
                task: id,
                kind,
                class,
            },
        );
    }

    /// Disarms `kind` of task `id` if armed. O(1) (O(log n) from the set).
    pub(crate) fn disarm(&mut self, tasks: &mut Registry, id: TaskId, kind: TaskTimer) {
        let Some(t) = tasks.get(&id) else { return };
        let class = t.class;
        if let Some(cur) = t
            .timers
            .slot(kind)
            .copied()
            .filter(|s| s.armed && s.kind == kind)
        {
            self.unlink(tasks, id, class, cur);
        }
    }

    /// Disarms every deadline of task `id`.
    pub(crate) fn disarm_all(&mut self, tasks: &mut Registry, id: TaskId) {
        let Some(t) = tasks.get(&id) else { return };
        let class = t.class;
        let slots = t.timers.slots;
        for cur in slots.into_iter().filter(|s| s.armed) {
            self.unlink(tasks, id, class, cur);
        }
    }

    /// Puts a deadline into its FIFO (or the set) and its record's slot; the slot must not be
    /// linked anywhere.
    fn link(&mut self, tasks: &mut Registry, d: TaskDeadline) {
        if d.at < self.low {
            // The new next deadline (an exact bound stays exact).
            self.low = d.at;
        }
        let i = Self::fifo_index(d.class, d.kind);
        let fits = self
            .fifos
            .get(i)
            .is_some_and(|f| f.len == 0 || (f.tail_at, f.tail) <= (d.at, d.task));
        let mut slot = Slot {
            at: d.at,
            kind: d.kind,
            armed: true,
            in_set: !fits,
            prev: NIL,
            next: NIL,
        };
        if fits && let Some(f) = self.fifos.get_mut(i) {
            slot.prev = f.tail;
            if f.len == 0 {
                f.head = d.task;
                f.head_at = d.at;
                self.nonempty.insert(i);
            }
            let tail = f.tail;
            f.tail = d.task;
            f.tail_at = d.at;
            f.len += 1;
            if let Some(prev) = slot_mut(tasks, tail, d.kind) {
                prev.next = d.task;
            }
        } else {
            self.set.insert(d);
        }
        if let Some(s) = slot_mut(tasks, d.task, d.kind) {
            *s = slot;
        }
        self.armed += 1;
    }

    /// Takes a linked deadline (`cur`, the record's slot) out of its FIFO or the set and clears
    /// the slot.
    fn unlink(&mut self, tasks: &mut Registry, id: TaskId, class: ClassId, cur: Slot) {
        let kind = cur.kind;
        if cur.at <= self.low {
            // It may have been the next deadline: the bound stays a bound, maybe not the next.
            self.exact = false;
        }
        if cur.in_set {
            self.set.remove(&TaskDeadline {
                at: cur.at,
                task: id,
                kind,
                class,
            });
        } else {
            let i = Self::fifo_index(class, kind);
            // One visit to each neighbour: relink it, and note its instant for the FIFO's ends.
            let prev_at = slot_mut(tasks, cur.prev, kind).map(|p| {
                p.next = cur.next;
                p.at
            });
            let next_at = slot_mut(tasks, cur.next, kind).map(|n| {
                n.prev = cur.prev;
                n.at
            });
            if let Some(f) = self.fifos.get_mut(i) {
                if prev_at.is_none() {
                    f.head = cur.next;
                    f.head_at = next_at.unwrap_or(Instant::ZERO);
                }
                if next_at.is_none() {
                    f.tail = cur.prev;
                    f.tail_at = prev_at.unwrap_or(Instant::ZERO);
                }
            }
            if let Some(f) = self.fifos.get_mut(i) {
                f.len = f.len.saturating_sub(1);
                if f.len == 0 {
                    self.nonempty.remove(i);
                }
            }
        }
        if let Some(s) = slot_mut(tasks, id, kind) {
            *s = Slot::default();
        }
        self.armed = self.armed.saturating_sub(1);
    }

    pub(crate) fn insert_cleanup(&mut self, at: Instant, c: Cleanup) {
        self.cleanups.insert((at, c));
    }

    pub(crate) fn remove_cleanup(&mut self, at: Instant, c: Cleanup) -> bool {
        self.cleanups.remove(&(at, c))
    }

    /// The next task deadline. O(FIFOs in use + log n).
    fn min_task(&self) -> Option<TaskDeadline> {
        let mut best = self.set.first().copied();
        for i in self.nonempty.iter() {
            let Some(f) = self.fifos.get(i) else { continue };
            let d = TaskDeadline {
                at: f.head_at,
                task: f.head,
                kind: TaskTimer::ALL
                    .get(i % TASK_TIMERS)
                    .copied()
                    .unwrap_or(TaskTimer::Queue),
                class: ClassId((i / TASK_TIMERS) as u16),
            };
            if best.is_none_or(|b| d < b) {
                best = Some(d);
            }
        }
        best
    }

    /// The next task deadline's instant, refreshing the bound. O(1) when it is known.
    fn next_at(&mut self) -> Option<Instant> {
        if !self.exact {
            self.low = self.min_task().map_or(Instant::MAX, |d| d.at);
            self.exact = true;
        }
        (self.armed > 0).then_some(self.low)
    }

    /// Whether a deadline is due at `now`.
    pub(crate) fn any_due(&mut self, now: Instant) -> bool {
        self.cleanups.first().is_some_and(|(at, _)| *at <= now)
            || (self.low <= now && self.next_at().is_some_and(|at| at <= now))
    }

    /// Takes the next deadline if it is due at `now` (a task deadline is disarmed in its record).
    pub(crate) fn pop_due(
        &mut self,
        tasks: &mut Registry,
        now: Instant,
    ) -> Option<(Instant, TimerKind)> {
        let cleanup = self.cleanups.first().copied();
        // Nothing earlier than the bound is held: most calls stop here.
        let task = if self.low > now {
            None
        } else {
            self.min_task()
        };
        match (task, cleanup) {
            (Some(d), c) if d.at <= now && c.is_none_or(|(at, _)| d.at <= at) => {
                if let Some(cur) = slot_of(tasks, d.task, d.kind).copied() {
                    self.unlink(tasks, d.task, d.class, cur);
                }
                Some((d.at, TimerKind::Task(d.task, d.kind)))
            }
            (_, Some((at, c))) if at <= now => {
                self.cleanups.remove(&(at, c));
                Some((
                    at,
                    match c {
                        Cleanup::Session(s) => TimerKind::SessionCleanup(s),
                        Cleanup::Shutdown => TimerKind::ShutdownCleanup,
                    },
                ))
            }
            _ => None,
        }
    }

    /// The earliest deadline. O(1) when the bound is exact, else O(FIFOs in use).
    pub(crate) fn first(&self) -> Option<Instant> {
        let task = if self.exact {
            (self.armed > 0).then_some(self.low)
        } else {
            self.min_task().map(|d| d.at)
        };
        let cleanup = self.cleanups.first().map(|(at, _)| *at);
        match (task, cleanup) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Rebuilds the index from the records' slots (after loading a snapshot): every armed
    /// deadline is linked again, in firing order, so each goes to the back of its FIFO.
    pub(crate) fn rebuild(classes: usize, tasks: &mut Registry) -> Self {
        let mut all: Vec<TaskDeadline> = Vec::new();
        for t in tasks.values_mut() {
            for (kind, at) in t.timers.iter() {
                all.push(TaskDeadline {
                    at,
                    task: t.id,
                    kind,
                    class: t.class,
                });
            }
            t.timers = Armed::default();
        }
        all.sort_unstable();
        let mut timers = Timers::new(classes);
        for d in all {
            timers.link(tasks, d);
        }
        timers
    }

    /// Every task deadline held, walking each FIFO and the set, with the structure checked on
    /// the way: keys ascending, links consistent both ways, the kept ends and lengths right,
    /// every entry armed in its record as held. O(n log n); for the invariants.
    pub(crate) fn walk(&self, tasks: &Registry) -> Result<BTreeSet<TaskDeadline>, String> {
        let mut held = BTreeSet::new();
        for (i, f) in self.fifos.iter().enumerate() {
            let class = ClassId((i / TASK_TIMERS) as u16);
            let kind = TaskTimer::ALL
                .get(i % TASK_TIMERS)
                .copied()
                .unwrap_or(TaskTimer::Queue);
            let mut prev = NIL;
            let mut last: Option<(Instant, TaskId)> = None;
            let mut id = f.head;
            let mut n = 0usize;
            while id != NIL {
                n += 1;
                if n > tasks.len() {
                    return Err(format!("the {kind:?} FIFO of {class} loops"));
                }
                let s = slot_of(tasks, id, kind)
                    .copied()
                    .filter(|s| s.armed && s.kind == kind && !s.in_set)
                    .ok_or_else(|| {
                        format!("the {kind:?} FIFO of {class} holds {id}, not armed so")
                    })?;
                if s.prev != prev {
                    return Err(format!(
                        "{id}'s back link in the {kind:?} FIFO of {class} is broken"
                    ));
                }
                if last.is_some_and(|l| l > (s.at, id)) {
                    return Err(format!(
                        "the {kind:?} FIFO of {class} is out of order at {id}"
                    ));
                }
                if n == 1 && f.head_at != s.at {
                    return Err(format!(
                        "the {kind:?} FIFO of {class} keeps a stale head instant"
                    ));
                }
                held.insert(TaskDeadline {
                    at: s.at,
                    task: id,
                    kind,
                    class,
                });
                last = Some((s.at, id));
                prev = id;
                id = s.next;
            }
            if n != f.len || f.tail != prev || (n > 0 && last.map(|l| l.0) != Some(f.tail_at)) {
                return Err(format!(
                    "the {kind:?} FIFO of {class} counts {} ending at {}, holds {n} ending at {prev}",
                    f.len, f.tail
                ));
            }
            if (n > 0) != self.nonempty.contains(i) {
                return Err(format!(
                    "the {kind:?} FIFO of {class} is listed in use wrongly"
                ));
            }
        }
        for d in &self.set {
            let ok = slot_of(tasks, d.task, d.kind)
                .is_some_and(|s| s.armed && s.in_set && s.kind == d.kind && s.at == d.at);
            if !ok {
                return Err(format!("the deadline set holds {d:?}, not armed so"));
            }
            held.insert(*d);
        }
        if held.first().is_some_and(|d| d.at < self.low)
            || (self.exact && held.first().map(|d| d.at) != (self.armed > 0).then_some(self.low))
        {
            return Err(format!(
                "the timers' bound {:?} (exact {}) disagrees with the next deadline {:?}",
                self.low,
                self.exact,
                held.first()
            ));
        }
        if held.len() != self.armed {
            return Err(format!(
                "the timers count {} deadlines and hold {}",
                self.armed,
                held.len()
            ));
        }
        Ok(held)
    }

    pub(crate) fn cleanups(&self) -> impl Iterator<Item = &(Instant, Cleanup)> {
        self.cleanups.iter()
    }

    pub(crate) fn contains_cleanup(&self, at: Instant, c: Cleanup) -> bool {
        self.cleanups.contains(&(at, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Task;
    use crate::{Submit, Target};

    fn registry(ids: &[u64]) -> Registry {
        let mut r = Registry::default();
        for &id in ids {
            let class = ClassId((id % 2) as u16);
            r.insert(Task::new(
                TaskId(id),
                &Submit::new(class, Target::None),
                0,
                id,
                Instant::ZERO,
            ));
        }
        r
    }

    fn at(n: u64) -> Instant {
        Instant::from_nanos(n)
    }

    #[test]
    fn due_in_order_ties_by_task_then_kind_then_cleanups() {
        let mut tasks = registry(&[1, 2, 3, 4]);
        let mut t = Timers::new(2);
        t.insert_cleanup(at(10), Cleanup::Shutdown);
        t.insert_cleanup(at(10), Cleanup::Session(SessionId(3)));
        t.arm(&mut tasks, TaskId(4), TaskTimer::Queue, at(10));
        t.arm(&mut tasks, TaskId(1), TaskTimer::Retention, at(10));
        t.arm(&mut tasks, TaskId(1), TaskTimer::Total, at(10));
        // Out of its FIFO's order (task 2 after task 4 at the same instant): into the set.
        t.arm(&mut tasks, TaskId(2), TaskTimer::Queue, at(10));
        t.arm(&mut tasks, TaskId(3), TaskTimer::Queue, at(11));
        assert!(t.walk(&tasks).is_ok());
        assert_eq!(t.pop_due(&mut tasks, at(9)), None);
        let order: Vec<_> = std::iter::from_fn(|| t.pop_due(&mut tasks, at(10)))
            .map(|(_, k)| k)
            .collect();
        assert_eq!(
            order,
            vec![
                TimerKind::Task(TaskId(1), TaskTimer::Total),
                TimerKind::Task(TaskId(1), TaskTimer::Retention),
                TimerKind::Task(TaskId(2), TaskTimer::Queue),
                TimerKind::Task(TaskId(4), TaskTimer::Queue),
                TimerKind::SessionCleanup(SessionId(3)),
                TimerKind::ShutdownCleanup,
            ]
        );
        assert_eq!(t.first(), Some(at(11)));
        assert_eq!(
            tasks.get(&TaskId(1)).map(|r| r.timers.iter().count()),
            Some(0)
        );
        assert_eq!(t.walk(&tasks).map(|h| h.len()), Ok(1));
    }

    #[test]
    fn disarm_unlinks_exactly_and_rearm_replaces() {
        let mut tasks = registry(&[2, 4, 6, 8]);
        let mut t = Timers::new(1);
        for id in [2, 4, 6, 8] {
            t.arm(&mut tasks, TaskId(id), TaskTimer::Run, at(id));
        }
        // Middle, head, tail.
        t.disarm(&mut tasks, TaskId(4), TaskTimer::Run);
        t.disarm(&mut tasks, TaskId(2), TaskTimer::Run);
        t.disarm(&mut tasks, TaskId(8), TaskTimer::Run);
        assert_eq!(t.walk(&tasks).map(|h| h.len()), Ok(1));
        assert_eq!(t.first(), Some(at(6)));
        // Disarming a kind that is not armed in the slot changes nothing.
        t.disarm(&mut tasks, TaskId(6), TaskTimer::Queue);
        assert_eq!(t.first(), Some(at(6)));
        // Re-arming the slot with another phase kind replaces it.
        t.arm(&mut tasks, TaskId(6), TaskTimer::Grace, at(20));
        assert_eq!(
            tasks.get(&TaskId(6)).map(|r| r.timers.get(TaskTimer::Run)),
            Some(None)
        );
        assert_eq!(t.first(), Some(at(20)));
        t.disarm_all(&mut tasks, TaskId(6));
        assert_eq!(t.first(), None);
        assert_eq!(t.walk(&tasks).map(|h| h.len()), Ok(0));
        // A rebuild from the records links everything again, in order.
        for id in [8, 2, 6, 4] {
            t.arm(&mut tasks, TaskId(id), TaskTimer::Run, at(100 - id));
        }
        let rebuilt = Timers::rebuild(1, &mut tasks);
        assert_eq!(rebuilt.walk(&tasks).map(|h| h.len()), Ok(4));
        assert!(
            rebuilt.set.is_empty(),
            "every deadline fits its FIFO in order"
        );
        assert_eq!(rebuilt.first(), Some(at(92)));
    }

    #[test]
    fn a_broken_link_or_a_lost_deadline_is_found() {
        let mut tasks = registry(&[2, 4, 6]);
        let mut t = Timers::new(1);
        for id in [2, 4, 6] {
            t.arm(&mut tasks, TaskId(id), TaskTimer::Run, at(id));
        }
        assert!(t.walk(&tasks).is_ok());
        if let Some(s) = slot_mut(&mut tasks, TaskId(6), TaskTimer::Run) {
            s.prev = TaskId(2);
        }
        assert!(t.walk(&tasks).unwrap_err().contains("back link"));
        if let Some(s) = slot_mut(&mut tasks, TaskId(6), TaskTimer::Run) {
            s.prev = TaskId(4);
        }
        assert!(t.walk(&tasks).is_ok());
        // The record forgets a deadline its FIFO still holds.
        if let Some(s) = slot_mut(&mut tasks, TaskId(4), TaskTimer::Run) {
            s.armed = false;
        }
        assert!(t.walk(&tasks).unwrap_err().contains("not armed so"));
    }
}
