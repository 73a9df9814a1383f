//! Planted bugs: kernels (and one driver) that are wrong in one precise way, so tests can prove
//! that the oracle catches each with the right property.
//!
//! | mutant | the bug | caught by |
//! |---|---|---|
//! | `second_best` | the two highest class priorities are swapped inside the kernel | order |
//! | `early_free` | a cancelled task's session is freed at once, before the task stops | exclusivity |
//! | `late_deadline` | queue timeouts fire one nanosecond late | deadlines |
//! | `exceed_limit` | every class limit is one higher than configured | limits |
//! | `double_notice` | every 50th terminal notice is sent twice | accounting |
//! | `dirty_error` | a refused input cancels a queued task before returning the error | robustness |
//! | `leaky_disconnect` | disconnect cleanup waits ten times the configured grace | cleanup |
//! | `nondeterministic` | the jitter seed depends on how many kernels the process built | determinism |
//! | `lazy_start` | `Start` actions are handed out one input late | work conservation |
//! | `skip_catch_up` | an input skips the deadlines due at its instant (applied just before them, as a kernel without "time keeps itself" would) | timing independence |
//! | `drop_report` (driver) | the driver loses one finish report in 20 | liveness |
//! | `scribble_on_refusal` | a refused input overwrites a task's progress (a field no counter sees) | robustness |
//! | `explain_miscount` | `explain` reports one better task fewer than there are | accounting |
//! | `cursor_skip` | `list` skips the first task of every page after the first | accounting |
//! | `silent_abandon` | cleanup abandons a running task without the `Abort` that drops its future | cleanup |
//! | `early_unfence` | a reconnect fence lifts as soon as cleanup abandons its task | name exclusivity |
//! | `forgetful_restart` | `restart` does nothing: interrupted attempts stay running, sessions stay attached | accounting |
//! | `lossy_journal` (driver) | recovery loses the last journaled input before a crash | determinism |

use crate::under_test::{KernelUnderTest, notice_task};
use baton_kernel::{
    Action, Applied, Blocker, Config, Duration, Error, Exit, Explanation, Input, Instant, Kernel,
    ListFilter, Notice, Page, Submit, TaskId, TaskState,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

/// A planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MutantKind {
    /// Swaps the two highest class priorities inside the kernel: it starts the second-best task.
    SecondBest,
    /// Frees a cancelled task's session before the task has stopped.
    EarlyFree,
    /// Fires queue timeouts one nanosecond late.
    LateDeadline,
    /// Lets each limited class run one task more than its limit.
    ExceedLimit,
    /// Sends every 50th terminal notice twice.
    DoubleNotice,
    /// Changes the state before returning an error.
    DirtyError,
    /// Keeps a disconnected session's records ten times longer than its grace.
    LeakyDisconnect,
    /// Seeds the kernel's jitter from a process-wide counter.
    Nondeterministic,
    /// Hands out `Start` actions one input late: the driver does not learn of a start in time.
    LazyStart,
    /// Applies an input other than `handle_timeout` before the deadlines due at its instant
    /// (just before the earliest of them), which fire only at the driver's next
    /// `handle_timeout`: the old kernel's "a late input starts a task after its queue
    /// deadline", "a late progress revives a stalled task", "a late finish counts as Completed".
    SkipCatchUp,
    /// A driver bug, not a kernel one: one finish report in 20 is lost.
    DropReport,
    /// A refused input overwrites a running or cancelling task's progress before returning.
    ScribbleOnRefusal,
    /// `explain` counts one better task fewer than wait ahead.
    ExplainMiscount,
    /// `list` skips the first task of every page reached through a cursor.
    CursorSkip,
    /// Disconnect/shutdown cleanup abandons a running task without emitting `Abort`.
    SilentAbandon,
    /// A reconnect fence lifts when cleanup abandons its task, not when the task is reported.
    EarlyUnfence,
    /// `restart` is taken for `handle_timeout`: the attempts its process ran stay "running"
    /// for ever, and sessions stay attached.
    ForgetfulRestart,
    /// A driver (store) bug, not a kernel one: recovery after a crash loses the last journaled
    /// input.
    LossyJournal,
}

