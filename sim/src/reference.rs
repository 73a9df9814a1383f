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
//! reconnects"). The code below is that paragraph: in every class with a free slot it looks at
//! the best queued task of every target (session, group or none) and keeps the best ready one.
//! Looking only at each target's first task is exact, not a shortcut: whether a queued task is
//! ready depends on its class and its target and nothing else, so the tasks behind it in the
//! same class and target are ready exactly when it is, and rank below it. It shares no index
//! with the kernel.

use crate::oracle::model::Model;
use baton_kernel::{ClassId, SessionId, Target, TaskId};

/// Why a queued task is not ready (for violation messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotReady {
    /// Its class is at its limit.
    ClassAtLimit(u64),
    /// Its session is held by this task.
    SessionHeld(TaskId),
    /// Its session's name is fenced by an earlier generation's task.
    Fenced,
    /// Its session is closing or gone.
    SessionGone,
    /// Its session waits for its name to connect again after a restart.
    Detached,
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

/// Whether a queued task of `class` on `target` is ready, and where it would run. Nothing else
/// about the task matters.
pub(crate) fn readiness(
    model: &Model,
    class: ClassId,
    target: Target,
) -> Result<Placement, NotReady> {
    if !model.slot_free(class) {
        return Err(NotReady::ClassAtLimit(model.active[class.index()]));
    }
    let exclusive = model.class(class).exclusive;
    match (exclusive, target) {
        (false, Target::Session(s)) => Ok(Some(s)),
        (false, _) => Ok(None),
        (true, Target::Session(s)) => match model.sessions.get(&s) {
            Some(sess) if sess.closing.is_none() => match sess.holder {
                Some(h) => Err(NotReady::SessionHeld(h)),
                None if sess.fenced => Err(NotReady::Fenced),
                None if sess.detached => Err(NotReady::Detached),
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
    for (class, lanes) in model.queued.iter().enumerate() {
        let class = ClassId(class as u16);
        if !model.slot_free(class) {
            continue;
        }
        for (&target, lane) in lanes {
            let Some(&(urgency, seq, id)) = lane.first() else {
                continue;
            };
            if best.is_some_and(|(rank, _, _)| rank < (urgency, seq)) {
                continue;
            }
            if let Ok(place) = readiness(model, class, target) {
                best = Some(((urgency, seq), id, place));
            }
        }
    }
    best.map(|(_, id, place)| (id, place))
}
