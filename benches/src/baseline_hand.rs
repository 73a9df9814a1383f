//! Baseline (a): the hand-written Rust shape of the source systems.
//!
//! What a Rust programmer writes when porting the source session managers by hand: a
//! `Mutex<HashMap<session, BinaryHeap>>` of per-session priority queues, a per-class counter of
//! running tasks (with a FIFO of sessions waiting for a slot, like a semaphore's wait list), and a
//! task registry `HashMap<task, record>`. Every input takes the locks it needs. There are no
//! deadlines, no retention of finished records, no cancellation hand-shake, no metrics: a finished
//! or cancelled task just leaves the map.
//!
//! It does the same *core* work as the kernel's op-cycle: at most one running task per session,
//! priority then FIFO inside a session, a kernel-wide limit per class, every task registered
//! while it is queued or running. The unit tests below check those properties.
//!
//! [`HandPool`] is the same shape for a group of interchangeable sessions (late binding): one
//! shared heap and a FIFO of idle sessions, longest idle first.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Mutex;

/// Where a registered task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandState {
    /// Waiting in its session's heap.
    Queued,
    /// Holding its session (and a class slot).
    Running,
}

/// A registry record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandRecord {
    /// The session it is aimed at.
    pub session: u64,
    /// Its class (index).
    pub class: usize,
    /// Its priority (higher first).
    pub priority: u8,
    /// Its state.
    pub state: HandState,
}

/// A task that the baseline just started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandStarted {
    /// The session it holds.
    pub session: u64,
    /// The task.
    pub task: u64,
}

/// A heap entry: higher priority first, then lower sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    priority: u8,
    seq: u64,
    task: u64,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
struct SessionQueue {
    heap: BinaryHeap<Entry>,
    running: Option<u64>,
    /// In its head's class wait list.
    waiting: bool,
}

#[derive(Debug)]
struct ClassSlots {
    running: Vec<u32>,
    /// Sessions whose best task waits for a slot of this class, first come first served.
    waiters: Vec<VecDeque<u64>>,
}

/// Errors of the hand-written shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandError {
    /// No such session.
    UnknownSession,
    /// No such task (or already finished).
    UnknownTask,
    /// The task is not running.
    NotRunning,
}

/// The hand-written session manager.
#[derive(Debug)]
pub struct HandWritten {
    sessions: Mutex<HashMap<u64, SessionQueue>>,
    classes: Mutex<ClassSlots>,
    limits: Vec<Option<u32>>,
    tasks: Mutex<HashMap<u64, HandRecord>>,
    ids: Mutex<(u64, u64)>,
}

impl HandWritten {
    /// A manager with one entry per class: its kernel-wide limit, if any.
    pub fn new(limits: Vec<Option<u32>>) -> Self {
        let n = limits.len();
        HandWritten {
            sessions: Mutex::new(HashMap::new()),
            classes: Mutex::new(ClassSlots {
                running: vec![0; n],
                waiters: vec![VecDeque::new(); n],
            }),
            limits,
            tasks: Mutex::new(HashMap::new()),
            ids: Mutex::new((1, 0)),
        }
    }

    /// Registers a session.
    pub fn connect(&self, session: u64) {
        self.sessions
            .lock()
            .expect("poisoned")
            .entry(session)
            .or_default();
    }

    /// Queues a task; if its session is free and its class has a slot it starts at once and is
    /// pushed to `started`.
    pub fn submit(
        &self,
        session: u64,
        class: usize,
        priority: u8,
        started: &mut Vec<HandStarted>,
    ) -> Result<u64, HandError> {
        let mut sessions = self.sessions.lock().expect("poisoned");
        let queue = sessions
            .get_mut(&session)
            .ok_or(HandError::UnknownSession)?;
        let (task, seq) = {
            let mut ids = self.ids.lock().expect("poisoned");
            let out = *ids;
            ids.0 += 1;
            ids.1 += 1;
            out
        };
        queue.heap.push(Entry {
            priority,
            seq,
            task,
        });
        let mut classes = self.classes.lock().expect("poisoned");
        let mut tasks = self.tasks.lock().expect("poisoned");
        tasks.insert(
            task,
            HandRecord {
                session,
                class,
                priority,
                state: HandState::Queued,
            },
        );
        if let Some(t) = try_start(queue, session, &mut classes, &self.limits, &mut tasks) {
            started.push(HandStarted { session, task: t });
        }
        Ok(task)
    }

