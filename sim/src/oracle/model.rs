//! The oracle's predictive model: a slow, separately written mirror of DESIGN.md's kernel
//! model that computes, from its own state, what the kernel must answer to every input and the
//! complete list of actions it must emit.
//!
//! It shares nothing with the kernel but the public input, action and view types: no kernel
//! helper, no index, no formula is reused. It learns exactly three things from the kernel: the
//! ids the kernel hands out (a submitted task's `TaskId`, a connected session's `SessionId`, a
//! new group's `GroupId`), which it only checks for never being reused.
//!
//! An input is modelled the way DESIGN.md specifies ("time keeps itself"):
//! 1. a `now` earlier than the last is refused and changes nothing;
//! 2. every deadline `<= now` fires, in deadline order (ties: task timers by task id and kind,
//!    then session cleanups, then shutdown), with a dispatch after each distinct instant;
//! 3. the input is validated against the caught-up state (a refusal stops here);
//! 4. it is applied, cancellations propagate, finished cleanups close, and the dispatch rule of
//!    [`crate::reference`] starts the best ready task until none is.
//!
//! Each predicted action carries the [`Property`] a difference at that place breaks.

use crate::property::Property;
use crate::reference;
use baton_kernel::{
    Action, CancelReason, ClassConfig, ClassId, CleanupReport, Config, Duration, Error, Exit,
    GroupId, Input, Instant, Notice, Outcome, Progress, RejectReason, Scope, SessionId, StuckTask,
    Target, TaskId, TaskState,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The model's own reading of the ten task states: index in `TaskState::ALL` order.
pub(crate) fn state_index(s: TaskState) -> usize {
    match s {
        TaskState::Queued => 0,
        TaskState::Backoff => 1,
        TaskState::Running => 2,
        TaskState::Cancelling => 3,
        TaskState::Completed => 4,
        TaskState::Failed => 5,
        TaskState::Cancelled => 6,
        TaskState::TimedOut => 7,
        TaskState::Rejected => 8,
        TaskState::Abandoned => 9,
    }
}

/// Waiting in a queue or a backoff.
pub(crate) fn waiting(s: TaskState) -> bool {
    matches!(s, TaskState::Queued | TaskState::Backoff)
}

/// Holding its class slot (and session, if exclusive).
pub(crate) fn active(s: TaskState) -> bool {
    matches!(s, TaskState::Running | TaskState::Cancelling)
}

/// Ended.
pub(crate) fn ended(s: TaskState) -> bool {
    !waiting(s) && !active(s)
}

/// The state a task ends in with `o`.
pub(crate) fn outcome_state(o: Outcome) -> TaskState {
    match o {
        Outcome::Completed => TaskState::Completed,
        Outcome::Failed => TaskState::Failed,
        Outcome::Cancelled(_) => TaskState::Cancelled,
        Outcome::TimedOut(_) => TaskState::TimedOut,
        Outcome::Rejected(_) => TaskState::Rejected,
        Outcome::Abandoned => TaskState::Abandoned,
    }
}

/// Position of an outcome in the metrics' per-outcome totals.
pub(crate) fn outcome_index(o: Outcome) -> usize {
    state_index(outcome_state(o)) - 4
}

/// A deadline-driven cancellation (the task ends TimedOut, not Cancelled).
fn deadline_reason(r: CancelReason) -> bool {
    matches!(r, CancelReason::Timeout | CancelReason::Stalled)
}

/// A per-task deadline kind, in DESIGN's firing order for one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    Queue,
    Total,
    Run,
    Heartbeat,
    Grace,
    Backoff,
    Retention,
}

impl TimerKind {
    const ALL: [TimerKind; 7] = [
        TimerKind::Queue,
        TimerKind::Total,
        TimerKind::Run,
        TimerKind::Heartbeat,
        TimerKind::Grace,
        TimerKind::Backoff,
        TimerKind::Retention,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// What a model deadline is for; the derived order is the firing order at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    Task(TaskId, TimerKind),
    SessionClose(SessionId),
    Shutdown,
}

/// The model's record of one task in the registry.
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
    pub(crate) started_at: Option<u64>,
    pub(crate) finished_at: Option<u64>,
    pub(crate) last_beat: u64,
    /// The session it runs (or ran) on; a group task's binding to a member.
    pub(crate) session: Option<SessionId>,
    pub(crate) cancel: Option<(CancelReason, u64)>,
    pub(crate) abort_at: Option<u64>,
    pub(crate) outcome: Option<Outcome>,
    /// Children not ended yet, in submission order.
    pub(crate) children: Vec<TaskId>,
    pub(crate) progress: Progress,
    pub(crate) error: Option<String>,
    /// Armed deadlines, by [`TimerKind`].
    pub(crate) timers: [Option<u64>; 7],
}

impl MTask {
    /// The session whose counters include this task: its target session; for a group task the
    /// member it is running on or ended on (none while it waits, or if it ended waiting).
    pub(crate) fn home(&self) -> Option<SessionId> {
        match self.target {
            Target::Session(s) => Some(s),
            Target::Group(_) if !waiting(self.state) => self.session,
            _ => None,
        }
    }

    pub(crate) fn due(&self, kind: TimerKind) -> Option<u64> {
        self.timers[kind.slot()]
    }
}

/// The model's record of a session generation.
#[derive(Clone, Debug)]
pub(crate) struct MSession {
    pub(crate) name: String,
    pub(crate) idle_since: u64,
    pub(crate) holder: Option<TaskId>,
    pub(crate) closing: Option<u64>,
    /// An earlier generation of its name may still run exclusive work.
    pub(crate) fenced: bool,
    /// A restart took its connection away; its name's next connect re-attaches it.
    pub(crate) detached: bool,
    pub(crate) groups: BTreeSet<GroupId>,
    /// Tasks counted against it.
    pub(crate) tasks: BTreeSet<TaskId>,
    pub(crate) counts: [u64; 10],
}

impl MSession {
    /// Free for exclusive work.
    pub(crate) fn is_free(&self) -> bool {
        self.holder.is_none() && self.closing.is_none() && !self.fenced && !self.detached
    }