impl MutantKind {
    /// Every planted bug.
    pub const ALL: [MutantKind; 18] = [
        MutantKind::SecondBest,
        MutantKind::EarlyFree,
        MutantKind::LateDeadline,
        MutantKind::ExceedLimit,
        MutantKind::DoubleNotice,
        MutantKind::DirtyError,
        MutantKind::LeakyDisconnect,
        MutantKind::Nondeterministic,
        MutantKind::LazyStart,
        MutantKind::SkipCatchUp,
        MutantKind::DropReport,
        MutantKind::ScribbleOnRefusal,
        MutantKind::ExplainMiscount,
        MutantKind::CursorSkip,
        MutantKind::SilentAbandon,
        MutantKind::EarlyUnfence,
        MutantKind::ForgetfulRestart,
        MutantKind::LossyJournal,
    ];

    /// The name used on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            MutantKind::SecondBest => "second_best",
            MutantKind::EarlyFree => "early_free",
            MutantKind::LateDeadline => "late_deadline",
            MutantKind::ExceedLimit => "exceed_limit",
            MutantKind::DoubleNotice => "double_notice",
            MutantKind::DirtyError => "dirty_error",
            MutantKind::LeakyDisconnect => "leaky_disconnect",
            MutantKind::Nondeterministic => "nondeterministic",
            MutantKind::LazyStart => "lazy_start",
            MutantKind::SkipCatchUp => "skip_catch_up",
            MutantKind::DropReport => "drop_report",
            MutantKind::ScribbleOnRefusal => "scribble_on_refusal",
            MutantKind::ExplainMiscount => "explain_miscount",
            MutantKind::CursorSkip => "cursor_skip",
            MutantKind::SilentAbandon => "silent_abandon",
            MutantKind::EarlyUnfence => "early_unfence",
            MutantKind::ForgetfulRestart => "forgetful_restart",
            MutantKind::LossyJournal => "lossy_journal",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<MutantKind> {
        MutantKind::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the bug is in the driver (the harness) rather than the kernel.
    pub const fn is_driver_bug(self) -> bool {
        matches!(self, MutantKind::DropReport | MutantKind::LossyJournal)
    }
}

/// Counts kernels built by [`MutantKind::Nondeterministic`] in this process.
static BUILT: AtomicU64 = AtomicU64::new(0);

/// A kernel with one planted bug. The harness and oracle see [`Mutant::config`], the configuration
/// the user asked for; the wrapped kernel may run with a different one.
#[derive(Clone, Debug)]
pub struct Mutant {
    kind: MutantKind,
    inner: Kernel,
    believed: Config,
    now: Instant,
    /// `second_best`: kernel priority for each user priority.
    priority_map: BTreeMap<u8, u8>,
    /// `early_free`: tasks ended early whose real report has not come yet.
    freed: BTreeSet<TaskId>,
    /// `early_free`: notices held back until the real report.
    held: Vec<(Instant, Action)>,
    out: VecDeque<(Instant, Action)>,
    notices: u64,
    /// `early_unfence`: abandoned tasks whose fence the bug lifted; their real late report is
    /// swallowed.
    unfenced: BTreeSet<TaskId>,
}

impl Mutant {
    /// Builds the mutant kernel for `config`.
    pub fn new(kind: MutantKind, config: Config) -> Result<Self, baton_kernel::ConfigError> {
        let mut inner_config = config.clone();
        let mut priority_map = BTreeMap::new();
        match kind {
            MutantKind::SecondBest => {
                let mut prios: Vec<u8> = config.classes.iter().map(|c| c.priority).collect();
                prios.sort_unstable();
                prios.dedup();
                if let [.., a, b] = prios[..] {
                    priority_map.insert(a, b);
                    priority_map.insert(b, a);
                }
            }
            MutantKind::LateDeadline => {
                for c in &mut inner_config.classes {
                    c.queue_timeout = c
                        .queue_timeout
                        .map(|d| Duration::from_nanos(d.as_nanos() + 1));
                }
            }
            MutantKind::ExceedLimit => {
                for c in &mut inner_config.classes {
                    c.limit = c.limit.map(|l| l + 1);
                }
            }
            MutantKind::LeakyDisconnect => {
                inner_config.disconnect_grace =
                    Duration::from_nanos(config.disconnect_grace.as_nanos().saturating_mul(10));
            }
            MutantKind::Nondeterministic => {
                inner_config.seed = config
                    .seed
                    .wrapping_add(BUILT.fetch_add(1, Ordering::Relaxed));
            }
            _ => {}
        }
        Ok(Mutant {
            kind,
            inner: Kernel::new(inner_config)?,
            believed: config,
            now: Instant::ZERO,
            priority_map,
            freed: BTreeSet::new(),
            held: Vec::new(),
            out: VecDeque::new(),
            notices: 0,
            unfenced: BTreeSet::new(),
        })
    }

