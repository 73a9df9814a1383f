//! Queries: task views, counts, paged lists, stuck tasks, `explain`, metrics. All `&self`.

use crate::counts::StateCounts;
use crate::id::{ClassId, GroupId, SessionId, TaskId};
use crate::kernel::Kernel;
use crate::metrics::{ClassMetrics, Metrics};
use crate::queue::Rank;
use crate::task::{CancelReason, Outcome, Progress, Target, Task, TaskState};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Everything the registry knows about one task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// Its id.
    pub id: TaskId,
    /// Its class.
    pub class: ClassId,
    /// Its class's name.
    pub class_name: String,
    /// Where it was aimed.
    pub target: Target,
    /// The session it runs or last ran on; for a task aimed at a session, that session from the
    /// moment it is submitted (a group task gets its member only when it starts).
    pub session: Option<SessionId>,
    /// Its parent.
    pub parent: Option<TaskId>,
    /// Its effective priority.
    pub priority: u8,
    /// Its state.
    pub state: TaskState,
    /// Current attempt (1 for the first).
    pub attempt: u32,
    /// First submission.
    pub created_at: Instant,
    /// Start of the latest attempt.
    pub started_at: Option<Instant>,
    /// When it ended.
    pub finished_at: Option<Instant>,
    /// Time since first submission.
    pub age: Duration,
    /// Last reported progress.
    pub progress: Progress,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// Error text of the latest failure.
    pub error: Option<String>,
    /// Why it was cancelled, if it was.
    pub cancel_reason: Option<CancelReason>,
    /// Asked to abort and not yet stopped.
    pub stuck: bool,
    /// Active children.
    pub children: usize,
}

/// Filters for [`Kernel::list`]; `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFilter {
    /// Only this state.
    pub state: Option<TaskState>,
    /// Only this class.
    pub class: Option<ClassId>,
    /// Only tasks counted against this session.
    pub session: Option<SessionId>,
    /// Only children of this task.
    pub parent: Option<TaskId>,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Matching tasks, by id.
    pub items: Vec<TaskView>,
    /// Pass as `after` to get the next page; `None` when this was the last.
    pub next: Option<TaskId>,
}

/// Why a queued task has not started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocker {
    /// Its session is held.
    SessionHeld {
        /// The session.
        session: SessionId,
        /// The task holding it.
        by: TaskId,
    },
    /// Its session's name is fenced: an exclusive task of an earlier generation of the name may
    /// still be running (see `Config::fence_reconnect`).
    Fenced {
        /// The session.
        session: SessionId,
        /// The lowest fencing task.
        by: TaskId,
    },
    /// Its session is closing.
    SessionClosing {
        /// The session.
        session: SessionId,
    },
    /// Its session was detached by a [`restart`](crate::Kernel::restart): it waits for the
    /// session's name to connect again.
    Detached {
        /// The session.
        session: SessionId,
    },
    /// No member of its group is free.
    NoFreeMember {
        /// The group.
        group: GroupId,
        /// Members in all.
        members: usize,
    },
    /// Its class is at its concurrency limit.
    ClassAtLimit {
        /// The class.
        class: ClassId,
        /// Running (or cancelling) now.
        running: u64,
        /// The limit.
        limit: u32,
    },
    /// Better tasks wait ahead of it in its own queue.
    BehindBetter {
        /// How many.
        count: usize,
    },
}

