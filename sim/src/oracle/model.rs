//! The oracle's model of the registry: a slow, separately written mirror of DESIGN.md's task
//! lifecycle, fed with the same inputs as the kernel and with the kernel's effects (actions).
//!
//! The model does not trust the kernel: every effect the kernel emits must be *justified* by
//! the model's state and the input that caused it (a queue timeout only at the task's queue
//! deadline, a `Cancel{stalled}` only at its heartbeat deadline, `Completed` only after the driver
//! reported it, …), and after each input what *must* have happened must have happened (nothing due
//! is left pending, children of a cancelled parent are cancelled, a closing session with nothing
//! running is closed). The dispatch decisions themselves are judged by the naive rule in
//! [`crate::reference`].

use baton_kernel::{
    CancelReason, ClassConfig, ClassId, Config, Error, GroupId, Input, Outcome, RejectReason,
    SessionId, Target, TaskId, TaskState,
};
use std::collections::{BTreeMap, BTreeSet};

/// A per-task deadline kind in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    Queue,
    Total,
    Run,
    Heartbeat,
    Grace,
    Backoff,
    /// The end of the retention window (removal must have happened by then).
    Retention,
}

/// What a model deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    Task(TaskId, TimerKind),
    SessionClose(SessionId),
    Shutdown,
}

/// The model's record of one task.
#[derive(Clone, Debug)]
pub(crate) struct MTask {
    pub(crate) id: TaskId,
    pub(crate) class: ClassId,
    pub(crate) target: Target,
    pub(crate) parent: Option<TaskId>,
    pub(crate) priority: u8,
    pub(crate) state: TaskState,
    pub(crate) attempt: u32,
    pub(crate) seq: u64,
    pub(crate) created_at: u64,
    pub(crate) enqueued_at: u64,
    pub(crate) started_at: u64,
    pub(crate) last_beat: u64,
    /// The session it holds or runs on while active (for a session target, that session).
    pub(crate) session: Option<SessionId>,
    pub(crate) cancel: Option<(CancelReason, u64)>,
    pub(crate) abort_at: Option<u64>,
    pub(crate) backoff_until: u64,
    /// The instant it last left backoff (a tie with its total deadline allows either outcome).
    pub(crate) requeued_at: Option<u64>,
    pub(crate) finished_at: Option<u64>,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) removed: bool,
    pub(crate) children: BTreeSet<TaskId>,
    /// The deadlines currently in [`Model::deadlines`] for this task.
    pub(crate) dues: Vec<(u64, TimerKind)>,
}

impl MTask {
    /// The session whose task set includes this task (the kernel's `counted_session`).
    pub(crate) fn counted_session(&self) -> Option<SessionId> {
        match self.target {
            Target::Session(s) => Some(s),
            Target::Group(_) if self.state.is_active() => self.session,
            _ => None,
        }
    }

    pub(crate) fn due(&self, kind: TimerKind) -> Option<u64> {
        self.dues.iter().find(|(_, k)| *k == kind).map(|(t, _)| *t)
    }
}

/// The model's record of a session generation.
#[derive(Clone, Debug)]
pub(crate) struct MSession {
    pub(crate) name: String,
    pub(crate) idle_since: u64,
    pub(crate) holder: Option<TaskId>,
    pub(crate) closing: Option<u64>,
    pub(crate) groups: BTreeSet<GroupId>,
    pub(crate) tasks: BTreeSet<TaskId>,
}

impl MSession {
    pub(crate) fn is_free(&self) -> bool {
        self.holder.is_none() && self.closing.is_none()
    }
}

/// Per-class running totals, as the kernel's metrics must report them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) submitted: u64,
    pub(crate) started: u64,
    pub(crate) retries: u64,
    pub(crate) outcomes: [u64; 6],
}

/// Whether the kernel accepts work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    Open,
    ShuttingDown(u64),
    Stopped,
}

