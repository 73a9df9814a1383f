//! Baseline (c): the lean floor.
//!
//! The same op-cycle with the least a correct scheduler can do: tasks in a [`Slab`], one FIFO
//! `VecDeque` per session and class (classes in priority order, no priorities inside a class),
//! a counter per class with a FIFO of sessions waiting for a slot, and lazy tombstones (a
//! generation per slab entry) for cancelled or expired entries. No registry of finished tasks,
//! no metrics, no queries, no serialization, no checks.
//!
//! Deadlines are optional and as cheap as they get: when every task of a run has the same queue
//! timeout, expiry order is submission order, so the "timer wheel" is one `VecDeque`.
//!
//! It shows how close the kernel is to the cost of touching the memory at all. The unit tests
//! check that it still keeps the rules: one running task per session, class priority then FIFO,
//! the class limit.

use slab::Slab;
use std::collections::VecDeque;

/// A task handle: slab key in the low 32 bits, generation in the high 32 bits.
pub type LeanTaskId = u64;

/// A task that the floor just started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeanStarted {
    /// The session it holds.
    pub session: u32,
    /// The task.
    pub task: LeanTaskId,
}

#[derive(Clone, Copy, Debug)]
struct LeanTask {
    session: u32,
    class: u16,
    generation: u32,
    running: bool,
}

#[derive(Clone, Debug, Default)]
struct LeanSession {
    holder: Option<LeanTaskId>,
    /// One FIFO per class, class 0 first.
    lanes: Vec<VecDeque<LeanTaskId>>,
    /// In some class's wait list.
    waiting: bool,
}

fn pack(key: usize, generation: u32) -> LeanTaskId {
    (u64::from(generation) << 32) | key as u64
}

fn unpack(id: LeanTaskId) -> (usize, u32) {
    ((id & 0xffff_ffff) as usize, (id >> 32) as u32)
}

/// The lean floor scheduler.
#[derive(Clone, Debug)]
pub struct Lean {
    tasks: Slab<LeanTask>,
    sessions: Vec<LeanSession>,
    running: Vec<u32>,
    limits: Vec<u32>,
    waiters: Vec<VecDeque<u32>>,
    queue_timeout: Option<u64>,
    expiry: VecDeque<(u64, LeanTaskId)>,
    generation: u32,
}

impl Lean {
    /// `sessions` sessions (ids `0..sessions`), one entry per class in priority order giving its
    /// limit, and an optional queue timeout shared by every task (nanoseconds).
    pub fn new(sessions: u32, limits: Vec<Option<u32>>, queue_timeout: Option<u64>) -> Self {
        let n = limits.len();
        Lean {
            tasks: Slab::new(),
            sessions: (0..sessions)
                .map(|_| LeanSession {
                    holder: None,
                    lanes: vec![VecDeque::new(); n],
                    waiting: false,
                })
                .collect(),
            running: vec![0; n],
            limits: limits.iter().map(|l| l.unwrap_or(u32::MAX)).collect(),
            waiters: vec![VecDeque::new(); n],
            queue_timeout,
            expiry: VecDeque::new(),
            generation: 0,
        }
    }

    fn live(&self, id: LeanTaskId) -> Option<&LeanTask> {
        let (key, generation) = unpack(id);
        self.tasks.get(key).filter(|t| t.generation == generation)
    }

    /// Queues a task at `now`; it starts at once if it can.
    pub fn submit(
        &mut self,
        now: u64,
        session: u32,
        class: u16,
        started: &mut Vec<LeanStarted>,
    ) -> LeanTaskId {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let key = self.tasks.insert(LeanTask {
            session,
            class,
            generation,
            running: false,
        });
        let id = pack(key, generation);
        if let Some(lane) = self
            .sessions
            .get_mut(session as usize)
            .and_then(|s| s.lanes.get_mut(class as usize))
        {
            lane.push_back(id);
        }
        if let Some(d) = self.queue_timeout {
            self.expiry.push_back((now + d, id));
        }
        self.try_start(session, started);
        id
    }

    /// The task's body returned: its session and class slot are free again.
    pub fn finished(&mut self, task: LeanTaskId, started: &mut Vec<LeanStarted>) -> bool {
        match self.live(task) {
            Some(t) if t.running => {}
            _ => return false,
        }
        self.release(task, started);
        true
    }

    /// Cancels a task: a queued one becomes a tombstone, a running one stops at once.
    pub fn cancel(&mut self, task: LeanTaskId, started: &mut Vec<LeanStarted>) -> bool {
        let Some(t) = self.live(task) else {
            return false;
        };
        if t.running {
            self.release(task, started);
        } else {
            self.tasks.remove(unpack(task).0);
        }
        true
    }

