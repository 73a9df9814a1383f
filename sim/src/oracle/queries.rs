//! The query check: every query the kernel answers, against what the model knows.
//!
//! - counts by state, class and session;
//! - `list` under every filter (each state, each class, each session, a rotating few parents,
//!   and none), paged through with its cursor: the pages must concatenate to exactly the model's
//!   set, in id order, without duplicates, each page within its limit; the unfiltered listing's
//!   views are compared field by field;
//! - `explain` of every task (while the queue is small enough for the O(q²) competitor count;
//!   otherwise of the first [`EXPLAIN_MAX`] queued tasks), with the exact "behind m better
//!   tasks": the queued tasks ranked before it that compete with it for its session or group
//!   (any class) or for its class's slot (when the class is limited), or that wait in its own
//!   lane;
//! - metrics (totals, running, queued and stuck per class, queue-wait and run-time histograms,
//!   registry size, sessions, fenced names), `stuck()` and `fenced()`.

use super::model::{self, MTask, Model};
use crate::property::Property;
use crate::under_test::KernelUnderTest;
use baton_kernel::{
    Blocker, Duration, Explanation, Instant, ListFilter, SessionId, Target, TaskId, TaskState,
    TaskView,
};
use std::collections::BTreeSet;

/// Page length used to walk listings (small, so cursors are exercised).
const PAGE: usize = 7;
/// Parent filters checked per pass (they rotate over the parents in the registry).
const PARENTS_PER_PASS: usize = 3;
/// Queued tasks explained per pass when the queue is long.
pub(crate) const EXPLAIN_MAX: usize = 64;

type Found = Vec<(Property, String)>;

/// Runs every query check; returns what disagreed.
pub(crate) fn check(m: &Model, k: &dyn KernelUnderTest, rotation: u64, paranoid: bool) -> Found {
    let mut found = Found::new();
    counts(m, k, &mut found);
    lists(m, k, rotation, paranoid, &mut found);
    explains(m, k, paranoid, &mut found);
    metrics(m, k, &mut found);
    found
}

fn counts(m: &Model, k: &dyn KernelUnderTest, found: &mut Found) {
    let kernel = k.kernel();
    for (i, want) in m.class_counts.iter().enumerate() {
        let got = kernel
            .class_counts(baton_kernel::ClassId(i as u16))
            .map(|c| TaskState::ALL.map(|s| c.get(s)));
        if got != Some(*want) {
            let detail = format!("class_counts({i}) is {got:?}, model {want:?}");
            found.push((Property::Accounting, detail));
        }
    }
    for (id, s) in &m.sessions {
        let got = kernel
            .session_counts(*id)
            .map(|c| TaskState::ALL.map(|s| c.get(s)));
        if got != Some(s.counts) {
            let detail = format!("session_counts({id}) is {got:?}, model {:?}", s.counts);
            found.push((Property::Accounting, detail));
        }
    }
}

/// Pages through `list(filter)` and compares with `want` (ascending ids).
fn walk(
    k: &dyn KernelUnderTest,
    filter: &ListFilter,
    want: &[TaskId],
    found: &mut Found,
) -> Vec<TaskView> {
    let mut views: Vec<TaskView> = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = k.list(filter, after, PAGE);
        pages += 1;
        if page.items.len() > PAGE {
            let detail = format!(
                "list({filter:?}) gave {} items for a limit of {PAGE}",
                page.items.len()
            );
            found.push((Property::Accounting, detail));
        }
        views.extend(page.items);
        match page.next {
            Some(next) if pages <= want.len() + 1 => after = Some(next),
            _ => break,
        }
    }
    let got: Vec<TaskId> = views.iter().map(|v| v.id).collect();
    if got != want {
        let sorted = got.windows(2).all(|w| w[0] < w[1]);
        let missing: Vec<&TaskId> = want.iter().filter(|x| !got.contains(x)).take(5).collect();
        let extra: Vec<&TaskId> = got.iter().filter(|x| !want.contains(x)).take(5).collect();
        let detail = format!(
            "list({filter:?}) paged by {PAGE} gives {} tasks (in strict id order: {sorted}), the model {}; missing {missing:?}, extra {extra:?}",
            got.len(),
            want.len()
        );
        found.push((Property::Accounting, detail));
    }
    views
}