    pub(crate) fn active(&self) -> u64 {
        self.counts[2] + self.counts[3]
    }
}

/// A group.
#[derive(Clone, Debug)]
pub(crate) struct MGroup {
    pub(crate) name: String,
    pub(crate) members: BTreeSet<SessionId>,
}

/// Per-class running totals, as the kernel's metrics must report them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) submitted: u64,
    pub(crate) started: u64,
    pub(crate) retries: u64,
    pub(crate) outcomes: [u64; 6],
    pub(crate) queue_wait: Hist,
    pub(crate) run_time: Hist,
}

/// A duration histogram with DESIGN's power-of-two buckets: bucket 0 holds zero, bucket `i`
/// holds `[2^(i-1), 2^i)` nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hist {
    pub(crate) buckets: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: vec![0; 65],
            count: 0,
            sum: 0,
        }
    }
}

impl Hist {
    fn add(&mut self, ns: u64) {
        let mut bucket = 0;
        while bucket < 64 && ns >> bucket != 0 {
            bucket += 1;
        }
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(ns);
    }
}

/// Whether the kernel accepts work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    Open,
    ShuttingDown(u64),
    Stopped,
}

/// SplitMix64, re-derived from its published definition (the generator kernel/src/rng.rs
/// documents): add the golden-ratio increment, then two xor-shift-multiply rounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Jitter(pub(crate) u64);

