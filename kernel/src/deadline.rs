//! Deadlines: almost every deadline is "now + a per-class constant", so they arrive in order.
//!
//! Task timers live in one FIFO per (class, kind): a deadline whose key `(at, task, kind)` is not
//! smaller than its FIFO's last goes to the back, O(1); one that would break the order (backoff's
//! random delays, a tie with a smaller task id) goes to a binary heap instead. The next deadline is
//! the smallest FIFO front or heap top. Session and shutdown cleanups, which are few, sit in an
//! ordered set and fire after the task timers of their instant.
//!
//! Disarming is lazy: each task records the instant of each armed timer, and an entry whose task
//! no longer has that timer armed at that instant is stale. The kernel drops stale entries when
//! it meets them at a front (so between inputs every front is a live deadline and
//! `poll_timeout` is exact), and compacts every queue when stale entries outnumber live ones
//! (plus 1,024), so memory stays O(armed timers).
//!
//! Firing order at one instant is the key order: task timers by task id, then by [`TaskTimer`]
//! order; then session cleanups by session id; then the shutdown cleanup.

use crate::id::{ClassId, SessionId, TaskId};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

/// Number of per-task timer kinds.
pub(crate) const TASK_TIMERS: usize = 7;

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
}

/// A task's armed deadlines, one per [`TaskTimer`] kind: the instants and a bit per armed kind
/// (64 bytes, where seven `Option<Instant>` take 112).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Armed {
    at: [Instant; TASK_TIMERS],
    mask: u8,
}

/// Equal when the same kinds are armed at the same instants (what a disarmed slot last held
/// does not count).
impl PartialEq for Armed {
    fn eq(&self, other: &Self) -> bool {
        self.to_array() == other.to_array()
    }
}

impl Eq for Armed {}

impl Default for Armed {
    fn default() -> Self {
        Armed {
            at: [Instant::ZERO; TASK_TIMERS],
            mask: 0,
        }
    }
}

impl Armed {
    /// The instant `kind` is armed at.
    pub(crate) fn get(&self, kind: TaskTimer) -> Option<Instant> {
        if self.mask & (1 << kind.index()) == 0 {
            return None;
        }
        self.at.get(kind.index()).copied()
    }

    /// Arms `kind` at `at`, handing back the instant it was armed at before.
    pub(crate) fn replace(&mut self, kind: TaskTimer, at: Instant) -> Option<Instant> {
        let old = self.get(kind);
        if let Some(slot) = self.at.get_mut(kind.index()) {
            *slot = at;
            self.mask |= 1 << kind.index();
        }
        old
    }

    /// Disarms `kind`, handing back the instant it was armed at.
    pub(crate) fn take(&mut self, kind: TaskTimer) -> Option<Instant> {
        let old = self.get(kind);
        self.mask &= !(1 << kind.index());
        old
    }