/// The model.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) config: Config,
    pub(crate) now: u64,
    pub(crate) tasks: BTreeMap<TaskId, MTask>,
    pub(crate) registry: u64,
    pub(crate) next_task: u64,
    pub(crate) next_seq: u64,
    pub(crate) sessions: BTreeMap<SessionId, MSession>,
    pub(crate) names: BTreeMap<String, SessionId>,
    pub(crate) next_session: u64,
    pub(crate) groups: Vec<(String, BTreeSet<SessionId>)>,
    pub(crate) group_names: BTreeMap<String, GroupId>,
    /// Queued tasks per class, best first: (255 - priority, seq, id).
    pub(crate) queued: Vec<BTreeSet<(u8, u64, TaskId)>>,
    /// Running or cancelling tasks per class.
    pub(crate) active: Vec<u64>,
    /// Waiting (queued or backing off) tasks per target.
    pub(crate) waiting: BTreeMap<Target, u32>,
    pub(crate) counts: [u64; 10],
    pub(crate) class_counts: Vec<[u64; 10]>,
    pub(crate) totals: Vec<Totals>,
    /// Sessions that are closing (disconnected, cleanup not finished).
    pub(crate) closing: BTreeSet<SessionId>,
    pub(crate) life: Life,
    pub(crate) deadlines: BTreeSet<(u64, Due)>,
    pub(crate) aborted: BTreeSet<TaskId>,
}

impl Model {
    pub(crate) fn new(config: &Config) -> Self {
        let n = config.classes.len();
        Model {
            config: config.clone(),
            now: 0,
            tasks: BTreeMap::new(),
            registry: 0,
            next_task: 1,
            next_seq: 0,
            sessions: BTreeMap::new(),
            names: BTreeMap::new(),
            next_session: 1,
            groups: Vec::new(),
            group_names: BTreeMap::new(),
            queued: vec![BTreeSet::new(); n],
            active: vec![0; n],
            waiting: BTreeMap::new(),
            counts: [0; 10],
            class_counts: vec![[0; 10]; n],
            totals: vec![Totals::default(); n],
            closing: BTreeSet::new(),
            life: Life::Open,
            deadlines: BTreeSet::new(),
            aborted: BTreeSet::new(),
        }
    }

    pub(crate) fn class(&self, class: ClassId) -> &ClassConfig {
        &self.config.classes[class.index()]
    }

    pub(crate) fn task(&self, id: TaskId) -> Option<&MTask> {
        self.tasks.get(&id)
    }

    /// In the registry (issued and not removed).
    pub(crate) fn live(&self, id: TaskId) -> Option<&MTask> {
        self.tasks.get(&id).filter(|t| !t.removed)
    }

    pub(crate) fn slot_free(&self, class: ClassId) -> bool {
        match self.class(class).limit {
            Some(limit) => self.active[class.index()] < u64::from(limit),
            None => true,
        }
    }

    // ---- predictions: what the kernel must answer to an input ----