impl Jitter {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`: the high 64 bits of `next() * (max + 1)`.
    pub(crate) fn draw(&mut self, max: u64) -> u64 {
        ((u128::from(self.next()) * (u128::from(max) + 1)) >> 64) as u64
    }
}

/// A set of ids handed out, kept as disjoint ranges (ids usually come in runs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Issued(BTreeMap<u64, u64>);

impl Issued {
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.0
            .range(..=id)
            .next_back()
            .is_some_and(|(_, end)| id <= *end)
    }

    /// Adds `id`; false if it was already there.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        if self.contains(id) {
            return false;
        }
        let below = self
            .0
            .range(..id)
            .next_back()
            .filter(|(_, end)| end.checked_add(1) == Some(id))
            .map(|(s, _)| *s);
        let above = id.checked_add(1).and_then(|n| self.0.remove(&n));
        match below {
            Some(s) => {
                self.0.insert(s, above.unwrap_or(id));
            }
            None => {
                self.0.insert(id, above.unwrap_or(id));
            }
        }
        true
    }
}

/// One fencing task.
#[derive(Clone, Debug)]
pub(crate) struct MFence {
    pub(crate) name: String,
    pub(crate) attempt: u32,
    pub(crate) abandoned: bool,
}

/// What one input is predicted to do.
#[derive(Debug, Default)]
pub(crate) struct Prediction {
    /// The actions, each with the property a difference there breaks.
    pub(crate) actions: Vec<(Action, Property)>,
}

/// One target's queued tasks of one class, best first: (255 - priority, seq, id).
pub(crate) type Lane = BTreeSet<(u8, u64, TaskId)>;

/// The model.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) config: Config,
    pub(crate) now: u64,
    pub(crate) tasks: BTreeMap<TaskId, MTask>,
    pub(crate) issued_tasks: Issued,
    pub(crate) issued_sessions: Issued,
    pub(crate) next_seq: u64,
    pub(crate) sessions: BTreeMap<SessionId, MSession>,
    pub(crate) names: BTreeMap<String, SessionId>,
    pub(crate) groups: BTreeMap<GroupId, MGroup>,
    pub(crate) group_names: BTreeMap<String, GroupId>,
    /// Queued tasks per class and target, best first: (255 - priority, seq, id). Every queued
    /// task of one class and target is exactly as ready as the others (readiness depends on
    /// nothing else), so only the first of each target competes for a start.
    pub(crate) queued: Vec<BTreeMap<Target, Lane>>,
    /// Running or cancelling tasks per class.
    pub(crate) active: Vec<u64>,
    /// Waiting (queued or backing off) tasks per target.
    pub(crate) waiting: BTreeMap<Target, u64>,
    pub(crate) counts: [u64; 10],
    pub(crate) class_counts: Vec<[u64; 10]>,
    pub(crate) totals: Vec<Totals>,
    pub(crate) life: Life,
    pub(crate) deadlines: BTreeSet<(u64, Due)>,
    /// Aborted and not stopped.
    pub(crate) stuck: BTreeSet<TaskId>,
    pub(crate) jitter: Jitter,
    pub(crate) fences: BTreeMap<TaskId, MFence>,
    pub(crate) fenced_names: BTreeMap<String, BTreeSet<TaskId>>,
    pub(crate) abandoned_fences: u64,
    pending: VecDeque<(TaskId, CancelReason)>,
    closing_checks: Vec<SessionId>,
    out: Vec<(Action, Property)>,
}

impl Model {
    pub(crate) fn new(config: &Config) -> Self {
        let n = config.classes.len();
        Model {
            config: config.clone(),
            now: 0,
            tasks: BTreeMap::new(),
            issued_tasks: Issued::default(),
            issued_sessions: Issued::default(),
            next_seq: 0,
            sessions: BTreeMap::new(),
            names: BTreeMap::new(),
            groups: BTreeMap::new(),
            group_names: BTreeMap::new(),
            queued: vec![BTreeMap::new(); n],
            active: vec![0; n],
            waiting: BTreeMap::new(),
            counts: [0; 10],
            class_counts: vec![[0; 10]; n],
            totals: vec![Totals::default(); n],
            life: Life::Open,
            deadlines: BTreeSet::new(),
            stuck: BTreeSet::new(),
            jitter: Jitter(config.seed),
            fences: BTreeMap::new(),
            fenced_names: BTreeMap::new(),
            abandoned_fences: 0,
            pending: VecDeque::new(),
            closing_checks: Vec::new(),
            out: Vec::new(),
        }
    }

    pub(crate) fn class(&self, class: ClassId) -> &ClassConfig {
        &self.config.classes[class.index()]
    }

    pub(crate) fn task(&self, id: TaskId) -> Option<&MTask> {
        self.tasks.get(&id)
    }

    pub(crate) fn registry(&self) -> u64 {
        self.tasks.len() as u64
    }

    pub(crate) fn slot_free(&self, class: ClassId) -> bool {
        match self.class(class).limit {
            Some(limit) => self.active[class.index()] < u64::from(limit),
            None => true,
        }
    }

    fn fence_on(&self) -> bool {
        self.config.fence_reconnect
    }

    // ---- step 1 and 2: time, catch-up ----

    /// Steps 1–2 for an input at `now`: `Err` if time went backwards (nothing changes), else
    /// fires every deadline `<= now` and returns the actions that emits.
    pub(crate) fn catch_up(&mut self, now: u64) -> Result<Prediction, Error> {
        if now < self.now {
            return Err(Error::TimeWentBackwards {
                now: Instant::from_nanos(now),
                last: Instant::from_nanos(self.now),
            });
        }
        while let Some(&(at, due)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, due));
            self.now = self.now.max(at);
            self.fire(due, at);
            self.propagate();
            let again = self.deadlines.first().is_some_and(|(n, _)| *n <= self.now);
            if !again {
                self.dispatch();
            }
        }
        self.now = now;
        self.settle();
        Ok(self.take())
    }

    fn take(&mut self) -> Prediction {
        Prediction {
            actions: std::mem::take(&mut self.out),
        }
    }

    fn emit(&mut self, action: Action, property: Property) {
        self.out.push((action, property));
    }

    // ---- step 3: validation ----

    /// The error the kernel must return for `input` on the caught-up state, or `Ok`.
    pub(crate) fn validate(&self, input: &Input) -> Result<(), Error> {
        let open = self.life == Life::Open;
        let limits = &self.config.limits;
        let bad_name = |n: &str| n.is_empty() || n.len() > limits.name_len_max as usize;
        let live_session = |s: SessionId| {
            self.sessions
                .get(&s)
                .filter(|x| x.closing.is_none())
                .ok_or(Error::UnknownSessionId(s))
        };
        match input {
            Input::Connect { name } => {
                if !open {
                    return Err(Error::ShuttingDown);
                }
                if bad_name(name) {
                    return Err(Error::BadName(name.clone()));
                }
                if let Some(s) = self.names.get(name) {
                    return match self.sessions.get(s) {
                        Some(x) if x.detached => Ok(()),
                        _ => Err(Error::AlreadyConnected(name.clone())),
                    };
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
                        None if self.issued_sessions.contains(s.0) => {
                            return Err(Error::Refused(RejectReason::SessionClosed));
                        }
                        None => return Err(Error::Refused(RejectReason::UnknownTarget)),
                    },
                    Target::Group(g) if !self.groups.contains_key(&g) => {
                        return Err(Error::Refused(RejectReason::UnknownTarget));
                    }
                    _ => {}
                }
                if let Some(p) = sub.parent {
                    let parent = self.tasks.get(&p).ok_or(Error::UnknownTask(p))?;
                    if !(waiting(parent.state) || parent.state == TaskState::Running) {
                        return Err(Error::ParentNotActive(p));
                    }
                    if parent.children.len() >= limits.children_max as usize {
                        return Err(Error::Refused(RejectReason::Capacity));
                    }
                }
                // Abandoned tasks that still fence a name may still run: they count too.
                if self.registry() + self.abandoned_fences >= u64::from(limits.tasks_max) {
                    return Err(Error::Refused(RejectReason::Capacity));
                }
                let max = match sub.target {
                    Target::None => limits.background_queue_len_max,
                    _ => limits.queue_len_max,
                };
                if self.waiting.get(&sub.target).copied().unwrap_or(0) >= u64::from(max) {
                    return Err(Error::Refused(RejectReason::QueueFull));
                }
                Ok(())
            }
            Input::Cancel { task } => {
                let t = self.tasks.get(task).ok_or(Error::UnknownTask(*task))?;
                if ended(t.state) {
                    return Err(Error::AlreadyEnded(*task));
                }
                Ok(())
            }
            Input::Progress { task, progress } => self.validate_progress(*task, progress),
            Input::ProgressAttempt {
                task,
                attempt,
                progress,
            } => {
                self.check_attempt(*task, *attempt)?;
                self.validate_progress(*task, progress)
            }
            Input::FinishedAttempt {
                task,
                attempt,
                exit,
            } => {
                self.check_attempt(*task, *attempt)?;
                self.validate_finish(*task, exit)
            }
            Input::Finished { task, exit } => self.validate_finish(*task, exit),
            Input::Shutdown { .. } => {
                if !open {
                    return Err(Error::ShuttingDown);
                }
                Ok(())
            }
            Input::Timeout | Input::Restart => Ok(()),
        }
    }

    fn validate_progress(&self, task: TaskId, progress: &Progress) -> Result<(), Error> {
        let t = self.tasks.get(&task).ok_or(Error::UnknownTask(task))?;
        if !active(t.state) {
            return Err(Error::NotRunning {
                task,
                state: t.state,
            });
        }
        let max = self.config.limits.message_len_max;
        if progress.message.len() > max as usize {
            return Err(Error::MessageTooLong {
                len: progress.message.len(),
                max,
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

    /// `StaleReport` unless `attempt` is the attempt running (or abandoned and fencing).
    fn check_attempt(&self, task: TaskId, attempt: u32) -> Result<(), Error> {
        let current = match self.tasks.get(&task) {
            Some(t) if active(t.state) => Some(t.attempt),
            Some(_) => None,
            None => self
                .fences
                .get(&task)
                .filter(|f| f.abandoned)
                .map(|f| f.attempt),
        };
        match current {
            Some(current) if current != attempt => Err(Error::StaleReport {
                task,
                attempt,
                current,
            }),
            _ => Ok(()),
        }
    }

    fn validate_finish(&self, task: TaskId, exit: &Exit) -> Result<(), Error> {
        if !self.tasks.contains_key(&task) && self.fences.get(&task).is_some_and(|f| f.abandoned) {
            return Ok(());
        }
        let t = self.tasks.get(&task).ok_or(Error::UnknownTask(task))?;
        if !active(t.state) {
            return Err(Error::NotRunning {
                task,
                state: t.state,
            });
        }
        if *exit == Exit::Dropped && t.abort_at.is_none() {
            return Err(Error::NotAborted(task));
        }
        Ok(())
    }

    // ---- step 4: applying a valid input ----

    /// Applies a validated input; `issued` is the id the kernel returned for it (a session,
    /// group or task), learned rather than predicted. Returns the actions it must emit.
    pub(crate) fn apply(&mut self, input: &Input, issued: Option<u64>) -> Prediction {
        let now = self.now;
        match input {
            Input::Connect { name } => {
                if let Some(sid) = self.reattaches(name) {
                    if let Some(s) = self.sessions.get_mut(&sid) {
                        s.detached = false;
                        if s.is_free() {
                            s.idle_since = now;
                        }
                    }
                    self.settle();
                    return self.take();
                }
                let id = SessionId(issued.unwrap_or(0));
                self.issued_sessions.insert(id.0);
                let fenced = self.fence_on() && self.fenced_names.contains_key(name);
                self.sessions.insert(
                    id,
                    MSession {
                        name: name.clone(),
                        idle_since: now,
                        holder: None,
                        closing: None,
                        fenced,
                        detached: false,
                        groups: BTreeSet::new(),
                        tasks: BTreeSet::new(),
                        counts: [0; 10],
                    },
                );
                self.names.insert(name.clone(), id);
            }
            Input::Disconnect { name } => {
                if let Some(id) = self.names.remove(name) {
                    self.disconnect(id, name);
                }
                self.settle();
            }
            Input::JoinGroup { group, session } => {
                let g = GroupId(issued.unwrap_or(0) as u32);
                let grp = self.groups.entry(g).or_insert_with(|| MGroup {
                    name: group.clone(),
                    members: BTreeSet::new(),
                });
                grp.members.insert(*session);
                self.group_names.insert(group.clone(), g);
                if let Some(s) = self.sessions.get_mut(session) {
                    s.groups.insert(g);
                }
                self.settle();
            }
            Input::LeaveGroup { group, session } => {
                if let Some(&g) = self.group_names.get(group) {
                    if let Some(grp) = self.groups.get_mut(&g) {
                        grp.members.remove(session);
                    }
                    if let Some(s) = self.sessions.get_mut(session) {
                        s.groups.remove(&g);
                    }
                }
                self.settle();
            }
            Input::Submit(sub) => {
                let id = TaskId(issued.unwrap_or(0));
                self.issued_tasks.insert(id.0);
                self.submit(sub, id);
                self.settle();
            }
            Input::Cancel { task } => {
                self.pending.push_back((*task, CancelReason::User));
                self.settle();
            }
            Input::Progress { task, progress } | Input::ProgressAttempt { task, progress, .. } => {
                self.progress(*task, progress)
            }
            Input::Finished { task, exit } | Input::FinishedAttempt { task, exit, .. } => {
                self.finished(*task, exit);
                self.settle();
            }
            Input::Shutdown { grace } => {
                let at = now.saturating_add(grace.as_nanos());
                self.life = Life::ShuttingDown(at);
                let ids: Vec<TaskId> = self
                    .tasks
                    .values()
                    .filter(|t| !ended(t.state))
                    .map(|t| t.id)
                    .collect();
                for id in ids {
                    self.pending.push_back((id, CancelReason::Shutdown));
                }
                self.deadlines.insert((at, Due::Shutdown));
                self.settle();
            }
            Input::Timeout => {}
            Input::Restart => self.restart(),
        }
        self.take()
    }

    /// The detached session a connect of `name` re-attaches, if any.
    pub(crate) fn reattaches(&self, name: &str) -> Option<SessionId> {
        let sid = *self.names.get(name)?;
        self.sessions.get(&sid)?.detached.then_some(sid)
    }

    /// A new process took the state over: sessions detach, abandoned fences lift, and every
    /// attempt that was running ends `Failed { interrupted, retryable }`, in id order, each
    /// settled before the next.
    fn restart(&mut self) {
        for s in self.sessions.values_mut() {
            if s.closing.is_none() {
                s.detached = true;
            }
        }
        let abandoned: Vec<TaskId> = self
            .fences
            .iter()
            .filter(|(_, f)| f.abandoned)
            .map(|(id, _)| *id)
            .collect();
        for id in abandoned {
            self.lift_fence(id, true);
        }
        let running: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| active(t.state))
            .map(|t| t.id)
            .collect();
        let exit = Exit::Failed {
            error: baton_kernel::INTERRUPTED.to_owned(),
            retryable: true,
        };
        for id in running {
            if self.tasks.get(&id).is_some_and(|t| active(t.state)) {
                self.finished(id, &exit);
                self.settle();
            }
        }
        self.settle();
    }

    fn disconnect(&mut self, id: SessionId, name: &str) {
        let at = self
            .now
            .saturating_add(self.config.disconnect_grace.as_nanos());
        // Its exclusive task may run on after the name reconnects: the name is fenced.
        let holder = self.sessions.get(&id).and_then(|s| s.holder);
        if self.fence_on()
            && let Some(h) = holder
        {
            let attempt = self.tasks.get(&h).map_or(0, |t| t.attempt);
            self.add_fence(h, name, attempt);
        }
        let (groups, tasks) = match self.sessions.get_mut(&id) {
            Some(s) => {
                s.closing = Some(at);
                (std::mem::take(&mut s.groups), s.tasks.clone())
            }
            None => return,
        };
        for g in groups {
            if let Some(grp) = self.groups.get_mut(&g) {
                grp.members.remove(&id);
            }
        }
        for t in tasks {
            self.pending.push_back((t, CancelReason::Disconnect));
        }
        self.deadlines.insert((at, Due::SessionClose(id)));
        self.closing_checks.push(id);
    }

    fn submit(&mut self, sub: &baton_kernel::Submit, id: TaskId) {
        let now = self.now;
        let class = self.class(sub.class).clone();
        let priority = sub.priority.unwrap_or(class.priority);
        let seq = self.next_seq;
        self.next_seq += 1;
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
                started_at: None,
                finished_at: None,
                last_beat: now,
                session: match sub.target {
                    Target::Session(s) => Some(s),
                    _ => None,
                },
                cancel: None,
                abort_at: None,
                outcome: None,
                children: Vec::new(),
                progress: Progress::default(),
                error: None,
                timers: [None; 7],
            },
        );
        self.count(id, true);
        if let Some(p) = sub.parent.and_then(|p| self.tasks.get_mut(&p)) {
            p.children.push(id);
        }
        self.totals[sub.class.index()].submitted += 1;
        if let Some(d) = class.queue_timeout {
            self.arm(id, TimerKind::Queue, now.saturating_add(d.as_nanos()));
        }
        if let Some(d) = class.total_timeout {
            self.arm(id, TimerKind::Total, now.saturating_add(d.as_nanos()));
        }
        self.enqueue(sub.class, sub.target, (u8::MAX - priority, seq, id));
    }

    fn enqueue(&mut self, class: ClassId, target: Target, key: (u8, u64, TaskId)) {
        self.queued[class.index()]
            .entry(target)
            .or_default()
            .insert(key);
    }

    fn progress(&mut self, id: TaskId, progress: &Progress) {
        let now = self.now;
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        t.progress = progress.clone();
        t.last_beat = now;
        let running = t.state == TaskState::Running;
        let beat = self.config.classes[t.class.index()].heartbeat_timeout;
        if running && let Some(d) = beat {
            self.arm(id, TimerKind::Heartbeat, now.saturating_add(d.as_nanos()));
        }
    }

    fn finished(&mut self, id: TaskId, exit: &Exit) {
        if !self.tasks.contains_key(&id) {
            // A late report of an abandoned task: it has stopped, its fence lifts.
            self.lift_fence(id, true);
            return;
        }
        let max = self.config.limits.error_len_max as usize;
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        if let Exit::Failed { error, .. } = exit {
            let mut end = error.len().min(max);
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            t.error = Some(error[..end].to_owned());
        }
        let (state, cancel, aborted) = (t.state, t.cancel, t.abort_at.is_some());
        let outcome = match (state, cancel, exit) {
            (TaskState::Cancelling, _, _) if aborted => Outcome::Abandoned,
            (TaskState::Cancelling, Some((r, _)), _) if deadline_reason(r) => Outcome::TimedOut(r),
            (TaskState::Cancelling, Some((r, _)), _) => Outcome::Cancelled(r),
            (_, _, Exit::Completed) => Outcome::Completed,
            (_, _, Exit::Failed { retryable, .. }) => {
                if *retryable && self.may_retry(id) {
                    self.retry(id);
                    return;
                }
                Outcome::Failed
            }
            (_, _, Exit::Dropped) => Outcome::Abandoned,
        };
        self.end_task(id, outcome, Property::Accounting);
    }

    // ---- the machinery: counters, timers, queues ----

    /// Adds (or removes) a task's state to every counter that depends on it.
    fn count(&mut self, id: TaskId, add: bool) {
        let Some(t) = self.tasks.get(&id) else { return };
        let (state, class, target, home) = (t.state, t.class, t.target, t.home());
        let i = state_index(state);
        let bump = |c: &mut u64| {
            if add {
                *c += 1
            } else {
                *c = c.saturating_sub(1)
            }
        };
        bump(&mut self.counts[i]);
        bump(&mut self.class_counts[class.index()][i]);
        if let Some(s) = home.and_then(|s| self.sessions.get_mut(&s)) {
            bump(&mut s.counts[i]);
            if add {
                s.tasks.insert(id);
            } else {
                s.tasks.remove(&id);
            }
        }
        if waiting(state) {
            bump(self.waiting.entry(target).or_insert(0));
        }
        if active(state) {
            bump(&mut self.active[class.index()]);
        }
    }

    fn set_state(&mut self, id: TaskId, state: TaskState) {
        self.count(id, false);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = state;
        }
        self.count(id, true);
    }

    fn arm(&mut self, id: TaskId, kind: TimerKind, at: u64) {
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        if let Some(old) = t.timers[kind.slot()].replace(at) {
            self.deadlines.remove(&(old, Due::Task(id, kind)));
        }
        self.deadlines.insert((at, Due::Task(id, kind)));
    }

    fn disarm(&mut self, id: TaskId, kind: TimerKind) {
        if let Some(at) = self
            .tasks
            .get_mut(&id)
            .and_then(|t| t.timers[kind.slot()].take())
        {
            self.deadlines.remove(&(at, Due::Task(id, kind)));
        }
    }

    fn unqueue(&mut self, id: TaskId) {
        if let Some(t) = self.tasks.get(&id)
            && t.state == TaskState::Queued
        {
            let lanes = &mut self.queued[t.class.index()];
            if let Some(lane) = lanes.get_mut(&t.target) {
                lane.remove(&(u8::MAX - t.priority, t.seq, id));
                if lane.is_empty() {
                    lanes.remove(&t.target);
                }
            }
        }
    }

    /// The instant a record finished at `finished` is removed: retention, rounded up to the
    /// next multiple of the cleanup interval (DESIGN's window, batched).
    fn removal_instant(&self, class: ClassId, finished: u64) -> u64 {
        let due = finished.saturating_add(self.class(class).retention.as_nanos());
        let every = self.config.cleanup_interval.as_nanos();
        if every == 0 {
            return due;
        }
        let rounded = match due % every {
            0 => due,
            r => due.saturating_add(every - r),
        };
        rounded.max(due)
    }

    // ---- the lifecycle ----

    fn settle(&mut self) {
        self.propagate();
        self.dispatch();
    }

    /// Cancellations reach their tasks and children; cleanups with nothing running close.
    fn propagate(&mut self) {
        loop {
            while let Some((id, reason)) = self.pending.pop_front() {
                self.cancel_one(id, reason);
            }
            if let Some(s) = self.closing_checks.pop() {
                let done = self
                    .sessions
                    .get(&s)
                    .is_some_and(|x| x.closing.is_some() && x.active() == 0);
                if done {
                    self.close_session(s);
                }
                continue;
            }
            if matches!(self.life, Life::ShuttingDown(_)) && self.active.iter().all(|a| *a == 0) {
                self.close_kernel();
                continue;
            }
            if self.pending.is_empty() {
                break;
            }
        }
    }

    /// Starts the best ready task until none is ready.
    fn dispatch(&mut self) {
        while let Some((id, place)) = reference::best_ready(self) {
            self.start(id, place);
        }
    }

    fn start(&mut self, id: TaskId, place: Option<SessionId>) {
        let now = self.now;
        self.unqueue(id);
        self.count(id, false);
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        t.session = place;
        t.started_at = Some(now);
        t.last_beat = now;
        t.state = TaskState::Running;
        let (class, attempt, target, wait) = (
            t.class,
            t.attempt,
            t.target,
            now.saturating_sub(t.enqueued_at),
        );
        self.count(id, true);
        let c = self.class(class).clone();
        if c.exclusive
            && !matches!(target, Target::None)
            && let Some(s) = place.and_then(|s| self.sessions.get_mut(&s))
        {
            s.holder = Some(id);
        }
        self.disarm(id, TimerKind::Queue);
        if let Some(d) = c.run_timeout {
            self.arm(id, TimerKind::Run, now.saturating_add(d.as_nanos()));
        }
        if let Some(d) = c.heartbeat_timeout {
            self.arm(id, TimerKind::Heartbeat, now.saturating_add(d.as_nanos()));
        }
        let totals = &mut self.totals[class.index()];
        totals.started += 1;
        totals.queue_wait.add(wait);
        self.emit(
            Action::Start {
                task: id,
                class,
                session: place,
                attempt,
            },
            Property::Order,
        );
    }

    /// One cancellation: a waiting task ends, a running one is asked to stop.
    fn cancel_one(&mut self, id: TaskId, reason: CancelReason) {
        let now = self.now;
        let Some(t) = self.tasks.get(&id) else { return };
        match t.state {
            TaskState::Queued | TaskState::Backoff => {
                let (outcome, property) = match reason {
                    CancelReason::Disconnect => (
                        Outcome::Rejected(RejectReason::SessionClosed),
                        Property::Cleanup,
                    ),
                    CancelReason::Shutdown => {
                        (Outcome::Rejected(RejectReason::Shutdown), Property::Cleanup)
                    }
                    r => (Outcome::Cancelled(r), Property::Accounting),
                };
                self.end_task(id, outcome, property);
            }
            TaskState::Running => {
                let grace = self.class(t.class).grace.as_nanos();
                let children = t.children.clone();
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.cancel = Some((reason, now));
                }
                self.set_state(id, TaskState::Cancelling);
                self.disarm(id, TimerKind::Run);
                self.disarm(id, TimerKind::Heartbeat);
                self.disarm(id, TimerKind::Total);
                self.arm(id, TimerKind::Grace, now.saturating_add(grace));
                let property = match reason {
                    CancelReason::Timeout | CancelReason::Stalled => Property::Deadlines,
                    CancelReason::Disconnect | CancelReason::Shutdown => Property::Cleanup,
                    _ => Property::Accounting,
                };
                self.emit(Action::Cancel { task: id, reason }, property);
                for c in children {
                    self.pending.push_back((c, CancelReason::Parent));
                }
            }
            _ => {}
        }
    }

    /// Ends a task: frees what it held, notifies, arms its removal, cancels its children unless
    /// it completed.
    fn end_task(&mut self, id: TaskId, outcome: Outcome, property: Property) {
        let now = self.now;
        let Some(t) = self.tasks.get(&id) else { return };
        if ended(t.state) {
            return;
        }
        let (state, class, parent) = (t.state, t.class, t.parent);
        if state == TaskState::Queued {
            self.unqueue(id);
        }
        if active(state) {
            self.stop_running(id);
        }
        for kind in TimerKind::ALL {
            self.disarm(id, kind);
        }
        self.stuck.remove(&id);
        let (children, home) = match self.tasks.get_mut(&id) {
            Some(t) => {
                t.finished_at = Some(now);
                t.outcome = Some(outcome);
                (std::mem::take(&mut t.children), t.home())
            }
            None => return,
        };
        if let Some(s) = home
            && self.sessions.get(&s).is_some_and(|x| x.closing.is_some())
        {
            self.closing_checks.push(s);
        }
        self.set_state(id, outcome_state(outcome));
        self.totals[class.index()].outcomes[outcome_index(outcome)] += 1;
        if let Some(p) = parent.and_then(|p| self.tasks.get_mut(&p)) {
            p.children.retain(|c| *c != id);
        }
        self.emit(
            Action::Notify(Notice::Finished { task: id, outcome }),
            property,
        );
        let at = self.removal_instant(class, now);
        self.arm(id, TimerKind::Retention, at);
        if outcome != Outcome::Completed {
            for c in children {
                self.pending.push_back((c, CancelReason::Parent));
            }
        }
    }

    /// A running task stopped (or was abandoned): its fence, run time, session.
    fn stop_running(&mut self, id: TaskId) {
        let now = self.now;
        self.lift_fence(id, false);
        let Some(t) = self.tasks.get(&id) else { return };
        let (class, session) = (t.class, t.session);
        let ran = now.saturating_sub(t.started_at.unwrap_or(now));
        self.totals[class.index()].run_time.add(ran);
        if self.class(class).exclusive
            && let Some(s) = session.and_then(|s| self.sessions.get_mut(&s))
            && s.holder == Some(id)
        {
            s.holder = None;
            if s.is_free() {
                s.idle_since = now;
            }
        }
    }

    fn may_retry(&self, id: TaskId) -> bool {
        let Some(t) = self.tasks.get(&id) else {
            return false;
        };
        let limits = &self.config.limits;
        let queue = self.waiting.get(&t.target).copied().unwrap_or(0);
        let (max, bg_max) = (
            u64::from(limits.queue_len_max),
            u64::from(limits.background_queue_len_max),
        );
        let room = match t.target {
            Target::Session(s) => {
                self.sessions.get(&s).is_some_and(|s| s.closing.is_none()) && queue < max
            }
            Target::Group(g) => self.groups.contains_key(&g) && queue < max,
            Target::None => queue < bg_max,
        };
        t.attempt < self.class(t.class).retry.max_attempts && self.life == Life::Open && room
    }

    /// The backoff before attempt `attempt + 1`: `min(cap, base * 2^(attempt-1))`, scaled by a
    /// jitter factor `(1000 - draw(0..=jitter))/1000`.
    fn backoff(&mut self, class: ClassId, attempt: u32) -> u64 {
        let p = self.class(class).retry.clone();
        let doublings = attempt.saturating_sub(1).min(63);
        let mut raw = p.base.as_nanos();
        for _ in 0..doublings {
            raw = raw.saturating_mul(2);
        }
        let capped = raw.min(p.cap.as_nanos());
        let drawn = self.jitter.draw(u64::from(p.jitter_permille)).min(1000);
        (u128::from(capped) * u128::from(1000 - drawn) / 1000) as u64
    }

    fn retry(&mut self, id: TaskId) {
        let now = self.now;
        let Some(t) = self.tasks.get(&id) else { return };
        let (class, attempt, group) = (t.class, t.attempt, matches!(t.target, Target::Group(_)));
        self.stop_running(id);
        self.disarm(id, TimerKind::Run);
        self.disarm(id, TimerKind::Heartbeat);
        let at = now.saturating_add(self.backoff(class, attempt));
        self.count(id, false);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.attempt = attempt.saturating_add(1);
            t.state = TaskState::Backoff;
            if group {
                t.session = None;
            }
        }
        self.count(id, true);
        self.arm(id, TimerKind::Backoff, at);
        self.totals[class.index()].retries += 1;
        self.emit(
            Action::Notify(Notice::Retrying {
                task: id,
                attempt: attempt.saturating_add(1),
                at: Instant::from_nanos(at),
            }),
            Property::Accounting,
        );
    }

    fn requeue(&mut self, id: TaskId) {
        let now = self.now;
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        t.seq = seq;
        t.enqueued_at = now;
        let (class, target, key) = (t.class, t.target, (u8::MAX - t.priority, seq, id));
        self.set_state(id, TaskState::Queued);
        if let Some(d) = self.class(class).queue_timeout {
            self.arm(id, TimerKind::Queue, now.saturating_add(d.as_nanos()));
        }
        self.enqueue(class, target, key);
    }

    fn fire(&mut self, due: Due, at: u64) {
        let (id, kind) = match due {
            Due::Task(id, kind) => (id, kind),
            Due::SessionClose(s) => {
                self.close_session(s);
                return;
            }
            Due::Shutdown => {
                self.close_kernel();
                return;
            }
        };
        let now = self.now;
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        if t.timers[kind.slot()] == Some(at) {
            t.timers[kind.slot()] = None;
        }
        let state = t.state;
        match (kind, state) {
            (TimerKind::Queue | TimerKind::Total, TaskState::Queued) => self.end_task(
                id,
                Outcome::Rejected(RejectReason::QueueTimeout),
                Property::Deadlines,
            ),
            (TimerKind::Total, TaskState::Backoff) => self.end_task(
                id,
                Outcome::TimedOut(CancelReason::Timeout),
                Property::Deadlines,
            ),
            (TimerKind::Total | TimerKind::Run, TaskState::Running) => {
                self.cancel_one(id, CancelReason::Timeout)
            }
            (TimerKind::Heartbeat, TaskState::Running) => {
                self.cancel_one(id, CancelReason::Stalled)
            }
            (TimerKind::Grace, TaskState::Cancelling) => {
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.abort_at = Some(now);
                }
                self.stuck.insert(id);
                self.emit(Action::Abort { task: id }, Property::Deadlines);
            }
            (TimerKind::Backoff, TaskState::Backoff) => self.requeue(id),
            (TimerKind::Retention, s) if ended(s) => self.remove_record(id),
            _ => {}
        }
    }

    fn remove_record(&mut self, id: TaskId) {
        if !self.tasks.get(&id).is_some_and(|t| ended(t.state)) {
            return;
        }
        for kind in TimerKind::ALL {
            self.disarm(id, kind);
        }
        self.count(id, false);
        self.tasks.remove(&id);
        self.stuck.remove(&id);
        self.emit(
            Action::Notify(Notice::Removed { task: id }),
            Property::Cleanup,
        );
    }

    /// Ends every active task in `ids` as Abandoned (Abort first unless already aborted);
    /// returns the stuck-task report lines.
    fn abandon(&mut self, ids: &[TaskId]) -> Vec<StuckTask> {
        let now = self.now;
        let mut stuck = Vec::new();
        for &id in ids {
            let Some(t) = self.tasks.get(&id) else {
                continue;
            };
            if !active(t.state) {
                continue;
            }
            stuck.push(StuckTask {
                task: id,
                class: t.class,
                parent: t.parent,
                age: Duration::from_nanos(now.saturating_sub(t.created_at)),
                reason: t.cancel.map(|(r, _)| r),
            });
            let (aborted, attempt) = (t.abort_at.is_some(), t.attempt);
            let held = t
                .session
                .and_then(|s| self.sessions.get(&s))
                .filter(|s| s.holder == Some(id))
                .map(|s| s.name.clone());
            if self.fence_on()
                && let Some(name) = held
            {
                self.add_fence(id, &name, attempt);
                if let Some(f) = self.fences.get_mut(&id)
                    && !f.abandoned
                {
                    f.abandoned = true;
                    self.abandoned_fences += 1;
                }
            }
            if !aborted {
                self.emit(Action::Abort { task: id }, Property::Cleanup);
            }
            self.end_task(id, Outcome::Abandoned, Property::Cleanup);
        }
        while let Some((id, reason)) = self.pending.pop_front() {
            self.cancel_one(id, reason);
        }
        stuck
    }

    fn close_session(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let Some(at) = s.closing else { return };
        self.deadlines.remove(&(at, Due::SessionClose(sid)));
        let ids: Vec<TaskId> = s.tasks.iter().copied().collect();
        let stuck = self.abandon(&ids);
        for id in ids {
            self.remove_record(id);
        }
        self.sessions.remove(&sid);
        let report = CleanupReport {
            scope: Scope::Session(sid),
            at: Instant::from_nanos(self.now),
            stuck,
        };
        self.emit(Action::Notify(Notice::Closed(report)), Property::Cleanup);
    }

    fn close_kernel(&mut self) {
        let closing: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.closing.is_some())
            .map(|(id, _)| *id)
            .collect();
        for s in closing {
            self.close_session(s);
        }
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        let stuck = self.abandon(&ids);
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for id in ids {
            self.remove_record(id);
        }
        self.sessions.clear();
        self.names.clear();
        for g in self.groups.values_mut() {
            g.members.clear();
        }
        if let Life::ShuttingDown(at) = self.life {
            self.deadlines.remove(&(at, Due::Shutdown));
        }
        self.life = Life::Stopped;
        let report = CleanupReport {
            scope: Scope::Shutdown,
            at: Instant::from_nanos(self.now),
            stuck,
        };
        self.emit(Action::Notify(Notice::Closed(report)), Property::Cleanup);
    }

    // ---- reconnect fences ----

    fn add_fence(&mut self, id: TaskId, name: &str, attempt: u32) {
        if self.fences.contains_key(&id) {
            return;
        }
        self.fences.insert(
            id,
            MFence {
                name: name.to_owned(),
                attempt,
                abandoned: false,
            },
        );
        self.fenced_names
            .entry(name.to_owned())
            .or_default()
            .insert(id);
    }

    /// A fencing task stopped: lifts its fence (only an abandoned one if `abandoned`, only a
    /// registered one otherwise); the last fence of a name frees its live generation.
    fn lift_fence(&mut self, id: TaskId, abandoned: bool) {
        let Some(f) = self.fences.get(&id) else {
            return;
        };
        if f.abandoned != abandoned {
            return;
        }
        let Some(f) = self.fences.remove(&id) else {
            return;
        };
        if f.abandoned {
            self.abandoned_fences -= 1;
        }
        let last = match self.fenced_names.get_mut(&f.name) {
            Some(set) => {
                set.remove(&id);
                set.is_empty()
            }
            None => false,
        };
        if !last {
            return;
        }
        self.fenced_names.remove(&f.name);
        let now = self.now;
        if let Some(s) = self
            .names
            .get(&f.name)
            .copied()
            .and_then(|sid| self.sessions.get_mut(&sid))
            && s.fenced
        {
            s.fenced = false;
            if s.is_free() {
                s.idle_since = now;
            }
        }
    }

    // ---- helpers for the oracle's checks ----

    /// The earliest model deadline.
    pub(crate) fn first_deadline(&self) -> Option<(u64, Due)> {
        self.deadlines.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_splitmix64() {
        // Published SplitMix64 outputs for seed 0 and 1 (and the kernel's own guard value).
        let mut j = Jitter(0);
        assert_eq!(j.next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(j.next(), 0x6e78_9e6a_a1b9_65f4);
        let mut j = Jitter(1234567);
        assert_eq!(j.next(), 6457827717110365317);
        assert_eq!(j.next(), 3203168211198807973);
        assert_eq!(Jitter(5).draw(0), 0);
    }

    /// The re-derived generator agrees with the kernel's, observed only through its public
    /// behaviour: the instants of successive retries with full jitter.
    #[test]
    fn jitter_matches_the_kernels_retries() {
        use baton_kernel::{ClassConfig, Kernel, RetryPolicy, Submit};
        let base = 1_000_000_000u64;
        let mut config = Config::new(vec![
            ClassConfig::background("bg", 5)
                .without_timeouts()
                .with_retry(RetryPolicy {
                    max_attempts: 6,
                    base: Duration::from_nanos(base),
                    cap: Duration::from_nanos(8 * base),
                    jitter_permille: 1000,
                }),
        ]);
        config.seed = 0x5eed;
        let mut kernel = Kernel::new(config).unwrap();
        let mut jitter = Jitter(0x5eed);
        let task = kernel
            .submit(Instant::ZERO, Submit::new(ClassId(0), Target::None))
            .unwrap();
        let mut now = Instant::ZERO;
        for attempt in 1..6u64 {
            while kernel.poll_action().is_some() {}
            let failed = Exit::Failed {
                error: "x".to_owned(),
                retryable: true,
            };
            kernel.finished(now, task, failed).unwrap();
            let at = std::iter::from_fn(|| kernel.poll_action())
                .find_map(|a| match a {
                    Action::Notify(Notice::Retrying { at, .. }) => Some(at),
                    _ => None,
                })
                .unwrap();
            let capped = (base << (attempt - 1)).min(8 * base);
            let delay = u128::from(capped) * u128::from(1000 - jitter.draw(1000)) / 1000;
            assert_eq!(
                at.as_nanos() - now.as_nanos(),
                delay as u64,
                "attempt {attempt}"
            );
            now = at;
            kernel.handle_timeout(now).unwrap();
        }
    }

    #[test]
    fn issued_ranges_merge_and_refuse_reuse() {
        let mut s = Issued::default();
        assert!(s.insert(1) && s.insert(3) && s.insert(2) && s.insert(10));
        assert_eq!(s.0.len(), 2);
        assert!(!s.insert(2) && !s.insert(10));
        assert!(s.contains(3) && !s.contains(4) && !s.contains(0));
    }

    #[test]
    fn histogram_buckets_are_bit_lengths() {
        let mut h = Hist::default();
        for ns in [0, 1, 2, 3, 1024, u64::MAX] {
            h.add(ns);
        }
        assert_eq!(h.buckets[0], 1);
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[2], 2);
        assert_eq!(h.buckets[11], 1);
        assert_eq!(h.buckets[64], 1);
    }
}
