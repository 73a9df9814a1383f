//! Priority queues ("lanes"): tasks that share one readiness condition, best first.
//!
//! A lane holds the queued tasks of one class aimed at one session, one group, or no target.
//! Inside a lane the order is the dispatch rule's: higher priority first, then lower sequence
//! number (earlier submission). Every task enters its queue with a fresh sequence number — the
//! largest yet — so each priority's tasks form a FIFO: a lane is one intrusive doubly linked
//! list per priority in use (the links live in the task records), highest priority first.
//! Appending, removing any task and reading the head are O(1) (plus O(priorities in use) to find
//! the level, usually one).

use crate::id::{ClassId, GroupId, SessionId, TaskId};
use crate::registry::Registry;
use serde::{Deserialize, Serialize};

/// A task's place in the dispatch order. Smaller is better: `urgency` is `255 - priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Rank {
    pub(crate) urgency: u8,
    pub(crate) seq: u64,
}

impl Rank {
    pub(crate) fn new(priority: u8, seq: u64) -> Self {
        Rank {
            urgency: u8::MAX - priority,
            seq,
        }
    }
}

/// Which lane family a queued task waits in (the class is the other half of the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum LaneRef {
    /// Exclusive tasks for one session.
    Session(SessionId),
    /// Exclusive tasks for one group.
    Group(GroupId),
    /// Background tasks (whatever their target).
    Background,
}

/// A task's links in its lane's list (`TaskId(0)`, never issued, ends a list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Links {
    pub(crate) prev: TaskId,
    pub(crate) next: TaskId,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            prev: NIL,
            next: NIL,
        }
    }
}

const NIL: TaskId = TaskId(0);

/// The FIFO of one priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level {
    priority: u8,
    head: TaskId,
    tail: TaskId,
    len: u32,
}

/// One priority queue: a FIFO per priority in use, highest priority first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lane {
    levels: Vec<Level>,
}

impl Lane {
    /// Appends `task` (just given the largest sequence number) to its priority's FIFO.
    /// O(priorities in use).
    pub(crate) fn push(&mut self, tasks: &mut Registry, task: TaskId, priority: u8) {
        let at = self.levels.partition_point(|l| l.priority > priority);
        let level = match self.levels.get_mut(at) {
            Some(l) if l.priority == priority => l,
            _ => {
                self.levels.insert(
                    at,
                    Level {
                        priority,
                        head: NIL,
                        tail: NIL,
                        len: 0,
                    },
                );
                match self.levels.get_mut(at) {
                    Some(l) => l,
                    None => return,
                }
            }
        };
        let tail = level.tail;
        if let Some(t) = tasks.get_mut(&task) {
            t.links = Links {
                prev: tail,
                next: NIL,
            };
        }
        match tasks.get_mut(&tail) {
            Some(prev) => prev.links.next = task,
            None => level.head = task,
        }
        level.tail = task;
        level.len += 1;
    }

    /// Unlinks `task` from its priority's FIFO. O(priorities in use).
    pub(crate) fn remove(&mut self, tasks: &mut Registry, task: TaskId, priority: u8) {
        let Some(i) = self.levels.iter().position(|l| l.priority == priority) else {
            return;
        };
        let Some(links) = tasks.get_mut(&task).map(|t| std::mem::take(&mut t.links)) else {
            return;
        };
        let Some(level) = self.levels.get_mut(i) else {
            return;
        };
        match tasks.get_mut(&links.prev) {
            Some(p) => p.links.next = links.next,
            None => level.head = links.next,
        }
        match tasks.get_mut(&links.next) {
            Some(n) => n.links.prev = links.prev,
            None => level.tail = links.prev,
        }
        level.len = level.len.saturating_sub(1);
        if level.len == 0 {
            self.levels.remove(i);
        }
    }

    /// The best task and its rank. O(1).
    pub(crate) fn head(&self, tasks: &Registry) -> Option<(Rank, TaskId)> {
        let level = self.levels.first()?;
        let seq = tasks.get(&level.head)?.seq;
        Some((Rank::new(level.priority, seq), level.head))
    }

    /// Tasks in dispatch order. O(1) per task.
    pub(crate) fn iter<'a>(&'a self, tasks: &'a Registry) -> impl Iterator<Item = TaskId> + 'a {
        self.levels.iter().flat_map(move |l| {
            let mut next = l.head;
            std::iter::from_fn(move || {
                let id = next;
                next = tasks.get(&id)?.links.next;
                Some(id)
            })
        })
    }