fn lists(m: &Model, k: &dyn KernelUnderTest, rotation: u64, paranoid: bool, found: &mut Found) {
    // Every listing on every pass in paranoid mode; otherwise one kind of listing per pass
    // (unfiltered with full views, by state, by class, by session, by parent), in rotation.
    let kind = rotation % 5;
    if paranoid || kind == 0 {
        unfiltered(m, k, found);
    }
    let every = paranoid;
    let pick = |n: usize| ((rotation / 5) as usize) % n.max(1);
    let matching = |f: &dyn Fn(&MTask) -> bool| -> Vec<TaskId> {
        m.tasks.values().filter(|t| f(t)).map(|t| t.id).collect()
    };
    if paranoid || kind == 1 {
        by_state(k, every, pick(TaskState::ALL.len()), &matching, found);
    }
    if paranoid || kind == 2 {
        by_class(m, k, every, pick(m.class_counts.len()), &matching, found);
    }
    if paranoid || kind == 3 {
        by_session(m, k, every, pick(m.sessions.len()), found);
    }
    if paranoid || kind == 4 {
        by_parent(m, k, rotation, paranoid, &matching, found);
    }
}

type Matching<'a> = dyn Fn(&dyn Fn(&MTask) -> bool) -> Vec<TaskId> + 'a;

fn unfiltered(m: &Model, k: &dyn KernelUnderTest, found: &mut Found) {
    let all: Vec<TaskId> = m.tasks.keys().copied().collect();
    let views = walk(k, &ListFilter::default(), &all, found);
    if views.len() == all.len() {
        for v in &views {
            if let Some(t) = m.task(v.id)
                && let Some(diff) = view_diff(m, k.kernel().now(), t, v)
            {
                found.push((Property::Accounting, format!("task({}): {diff}", v.id)));
                break;
            }
        }
    }
}

fn by_state(
    k: &dyn KernelUnderTest,
    every: bool,
    pick: usize,
    matching: &Matching<'_>,
    found: &mut Found,
) {
    for (i, state) in TaskState::ALL.into_iter().enumerate() {
        if !every && i != pick {
            continue;
        }
        let filter = ListFilter {
            state: Some(state),
            ..ListFilter::default()
        };
        walk(k, &filter, &matching(&|t| t.state == state), found);
    }
}

fn by_class(
    m: &Model,
    k: &dyn KernelUnderTest,
    every: bool,
    pick: usize,
    matching: &Matching<'_>,
    found: &mut Found,
) {
    for i in 0..m.class_counts.len() {
        if !every && i != pick {
            continue;
        }
        let class = baton_kernel::ClassId(i as u16);
        let filter = ListFilter {
            class: Some(class),
            ..ListFilter::default()
        };
        walk(k, &filter, &matching(&|t| t.class == class), found);
    }
}

fn by_session(m: &Model, k: &dyn KernelUnderTest, every: bool, pick: usize, found: &mut Found) {
    for (i, (id, s)) in m.sessions.iter().enumerate() {
        if !every && i != pick {
            continue;
        }
        let filter = ListFilter {
            session: Some(*id),
            ..ListFilter::default()
        };
        let want: Vec<TaskId> = s.tasks.iter().copied().collect();
        walk(k, &filter, &want, found);
    }
}

fn by_parent(
    m: &Model,
    k: &dyn KernelUnderTest,
    rotation: u64,
    paranoid: bool,
    matching: &Matching<'_>,
    found: &mut Found,
) {
    let parents: BTreeSet<TaskId> = m.tasks.values().filter_map(|t| t.parent).collect();
    if !parents.is_empty() {
        let skip = (rotation as usize * PARENTS_PER_PASS) % parents.len();
        for p in parents.iter().cycle().skip(skip).take(if paranoid {
            parents.len()
        } else {
            PARENTS_PER_PASS.min(parents.len())
        }) {
            let filter = ListFilter {
                parent: Some(*p),
                ..ListFilter::default()
            };
            walk(k, &filter, &matching(&|t| t.parent == Some(*p)), found);
        }
    }
}