    /// The task's body returned: it leaves the registry, gives back its session and its class
    /// slot, and the next tasks start (pushed to `started`).
    pub fn finished(&self, task: u64, started: &mut Vec<HandStarted>) -> Result<(), HandError> {
        let mut sessions = self.sessions.lock().expect("poisoned");
        let mut classes = self.classes.lock().expect("poisoned");
        let mut tasks = self.tasks.lock().expect("poisoned");
        let rec = tasks.get(&task).ok_or(HandError::UnknownTask)?;
        if rec.state != HandState::Running {
            return Err(HandError::NotRunning);
        }
        let rec = tasks.remove(&task).ok_or(HandError::UnknownTask)?;
        self.release(rec, &mut sessions, &mut classes, &mut tasks, started);
        Ok(())
    }

    /// Cancels a task: a queued one leaves the registry (its heap entry is skipped when it
    /// surfaces), a running one is treated as stopped at once (no hand-shake).
    pub fn cancel(&self, task: u64, started: &mut Vec<HandStarted>) -> Result<(), HandError> {
        let mut sessions = self.sessions.lock().expect("poisoned");
        let mut classes = self.classes.lock().expect("poisoned");
        let mut tasks = self.tasks.lock().expect("poisoned");
        let rec = tasks.remove(&task).ok_or(HandError::UnknownTask)?;
        if rec.state == HandState::Running {
            self.release(rec, &mut sessions, &mut classes, &mut tasks, started);
        }
        Ok(())
    }

    fn release(
        &self,
        rec: HandRecord,
        sessions: &mut HashMap<u64, SessionQueue>,
        classes: &mut ClassSlots,
        tasks: &mut HashMap<u64, HandRecord>,
        started: &mut Vec<HandStarted>,
    ) {
        if let Some(c) = classes.running.get_mut(rec.class) {
            *c = c.saturating_sub(1);
        }
        if let Some(queue) = sessions.get_mut(&rec.session) {
            queue.running = None;
            if let Some(t) = try_start(queue, rec.session, classes, &self.limits, tasks) {
                started.push(HandStarted {
                    session: rec.session,
                    task: t,
                });
            }
        }
        // A slot of this class is free: wake the sessions waiting for one, first come first.
        while self.has_slot(classes, rec.class) {
            let Some(s) = classes
                .waiters
                .get_mut(rec.class)
                .and_then(VecDeque::pop_front)
            else {
                break;
            };
            let Some(queue) = sessions.get_mut(&s) else {
                continue;
            };
            queue.waiting = false;
            if let Some(t) = try_start(queue, s, classes, &self.limits, tasks) {
                started.push(HandStarted {
                    session: s,
                    task: t,
                });
            }
        }
    }

    fn has_slot(&self, classes: &ClassSlots, class: usize) -> bool {
        match self.limits.get(class).copied().flatten() {
            Some(l) => classes.running.get(class).is_some_and(|r| *r < l),
            None => true,
        }
    }

    /// The task running on a session.
    pub fn running(&self, session: u64) -> Option<u64> {
        self.sessions
            .lock()
            .expect("poisoned")
            .get(&session)
            .and_then(|q| q.running)
    }

    /// Counts by state, the source's way: a pass over the registry. O(n).
    pub fn counts(&self) -> (u64, u64) {
        let tasks = self.tasks.lock().expect("poisoned");
        let mut out = (0, 0);
        for r in tasks.values() {
            match r.state {
                HandState::Queued => out.0 += 1,
                HandState::Running => out.1 += 1,
            }
        }
        out
    }