    /// Moves the wrapped kernel's actions to the output, bending them as the bug says.
    fn pump(&mut self) {
        let mut batch: VecDeque<(Instant, Action)> =
            std::iter::from_fn(|| self.inner.poll_action_at()).collect();
        while let Some((at, action)) = batch.pop_front() {
            if self.kind == MutantKind::SilentAbandon
                && let Action::Abort { task } = action
                && matches!(batch.front(), Some((_, Action::Notify(Notice::Finished { task: t, outcome: baton_kernel::Outcome::Abandoned }))) if *t == task)
            {
                continue;
            }
            if self.kind == MutantKind::EarlyUnfence
                && let Action::Notify(Notice::Closed(report)) = &action
            {
                // The bug: the fence lifts at once, as if every abandoned task had reported.
                let now = self.inner.now();
                for line in &report.stuck {
                    if self.inner.finished(now, line.task, Exit::Dropped).is_ok() {
                        self.unfenced.insert(line.task);
                    }
                }
                batch.extend(std::iter::from_fn(|| self.inner.poll_action_at()));
            }
            match (&action, self.kind) {
                (Action::Cancel { task, .. }, MutantKind::EarlyFree) => {
                    let task = *task;
                    self.out.push_back((at, action));
                    if self.inner.finished(self.now, task, Exit::Completed).is_ok() {
                        self.freed.insert(task);
                    }
                }
                (Action::Start { .. }, MutantKind::LazyStart) => self.held.push((at, action)),
                (Action::Notify(Notice::Finished { .. }), MutantKind::DoubleNotice) => {
                    self.notices += 1;
                    if self.notices % 50 == 0 {
                        self.out.push_back((at, action.clone()));
                    }
                    self.out.push_back((at, action));
                }
                _ if self.kind == MutantKind::EarlyFree
                    && notice_task(&action).is_some_and(|t| self.freed.contains(&t)) =>
                {
                    self.held.push((at, action));
                }
                _ => self.out.push_back((at, action)),
            }
        }
    }