/// The answer of [`Kernel::explain`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Explanation {
    /// Queued; what stands in its way (empty only between an input and its dispatch).
    Queued {
        /// The blockers.
        blockers: Vec<Blocker>,
    },
    /// Waiting out a backoff.
    Backoff {
        /// When it re-enters its queue.
        until: Option<Instant>,
        /// The attempt it will make.
        attempt: u32,
    },
    /// Running.
    Running {
        /// Since when.
        since: Option<Instant>,
        /// On which session.
        session: Option<SessionId>,
    },
    /// Asked to stop, not yet stopped.
    Cancelling {
        /// Why.
        reason: Option<CancelReason>,
        /// When it was asked.
        since: Option<Instant>,
        /// When the abort was requested (stuck since then).
        abort_requested_at: Option<Instant>,
    },
    /// Ended.
    Ended {
        /// How.
        outcome: Option<Outcome>,
        /// When.
        at: Option<Instant>,
        /// Error text, if it failed.
        error: Option<String>,
    },
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::SessionHeld { session, by } => write!(f, "{session} held by {by}"),
            Blocker::SessionClosing { session } => write!(f, "{session} is closing"),
            Blocker::Detached { session } => {
                write!(f, "{session} waits for its name to connect again (restart)")
            }
            Blocker::Fenced { session, by } => {
                write!(
                    f,
                    "{session} fenced: {by} of an earlier generation may still run"
                )
            }
            Blocker::NoFreeMember { group, members } => {
                write!(f, "no free member in {group} ({members} members)")
            }
            Blocker::ClassAtLimit {
                class,
                running,
                limit,
            } => write!(f, "{class} at its limit {running}/{limit}"),
            Blocker::BehindBetter { count } => write!(f, "behind {count} better tasks"),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explanation::Queued { blockers } => {
                f.write_str("queued")?;
                for (i, b) in blockers.iter().enumerate() {
                    write!(f, "{}{b}", if i == 0 { ": " } else { "; " })?;
                }
                Ok(())
            }
            Explanation::Backoff { until, attempt } => match until {
                Some(t) => write!(f, "in backoff until {t} (attempt {attempt} next)"),
                None => write!(f, "in backoff (attempt {attempt} next)"),
            },
            Explanation::Running { since, session } => {
                write!(f, "running")?;
                if let Some(s) = session {
                    write!(f, " on {s}")?;
                }
                if let Some(t) = since {
                    write!(f, " since {t}")?;
                }
                Ok(())
            }
            Explanation::Cancelling {
                reason,
                abort_requested_at,
                ..
            } => {
                write!(f, "cancelling ({})", reason.map_or("?", |r| r.name()))?;
                if let Some(t) = abort_requested_at {
                    write!(f, ", stuck: abort requested at {t}")?;
                }
                Ok(())
            }
            Explanation::Ended { outcome, at, error } => {
                write!(f, "ended {}", outcome.map_or("?", |o| o.name()))?;
                if let Some(t) = at {
                    write!(f, " at {t}")?;
                }
                if let Some(e) = error {
                    write!(f, ": {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl Kernel {
    /// The latest instant the kernel has seen.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The configuration.
    pub fn config(&self) -> &crate::Config {
        &self.config
    }

    /// A class's id by name. O(classes).
    pub fn class_id(&self, name: &str) -> Option<ClassId> {
        self.config
            .classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| ClassId(i as u16))
    }

    /// The id of the connected session with this name. O(log sessions).
    pub fn session_id(&self, name: &str) -> Option<SessionId> {
        self.session_names.get(name).copied()
    }

    /// `name#id` of a connected or closing session (the trace spelling).
    pub fn session_label(&self, id: SessionId) -> Option<String> {
        self.sessions.get(&id).map(|s| s.label())
    }

    /// A group's id by name. O(log groups).
    pub fn group_id(&self, name: &str) -> Option<GroupId> {
        self.group_names.get(name).copied()
    }

    /// A group's name by id. O(1).
    pub fn group_name(&self, id: GroupId) -> Option<&str> {
        self.groups.get(id.0 as usize).map(|g| g.name.as_str())
    }

    /// The task holding a session, if any. O(log sessions).
    pub fn session_holder(&self, id: SessionId) -> Option<TaskId> {
        self.sessions.get(&id).and_then(|s| s.holder)
    }

    /// Connected and closing sessions, by id. O(sessions) to iterate.
    pub fn sessions(&self) -> impl Iterator<Item = (SessionId, &str, bool)> {
        self.sessions
            .values()
            .map(|s| (s.id, s.name.as_str(), s.closing.is_some()))
    }

    /// Actions produced and not yet polled.
    pub fn pending_actions(&self) -> usize {
        self.actions.len()
    }

    /// Records in the registry (active and retained). O(1).
    pub fn registry_len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether shutdown has completed.
    pub fn is_stopped(&self) -> bool {
        self.lifecycle == crate::kernel::Lifecycle::Stopped
    }

    /// A task's full view. O(log n).
    pub fn task(&self, id: TaskId) -> Option<TaskView> {
        self.tasks.get(&id).map(|t| self.view(t))
    }

    fn view(&self, t: &Task) -> TaskView {
        TaskView {
            id: t.id,
            class: t.class,
            class_name: self
                .class_config(t.class)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            target: t.target,
            session: t.session,
            parent: t.parent,
            priority: t.priority,
            state: t.state,
            attempt: t.attempt,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            age: self.now.saturating_since(t.created_at),
            progress: t.progress().clone(),
            outcome: t.outcome,
            error: t.error().map(str::to_owned),
            cancel_reason: t.cancel().map(|c| c.reason),
            stuck: self.stuck.contains(&t.id),
            children: t.children().len(),
        }
    }

    /// Counts by state over the whole registry. O(1).
    pub fn counts(&self) -> StateCounts {
        self.counts
    }

    /// Counts by state of one class. O(1).
    pub fn class_counts(&self, class: ClassId) -> Option<StateCounts> {
        self.classes.get(class.index()).map(|c| c.counts)
    }

    /// Counts by state of one session's tasks. O(log sessions).
    pub fn session_counts(&self, session: SessionId) -> Option<StateCounts> {
        self.sessions.get(&session).map(|s| s.counts)
    }

    /// A page of tasks matching `filter`, ordered by id, starting after `after`, at most
    /// `limit` (capped at `limits.page_len_max`). With a session filter it walks that session's
    /// index; otherwise the registry from `after`: O(page + skipped non-matching records).
    pub fn list(&self, filter: &ListFilter, after: Option<TaskId>, limit: usize) -> Page {
        let limit = limit.min(self.config.limits.page_len_max as usize);
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let range = (start, std::ops::Bound::Unbounded);
        let matches = |t: &&Task| {
            filter.state.is_none_or(|s| t.state == s)
                && filter.class.is_none_or(|c| t.class == c)
                && filter.parent.is_none_or(|p| t.parent == Some(p))
                && filter
                    .session
                    .is_none_or(|s| t.counted_session() == Some(s))
        };
        let mut items: Vec<TaskView> = Vec::new();
        let mut more = false;
        let mut push = |t: &Task| {
            if items.len() == limit {
                more = true;
                return false;
            }
            items.push(self.view(t));
            true
        };
        match filter.session.and_then(|s| self.sessions.get(&s)) {
            Some(s) => {
                let ids: Box<dyn Iterator<Item = TaskId>> = match after {
                    Some(a) => {
                        let member = self
                            .tasks
                            .get(&a)
                            .is_some_and(|t| t.counted_session() == Some(s.id));
                        Box::new(s.tasks.after(&self.tasks, a, member))
                    }
                    None => Box::new(s.tasks.iter(&self.tasks)),
                };
                for id in ids {
                    if let Some(t) = self.tasks.get(&id).filter(|t| matches(t))
                        && !push(t)
                    {
                        break;
                    }
                }
            }
            None if filter.session.is_some() => {}
            None => {
                for t in self.tasks.range(range).filter(matches) {
                    if !push(t) {
                        break;
                    }
                }
            }
        }
        let next = if more {
            items.last().map(|v| v.id)
        } else {
            None
        };
        Page { items, next }
    }

    /// Tasks asked to abort that have not stopped, by id. O(stuck).
    pub fn stuck(&self) -> Vec<TaskView> {
        self.stuck
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .map(|t| self.view(t))
            .collect()
    }

    /// Why a task is where it is: for a queued task every blocker (session held by N, fenced by
    /// N, class at its limit k/k, no free group member, m better tasks competing for its session
    /// or group and, for a limited class, for the class slot); otherwise its state's story.
    /// O(log n + m) for an unlimited class; a limited class also visits the class's lane on every
    /// session and group, O(sessions + groups).
    pub fn explain(&self, id: TaskId) -> Option<Explanation> {
        let t = self.tasks.get(&id)?;
        Some(match t.state {
            TaskState::Queued => Explanation::Queued {
                blockers: self.blockers(t),
            },
            TaskState::Backoff => Explanation::Backoff {
                until: t.timers.get(crate::deadline::TaskTimer::Backoff),
                attempt: t.attempt,
            },
            TaskState::Running => Explanation::Running {
                since: t.started_at,
                session: t.session,
            },
            TaskState::Cancelling => Explanation::Cancelling {
                reason: t.cancel().map(|c| c.reason),
                since: t.cancel().map(|c| c.requested_at),
                abort_requested_at: t.cancel().and_then(|c| c.abort_requested_at),
            },
            _ => Explanation::Ended {
                outcome: t.outcome,
                at: t.finished_at,
                error: t.error().map(str::to_owned),
            },
        })
    }

    fn blockers(&self, t: &Task) -> Vec<Blocker> {
        let mut out = Vec::new();
        let lref = self.lane_ref(t.class, t.target);
        match lref {
            crate::queue::LaneRef::Session(s) => match self.sessions.get(&s) {
                Some(sess) if sess.closing.is_some() => {
                    out.push(Blocker::SessionClosing { session: s })
                }
                Some(sess) => {
                    if let Some(by) = sess.holder {
                        out.push(Blocker::SessionHeld { session: s, by });
                    }
                    if sess.fenced
                        && let Some(by) = self.fences.first(&sess.name)
                    {
                        out.push(Blocker::Fenced { session: s, by });
                    }
                    if sess.detached {
                        out.push(Blocker::Detached { session: s });
                    }
                }
                None => {}
            },
            crate::queue::LaneRef::Group(g) => {
                if let Some(grp) = self.groups.get(g.0 as usize)
                    && grp.free.is_empty()
                {
                    out.push(Blocker::NoFreeMember {
                        group: g,
                        members: grp.members.len(),
                    });
                }
            }
            crate::queue::LaneRef::Background => {}
        }
        if let Some(limit) = self.class_config(t.class).and_then(|c| c.limit)
            && !self.class_has_slot(t.class)
        {
            out.push(Blocker::ClassAtLimit {
                class: t.class,
                running: self
                    .classes
                    .get(t.class.index())
                    .map_or(0, |c| c.counts.active()),
                limit,
            });
        }
        let ahead = self.better_competitors(t, lref);
        if ahead > 0 {
            out.push(Blocker::BehindBetter { count: ahead });
        }
        out
    }

    /// DESIGN's "behind m better tasks": the queued tasks ranked before `t` that compete with it
    /// for what it waits for — its own lane; every class's lane of its exclusive session or
    /// group (they want the same session); and, if its class is limited, the class's lanes on
    /// every other session, group and the background (they want the same slot). Each task is
    /// counted once. O((sessions + groups + classes) · log n + m).
    fn better_competitors(&self, t: &Task, lref: crate::queue::LaneRef) -> usize {
        use crate::queue::LaneRef;
        let rank = Rank::new(t.priority, t.seq);
        let before =
            |l: Option<&crate::queue::Lane>| l.map_or(0, |l| l.count_before(&self.tasks, rank));
        let mut ahead = before(self.lane(lref, t.class));
        let lanes = match lref {
            LaneRef::Session(s) => self.sessions.get(&s).map(|s| &s.lanes),
            LaneRef::Group(g) => self.groups.get(g.0 as usize).map(|g| &g.lanes),
            LaneRef::Background => None,
        };
        if let Some(lanes) = lanes {
            ahead += lanes
                .iter()
                .filter(|(class, _)| *class != t.class)
                .map(|(_, l)| l.count_before(&self.tasks, rank))
                .sum::<usize>();
        }
        if self
            .class_config(t.class)
            .is_some_and(|c| c.limit.is_some())
        {
            let mut others = Vec::new();
            if lref != LaneRef::Background {
                others.push(LaneRef::Background);
            }
            others.extend(
                self.sessions
                    .keys()
                    .map(LaneRef::Session)
                    .filter(|l| *l != lref),
            );
            others.extend(
                self.groups
                    .iter()
                    .map(|g| LaneRef::Group(g.id))
                    .filter(|l| *l != lref),
            );
            ahead += others
                .into_iter()
                .map(|l| before(self.lane(l, t.class)))
                .sum::<usize>();
        }
        ahead
    }

    /// Fenced session names, in name order, each with its fencing tasks in id order: exclusive
    /// tasks of earlier generations that have not been reported stopped. O(fences).
    ///
    /// ```
    /// use baton_kernel::{ClassConfig, Config, Duration, Instant, Kernel, Submit, Target};
    /// let mut k = Kernel::new(Config::new(vec![ClassConfig::exclusive("io", 1)]))?;
    /// let s = k.connect(Instant::ZERO, "alice")?;
    /// let t = k.submit(Instant::ZERO, Submit::new(k.class_id("io").unwrap(), Target::Session(s)))?;
    /// k.disconnect(Instant::ZERO, "alice")?; // t is cancelled, but may still be running
    /// assert_eq!(k.fenced(), vec![("alice".to_owned(), vec![t])]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fenced(&self) -> Vec<(String, Vec<TaskId>)> {
        self.fences
            .names()
            .map(|(name, tasks)| (name.clone(), tasks.iter().copied().collect()))
            .collect()
    }

    /// A metrics snapshot: per class totals per outcome, running, queued and stuck now, and the
    /// queue-wait and run-time histograms. O(classes + stuck).
    pub fn metrics(&self) -> Metrics {
        let classes = self
            .classes
            .iter()
            .enumerate()
            .map(|(i, cs)| ClassMetrics {
                name: self
                    .config
                    .classes
                    .get(i)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                running: cs.counts.active(),
                queued: cs.counts.waiting(),
                stuck: self
                    .stuck
                    .iter()
                    .filter(|id| self.tasks.get(id).is_some_and(|t| t.class.index() == i))
                    .count() as u64,
                totals: cs.totals.clone(),
            })
            .collect();
        Metrics {
            classes,
            registry_len: self.tasks.len() as u64,
            sessions: self.sessions.len() as u64,
            fenced_names: self.fences.names_len() as u64,
        }
    }
}