    /// The error the kernel must return for `input` at `now`, or `Ok` if it must accept it.
    pub(crate) fn predict(&self, now: u64, input: &Input) -> Result<(), Error> {
        if now < self.now {
            return Err(Error::TimeWentBackwards {
                now: baton_kernel::Instant::from_nanos(now),
                last: baton_kernel::Instant::from_nanos(self.now),
            });
        }
        let open = self.life == Life::Open;
        let limits = &self.config.limits;
        let bad_name = |n: &str| n.is_empty() || n.len() > limits.name_len_max as usize;
        let live_session = |s: SessionId| {
            self.sessions
                .get(&s)
                .filter(|x| x.closing.is_none())
                .ok_or_else(|| Error::UnknownSession(s.0.to_string()))
        };
        match input {
            Input::Connect { name } => {
                if !open {
                    return Err(Error::ShuttingDown);
                }
                if bad_name(name) {
                    return Err(Error::BadName(name.clone()));
                }
                if self.names.contains_key(name) {
                    return Err(Error::AlreadyConnected(name.clone()));
                }
                if self.sessions.len() >= limits.sessions_max as usize {
                    return Err(Error::TooManySessions(limits.sessions_max));
                }
                Ok(())
            }
            Input::Disconnect { name } => {
                if !open {
                    return Err(Error::ShuttingDown);
                }
                if !self.names.contains_key(name) {
                    return Err(Error::UnknownSession(name.clone()));
                }
                Ok(())
            }
            Input::JoinGroup { group, session } => {
                if !open {
                    return Err(Error::ShuttingDown);
                }
                if bad_name(group) {
                    return Err(Error::BadName(group.clone()));
                }
                let s = live_session(*session)?;
                match self.group_names.get(group) {
                    Some(g) if s.groups.contains(g) => {
                        return Err(Error::AlreadyMember {
                            session: *session,
                            group: *g,
                        });
                    }
                    Some(_) => {}
                    None if self.groups.len() >= limits.groups_max as usize => {
                        return Err(Error::TooManyGroups(limits.groups_max));
                    }
                    None => {}
                }
                if s.groups.len() >= limits.groups_per_session_max as usize {
                    return Err(Error::TooManyGroupsForSession(*session));
                }
                Ok(())
            }
            Input::LeaveGroup { group, session } => {
                if !open {
                    return Err(Error::ShuttingDown);
                }
                let g = *self
                    .group_names
                    .get(group)
                    .ok_or_else(|| Error::UnknownGroup(group.clone()))?;
                let s = live_session(*session)?;
                if !s.groups.contains(&g) {
                    return Err(Error::NotMember {
                        session: *session,
                        group: g,
                    });
                }
                Ok(())
            }
            Input::Submit(sub) => {
                let Some(class) = self.config.classes.get(sub.class.index()) else {
                    return Err(Error::UnknownClass(sub.class));
                };
                if !open {
                    return Err(Error::Refused(RejectReason::Shutdown));
                }
                if class.exclusive && sub.target == Target::None {
                    return Err(Error::TargetRequired(sub.class));
                }
                match sub.target {
                    Target::Session(s) => match self.sessions.get(&s) {
                        Some(x) if x.closing.is_none() => {}
                        Some(_) => return Err(Error::Refused(RejectReason::SessionClosed)),
                        None if s.0 > 0 && s.0 < self.next_session => {
                            return Err(Error::Refused(RejectReason::SessionClosed));
                        }
                        None => return Err(Error::Refused(RejectReason::UnknownTarget)),
                    },
                    Target::Group(g) if (g.0 as usize) >= self.groups.len() => {
                        return Err(Error::Refused(RejectReason::UnknownTarget));
                    }
                    _ => {}
                }
                if let Some(p) = sub.parent {
                    let parent = self.live(p).ok_or(Error::UnknownTask(p))?;
                    if !(parent.state.is_waiting() || parent.state == TaskState::Running) {
                        return Err(Error::ParentNotActive(p));
                    }
                    if parent.children.len() >= limits.children_max as usize {
                        return Err(Error::Refused(RejectReason::Capacity));
                    }
                }
                if self.registry >= u64::from(limits.tasks_max) {
                    return Err(Error::Refused(RejectReason::Capacity));
                }
                let max = match sub.target {
                    Target::None => limits.background_queue_len_max,
                    _ => limits.queue_len_max,
                };
                if self.waiting.get(&sub.target).copied().unwrap_or(0) >= max {
                    return Err(Error::Refused(RejectReason::QueueFull));
                }
                Ok(())
            }
            Input::Cancel { task } => {
                let t = self.live(*task).ok_or(Error::UnknownTask(*task))?;
                if t.state.is_terminal() {
                    return Err(Error::AlreadyEnded(*task));
                }
                Ok(())
            }
            Input::Progress { task, progress } => {
                let t = self.live(*task).ok_or(Error::UnknownTask(*task))?;
                if !t.state.is_active() {
                    return Err(Error::NotRunning {
                        task: *task,
                        state: t.state,
                    });
                }
                if progress.message.len() > limits.message_len_max as usize {
                    return Err(Error::MessageTooLong {
                        len: progress.message.len(),
                        max: limits.message_len_max,
                    });
                }
                if let Some(total) = progress.total
                    && progress.current > total
                {
                    return Err(Error::BadProgress {
                        current: progress.current,
                        total,
                    });
                }
                Ok(())
            }
            Input::ProgressAttempt {
                task,
                attempt,
                progress,
            } => {
                if let Some(t) = self.live(*task)
                    && t.state.is_active()
                    && t.attempt != *attempt
                {
                    return Err(Error::StaleReport {
                        task: *task,
                        attempt: *attempt,
                        current: t.attempt,
                    });
                }
                self.predict(
                    now,
                    &Input::Progress {
                        task: *task,
                        progress: progress.clone(),
                    },
                )
            }
            Input::FinishedAttempt {
                task,
                attempt,
                exit,
            } => {
                if let Some(t) = self.live(*task)
                    && t.state.is_active()
                    && t.attempt != *attempt
                {
                    return Err(Error::StaleReport {
                        task: *task,
                        attempt: *attempt,
                        current: t.attempt,
                    });
                }
                self.predict(
                    now,
                    &Input::Finished {
                        task: *task,
                        exit: exit.clone(),
                    },
                )
            }
            Input::Finished { task, exit } => {
                let t = self.live(*task).ok_or(Error::UnknownTask(*task))?;
                if !t.state.is_active() {
                    return Err(Error::NotRunning {
                        task: *task,
                        state: t.state,
                    });
                }
                if *exit == baton_kernel::Exit::Dropped && t.abort_at.is_none() {
                    return Err(Error::NotAborted(*task));
                }
                Ok(())
            }
            Input::Shutdown { .. } => {
                if !open {
                    return Err(Error::ShuttingDown);
                }
                Ok(())
            }
            Input::Timeout => Ok(()),
        }
    }