    /// A page of tasks with `state` and `class`, ordered by id, after `after`: filter the
    /// registry, sort, take. O(n log n).
    pub fn list(
        &self,
        state: HandState,
        class: usize,
        after: u64,
        limit: usize,
    ) -> Vec<(u64, HandRecord)> {
        let tasks = self.tasks.lock().expect("poisoned");
        let mut hits: Vec<(u64, HandRecord)> = tasks
            .iter()
            .filter(|(id, r)| **id > after && r.state == state && r.class == class)
            .map(|(id, r)| (*id, r.clone()))
            .collect();
        hits.sort_unstable_by_key(|(id, _)| *id);
        hits.truncate(limit);
        hits
    }

    /// Records in the registry.
    pub fn len(&self) -> usize {
        self.tasks.lock().expect("poisoned").len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Starts the session's best live task if the session is free and its class has a slot;
/// otherwise, when the class is full, the session queues for a slot.
fn try_start(
    queue: &mut SessionQueue,
    session: u64,
    classes: &mut ClassSlots,
    limits: &[Option<u32>],
    tasks: &mut HashMap<u64, HandRecord>,
) -> Option<u64> {
    if queue.running.is_some() {
        return None;
    }
    loop {
        let head = *queue.heap.peek()?;
        let Some(rec) = tasks.get_mut(&head.task) else {
            // Cancelled while queued: drop the stale entry.
            queue.heap.pop();
            continue;
        };
        let class = rec.class;
        let running = classes.running.get_mut(class)?;
        if let Some(limit) = limits.get(class).copied().flatten()
            && *running >= limit
        {
            if !queue.waiting
                && let Some(w) = classes.waiters.get_mut(class)
            {
                w.push_back(session);
                queue.waiting = true;
            }
            return None;
        }
        queue.heap.pop();
        *running += 1;
        rec.state = HandState::Running;
        queue.running = Some(head.task);
        return Some(head.task);
    }
}

/// A group of interchangeable sessions with one shared queue (late binding), hand-written:
/// `Mutex<BinaryHeap>` + `Mutex<VecDeque>` of idle sessions + the task `HashMap`.
#[derive(Debug)]
pub struct HandPool {
    queue: Mutex<BinaryHeap<Entry>>,
    idle: Mutex<VecDeque<u64>>,
    running: Mutex<HashMap<u64, u64>>,
    tasks: Mutex<HashMap<u64, HandRecord>>,
    ids: Mutex<(u64, u64)>,
}

impl HandPool {
    /// A pool of `members` sessions (ids `0..members`), all idle.
    pub fn new(members: u64) -> Self {
        HandPool {
            queue: Mutex::new(BinaryHeap::new()),
            idle: Mutex::new((0..members).collect()),
            running: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            ids: Mutex::new((1, 0)),
        }
    }

    /// Queues a task for whichever member frees first.
    pub fn submit(&self, priority: u8, started: &mut Vec<HandStarted>) -> u64 {
        let (task, seq) = {
            let mut ids = self.ids.lock().expect("poisoned");
            let out = *ids;
            ids.0 += 1;
            ids.1 += 1;
            out
        };
        self.tasks.lock().expect("poisoned").insert(
            task,
            HandRecord {
                session: u64::MAX,
                class: 0,
                priority,
                state: HandState::Queued,
            },
        );
        self.queue.lock().expect("poisoned").push(Entry {
            priority,
            seq,
            task,
        });
        self.dispatch(started);
        task
    }

    /// The task's body returned: its member becomes idle (last in the idle FIFO).
    pub fn finished(&self, task: u64, started: &mut Vec<HandStarted>) -> Result<(), HandError> {
        let rec = self
            .tasks
            .lock()
            .expect("poisoned")
            .remove(&task)
            .ok_or(HandError::UnknownTask)?;
        if rec.state != HandState::Running {
            return Err(HandError::NotRunning);
        }
        self.running.lock().expect("poisoned").remove(&rec.session);
        self.idle.lock().expect("poisoned").push_back(rec.session);
        self.dispatch(started);
        Ok(())
    }

    fn dispatch(&self, started: &mut Vec<HandStarted>) {
        let mut queue = self.queue.lock().expect("poisoned");
        let mut idle = self.idle.lock().expect("poisoned");
        let mut tasks = self.tasks.lock().expect("poisoned");
        let mut running = self.running.lock().expect("poisoned");
        while !idle.is_empty() {
            let Some(e) = queue.pop() else { break };
            let Some(rec) = tasks.get_mut(&e.task) else {
                continue;
            };
            let Some(s) = idle.pop_front() else { break };
            rec.state = HandState::Running;
            rec.session = s;
            running.insert(s, e.task);
            started.push(HandStarted {
                session: s,
                task: e.task,
            });
        }
    }

    /// Tasks running now.
    pub fn running_len(&self) -> usize {
        self.running.lock().expect("poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_running_task_per_session_in_priority_then_fifo_order() {
        let h = HandWritten::new(vec![None]);
        h.connect(1);
        let mut started = Vec::new();
        let first = h.submit(1, 0, 1, &mut started).unwrap();
        let low = h.submit(1, 0, 1, &mut started).unwrap();
        let high_a = h.submit(1, 0, 9, &mut started).unwrap();
        let high_b = h.submit(1, 0, 9, &mut started).unwrap();
        assert_eq!(
            started,
            vec![HandStarted {
                session: 1,
                task: first
            }]
        );
        let mut order = vec![first];
        for _ in 0..3 {
            let run = h.running(1).unwrap();
            let mut s = Vec::new();
            h.finished(run, &mut s).unwrap();
            assert_eq!(s.len(), 1, "exactly one successor starts");
            order.push(s[0].task);
        }
        assert_eq!(order, vec![first, high_a, high_b, low]);
        assert_eq!(h.counts(), (0, 1));
    }

    #[test]
    fn class_limit_is_kernel_wide_and_slots_go_first_come_first_served() {
        let h = HandWritten::new(vec![Some(2)]);
        let mut started = Vec::new();
        for s in 0..4 {
            h.connect(s);
            h.submit(s, 0, 5, &mut started).unwrap();
        }
        assert_eq!(started.len(), 2);
        assert_eq!(h.counts(), (2, 2));
        let mut next = Vec::new();
        h.finished(started[0].task, &mut next).unwrap();
        assert_eq!(
            next,
            vec![HandStarted {
                session: 2,
                task: 3
            }]
        );
        h.finished(started[1].task, &mut next).unwrap();
        assert_eq!(
            next[1],
            HandStarted {
                session: 3,
                task: 4
            }
        );
        assert_eq!(h.counts(), (0, 2));
    }

    #[test]
    fn cancelled_tasks_are_skipped_and_listing_is_by_id() {
        let h = HandWritten::new(vec![None]);
        h.connect(1);
        let mut started = Vec::new();
        let ids: Vec<u64> = (0..5)
            .map(|_| h.submit(1, 0, 5, &mut started).unwrap())
            .collect();
        h.cancel(ids[1], &mut started).unwrap();
        let page = h.list(HandState::Queued, 0, 0, 2);
        assert_eq!(
            page.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![ids[2], ids[3]]
        );
        let mut s = Vec::new();
        h.finished(ids[0], &mut s).unwrap();
        assert_eq!(s[0].task, ids[2]);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn pool_binds_late_to_the_longest_idle_member() {
        let p = HandPool::new(2);
        let mut s = Vec::new();
        let a = p.submit(5, &mut s);
        let b = p.submit(5, &mut s);
        let c = p.submit(5, &mut s);
        assert_eq!(s.len(), 2);
        assert_eq!(p.running_len(), 2);
        let mut next = Vec::new();
        p.finished(b, &mut next).unwrap();
        assert_eq!(
            next,
            vec![HandStarted {
                session: 1,
                task: c
            }]
        );
        p.finished(a, &mut next).unwrap();
        assert_eq!(p.running_len(), 1);
    }
}