    /// Expires every queued task whose queue timeout is `<= now`; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut n = 0;
        while let Some(&(at, id)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            if self.live(id).is_some_and(|t| !t.running) {
                self.tasks.remove(unpack(id).0);
                n += 1;
            }
        }
        n
    }

    fn release(&mut self, task: LeanTaskId, started: &mut Vec<LeanStarted>) {
        let t = self.tasks.remove(unpack(task).0);
        let class = t.class as usize;
        if let Some(r) = self.running.get_mut(class) {
            *r -= 1;
        }
        if let Some(s) = self.sessions.get_mut(t.session as usize) {
            s.holder = None;
        }
        self.try_start(t.session, started);
        while self.running.get(class) < self.limits.get(class) {
            let Some(s) = self.waiters.get_mut(class).and_then(VecDeque::pop_front) else {
                break;
            };
            if let Some(sess) = self.sessions.get_mut(s as usize) {
                sess.waiting = false;
            }
            self.try_start(s, started);
        }
    }

    fn try_start(&mut self, session: u32, started: &mut Vec<LeanStarted>) {
        let Lean {
            tasks,
            sessions,
            running,
            limits,
            waiters,
            ..
        } = self;
        let Some(s) = sessions.get_mut(session as usize) else {
            return;
        };
        if s.holder.is_some() {
            return;
        }
        for (class, lane) in s.lanes.iter_mut().enumerate() {
            while let Some(&id) = lane.front() {
                let (key, generation) = unpack(id);
                let Some(t) = tasks.get_mut(key).filter(|t| t.generation == generation) else {
                    lane.pop_front();
                    continue;
                };
                let (Some(r), Some(l)) = (running.get_mut(class), limits.get(class)) else {
                    return;
                };
                if *r >= *l {
                    if !s.waiting
                        && let Some(w) = waiters.get_mut(class)
                    {
                        w.push_back(session);
                        s.waiting = true;
                    }
                    return;
                }
                lane.pop_front();
                *r += 1;
                t.running = true;
                s.holder = Some(id);
                started.push(LeanStarted { session, task: id });
                return;
            }
        }
    }

    /// The task running on a session.
    pub fn running(&self, session: u32) -> Option<LeanTaskId> {
        self.sessions.get(session as usize).and_then(|s| s.holder)
    }

    /// Live tasks (queued and running).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task is live.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// A group of `members` interchangeable sessions with one FIFO queue (late binding): a slab,
/// a `VecDeque` of queued tasks and a `VecDeque` of idle members, longest idle first.
#[derive(Clone, Debug)]
pub struct LeanPool {
    tasks: Slab<u32>,
    queue: VecDeque<usize>,
    idle: VecDeque<u32>,
}

impl LeanPool {
    /// A pool of `members` idle sessions.
    pub fn new(members: u32) -> Self {
        LeanPool {
            tasks: Slab::new(),
            queue: VecDeque::new(),
            idle: (0..members).collect(),
        }
    }

    /// Queues a task; it starts at once on the longest-idle member if there is one.
    pub fn submit(&mut self, started: &mut Vec<LeanStarted>) -> usize {
        let key = self.tasks.insert(u32::MAX);
        self.queue.push_back(key);
        self.dispatch(started);
        key
    }

    /// The task's body returned: its member goes idle.
    pub fn finished(&mut self, task: usize, started: &mut Vec<LeanStarted>) -> bool {
        match self.tasks.get(task).copied() {
            Some(s) if s != u32::MAX => {
                self.tasks.remove(task);
                self.idle.push_back(s);
                self.dispatch(started);
                true
            }
            _ => false,
        }
    }

    fn dispatch(&mut self, started: &mut Vec<LeanStarted>) {
        while !self.idle.is_empty() {
            let Some(key) = self.queue.pop_front() else {
                return;
            };
            let Some(s) = self.idle.pop_front() else {
                return;
            };
            if let Some(t) = self.tasks.get_mut(key) {
                *t = s;
            }
            started.push(LeanStarted {
                session: s,
                task: key as u64,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_running_per_session_class_priority_then_fifo() {
        let mut l = Lean::new(1, vec![None, None], None);
        let mut s = Vec::new();
        let first = l.submit(0, 0, 1, &mut s);
        let low = l.submit(0, 0, 1, &mut s);
        let high_a = l.submit(0, 0, 0, &mut s);
        let high_b = l.submit(0, 0, 0, &mut s);
        assert_eq!(s.len(), 1);
        let mut order = vec![first];
        for _ in 0..3 {
            let run = l.running(0).unwrap();
            let mut next = Vec::new();
            assert!(l.finished(run, &mut next));
            assert_eq!(next.len(), 1);
            order.push(next[0].task);
        }
        assert_eq!(order, vec![first, high_a, high_b, low]);
    }

    #[test]
    fn class_limit_and_waiting_sessions() {
        let mut l = Lean::new(4, vec![Some(2)], None);
        let mut s = Vec::new();
        let ids: Vec<_> = (0..4).map(|i| l.submit(0, i, 0, &mut s)).collect();
        assert_eq!(s.len(), 2);
        let mut next = Vec::new();
        l.finished(ids[0], &mut next);
        assert_eq!(
            next,
            vec![LeanStarted {
                session: 2,
                task: ids[2]
            }]
        );
        assert!(!l.finished(ids[0], &mut next), "double finish is refused");
    }

    #[test]
    fn tombstones_for_cancel_and_expiry() {
        let mut l = Lean::new(1, vec![None], Some(10));
        let mut s = Vec::new();
        let a = l.submit(0, 0, 0, &mut s);
        let b = l.submit(0, 0, 0, &mut s);
        let c = l.submit(5, 0, 0, &mut s);
        let d = l.submit(20, 0, 0, &mut s);
        assert!(l.cancel(b, &mut s));
        assert_eq!(l.expire(15), 1, "c expired, a runs, b was cancelled");
        let mut next = Vec::new();
        l.finished(a, &mut next);
        assert_eq!(next[0].task, d);
        assert_eq!(l.len(), 1);
        assert!(!l.cancel(c, &mut next));
    }

    #[test]
    fn pool_binds_late() {
        let mut p = LeanPool::new(2);
        let mut s = Vec::new();
        let a = p.submit(&mut s);
        let b = p.submit(&mut s);
        let c = p.submit(&mut s);
        assert_eq!(s.len(), 2);
        let mut next = Vec::new();
        assert!(p.finished(b, &mut next));
        assert_eq!(
            next,
            vec![LeanStarted {
                session: 1,
                task: c as u64
            }]
        );
        assert!(p.finished(a, &mut next));
    }
}