    // ---- transitions (all keep counters, indexes and deadlines right) ----

    fn count(&mut self, id: TaskId, add: bool) {
        let Some(t) = self.tasks.get(&id) else { return };
        if t.removed {
            return;
        }
        let (state, target, counted, class) = (t.state, t.target, t.counted_session(), t.class);
        let c = &mut self.counts[state.index()];
        *c = if add { *c + 1 } else { c.saturating_sub(1) };
        let c = &mut self.class_counts[class.index()][state.index()];
        *c = if add { *c + 1 } else { c.saturating_sub(1) };
        if state.is_waiting() {
            let w = self.waiting.entry(target).or_default();
            *w = if add { *w + 1 } else { w.saturating_sub(1) };
        }
        if let Some(s) = counted.and_then(|s| self.sessions.get_mut(&s)) {
            if add {
                s.tasks.insert(id);
            } else {
                s.tasks.remove(&id);
            }
        }
    }

    /// Recomputes a task's deadlines from its state.
    fn rearm(&mut self, id: TaskId) {
        let Some(t) = self.tasks.get(&id) else { return };
        for (at, kind) in &t.dues {
            self.deadlines.remove(&(*at, Due::Task(id, *kind)));
        }
        let class = self.class(t.class).clone();
        let mut dues = Vec::new();
        let total = class
            .total_timeout
            .map(|d| t.created_at.saturating_add(d.as_nanos()));
        match t.state {
            _ if t.removed => {}
            TaskState::Queued => {
                if let Some(d) = class.queue_timeout {
                    dues.push((t.enqueued_at.saturating_add(d.as_nanos()), TimerKind::Queue));
                }
                if let Some(at) = total {
                    dues.push((at, TimerKind::Total));
                }
            }
            TaskState::Backoff => {
                dues.push((t.backoff_until, TimerKind::Backoff));
                if let Some(at) = total {
                    dues.push((at, TimerKind::Total));
                }
            }
            TaskState::Running => {
                if let Some(d) = class.run_timeout {
                    dues.push((t.started_at.saturating_add(d.as_nanos()), TimerKind::Run));
                }
                if let Some(d) = class.heartbeat_timeout {
                    dues.push((
                        t.last_beat.saturating_add(d.as_nanos()),
                        TimerKind::Heartbeat,
                    ));
                }
                if let Some(at) = total {
                    dues.push((at, TimerKind::Total));
                }
            }
            TaskState::Cancelling => {
                if t.abort_at.is_none()
                    && let Some((_, at)) = t.cancel
                {
                    dues.push((at.saturating_add(class.grace.as_nanos()), TimerKind::Grace));
                }
            }
            _ => {
                if let Some(f) = t.finished_at {
                    let end = f
                        .saturating_add(class.retention.as_nanos())
                        .saturating_add(self.config.cleanup_interval.as_nanos());
                    dues.push((end, TimerKind::Retention));
                }
            }
        }
        for (at, kind) in &dues {
            self.deadlines.insert((*at, Due::Task(id, *kind)));
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.dues = dues;
        }
    }