    fn map_input(&self, input: Input) -> Input {
        match input {
            Input::Submit(s) if self.kind == MutantKind::SecondBest => {
                let class_priority = self
                    .believed
                    .classes
                    .get(s.class.index())
                    .map_or(0, |c| c.priority);
                let p = s.priority.unwrap_or(class_priority);
                Input::Submit(Submit {
                    priority: Some(*self.priority_map.get(&p).unwrap_or(&p)),
                    ..s
                })
            }
            Input::Restart if self.kind == MutantKind::ForgetfulRestart => Input::Timeout,
            other => other,
        }
    }
}

impl KernelUnderTest for Mutant {
    fn apply(&mut self, now: Instant, input: Input) -> Result<Applied, Error> {
        if let (
            MutantKind::EarlyFree,
            Input::Finished { task, .. } | Input::FinishedAttempt { task, .. },
        ) = (self.kind, &input)
            && self.freed.remove(task)
        {
            // The real report of a task the bug already ended: release what was held back.
            let task = *task;
            self.now = self.now.max(now);
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|(_, a)| notice_task(a) == Some(task));
            self.held = rest;
            self.out.extend(mine);
            return Ok(Applied::Done);
        }
        if let (
            MutantKind::EarlyUnfence,
            Input::Finished { task, .. } | Input::FinishedAttempt { task, .. },
        ) = (self.kind, &input)
            && self.unfenced.remove(task)
        {
            // The real late report of a task whose fence the bug already lifted.
            let result = self.inner.handle_timeout(now);
            if result.is_ok() {
                self.now = now;
            }
            self.pump();
            return result.map(|()| Applied::Done);
        }
        if self.kind == MutantKind::LazyStart {
            // The starts of the previous input come out only now.
            self.out.extend(self.held.drain(..));
        }
        // `skip_catch_up`: the input is applied just before the earliest due deadline, so
        // nothing due at `now` fires first (the clock stays behind until `handle_timeout`).
        let at = match self.inner.poll_timeout() {
            Some(due)
                if self.kind == MutantKind::SkipCatchUp
                    && !matches!(input, Input::Timeout)
                    && due <= now =>
            {
                Instant::from_nanos(due.as_nanos().saturating_sub(1)).max(self.inner.now())
            }
            _ => now,
        };
        let input = self.map_input(input);
        let result = self.inner.apply(at, input);
        if result.is_ok() {
            self.now = now;
        } else if self.kind == MutantKind::DirtyError {
            let filter = ListFilter {
                state: Some(TaskState::Queued),
                ..ListFilter::default()
            };
            if let Some(v) = self.inner.list(&filter, None, 1).items.first() {
                // A refused input still moved the kernel's clock (time keeps itself).
                let _ = self.inner.cancel(self.inner.now(), v.id);
            }
        } else if self.kind == MutantKind::ScribbleOnRefusal {
            let now = self.inner.now();
            let busy = [TaskState::Cancelling, TaskState::Running]
                .into_iter()
                .find_map(|state| {
                    let filter = ListFilter {
                        state: Some(state),
                        ..ListFilter::default()
                    };
                    self.inner
                        .list(&filter, None, 1)
                        .items
                        .first()
                        .map(|v| v.id)
                });
            if let Some(id) = busy {
                let scribble = baton_kernel::Progress {
                    current: 0,
                    total: None,
                    message: "scribbled".to_owned(),
                };
                let _ = self.inner.progress(now, id, scribble);
            }
        }
        self.pump();
        result
    }

    fn poll_action_at(&mut self) -> Option<(Instant, Action)> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn kernel(&self) -> &Kernel {
        &self.inner
    }

    fn config(&self) -> &Config {
        &self.believed
    }

    fn box_clone(&self) -> Box<dyn KernelUnderTest> {
        Box::new(self.clone())
    }

    fn list(&self, filter: &ListFilter, after: Option<TaskId>, limit: usize) -> Page {
        let mut page = self.inner.list(filter, after, limit);
        if self.kind == MutantKind::CursorSkip && after.is_some() && page.items.len() > 1 {
            page.items.remove(0);
        }
        page
    }

    fn explain(&self, task: TaskId) -> Option<Explanation> {
        let mut why = self.inner.explain(task);
        if self.kind == MutantKind::ExplainMiscount
            && let Some(Explanation::Queued { blockers }) = &mut why
        {
            blockers.retain_mut(|b| match b {
                Blocker::BehindBetter { count } if *count > 1 => {
                    *count -= 1;
                    true
                }
                Blocker::BehindBetter { .. } => false,
                _ => true,
            });
        }
        why
    }
}