    /// The armed kinds with their instants, in kind order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskTimer, Instant)> + '_ {
        TaskTimer::ALL
            .iter()
            .filter_map(|&kind| self.get(kind).map(|at| (kind, at)))
    }

    /// As snapshots carry them: one optional instant per kind.
    pub(crate) fn to_array(self) -> [Option<Instant>; TASK_TIMERS] {
        TaskTimer::ALL.map(|kind| self.get(kind))
    }

    pub(crate) fn from_array(a: [Option<Instant>; TASK_TIMERS]) -> Self {
        let mut armed = Armed::default();
        for (kind, at) in TaskTimer::ALL.iter().zip(a) {
            if let Some(at) = at {
                armed.replace(*kind, at);
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

/// Where the next deadline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Fifo(usize),
    Heap,
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

    /// Takes word `k` (64 members), leaving it empty.
    fn take_word(&mut self, k: usize) -> u64 {
        self.0.get_mut(k).map(std::mem::take).unwrap_or(0)
    }

    fn words(&self) -> usize {
        self.0.len()
    }
}

/// Every pending deadline (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Timers {
    /// One queue per (class, kind), at `class * TASK_TIMERS + kind`, each in key order.
    fifos: Vec<VecDeque<TaskDeadline>>,
    /// The FIFOs that hold entries: the next deadline is among their fronts.
    nonempty: Bits,
    /// Deadlines that did not fit their FIFO's order.
    heap: BinaryHeap<Reverse<TaskDeadline>>,
    cleanups: BTreeSet<(Instant, Cleanup)>,
    /// Task deadlines armed (live), and entries held (live and stale).
    armed: usize,
    entries: usize,
    /// FIFOs whose front may have gone stale since the last `tidy`.
    dirty: Bits,
    /// Whether anything went stale since the last `tidy` (a heap entry, say).
    any_dirty: bool,
    /// No held task entry is earlier than this (a lower bound, exact after a pop or a miss): most
    /// inputs find nothing due by comparing one instant.
    low: Instant,
}

/// Timers are an index over the records' armed deadlines: two are equal when they hold the same
/// live deadlines, whatever stale entries or layout each has.
impl PartialEq for Timers {
    fn eq(&self, other: &Self) -> bool {
        self.armed == other.armed && self.cleanups == other.cleanups
    }
}

impl Eq for Timers {}

impl Timers {
    /// Empty, with one FIFO per (class, kind) for `classes` classes.
    pub(crate) fn new(classes: usize) -> Self {
        let n = classes * TASK_TIMERS;
        Timers {
            fifos: vec![VecDeque::new(); n],
            nonempty: Bits::with_len(n),
            dirty: Bits::with_len(n),
            low: Instant::MAX,
            ..Timers::default()
        }
    }

    fn fifo_index(class: ClassId, kind: TaskTimer) -> usize {
        class.index() * TASK_TIMERS + kind.index()
    }

    /// Adds a live task deadline (the caller has disarmed any earlier one of the same kind).
    /// O(1) when it keeps its FIFO's order, O(log n) otherwise.
    pub(crate) fn arm(&mut self, d: TaskDeadline) {
        self.low = self.low.min(d.at);
        self.armed += 1;
        self.entries += 1;
        let i = Self::fifo_index(d.class, d.kind);
        match self.fifos.get_mut(i) {
            Some(fifo) if fifo.back().is_none_or(|b| *b <= d) => {
                fifo.push_back(d);
                self.nonempty.insert(i);
            }
            _ => self.heap.push(Reverse(d)),
        }
    }

    /// A live deadline of `class` and `kind` went stale (disarmed or re-armed). O(1).
    pub(crate) fn disarm(&mut self, class: ClassId, kind: TaskTimer) {
        self.armed = self.armed.saturating_sub(1);
        self.dirty.insert(Self::fifo_index(class, kind));
        self.any_dirty = true;
    }

    pub(crate) fn insert_cleanup(&mut self, at: Instant, c: Cleanup) {
        self.cleanups.insert((at, c));
    }

    pub(crate) fn remove_cleanup(&mut self, at: Instant, c: Cleanup) -> bool {
        self.cleanups.remove(&(at, c))
    }

    /// The smallest task deadline held (live or stale), and where. O(FIFOs in use).
    fn min_task(&self) -> Option<(TaskDeadline, Source)> {
        let mut best = self.heap.peek().map(|Reverse(d)| (*d, Source::Heap));
        for i in self.nonempty.iter() {
            if let Some(d) = self.fifos.get(i).and_then(VecDeque::front)
                && best.is_none_or(|(b, _)| *d < b)
            {
                best = Some((*d, Source::Fifo(i)));
            }
        }
        best
    }

    fn pop_source(&mut self, source: Source) -> Option<TaskDeadline> {
        let d = match source {
            Source::Fifo(i) => {
                let fifo = self.fifos.get_mut(i)?;
                let d = fifo.pop_front();
                if fifo.is_empty() {
                    self.nonempty.remove(i);
                }
                d
            }
            Source::Heap => self.heap.pop().map(|Reverse(d)| d),
        };
        if d.is_some() {
            self.entries = self.entries.saturating_sub(1);
        }
        d
    }

    /// The smallest live task deadline, dropping stale ones met at the front on the way.
    fn min_live(
        &mut self,
        live: &impl Fn(&TaskDeadline) -> bool,
    ) -> Option<(TaskDeadline, Source)> {
        loop {
            let (d, source) = self.min_task()?;
            if live(&d) {
                return Some((d, source));
            }
            self.pop_source(source);
        }
    }

    /// Whether a live deadline is due at `now` (stale fronts met on the way are dropped).
    pub(crate) fn any_due(&mut self, now: Instant, live: impl Fn(&TaskDeadline) -> bool) -> bool {
        if self.cleanups.first().is_some_and(|(at, _)| *at <= now) {
            return true;
        }
        if self.low > now {
            return false;
        }
        let task = self.min_live(&live).map(|(d, _)| d.at);
        self.low = task.unwrap_or(Instant::MAX);
        task.is_some_and(|at| at <= now)
    }

    /// Takes the next deadline if it is live and due at `now` (stale fronts are dropped).
    pub(crate) fn pop_due(
        &mut self,
        now: Instant,
        live: impl Fn(&TaskDeadline) -> bool,
    ) -> Option<(Instant, TimerKind)> {
        let cleanup = self.cleanups.first().copied();
        if self.low > now {
            // No task deadline is due: only a cleanup can be.
            return match cleanup {
                Some((at, c)) if at <= now => {
                    self.cleanups.remove(&(at, c));
                    Some((at, cleanup_kind(c)))
                }
                _ => None,
            };
        }
        let task = self.min_live(&live);
        // The smallest held entry is live now: an exact bound until the next pop.
        self.low = task.map_or(Instant::MAX, |(d, _)| d.at);
        match (task, cleanup) {
            (Some((d, source)), c) if d.at <= now && c.is_none_or(|(at, _)| d.at <= at) => {
                self.pop_source(source);
                // The smallest entry left, live or stale, is a lower bound again.
                self.low = self.min_task().map_or(Instant::MAX, |(next, _)| next.at);
                self.armed = self.armed.saturating_sub(1);
                // A copy of it (disarmed and re-armed at the same instant) may be left behind.
                self.dirty.insert(Self::fifo_index(d.class, d.kind));
                self.any_dirty = true;
                Some((d.at, TimerKind::Task(d.task, d.kind)))
            }
            (_, Some((at, c))) if at <= now => {
                self.cleanups.remove(&(at, c));
                Some((at, cleanup_kind(c)))
            }
            _ => None,
        }
    }

    /// The earliest deadline held. Exact between inputs (after `tidy`). O(FIFOs in use).
    pub(crate) fn first(&self) -> Option<Instant> {
        let task = self.min_task().map(|(d, _)| d.at);
        let cleanup = self.cleanups.first().map(|(at, _)| *at);
        match (task, cleanup) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops stale entries from the fronts that may have them, and compacts everything when
    /// stale entries outnumber live ones (plus 1,024). Run at the end of every input.
    pub(crate) fn tidy(&mut self, live: impl Fn(&TaskDeadline) -> bool) {
        let bloated = self.entries > 2 * self.armed + 1024;
        if !self.any_dirty && !bloated {
            return;
        }
        self.any_dirty = false;
        for k in 0..self.dirty.words() {
            let mut word = self.dirty.take_word(k);
            while word != 0 {
                let i = k * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                if let Some(fifo) = self.fifos.get_mut(i) {
                    while fifo.front().is_some_and(|d| !live(d)) {
                        fifo.pop_front();
                        self.entries = self.entries.saturating_sub(1);
                    }
                    if fifo.is_empty() {
                        self.nonempty.remove(i);
                    }
                }
            }
        }
        while self.heap.peek().is_some_and(|Reverse(d)| !live(d)) {
            self.heap.pop();
            self.entries = self.entries.saturating_sub(1);
        }
        if bloated {
            for (i, fifo) in self.fifos.iter_mut().enumerate() {
                fifo.retain(|d| live(d));
                if fifo.is_empty() {
                    self.nonempty.remove(i);
                }
            }
            self.heap.retain(|Reverse(d)| live(d));
            self.entries = self.fifos.iter().map(VecDeque::len).sum::<usize>() + self.heap.len();
        }
    }

    /// Every live task deadline, each once, in firing order. O(n log n); for the invariants.
    pub(crate) fn live_task_deadlines(
        &self,
        live: impl Fn(&TaskDeadline) -> bool,
    ) -> BTreeSet<TaskDeadline> {
        self.fifos
            .iter()
            .flatten()
            .chain(self.heap.iter().map(|Reverse(d)| d))
            .filter(|d| live(d))
            .copied()
            .collect()
    }

    /// Checks the structure itself: FIFOs in order, counters right, fronts live (between inputs).
    pub(crate) fn consistent(&self, live: impl Fn(&TaskDeadline) -> bool) -> Result<(), String> {
        let nonempty: Vec<usize> = self.nonempty.iter().collect();
        for (i, fifo) in self.fifos.iter().enumerate() {
            let (class, kind) = (i / TASK_TIMERS, i % TASK_TIMERS);
            if let Some(w) = fifo.iter().zip(fifo.iter().skip(1)).find(|(a, b)| a > b) {
                return Err(format!(
                    "timer FIFO of class {class} kind {kind} out of order at {w:?}"
                ));
            }
            if let Some(d) = fifo.iter().find(|d| d.kind.index() != kind) {
                return Err(format!(
                    "timer FIFO of class {class} kind {kind} holds {d:?}"
                ));
            }
            if let Some(d) = fifo.front().filter(|d| !live(d)) {
                return Err(format!("stale deadline {d:?} at the front of a timer FIFO"));
            }
            if fifo.is_empty() == nonempty.contains(&i) {
                return Err(format!(
                    "timer FIFO of class {class} kind {kind}: {} entries, listed in use {}",
                    fifo.len(),
                    nonempty.contains(&i)
                ));
            }
        }
        if let Some(Reverse(d)) = self.heap.peek().filter(|Reverse(d)| !live(d)) {
            return Err(format!("stale deadline {d:?} at the top of the timer heap"));
        }
        if self.min_task().is_some_and(|(d, _)| d.at < self.low) {
            return Err(format!(
                "a deadline held is earlier than the timers' lower bound {:?}",
                self.low
            ));
        }
        let held = self.fifos.iter().map(VecDeque::len).sum::<usize>() + self.heap.len();
        if held != self.entries {
            return Err(format!(
                "timers hold {held} entries but count {}",
                self.entries
            ));
        }
        Ok(())
    }

    /// Live task deadlines as counted.
    pub(crate) fn armed(&self) -> usize {
        self.armed
    }

    pub(crate) fn cleanups(&self) -> impl Iterator<Item = &(Instant, Cleanup)> {
        self.cleanups.iter()
    }

    pub(crate) fn contains_cleanup(&self, at: Instant, c: Cleanup) -> bool {
        self.cleanups.contains(&(at, c))
    }
}

fn cleanup_kind(c: Cleanup) -> TimerKind {
    match c {
        Cleanup::Session(s) => TimerKind::SessionCleanup(s),
        Cleanup::Shutdown => TimerKind::ShutdownCleanup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(at: u64, task: u64, kind: TaskTimer) -> TaskDeadline {
        dc(0, at, task, kind)
    }

    fn dc(class: u16, at: u64, task: u64, kind: TaskTimer) -> TaskDeadline {
        TaskDeadline {
            at: Instant::from_nanos(at),
            task: TaskId(task),
            kind,
            class: ClassId(class),
        }
    }

    #[test]
    fn due_in_order_ties_by_task_then_kind_then_cleanups() {
        let mut t = Timers::new(2);
        let at = Instant::from_nanos(10);
        t.insert_cleanup(at, Cleanup::Shutdown);
        t.insert_cleanup(at, Cleanup::Session(SessionId(3)));
        t.arm(d(10, 2, TaskTimer::Queue));
        t.arm(dc(1, 10, 1, TaskTimer::Retention));
        t.arm(d(10, 1, TaskTimer::Run));
        // Out of its FIFO's order (task 0 after task 2 at the same instant): into the heap.
        t.arm(d(10, 0, TaskTimer::Queue));
        t.arm(d(11, 0, TaskTimer::Queue));
        let live = |_: &TaskDeadline| true;
        assert_eq!(t.pop_due(Instant::from_nanos(9), live), None);
        let order: Vec<_> = std::iter::from_fn(|| t.pop_due(at, live))
            .map(|(_, k)| k)
            .collect();
        assert_eq!(
            order,
            vec![
                TimerKind::Task(TaskId(0), TaskTimer::Queue),
                TimerKind::Task(TaskId(1), TaskTimer::Run),
                TimerKind::Task(TaskId(1), TaskTimer::Retention),
                TimerKind::Task(TaskId(2), TaskTimer::Queue),
                TimerKind::SessionCleanup(SessionId(3)),
                TimerKind::ShutdownCleanup,
            ]
        );
        assert_eq!(t.first(), Some(Instant::from_nanos(11)));
        assert_eq!(t.armed(), 1);
        assert!(t.consistent(live).is_ok());
    }

    #[test]
    fn stale_entries_are_skipped_dropped_and_compacted() {
        let mut t = Timers::new(1);
        // Task 1's queue deadline at 5 was disarmed; only task 2's at 7 is live.
        t.arm(d(5, 1, TaskTimer::Queue));
        t.arm(d(7, 2, TaskTimer::Queue));
        t.disarm(ClassId(0), TaskTimer::Queue);
        let live = |x: &TaskDeadline| x.task != TaskId(1);
        assert!(t.consistent(live).is_err(), "the stale front is seen");
        t.tidy(live);
        assert!(t.consistent(live).is_ok());
        assert_eq!(t.first(), Some(Instant::from_nanos(7)));
        // 3,000 deadlines armed and disarmed: compaction keeps the held entries near the live.
        for i in 0..3_000u64 {
            t.arm(d(100 + i, 10 + i, TaskTimer::Queue));
            t.disarm(ClassId(0), TaskTimer::Queue);
        }
        let live = |x: &TaskDeadline| x.task == TaskId(2);
        t.tidy(live);
        assert_eq!(t.entries, 1);
        assert_eq!(t.live_task_deadlines(live).len(), 1);
        assert_eq!(
            t.pop_due(Instant::from_nanos(1_000_000), live),
            Some((
                Instant::from_nanos(7),
                TimerKind::Task(TaskId(2), TaskTimer::Queue)
            ))
        );
        assert_eq!(t.pop_due(Instant::from_nanos(1_000_000), live), None);
    }
}