    fn set_state(&mut self, id: TaskId, state: TaskState) {
        self.count(id, false);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = state;
        }
        self.count(id, true);
    }

    pub(crate) fn connect(&mut self, now: u64, name: &str, id: SessionId) {
        self.sessions.insert(
            id,
            MSession {
                name: name.to_owned(),
                idle_since: now,
                holder: None,
                closing: None,
                groups: BTreeSet::new(),
                tasks: BTreeSet::new(),
            },
        );
        self.names.insert(name.to_owned(), id);
        self.next_session = self.next_session.max(id.0 + 1);
    }

    /// Marks a session closing (its tasks' fates are the kernel's effects, justified later).
    pub(crate) fn disconnect(&mut self, now: u64, id: SessionId) {
        let grace = self.config.disconnect_grace.as_nanos();
        let name = self.sessions.get(&id).map(|s| s.name.clone());
        if let Some(name) = name {
            self.names.remove(&name);
        }
        let groups = match self.sessions.get_mut(&id) {
            Some(s) => {
                s.closing = Some(now.saturating_add(grace));
                std::mem::take(&mut s.groups)
            }
            None => BTreeSet::new(),
        };
        for g in groups {
            if let Some(grp) = self.groups.get_mut(g.0 as usize) {
                grp.1.remove(&id);
            }
        }
        self.deadlines
            .insert((now.saturating_add(grace), Due::SessionClose(id)));
        self.closing.insert(id);
    }

    pub(crate) fn join(&mut self, group: &str, session: SessionId, gid: GroupId) {
        if gid.0 as usize == self.groups.len() {
            self.groups.push((group.to_owned(), BTreeSet::new()));
            self.group_names.insert(group.to_owned(), gid);
        }
        if let Some(g) = self.groups.get_mut(gid.0 as usize) {
            g.1.insert(session);
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.groups.insert(gid);
        }
    }

    pub(crate) fn leave(&mut self, group: &str, session: SessionId) {
        if let Some(&g) = self.group_names.get(group) {
            if let Some(grp) = self.groups.get_mut(g.0 as usize) {
                grp.1.remove(&session);
            }
            if let Some(s) = self.sessions.get_mut(&session) {
                s.groups.remove(&g);
            }
        }
    }

    pub(crate) fn submit(&mut self, now: u64, sub: &baton_kernel::Submit, id: TaskId) {
        let priority = sub.priority.unwrap_or(self.class(sub.class).priority);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.next_task = self.next_task.max(id.0 + 1);
        self.tasks.insert(
            id,
            MTask {
                id,
                class: sub.class,
                target: sub.target,
                parent: sub.parent,
                priority,
                state: TaskState::Queued,
                attempt: 1,
                seq,
                created_at: now,
                enqueued_at: now,
                started_at: 0,
                last_beat: now,
                session: match sub.target {
                    Target::Session(s) => Some(s),
                    _ => None,
                },
                cancel: None,
                abort_at: None,
                backoff_until: 0,
                requeued_at: None,
                finished_at: None,
                outcome: None,
                removed: false,
                children: BTreeSet::new(),
                dues: Vec::new(),
            },
        );
        self.registry += 1;
        self.count(id, true);
        if let Some(p) = sub.parent.and_then(|p| self.tasks.get_mut(&p)) {
            p.children.insert(id);
        }
        self.totals[sub.class.index()].submitted += 1;
        self.queued[sub.class.index()].insert((u8::MAX - priority, seq, id));
        self.rearm(id);
    }

    pub(crate) fn progress(&mut self, now: u64, id: TaskId) {
        let running = self
            .tasks
            .get(&id)
            .is_some_and(|t| t.state == TaskState::Running);
        if running {
            if let Some(t) = self.tasks.get_mut(&id) {
                t.last_beat = now;
            }
            self.rearm(id);
        }
    }

    /// Backoffs ending at or before `now` re-enter their queues, in (instant, id) order.
    pub(crate) fn requeue_due(&mut self, now: u64) {
        let due: Vec<TaskId> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter_map(|(_, d)| match d {
                Due::Task(id, TimerKind::Backoff) => Some(*id),
                _ => None,
            })
            .collect();
        for id in due {
            let seq = self.next_seq;
            self.next_seq += 1;
            let Some(t) = self.tasks.get_mut(&id) else {
                continue;
            };
            t.seq = seq;
            t.enqueued_at = now;
            t.requeued_at = Some(now);
            let key = (u8::MAX - t.priority, seq, id);
            let class = t.class;
            self.set_state(id, TaskState::Queued);
            self.queued[class.index()].insert(key);
            self.rearm(id);
        }
    }

    /// Takes a task out of the queued index.
    fn unqueue(&mut self, id: TaskId) {
        if let Some(t) = self.tasks.get(&id)
            && t.state == TaskState::Queued
        {
            let key = (u8::MAX - t.priority, t.seq, id);
            self.queued[t.class.index()].remove(&key);
        }
    }

    /// An active task gives back its class slot and session.
    fn release(&mut self, id: TaskId, now: u64) {
        let Some(t) = self.tasks.get(&id) else { return };
        if !t.state.is_active() {
            return;
        }
        let (class, session) = (t.class, t.session);
        self.active[class.index()] = self.active[class.index()].saturating_sub(1);
        if self.class(class).exclusive
            && let Some(s) = session.and_then(|s| self.sessions.get_mut(&s))
            && s.holder == Some(id)
        {
            s.holder = None;
            if s.closing.is_none() {
                s.idle_since = now;
            }
        }
    }

    pub(crate) fn start(&mut self, now: u64, id: TaskId, session: Option<SessionId>) {
        self.unqueue(id);
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        t.started_at = now;
        t.last_beat = now;
        t.session = session;
        t.requeued_at = None;
        let (class, target) = (t.class, t.target);
        self.count(id, false);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = TaskState::Running;
        }
        self.count(id, true);
        self.active[class.index()] += 1;
        self.totals[class.index()].started += 1;
        let exclusive = self.class(class).exclusive;
        if exclusive
            && matches!(target, Target::Session(_) | Target::Group(_))
            && let Some(s) = session.and_then(|s| self.sessions.get_mut(&s))
        {
            s.holder = Some(id);
        }
        self.rearm(id);
    }

    pub(crate) fn cancel(&mut self, now: u64, id: TaskId, reason: CancelReason) {
        if let Some(t) = self.tasks.get_mut(&id) {
            t.cancel = Some((reason, now));
        }
        self.set_state(id, TaskState::Cancelling);
        self.rearm(id);
    }

    pub(crate) fn abort(&mut self, now: u64, id: TaskId) {
        if let Some(t) = self.tasks.get_mut(&id) {
            t.abort_at = Some(now);
        }
        self.aborted.insert(id);
        self.rearm(id);
    }

    pub(crate) fn retry(&mut self, now: u64, id: TaskId, attempt: u32, at: u64) {
        self.release(id, now);
        let class = self.tasks.get(&id).map(|t| t.class);
        self.count(id, false);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.attempt = attempt;
            t.backoff_until = at;
            t.state = TaskState::Backoff;
            if matches!(t.target, Target::Group(_)) {
                t.session = None;
            }
        }
        self.count(id, true);
        if let Some(c) = class {
            self.totals[c.index()].retries += 1;
        }
        self.rearm(id);
    }

    pub(crate) fn finish(&mut self, now: u64, id: TaskId, outcome: Outcome) {
        self.unqueue(id);
        self.release(id, now);
        self.aborted.remove(&id);
        let Some(t) = self.tasks.get(&id) else { return };
        let (class, parent) = (t.class, t.parent);
        self.count(id, false);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = outcome.state();
            t.outcome = Some(outcome);
            t.finished_at = Some(now);
            t.children.clear();
        }
        self.count(id, true);
        if let Some(p) = parent.and_then(|p| self.tasks.get_mut(&p)) {
            p.children.remove(&id);
        }
        self.totals[class.index()].outcomes[outcome.index()] += 1;
        self.rearm(id);
    }

    pub(crate) fn remove(&mut self, id: TaskId) {
        self.count(id, false);
        self.aborted.remove(&id);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.removed = true;
        }
        self.registry = self.registry.saturating_sub(1);
        self.rearm(id);
    }

    pub(crate) fn close_session(&mut self, id: SessionId) {
        self.closing.remove(&id);
        if let Some(s) = self.sessions.remove(&id) {
            if let Some(at) = s.closing {
                self.deadlines.remove(&(at, Due::SessionClose(id)));
            }
            if self.names.get(&s.name) == Some(&id) {
                self.names.remove(&s.name);
            }
        }
    }

    pub(crate) fn shutdown(&mut self, now: u64, grace: u64) {
        let at = now.saturating_add(grace);
        self.life = Life::ShuttingDown(at);
        self.deadlines.insert((at, Due::Shutdown));
    }

    pub(crate) fn stop(&mut self) {
        if let Life::ShuttingDown(at) = self.life {
            self.deadlines.remove(&(at, Due::Shutdown));
        }
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for s in ids {
            self.close_session(s);
        }
        self.names.clear();
        for g in &mut self.groups {
            g.1.clear();
        }
        self.life = Life::Stopped;
    }

    /// Active tasks counted against a session.
    pub(crate) fn session_active(&self, id: SessionId) -> usize {
        self.sessions.get(&id).map_or(0, |s| {
            s.tasks
                .iter()
                .filter(|t| self.tasks.get(t).is_some_and(|t| t.state.is_active()))
                .count()
        })
    }

    /// Active tasks anywhere.
    pub(crate) fn any_active(&self) -> bool {
        self.active.iter().any(|a| *a > 0)
    }

    /// Whether a retryable failure of `id` may be retried now.
    pub(crate) fn may_retry(&self, id: TaskId) -> bool {
        let Some(t) = self.tasks.get(&id) else {
            return false;
        };
        // A retry re-enters its queue, so it needs room there (and a session that is not
        // closing), like a submit.
        let limits = &self.config.limits;
        let waiting = self.waiting.get(&t.target).copied().unwrap_or(0);
        let room = match t.target {
            Target::Session(s) => {
                self.sessions.get(&s).is_some_and(|s| s.closing.is_none())
                    && waiting < limits.queue_len_max
            }
            Target::Group(g) => {
                (g.0 as usize) < self.groups.len() && waiting < limits.queue_len_max
            }
            Target::None => waiting < limits.background_queue_len_max,
        };
        t.attempt < self.class(t.class).retry.max_attempts && self.life == Life::Open && room
    }

    /// The backoff window for a retry of `id` decided at `now`: `[lo, hi]`.
    pub(crate) fn backoff_window(&self, id: TaskId, now: u64) -> (u64, u64) {
        let Some(t) = self.tasks.get(&id) else {
            return (now, now);
        };
        let p = &self.class(t.class).retry;
        let shift = t.attempt.saturating_sub(1).min(63);
        let capped = p
            .base
            .as_nanos()
            .saturating_mul(1u64 << shift)
            .min(p.cap.as_nanos());
        let lo = (u128::from(capped) * u128::from(1000 - u64::from(p.jitter_permille.min(1000)))
            / 1000) as u64;
        (now.saturating_add(lo), now.saturating_add(capped))
    }

    /// The earliest model deadline.
    pub(crate) fn first_deadline(&self) -> Option<(u64, Due)> {
        self.deadlines.first().copied()
    }
}