/// The first field of a view that disagrees with the model (formatted only on a difference).
fn view_diff(m: &Model, now: Instant, t: &MTask, v: &TaskView) -> Option<String> {
    let at = |x: Option<u64>| x.map(Instant::from_nanos);
    let age = Duration::from_nanos(now.as_nanos().saturating_sub(t.created_at));
    let field = if v.class != t.class || v.class_name != m.class(t.class).name {
        "class"
    } else if v.target != t.target || v.session != t.session || v.parent != t.parent {
        "target/session/parent"
    } else if v.priority != t.priority || v.state != t.state || v.attempt != t.attempt {
        "priority/state/attempt"
    } else if v.created_at.as_nanos() != t.created_at
        || v.started_at != at(t.started_at)
        || v.finished_at != at(t.finished_at)
        || v.age != age
    {
        "created/started/finished/age"
    } else if v.progress != t.progress || v.outcome != t.outcome || v.error != t.error {
        "progress/outcome/error"
    } else if v.cancel_reason != t.cancel.map(|(r, _)| r)
        || v.stuck != m.stuck.contains(&t.id)
        || v.children != t.children.len()
    {
        "cancel/stuck/children"
    } else {
        return None;
    };
    Some(format!(
        "{field} differs: view {v:?}; model {t:?}, stuck {}",
        m.stuck.contains(&t.id)
    ))
}

/// The lane a queued task waits in: its exclusive session or group, or its class's background.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    Session(SessionId),
    Group(baton_kernel::GroupId),
    Background,
}

fn lane(m: &Model, t: &MTask) -> Lane {
    match t.target {
        Target::Session(s) if m.class(t.class).exclusive => Lane::Session(s),
        Target::Group(g) if m.class(t.class).exclusive => Lane::Group(g),
        _ => Lane::Background,
    }
}

/// DESIGN's "behind m better tasks": queued tasks ranked before `t` that compete with it for
/// its session or group (any class), for its class slot (limited classes), or in its own lane.
pub(crate) fn behind(m: &Model, t: &MTask, queued: &[&MTask]) -> usize {
    let mine = lane(m, t);
    let limited = m.class(t.class).limit.is_some();
    let rank = (u8::MAX - t.priority, t.seq);
    queued
        .iter()
        .filter(|u| u.id != t.id && (u8::MAX - u.priority, u.seq) < rank)
        .filter(|u| {
            let theirs = lane(m, u);
            let same_class = u.class == t.class;
            // Its own lane, its exclusive session's or group's lanes, its limited class.
            (theirs == mine && (same_class || mine != Lane::Background)) || (limited && same_class)
        })
        .count()
}

/// The blockers `explain` must list for a queued task, in the kernel's documented order.
fn blockers(m: &Model, t: &MTask, queued: &[&MTask]) -> Vec<Blocker> {
    let mut out = Vec::new();
    match lane(m, t) {
        Lane::Session(s) => {
            if let Some(sess) = m.sessions.get(&s) {
                if sess.closing.is_some() {
                    out.push(Blocker::SessionClosing { session: s });
                } else {
                    if let Some(by) = sess.holder {
                        out.push(Blocker::SessionHeld { session: s, by });
                    }
                    if sess.fenced
                        && let Some(by) = m
                            .fenced_names
                            .get(&sess.name)
                            .and_then(|x| x.first().copied())
                    {
                        out.push(Blocker::Fenced { session: s, by });
                    }
                    if sess.detached {
                        out.push(Blocker::Detached { session: s });
                    }
                }
            }
        }
        Lane::Group(g) => {
            if let Some(grp) = m.groups.get(&g)
                && crate::reference::group_choice(m, g).is_none()
            {
                out.push(Blocker::NoFreeMember {
                    group: g,
                    members: grp.members.len(),
                });
            }
        }
        Lane::Background => {}
    }
    if let Some(limit) = m.class(t.class).limit
        && !m.slot_free(t.class)
    {
        out.push(Blocker::ClassAtLimit {
            class: t.class,
            running: m.active[t.class.index()],
            limit,
        });
    }
    let count = behind(m, t, queued);
    if count > 0 {
        out.push(Blocker::BehindBetter { count });
    }
    out
}

