//! The reference model of DESIGN.md's dispatch rule, written to be obviously right rather than
//! fast.
//!
//! > A queued task is **ready** when (a) it is background, or its session is not held by a
//! > running or cancelling exclusive task (for a group task: some member session is free), and
//! > (b) its class has a free slot under its concurrency limit, and (c) it is not in backoff.
//! > After every input the kernel repeatedly starts the **best ready task** — highest priority
//! > first, then earliest submission (lowest sequence number) — until no task is ready. A group
//! > task takes the free member session that has been idle longest (ties: lowest session id).
//!
//! "Free" also means not closing and, with `fence_reconnect`, not fenced by an unreported
//! exclusive task of an earlier generation of the session's name ("Exclusivity survives
//! reconnects"). The code below is that paragraph: it looks at every queued task of every class
//! with a free slot, in rank order, and keeps the best ready one. It shares no index with the
//! kernel.

use crate::oracle::model::{MTask, Model};
use baton_kernel::{SessionId, Target, TaskId, TaskState};

/// Why a queued task is not ready (for violation messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotReady {
    /// Not queued at all.
    NotQueued(TaskState),
    /// Its class is at its limit.
    ClassAtLimit(u64),
    /// Its session is held by this task.
    SessionHeld(TaskId),
    /// Its session's name is fenced by an earlier generation's task.
    Fenced,
    /// Its session is closing or gone.
    SessionGone,
    /// No member of its group is free.
    NoFreeMember,
}

/// Where a ready task would run: `Some(session)` or no session (background work).
pub type Placement = Option<SessionId>;

/// The session a group task takes: the free member idle longest, ties by lowest id.
pub(crate) fn group_choice(model: &Model, group: baton_kernel::GroupId) -> Option<SessionId> {
    let members = &model.groups.get(&group)?.members;
    members
        .iter()
        .filter_map(|m| model.sessions.get(m).map(|s| (s, *m)))
        .filter(|(s, _)| s.is_free())
        .min_by_key(|(s, id)| (s.idle_since, *id))
        .map(|(_, id)| id)
}

/// Whether `task` is ready, and where it would run.
pub(crate) fn readiness(model: &Model, task: &MTask) -> Result<Placement, NotReady> {
    if task.state != TaskState::Queued {
        return Err(NotReady::NotQueued(task.state));
    }
    if !model.slot_free(task.class) {
        return Err(NotReady::ClassAtLimit(model.active[task.class.index()]));
    }
    let exclusive = model.class(task.class).exclusive;
    match (exclusive, task.target) {
        (false, Target::Session(s)) => Ok(Some(s)),
        (false, _) => Ok(None),
        (true, Target::Session(s)) => match model.sessions.get(&s) {
            Some(sess) if sess.closing.is_none() => match sess.holder {
                Some(h) => Err(NotReady::SessionHeld(h)),
                None if sess.fenced => Err(NotReady::Fenced),
                None => Ok(Some(s)),
            },
            _ => Err(NotReady::SessionGone),
        },
        (true, Target::Group(g)) => group_choice(model, g)
            .map(Some)
            .ok_or(NotReady::NoFreeMember),
        (true, Target::None) => Err(NotReady::SessionGone),
    }
}

/// The best ready task and where it runs, if any task is ready.
pub(crate) fn best_ready(model: &Model) -> Option<(TaskId, Placement)> {
    let mut best: Option<((u8, u64), TaskId, Placement)> = None;
    for (class, queued) in model.queued.iter().enumerate() {
        if !model.slot_free(baton_kernel::ClassId(class as u16)) {
            continue;
        }
        // Rank order within the class: the first ready task is the class's best.
        for &(urgency, seq, id) in queued {
            if best.is_some_and(|(rank, _, _)| rank < (urgency, seq)) {
                break;
            }
            let Some(task) = model.task(id) else { continue };
            if let Ok(place) = readiness(model, task) {
                if best.is_none_or(|(rank, _, _)| (urgency, seq) < rank) {
                    best = Some(((urgency, seq), id, place));
                }
                break;
            }
        }
    }
    best.map(|(_, id, place)| (id, place))
}
