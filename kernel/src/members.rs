//! A session's tasks: every record counted against it, in id order, as an intrusive list.
//!
//! The links live in the task records (`Task::member`), so joining and leaving cost no
//! allocation. Tasks aimed at a session join it when they are submitted, with the largest id
//! yet, so the usual insert is an append, O(1); a group task joins the member it binds to when
//! it starts, walking back from the tail past the later ids, O(later members). Leaving is O(1).
//! Paging from a cursor that is still a member is O(page); from any other cursor the walk starts
//! at the head, O(members).

use crate::id::TaskId;
use crate::queue::Links;
use crate::registry::Registry;

const NIL: TaskId = TaskId(0);

/// The ends and length of one session's task list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Members {
    head: TaskId,
    tail: TaskId,
    len: usize,
}

impl Default for Members {
    fn default() -> Self {
        Members {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl Members {
    /// Links `task` in at its place in id order.
    pub(crate) fn insert(&mut self, tasks: &mut Registry, task: TaskId) {
        let mut prev = self.tail;
        while prev > task {
            match tasks.get(&prev) {
                Some(t) => prev = t.member.prev,
                None => break,
            }
        }
        let next = match tasks.get(&prev) {
            Some(p) => p.member.next,
            None => self.head,
        };
        if let Some(t) = tasks.get_mut(&task) {
            t.member = Links { prev, next };
        }
        match tasks.get_mut(&prev) {
            Some(p) => p.member.next = task,
            None => self.head = task,
        }
        match tasks.get_mut(&next) {
            Some(n) => n.member.prev = task,
            None => self.tail = task,
        }
        self.len += 1;
    }

    /// Unlinks `task`. O(1).
    pub(crate) fn remove(&mut self, tasks: &mut Registry, task: TaskId) {
        let Some(links) = tasks.get_mut(&task).map(|t| std::mem::take(&mut t.member)) else {
            return;
        };
        match tasks.get_mut(&links.prev) {
            Some(p) => p.member.next = links.next,
            None => self.head = links.next,
        }
        match tasks.get_mut(&links.next) {
            Some(n) => n.member.prev = links.prev,
            None => self.tail = links.prev,
        }
        self.len = self.len.saturating_sub(1);
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Members in id order.
    pub(crate) fn iter<'a>(&self, tasks: &'a Registry) -> impl Iterator<Item = TaskId> + 'a {
        self.walk_from(self.head, tasks)
    }

    /// Members with ids after `after`, in id order: from the cursor's successor when the cursor
    /// is itself a member (`is_member`), else from the head, skipping.
    pub(crate) fn after<'a>(
        &self,
        tasks: &'a Registry,
        after: TaskId,
        is_member: bool,
    ) -> impl Iterator<Item = TaskId> + 'a {
        let start = match tasks.get(&after) {
            Some(t) if is_member => t.member.next,
            _ => self.head,
        };
        self.walk_from(start, tasks).filter(move |id| *id > after)
    }

    fn walk_from<'a>(
        &self,
        start: TaskId,
        tasks: &'a Registry,
    ) -> impl Iterator<Item = TaskId> + 'a {
        let mut next = start;
        std::iter::from_fn(move || {
            let id = next;
            next = tasks.get(&id)?.member.next;
            Some(id)
        })
    }

    /// The first member, for the invariants' walk.
    pub(crate) fn head(&self) -> TaskId {
        self.head
    }

    /// The last member.
    pub(crate) fn tail(&self) -> TaskId {
        self.tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Task;
    use crate::{ClassId, Instant, Submit, Target};

    fn registry(ids: &[u64]) -> Registry {
        let mut r = Registry::default();
        for &id in ids {
            r.insert(Task::new(
                TaskId(id),
                &Submit::new(ClassId(0), Target::None),
                0,
                id,
                Instant::ZERO,
            ));
        }
        r
    }

    #[test]
    fn keeps_id_order_with_late_joiners_and_pages_from_a_cursor() {
        let mut tasks = registry(&[1, 2, 3, 4, 5, 6]);
        let mut m = Members::default();
        for id in [2, 5, 6, 1, 4] {
            m.insert(&mut tasks, TaskId(id));
        }
        let ids = |m: &Members, t: &Registry| m.iter(t).map(|t| t.0).collect::<Vec<_>>();
        assert_eq!(ids(&m, &tasks), vec![1, 2, 4, 5, 6]);
        assert_eq!((m.head(), m.tail(), m.len()), (TaskId(1), TaskId(6), 5));
        let from = |m: &Members, t: &Registry, after: u64, member: bool| {
            m.after(t, TaskId(after), member)
                .map(|t| t.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(from(&m, &tasks, 4, true), vec![5, 6]);
        // A cursor that is not a member: from the head, skipping.
        assert_eq!(from(&m, &tasks, 3, false), vec![4, 5, 6]);
        m.remove(&mut tasks, TaskId(1));
        m.remove(&mut tasks, TaskId(5));
        m.remove(&mut tasks, TaskId(6));
        assert_eq!(ids(&m, &tasks), vec![2, 4]);
        assert_eq!((m.head(), m.tail(), m.len()), (TaskId(2), TaskId(4), 2));
        m.insert(&mut tasks, TaskId(3));
        assert_eq!(ids(&m, &tasks), vec![2, 3, 4]);
    }
}