fn expected_explanation(m: &Model, t: &MTask, queued: &[&MTask]) -> Explanation {
    let at = |x: Option<u64>| x.map(Instant::from_nanos);
    match t.state {
        TaskState::Queued => Explanation::Queued {
            blockers: blockers(m, t, queued),
        },
        TaskState::Backoff => Explanation::Backoff {
            until: at(t.due(model::TimerKind::Backoff)),
            attempt: t.attempt,
        },
        TaskState::Running => Explanation::Running {
            since: at(t.started_at),
            session: t.session,
        },
        TaskState::Cancelling => Explanation::Cancelling {
            reason: t.cancel.map(|(r, _)| r),
            since: at(t.cancel.map(|(_, s)| s)),
            abort_requested_at: at(t.abort_at),
        },
        _ => Explanation::Ended {
            outcome: t.outcome,
            at: at(t.finished_at),
            error: t.error.clone(),
        },
    }
}

fn explains(m: &Model, k: &dyn KernelUnderTest, paranoid: bool, found: &mut Found) {
    let queued: Vec<&MTask> = m
        .tasks
        .values()
        .filter(|t| t.state == TaskState::Queued)
        .collect();
    // Every queued task (the first EXPLAIN_MAX by id when the queue is long: the competitor
    // count is O(q) each); in paranoid mode every other task too.
    let mut which: Vec<&MTask> = queued.iter().take(EXPLAIN_MAX).copied().collect();
    if paranoid {
        which.extend(m.tasks.values().filter(|t| t.state != TaskState::Queued));
    }
    for t in which {
        let want = expected_explanation(m, t, &queued);
        let got = k.explain(t.id);
        if got.as_ref() != Some(&want) {
            let detail = format!("explain({}) is {got:?}, the model says {want:?}", t.id);
            found.push((Property::Accounting, detail));
            return;
        }
    }
}

fn metrics(m: &Model, k: &dyn KernelUnderTest, found: &mut Found) {
    let kernel = k.kernel();
    let stuck: BTreeSet<TaskId> = kernel.stuck().iter().map(|v| v.id).collect();
    if stuck != m.stuck {
        let detail = format!(
            "stuck() lists {stuck:?}; aborted and not stopped: {:?}",
            m.stuck
        );
        found.push((Property::Accounting, detail));
    }
    let fenced: Vec<(String, Vec<TaskId>)> = m
        .fenced_names
        .iter()
        .map(|(n, s)| (n.clone(), s.iter().copied().collect()))
        .collect();
    if kernel.fenced() != fenced {
        let detail = format!("fenced() is {:?}, the model {fenced:?}", kernel.fenced());
        found.push((Property::Accounting, detail));
    }
    let metrics = kernel.metrics();
    if metrics.registry_len != m.registry()
        || metrics.sessions != m.sessions.len() as u64
        || metrics.fenced_names != m.fenced_names.len() as u64
    {
        let detail = format!(
            "metrics: registry {} sessions {} fenced names {}; model {} {} {}",
            metrics.registry_len,
            metrics.sessions,
            metrics.fenced_names,
            m.registry(),
            m.sessions.len(),
            m.fenced_names.len()
        );
        found.push((Property::Accounting, detail));
    }
    for (i, cm) in metrics.classes.iter().enumerate() {
        let Some(want) = m.totals.get(i) else {
            continue;
        };
        let got = &cm.totals;
        let cc = &m.class_counts[i];
        let running = cc[2] + cc[3];
        let queued = cc[0] + cc[1];
        let stuck = m
            .stuck
            .iter()
            .filter(|id| m.task(**id).is_some_and(|t| t.class.index() == i))
            .count() as u64;
        let hist_ok = |h: &baton_kernel::Histogram, w: &model::Hist| {
            h.buckets() == w.buckets.as_slice()
                && h.count() == w.count
                && h.sum().as_nanos() == w.sum
        };
        if got.submitted != want.submitted
            || got.started != want.started
            || got.retries != want.retries
            || got.outcomes != want.outcomes
            || cm.running != running
            || cm.queued != queued
            || cm.stuck != stuck
            || !hist_ok(&got.queue_wait, &want.queue_wait)
            || !hist_ok(&got.run_time, &want.run_time)
        {
            let detail = format!(
                "metrics of class {:?}: {cm:?}; model totals {want:?}, running {running}, queued {queued}, stuck {stuck}",
                cm.name
            );
            found.push((Property::Accounting, detail));
        }
    }
}