    /// Tasks as counted by the levels. O(priorities in use).
    pub(crate) fn len(&self) -> usize {
        self.levels.iter().map(|l| l.len as usize).sum()
    }

    /// Entries strictly better than `rank` (priority `255 - rank.urgency`). O(levels + m) for
    /// the m tasks of the same priority before it.
    pub(crate) fn count_before(&self, tasks: &Registry, rank: Rank) -> usize {
        let priority = u8::MAX - rank.urgency;
        let mut n = 0;
        for l in &self.levels {
            if l.priority > priority {
                n += l.len as usize;
            } else if l.priority == priority {
                let mut id = l.head;
                while let Some(t) = tasks.get(&id) {
                    if t.seq >= rank.seq {
                        break;
                    }
                    n += 1;
                    id = t.links.next;
                }
            }
        }
        n
    }
}

/// The lanes of one session or group, one per class that has queued there (kept when empty:
/// at most one per class).
#[derive(Clone, Debug, Default)]
pub(crate) struct Lanes(Vec<(ClassId, Lane)>);

/// Equal when the same classes have the same non-empty lanes (empty lanes kept for reuse, and
/// the order lanes were created in, do not count).
impl PartialEq for Lanes {
    fn eq(&self, other: &Self) -> bool {
        fn used(l: &Lanes) -> Vec<&(ClassId, Lane)> {
            let mut v: Vec<&(ClassId, Lane)> = l.0.iter().filter(|(_, l)| l.len() > 0).collect();
            v.sort_by_key(|(c, _)| *c);
            v
        }
        used(self) == used(other)
    }
}

impl Eq for Lanes {}

impl Lanes {
    pub(crate) fn get(&self, class: ClassId) -> Option<&Lane> {
        self.0.iter().find(|(c, _)| *c == class).map(|(_, l)| l)
    }

    /// The class's lane, created empty if needed (always `Some`).
    pub(crate) fn entry(&mut self, class: ClassId) -> Option<&mut Lane> {
        if !self.0.iter().any(|(c, _)| *c == class) {
            self.0.push((class, Lane::default()));
        }
        self.0
            .iter_mut()
            .find(|(c, _)| *c == class)
            .map(|(_, lane)| lane)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(ClassId, Lane)> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Task;

    fn task(id: u64, priority: u8, seq: u64) -> Task {
        let mut t = Task::new(
            TaskId(id),
            &crate::Submit::new(ClassId(0), crate::Target::None),
            priority,
            seq,
            crate::Instant::ZERO,
        );
        t.priority = priority;
        t
    }

    #[test]
    fn priority_then_fifo_with_removal_anywhere() {
        let mut tasks = Registry::default();
        let mut lane = Lane::default();
        for (id, prio, seq) in [(1, 1, 1), (2, 5, 2), (3, 5, 3), (4, 5, 4), (5, 9, 5)] {
            tasks.insert(task(id, prio, seq));
            lane.push(&mut tasks, TaskId(id), prio);
        }
        let order =
            |lane: &Lane, tasks: &Registry| lane.iter(tasks).map(|t| t.0).collect::<Vec<_>>();
        assert_eq!(order(&lane, &tasks), vec![5, 2, 3, 4, 1]);
        assert_eq!(lane.head(&tasks), Some((Rank::new(9, 5), TaskId(5))));
        assert_eq!(lane.count_before(&tasks, Rank::new(5, 4)), 3);
        assert_eq!(lane.count_before(&tasks, Rank::new(1, 1)), 4);
        // Middle, head and tail of the priority-5 FIFO.
        lane.remove(&mut tasks, TaskId(3), 5);
        assert_eq!(order(&lane, &tasks), vec![5, 2, 4, 1]);
        lane.remove(&mut tasks, TaskId(5), 9);
        assert_eq!(lane.head(&tasks).map(|h| h.1), Some(TaskId(2)));
        lane.remove(&mut tasks, TaskId(4), 5);
        lane.remove(&mut tasks, TaskId(2), 5);
        assert_eq!(order(&lane, &tasks), vec![1]);
        assert_eq!(lane.len(), 1);
        lane.remove(&mut tasks, TaskId(1), 1);
        assert_eq!(lane.len(), 0);
        assert_eq!(
            tasks.get(&TaskId(1)).map(|t| t.links),
            Some(Links::default())
        );
    }
}
