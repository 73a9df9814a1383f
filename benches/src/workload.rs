//! The workloads: one driver per (scenario, implementation), each with a `new` that builds the
//! steady state (outside any timed loop) and a `cycle` that is what the benchmarks time.
//!
//! # The op-cycle
//! Sessions `0..S` each hold one running task; `Q` more tasks are queued, spread round robin.
//! One cycle, on session `i` (round robin): advance the clock by [`DT`], submit one task to `i`,
//! report the task running on `i` finished, fire due deadlines (`handle_timeout`: retention
//! removes the record of a task that ended [`RETENTION`] ago), and drain the actions (the next
//! queued task of `i` starts). The backlog stays at exactly `Q`, the registry at `Q + S` live
//! records plus about `RETENTION / DT` retained ones. Queue (60 s) and run (300 s) deadlines are
//! armed on every task and disarmed when it starts or ends; with `Q ≤ 1M` and `DT = 1 µs` no
//! task waits anywhere near 60 s of virtual time, so none fires.
//!
//! The baselines run the same cycle with their own primitives: see [`crate::baseline_hand`],
//! [`crate::baseline_tokio`], [`crate::baseline_lean`].

use crate::baseline_hand::{HandPool, HandStarted, HandWritten};
use crate::baseline_lean::{Lean, LeanPool, LeanStarted, LeanTaskId};
use crate::baseline_tokio::{TokioClass, TokioShape};
use baton_kernel::{
    Action, ClassConfig, ClassId, Config, Duration, Exit, GroupId, Instant, Kernel, SessionId,
    Submit, Target, TaskId,
};
use std::collections::VecDeque;
use tokio::sync::oneshot;

/// Virtual time between two cycles.
pub const DT: Duration = Duration::from_nanos(1_000);
/// How long a terminal record stays in the kernel's registry (so about 1,000 are retained).
pub const RETENTION: Duration = Duration::from_millis(1);
/// Queue deadline of the op-cycle class.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(60);
/// Run deadline of the op-cycle class.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Priority of every op-cycle task.
pub const PRIORITY: u8 = 5;

fn std_duration(d: Duration) -> std::time::Duration {
    std::time::Duration::from_nanos(d.as_nanos())
}

/// The kernel configuration of the op-cycle: one exclusive class with queue and run deadlines,
/// `RETENTION`, removal exactly at `finished + retention` (cleanup interval 0), and bounds raised
/// to fit `sessions` and `queued`.
pub fn grid_config(sessions: usize, queued: usize) -> Config {
    let class = ClassConfig::exclusive("op", PRIORITY)
        .with_queue_timeout(QUEUE_TIMEOUT)
        .with_run_timeout(RUN_TIMEOUT)
        .with_retention(RETENTION);
    let mut config = Config::new(vec![class]);
    config.cleanup_interval = Duration::ZERO;
    raise_limits(
        &mut config,
        sessions,
        queued,
        queued.div_ceil(sessions.max(1)) + 1,
    );
    config
}

fn raise_limits(config: &mut Config, sessions: usize, queued: usize, per_queue: usize) {
    let l = &mut config.limits;
    l.sessions_max = l.sessions_max.max(sessions as u32);
    l.tasks_max = l.tasks_max.max((2 * (queued + sessions) + 100_000) as u32);
    l.queue_len_max = l.queue_len_max.max(per_queue as u32);
}

fn session_index(base: u64, s: SessionId) -> usize {
    (s.0 - base) as usize
}

/// A kernel with `sessions` connected sessions named `s0..`, returning their ids.
fn connect_all(kernel: &mut Kernel, sessions: usize) -> Vec<SessionId> {
    (0..sessions)
        .map(|i| {
            kernel
                .connect(Instant::ZERO, &format!("s{i}"))
                .expect("connect")
        })
        .collect()
}

/// The op-cycle on the kernel.
#[derive(Debug)]
pub struct KernelGrid {
    /// The kernel (public for the query benchmarks).
    pub kernel: Kernel,
    class: ClassId,
    sessions: Vec<SessionId>,
    base: u64,
    running: Vec<TaskId>,
    cursor: usize,
    now: Instant,
}

impl KernelGrid {
    /// Builds the steady state: `sessions` busy sessions, `queued` queued tasks, and
    /// `2 · RETENTION / DT` cycles run so that retention removals are in full swing.
    pub fn new(sessions: usize, queued: usize) -> Self {
        let mut kernel = Kernel::new(grid_config(sessions, queued)).expect("config");
        let class = kernel.class_id("op").expect("class");
        let ids = connect_all(&mut kernel, sessions);
        let base = ids.first().map_or(1, |s| s.0);
        let mut g = KernelGrid {
            kernel,
            class,
            base,
            running: vec![TaskId(0); sessions],
            sessions: ids,
            cursor: 0,
            now: Instant::ZERO,
        };
        for i in 0..sessions + queued {
            let s = g.sessions[i % sessions];
            g.kernel
                .submit(g.now, Submit::new(class, Target::Session(s)))
                .expect("submit");
        }
        g.drain();
        for _ in 0..2 * RETENTION.as_nanos() / DT.as_nanos() {
            g.cycle();
        }
        g
    }

    fn drain(&mut self) {
        while let Some(a) = self.kernel.poll_action() {
            if let Action::Start {
                task,
                session: Some(s),
                ..
            } = a
                && let Some(slot) = self.running.get_mut(session_index(self.base, s))
            {
                *slot = task;
            }
        }
    }

    /// One op-cycle.
    pub fn cycle(&mut self) {
        self.now = self.now + DT;
        let now = self.now;
        let i = self.cursor;
        self.cursor = if i + 1 == self.sessions.len() {
            0
        } else {
            i + 1
        };
        let k = &mut self.kernel;
        k.submit(
            now,
            Submit::new(self.class, Target::Session(self.sessions[i])),
        )
        .expect("submit");
        k.finished(now, self.running[i], Exit::Completed)
            .expect("finished");
        if k.poll_timeout().is_some_and(|t| t <= now) {
            k.handle_timeout(now).expect("handle_timeout");
        }
        self.drain();
    }

    /// A task queued behind `depth` others on the first session (for `explain`).
    pub fn queued_task(&self, depth: usize) -> Option<TaskId> {
        let filter = baton_kernel::ListFilter {
            state: Some(baton_kernel::TaskState::Queued),
            session: self.sessions.first().copied(),
            ..Default::default()
        };
        self.kernel
            .list(&filter, None, depth + 1)
            .items
            .get(depth)
            .map(|v| v.id)
    }

    /// The first session.
    pub fn first_session(&self) -> SessionId {
        self.sessions.first().copied().unwrap_or(SessionId(0))
    }

    /// The op class.
    pub fn class(&self) -> ClassId {
        self.class
    }
}

/// The op-cycle on baseline (a).
#[derive(Debug)]
pub struct HandGrid {
    /// The baseline (public for the query benchmarks).
    pub hand: HandWritten,
    running: Vec<u64>,
    cursor: usize,
    started: Vec<HandStarted>,
}

impl HandGrid {
    /// Builds the steady state.
    pub fn new(sessions: usize, queued: usize) -> Self {
        let hand = HandWritten::new(vec![None]);
        for s in 0..sessions {
            hand.connect(s as u64);
        }
        let mut started = Vec::new();
        for i in 0..sessions + queued {
            hand.submit((i % sessions) as u64, 0, PRIORITY, &mut started)
                .expect("submit");
        }
        let mut running = vec![0; sessions];
        for st in started.drain(..) {
            running[st.session as usize] = st.task;
        }
        HandGrid {
            hand,
            running,
            cursor: 0,
            started,
        }
    }

    /// One op-cycle.
    pub fn cycle(&mut self) {
        let i = self.cursor;
        self.cursor = if i + 1 == self.running.len() {
            0
        } else {
            i + 1
        };
        self.hand
            .submit(i as u64, 0, PRIORITY, &mut self.started)
            .expect("submit");
        self.hand
            .finished(self.running[i], &mut self.started)
            .expect("finished");
        for st in self.started.drain(..) {
            self.running[st.session as usize] = st.task;
        }
    }
}

/// The op-cycle on baseline (c).
#[derive(Debug)]
pub struct LeanGrid {
    lean: Lean,
    running: Vec<LeanTaskId>,
    cursor: usize,
    started: Vec<LeanStarted>,
}

impl LeanGrid {
    /// Builds the steady state.
    pub fn new(sessions: usize, queued: usize) -> Self {
        let mut lean = Lean::new(sessions as u32, vec![None], None);
        let mut started = Vec::new();
        for i in 0..sessions + queued {
            lean.submit(0, (i % sessions) as u32, 0, &mut started);
        }
        let mut running = vec![0; sessions];
        for st in started.drain(..) {
            running[st.session as usize] = st.task;
        }
        LeanGrid {
            lean,
            running,
            cursor: 0,
            started,
        }
    }

    /// One op-cycle.
    pub fn cycle(&mut self) {
        let i = self.cursor;
        self.cursor = if i + 1 == self.running.len() {
            0
        } else {
            i + 1
        };
        self.lean.submit(0, i as u32, 0, &mut self.started);
        self.lean.finished(self.running[i], &mut self.started);
        for st in self.started.drain(..) {
            self.running[st.session as usize] = st.task;
        }
    }

    /// Live tasks.
    pub fn len(&self) -> usize {
        self.lean.len()
    }

    /// Whether no task is live.
    pub fn is_empty(&self) -> bool {
        self.lean.is_empty()
    }
}

/// A current-thread tokio runtime with timers (optionally with a paused clock).
pub fn tokio_runtime(paused: bool) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_time();
    if paused {
        b.start_paused(true);
    }
    b.build().expect("runtime")
}

/// The op-cycle on baseline (b). Build it inside the runtime that will drive it.
#[derive(Debug)]
pub struct TokioGrid {
    /// The baseline.
    pub shape: TokioShape,
    running: Vec<Option<oneshot::Sender<()>>>,
    cursor: usize,
}

impl TokioGrid {
    /// Builds the steady state (every session running one operation, `queued` waiting).
    pub async fn new(sessions: usize, queued: usize) -> Self {
        Self::with_class(sessions, queued, None).await
    }

    async fn with_class(sessions: usize, queued: usize, limit: Option<u32>) -> Self {
        let mut shape = TokioShape::new(
            sessions,
            vec![TokioClass {
                limit,
                queue_timeout: std_duration(QUEUE_TIMEOUT),
                run_timeout: std_duration(RUN_TIMEOUT),
            }],
        );
        let running_now = match limit {
            Some(l) => (l as usize).min(sessions + queued),
            None => sessions,
        };
        for i in 0..sessions + queued {
            shape.submit(i % sessions, 0, PRIORITY);
        }
        let mut running: Vec<Option<oneshot::Sender<()>>> = (0..sessions).map(|_| None).collect();
        for _ in 0..running_now {
            let st = shape.next_started().await.expect("start");
            running[st.session] = Some(st.finish);
        }
        TokioGrid {
            shape,
            running,
            cursor: 0,
        }
    }

    /// One op-cycle.
    pub async fn cycle(&mut self) {
        let i = self.cursor;
        self.cursor = if i + 1 == self.running.len() {
            0
        } else {
            i + 1
        };
        self.shape.submit(i, 0, PRIORITY);
        if let Some(f) = self.running[i].take() {
            let _ = f.send(());
        }
        let st = self.shape.next_started().await.expect("start");
        self.running[st.session] = Some(st.finish);
    }
}

// ---- all tasks in one limited class across many sessions ----

/// Sessions of the limited-class scenario.
pub const LIMITED_SESSIONS: usize = 1_000;
/// Concurrency limit of its one class.
pub const LIMIT: u32 = 5;

/// The limited-class cycle on the kernel: every task is of one class limited to [`LIMIT`]
/// across [`LIMITED_SESSIONS`] sessions, so most sessions are free and their lanes all compete
/// in the class's ready index. One cycle: submit to session `i` (round robin), finish the
/// oldest running task, fire deadlines; the best ready head (lowest sequence number on a free
/// session) starts.
#[derive(Debug)]
pub struct KernelLimited {
    kernel: Kernel,
    class: ClassId,
    sessions: Vec<SessionId>,
    running: VecDeque<TaskId>,
    cursor: usize,
    now: Instant,
}

impl KernelLimited {
    /// Builds the steady state with `queued` tasks waiting.
    pub fn new(queued: usize) -> Self {
        let sessions = LIMITED_SESSIONS;
        let class = ClassConfig::exclusive("scrape", PRIORITY)
            .with_queue_timeout(QUEUE_TIMEOUT)
            .with_run_timeout(RUN_TIMEOUT)
            .with_retention(RETENTION)
            .with_limit(LIMIT);
        let mut config = Config::new(vec![class]);
        config.cleanup_interval = Duration::ZERO;
        raise_limits(&mut config, sessions, queued, queued / sessions + 10);
        let mut kernel = Kernel::new(config).expect("config");
        let class = kernel.class_id("scrape").expect("class");
        let ids = connect_all(&mut kernel, sessions);
        let mut g = KernelLimited {
            kernel,
            class,
            sessions: ids,
            running: VecDeque::new(),
            cursor: 0,
            now: Instant::ZERO,
        };
        for i in 0..queued + LIMIT as usize {
            let s = g.sessions[i % sessions];
            g.kernel
                .submit(g.now, Submit::new(class, Target::Session(s)))
                .expect("submit");
        }
        g.drain();
        for _ in 0..2 * RETENTION.as_nanos() / DT.as_nanos() {
            g.cycle();
        }
        g
    }

    fn drain(&mut self) {
        while let Some(a) = self.kernel.poll_action() {
            if let Action::Start { task, .. } = a {
                self.running.push_back(task);
            }
        }
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        self.now = self.now + DT;
        let now = self.now;
        let i = self.cursor;
        self.cursor = (i + 1) % self.sessions.len();
        let k = &mut self.kernel;
        k.submit(
            now,
            Submit::new(self.class, Target::Session(self.sessions[i])),
        )
        .expect("submit");
        let done = self.running.pop_front().expect("a running task");
        k.finished(now, done, Exit::Completed).expect("finished");
        if k.poll_timeout().is_some_and(|t| t <= now) {
            k.handle_timeout(now).expect("handle_timeout");
        }
        self.drain();
    }

    /// Tasks running now (always [`LIMIT`]).
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

/// The limited-class cycle on baseline (a): the class counter with a FIFO of sessions waiting
/// for a slot (a semaphore's wait list).
#[derive(Debug)]
pub struct HandLimited {
    hand: HandWritten,
    running: VecDeque<u64>,
    cursor: usize,
    started: Vec<HandStarted>,
}

impl HandLimited {
    /// Builds the steady state.
    pub fn new(queued: usize) -> Self {
        let hand = HandWritten::new(vec![Some(LIMIT)]);
        for s in 0..LIMITED_SESSIONS {
            hand.connect(s as u64);
        }
        let mut started = Vec::new();
        for i in 0..queued + LIMIT as usize {
            hand.submit((i % LIMITED_SESSIONS) as u64, 0, PRIORITY, &mut started)
                .expect("submit");
        }
        let running = started.drain(..).map(|s| s.task).collect();
        HandLimited {
            hand,
            running,
            cursor: 0,
            started,
        }
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        let i = self.cursor;
        self.cursor = (i + 1) % LIMITED_SESSIONS;
        self.hand
            .submit(i as u64, 0, PRIORITY, &mut self.started)
            .expect("submit");
        let done = self.running.pop_front().expect("a running task");
        self.hand
            .finished(done, &mut self.started)
            .expect("finished");
        self.running.extend(self.started.drain(..).map(|s| s.task));
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

/// The limited-class cycle on baseline (c).
#[derive(Debug)]
pub struct LeanLimited {
    lean: Lean,
    running: VecDeque<LeanTaskId>,
    cursor: usize,
    started: Vec<LeanStarted>,
}

impl LeanLimited {
    /// Builds the steady state.
    pub fn new(queued: usize) -> Self {
        let mut lean = Lean::new(LIMITED_SESSIONS as u32, vec![Some(LIMIT)], None);
        let mut started = Vec::new();
        for i in 0..queued + LIMIT as usize {
            lean.submit(0, (i % LIMITED_SESSIONS) as u32, 0, &mut started);
        }
        let running = started.drain(..).map(|s| s.task).collect();
        LeanLimited {
            lean,
            running,
            cursor: 0,
            started,
        }
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        let i = self.cursor;
        self.cursor = (i + 1) % LIMITED_SESSIONS;
        self.lean.submit(0, i as u32, 0, &mut self.started);
        let done = self.running.pop_front().expect("a running task");
        self.lean.finished(done, &mut self.started);
        self.running.extend(self.started.drain(..).map(|s| s.task));
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

/// The limited-class cycle on baseline (b): the class `Semaphore` has [`LIMIT`] permits.
#[derive(Debug)]
pub struct TokioLimited {
    shape: TokioShape,
    running: VecDeque<oneshot::Sender<()>>,
    cursor: usize,
}

impl TokioLimited {
    /// Builds the steady state.
    pub async fn new(queued: usize) -> Self {
        let g = TokioGrid::with_class(LIMITED_SESSIONS, queued, Some(LIMIT)).await;
        TokioLimited {
            shape: g.shape,
            running: g.running.into_iter().flatten().collect(),
            cursor: 0,
        }
    }

    /// One cycle.
    pub async fn cycle(&mut self) {
        let i = self.cursor;
        self.cursor = (i + 1) % LIMITED_SESSIONS;
        self.shape.submit(i, 0, PRIORITY);
        if let Some(f) = self.running.pop_front() {
            let _ = f.send(());
        }
        let st = self.shape.next_started().await.expect("start");
        self.running.push_back(st.finish);
    }
}

// ---- timer-heavy: most tasks hit their queue deadline ----

/// Sessions of the timer-heavy scenario.
pub const TIMER_SESSIONS: usize = 1_000;
/// Its queue deadline: with one submit per [`DT`] about 10,000 tasks wait at any time.
pub const TIMER_QUEUE_TIMEOUT: Duration = Duration::from_millis(10);
/// One cycle in this many also finishes a running task; the other submits mostly expire.
pub const TIMER_FINISH_EVERY: u64 = 10;

/// The timer-heavy cycle on the kernel: each cycle submits one task (round robin over
/// [`TIMER_SESSIONS`]); one cycle in [`TIMER_FINISH_EVERY`] finishes the task running on the
/// next session of a second cursor. Each session receives a task every 1 ms and frees every
/// 10 ms, so about 90% of tasks end Rejected(QueueTimeout) after 10 ms; `handle_timeout` fires
/// those expiries and the retention removals of every ended task.
#[derive(Debug)]
pub struct KernelTimers {
    kernel: Kernel,
    class: ClassId,
    sessions: Vec<SessionId>,
    base: u64,
    running: Vec<Option<TaskId>>,
    cycles: u64,
    now: Instant,
}

impl KernelTimers {
    /// Builds the steady state (runs `2 · TIMER_QUEUE_TIMEOUT / DT` cycles).
    pub fn new() -> Self {
        let sessions = TIMER_SESSIONS;
        let class = ClassConfig::exclusive("op", PRIORITY)
            .with_queue_timeout(TIMER_QUEUE_TIMEOUT)
            .with_run_timeout(RUN_TIMEOUT)
            .with_retention(RETENTION);
        let mut config = Config::new(vec![class]);
        config.cleanup_interval = Duration::ZERO;
        raise_limits(&mut config, sessions, 20_000, 100);
        let mut kernel = Kernel::new(config).expect("config");
        let class = kernel.class_id("op").expect("class");
        let ids = connect_all(&mut kernel, sessions);
        let base = ids.first().map_or(1, |s| s.0);
        let mut g = KernelTimers {
            kernel,
            class,
            sessions: ids,
            base,
            running: vec![None; sessions],
            cycles: 0,
            now: Instant::ZERO,
        };
        for _ in 0..2 * TIMER_QUEUE_TIMEOUT.as_nanos() / DT.as_nanos() {
            g.cycle();
        }
        g
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        self.now = self.now + DT;
        let now = self.now;
        let c = self.cycles;
        self.cycles += 1;
        let n = self.sessions.len();
        let k = &mut self.kernel;
        let s = self.sessions[(c % n as u64) as usize];
        k.submit(now, Submit::new(self.class, Target::Session(s)))
            .expect("submit");
        if c % TIMER_FINISH_EVERY == 0 {
            let j = ((c / TIMER_FINISH_EVERY) % n as u64) as usize;
            if let Some(t) = self.running[j].take() {
                k.finished(now, t, Exit::Completed).expect("finished");
            }
        }
        if k.poll_timeout().is_some_and(|t| t <= now) {
            k.handle_timeout(now).expect("handle_timeout");
        }
        while let Some(a) = k.poll_action() {
            if let Action::Start {
                task,
                session: Some(s),
                ..
            } = a
                && let Some(slot) = self.running.get_mut(session_index(self.base, s))
            {
                *slot = Some(task);
            }
        }
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }
}

impl Default for KernelTimers {
    fn default() -> Self {
        Self::new()
    }
}

/// The timer-heavy cycle on baseline (c): expiry is one FIFO of `(deadline, task)`.
#[derive(Debug)]
pub struct LeanTimers {
    lean: Lean,
    running: Vec<Option<LeanTaskId>>,
    cycles: u64,
    now: u64,
    started: Vec<LeanStarted>,
    /// Tasks expired so far.
    pub expired: u64,
}

impl LeanTimers {
    /// Builds the steady state.
    pub fn new() -> Self {
        let mut g = LeanTimers {
            lean: Lean::new(
                TIMER_SESSIONS as u32,
                vec![None],
                Some(TIMER_QUEUE_TIMEOUT.as_nanos()),
            ),
            running: vec![None; TIMER_SESSIONS],
            cycles: 0,
            now: 0,
            started: Vec::new(),
            expired: 0,
        };
        for _ in 0..2 * TIMER_QUEUE_TIMEOUT.as_nanos() / DT.as_nanos() {
            g.cycle();
        }
        g
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        self.now += DT.as_nanos();
        let c = self.cycles;
        self.cycles += 1;
        let n = TIMER_SESSIONS as u64;
        self.lean
            .submit(self.now, (c % n) as u32, 0, &mut self.started);
        if c % TIMER_FINISH_EVERY == 0 {
            let j = ((c / TIMER_FINISH_EVERY) % n) as usize;
            if let Some(t) = self.running[j].take() {
                self.lean.finished(t, &mut self.started);
            }
        }
        self.expired += self.lean.expire(self.now) as u64;
        for st in self.started.drain(..) {
            self.running[st.session as usize] = Some(st.task);
        }
    }

    /// Live tasks.
    pub fn len(&self) -> usize {
        self.lean.len()
    }

    /// Whether no task is live.
    pub fn is_empty(&self) -> bool {
        self.lean.is_empty()
    }
}

impl Default for LeanTimers {
    fn default() -> Self {
        Self::new()
    }
}

/// The timer-heavy cycle on baseline (b), on a runtime with a paused clock advanced by
/// [`DT`] per cycle (tokio's timer wheel has 1 ms resolution, so expiries come in batches).
#[derive(Debug)]
pub struct TokioTimers {
    /// The baseline.
    pub shape: TokioShape,
    running: Vec<Option<oneshot::Sender<()>>>,
    cycles: u64,
}

impl TokioTimers {
    /// Builds the steady state. Needs a runtime with a paused clock.
    pub async fn new() -> Self {
        let shape = TokioShape::new(
            TIMER_SESSIONS,
            vec![TokioClass {
                limit: None,
                queue_timeout: std_duration(TIMER_QUEUE_TIMEOUT),
                run_timeout: std_duration(RUN_TIMEOUT),
            }],
        );
        let mut g = TokioTimers {
            shape,
            running: (0..TIMER_SESSIONS).map(|_| None).collect(),
            cycles: 0,
        };
        for _ in 0..2 * TIMER_QUEUE_TIMEOUT.as_nanos() / DT.as_nanos() {
            g.cycle().await;
        }
        g
    }

    /// One cycle.
    pub async fn cycle(&mut self) {
        let c = self.cycles;
        self.cycles += 1;
        let n = TIMER_SESSIONS as u64;
        self.shape.submit((c % n) as usize, 0, PRIORITY);
        if c % TIMER_FINISH_EVERY == 0 {
            let j = ((c / TIMER_FINISH_EVERY) % n) as usize;
            if let Some(f) = self.running[j].take() {
                let _ = f.send(());
            }
        }
        tokio::time::advance(std_duration(DT)).await;
        while let Some(st) = self.shape.try_started() {
            self.running[st.session] = Some(st.finish);
        }
    }
}

// ---- cancellation storms ----

/// Sessions of the storm scenario.
pub const STORM_SESSIONS: usize = 1_000;
/// Tasks queued on each session between storms (one more runs).
pub const STORM_DEPTH: usize = 100;
/// Virtual time between two storms (about 10 storms' records are retained).
pub const STORM_DT: Duration = Duration::from_nanos(100_000);

/// The cancellation-storm cycle on the kernel. One storm, on session `i` (round robin): cancel
/// its [`STORM_DEPTH`] queued tasks and its running one (`Action::Cancel`), report the running
/// one stopped, then refill the session with `STORM_DEPTH + 1` tasks (the first starts). So one
/// storm is `STORM_DEPTH + 1` cancellations and as many submits.
#[derive(Debug)]
pub struct KernelStorm {
    kernel: Kernel,
    class: ClassId,
    sessions: Vec<SessionId>,
    base: u64,
    queued: Vec<Vec<TaskId>>,
    running: Vec<TaskId>,
    cursor: usize,
    now: Instant,
}

impl KernelStorm {
    /// Builds the steady state.
    pub fn new() -> Self {
        let sessions = STORM_SESSIONS;
        let mut config = grid_config(sessions, sessions * STORM_DEPTH);
        config.limits.queue_len_max = (STORM_DEPTH + 1) as u32;
        let mut kernel = Kernel::new(config).expect("config");
        let class = kernel.class_id("op").expect("class");
        let ids = connect_all(&mut kernel, sessions);
        let base = ids.first().map_or(1, |s| s.0);
        let mut g = KernelStorm {
            kernel,
            class,
            sessions: ids,
            base,
            queued: (0..sessions)
                .map(|_| Vec::with_capacity(STORM_DEPTH))
                .collect(),
            running: vec![TaskId(0); sessions],
            cursor: 0,
            now: Instant::ZERO,
        };
        for i in 0..sessions {
            g.refill(i);
        }
        g.drain();
        for _ in 0..2 * RETENTION.as_nanos() / STORM_DT.as_nanos() {
            g.storm();
        }
        g
    }

    fn refill(&mut self, i: usize) {
        let s = self.sessions[i];
        let first = self
            .kernel
            .submit(self.now, Submit::new(self.class, Target::Session(s)))
            .expect("submit");
        self.running[i] = first;
        for _ in 0..STORM_DEPTH {
            let t = self
                .kernel
                .submit(self.now, Submit::new(self.class, Target::Session(s)))
                .expect("submit");
            self.queued[i].push(t);
        }
    }

    fn drain(&mut self) {
        while let Some(a) = self.kernel.poll_action() {
            if let Action::Start {
                task,
                session: Some(s),
                ..
            } = a
            {
                debug_assert_eq!(self.running[session_index(self.base, s)], task);
            }
        }
    }

    /// One storm.
    pub fn storm(&mut self) {
        self.now = self.now + STORM_DT;
        let now = self.now;
        let i = self.cursor;
        self.cursor = (i + 1) % self.sessions.len();
        let mut queued = std::mem::take(&mut self.queued[i]);
        for t in queued.drain(..) {
            self.kernel.cancel(now, t).expect("cancel queued");
        }
        self.queued[i] = queued;
        let run = self.running[i];
        self.kernel.cancel(now, run).expect("cancel running");
        self.kernel
            .finished(now, run, Exit::Completed)
            .expect("stopped");
        self.refill(i);
        if self.kernel.poll_timeout().is_some_and(|t| t <= now) {
            self.kernel.handle_timeout(now).expect("handle_timeout");
        }
        self.drain();
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }
}

impl Default for KernelStorm {
    fn default() -> Self {
        Self::new()
    }
}

/// The storm on baseline (a): cancelled records leave the map, heap entries are skipped lazily.
#[derive(Debug)]
pub struct HandStorm {
    hand: HandWritten,
    queued: Vec<Vec<u64>>,
    running: Vec<u64>,
    cursor: usize,
    started: Vec<HandStarted>,
}

impl HandStorm {
    /// Builds the steady state.
    pub fn new() -> Self {
        let hand = HandWritten::new(vec![None]);
        for s in 0..STORM_SESSIONS {
            hand.connect(s as u64);
        }
        let mut g = HandStorm {
            hand,
            queued: (0..STORM_SESSIONS)
                .map(|_| Vec::with_capacity(STORM_DEPTH))
                .collect(),
            running: vec![0; STORM_SESSIONS],
            cursor: 0,
            started: Vec::new(),
        };
        for i in 0..STORM_SESSIONS {
            g.refill(i);
        }
        g
    }

    fn refill(&mut self, i: usize) {
        let s = i as u64;
        let first = self
            .hand
            .submit(s, 0, PRIORITY, &mut self.started)
            .expect("submit");
        self.running[i] = first;
        for _ in 0..STORM_DEPTH {
            let t = self
                .hand
                .submit(s, 0, PRIORITY, &mut self.started)
                .expect("submit");
            self.queued[i].push(t);
        }
        self.started.clear();
    }

    /// One storm.
    pub fn storm(&mut self) {
        let i = self.cursor;
        self.cursor = (i + 1) % STORM_SESSIONS;
        for t in self.queued[i].drain(..) {
            self.hand.cancel(t, &mut self.started).expect("cancel");
        }
        self.hand
            .cancel(self.running[i], &mut self.started)
            .expect("cancel");
        self.refill(i);
    }

    /// Registered tasks.
    pub fn registry_len(&self) -> usize {
        self.hand.len()
    }
}

impl Default for HandStorm {
    fn default() -> Self {
        Self::new()
    }
}

/// The storm on baseline (c): tombstones.
#[derive(Debug)]
pub struct LeanStorm {
    lean: Lean,
    queued: Vec<Vec<LeanTaskId>>,
    running: Vec<LeanTaskId>,
    cursor: usize,
    started: Vec<LeanStarted>,
}

impl LeanStorm {
    /// Builds the steady state.
    pub fn new() -> Self {
        let mut g = LeanStorm {
            lean: Lean::new(STORM_SESSIONS as u32, vec![None], None),
            queued: (0..STORM_SESSIONS)
                .map(|_| Vec::with_capacity(STORM_DEPTH))
                .collect(),
            running: vec![0; STORM_SESSIONS],
            cursor: 0,
            started: Vec::new(),
        };
        for i in 0..STORM_SESSIONS {
            g.refill(i);
        }
        g
    }

    fn refill(&mut self, i: usize) {
        let s = i as u32;
        self.running[i] = self.lean.submit(0, s, 0, &mut self.started);
        for _ in 0..STORM_DEPTH {
            let t = self.lean.submit(0, s, 0, &mut self.started);
            self.queued[i].push(t);
        }
        self.started.clear();
    }

    /// One storm.
    pub fn storm(&mut self) {
        let i = self.cursor;
        self.cursor = (i + 1) % STORM_SESSIONS;
        for t in self.queued[i].drain(..) {
            self.lean.cancel(t, &mut self.started);
        }
        self.lean.cancel(self.running[i], &mut self.started);
        self.refill(i);
    }

    /// Live tasks.
    pub fn len(&self) -> usize {
        self.lean.len()
    }

    /// Whether no task is live.
    pub fn is_empty(&self) -> bool {
        self.lean.is_empty()
    }
}

impl Default for LeanStorm {
    fn default() -> Self {
        Self::new()
    }
}

/// The storm on baseline (b): `AbortHandle::abort` on every task of the session.
#[derive(Debug)]
pub struct TokioStorm {
    /// The baseline.
    pub shape: TokioShape,
    queued: Vec<Vec<u64>>,
    running: Vec<u64>,
    finish: Vec<Option<oneshot::Sender<()>>>,
    cursor: usize,
}

impl TokioStorm {
    /// Builds the steady state.
    pub async fn new() -> Self {
        let shape = TokioShape::new(
            STORM_SESSIONS,
            vec![TokioClass {
                limit: None,
                queue_timeout: std_duration(QUEUE_TIMEOUT),
                run_timeout: std_duration(RUN_TIMEOUT),
            }],
        );
        let mut g = TokioStorm {
            shape,
            queued: (0..STORM_SESSIONS)
                .map(|_| Vec::with_capacity(STORM_DEPTH))
                .collect(),
            running: vec![0; STORM_SESSIONS],
            finish: (0..STORM_SESSIONS).map(|_| None).collect(),
            cursor: 0,
        };
        for i in 0..STORM_SESSIONS {
            g.refill(i);
        }
        for _ in 0..STORM_SESSIONS {
            let st = g.shape.next_started().await.expect("start");
            g.finish[st.session] = Some(st.finish);
        }
        g
    }

    fn refill(&mut self, i: usize) {
        self.running[i] = self.shape.submit(i, 0, PRIORITY);
        for _ in 0..STORM_DEPTH {
            let t = self.shape.submit(i, 0, PRIORITY);
            self.queued[i].push(t);
        }
    }

    /// One storm: abort everything of the session, refill it, wait for its new first task to
    /// start (skipping grants that raced with an abort).
    pub async fn storm(&mut self) {
        let i = self.cursor;
        self.cursor = (i + 1) % STORM_SESSIONS;
        for t in self.queued[i].drain(..) {
            self.shape.cancel(t);
        }
        self.shape.cancel(self.running[i]);
        self.refill(i);
        loop {
            let st = self.shape.next_started().await.expect("start");
            if st.task == self.running[i] {
                // Keep the body waiting: dropping `finish` would complete it.
                self.finish[i] = Some(st.finish);
                break;
            }
        }
    }
}

// ---- group late binding ----

/// Members of the group.
pub const GROUP_MEMBERS: usize = 100;
/// Tasks waiting in the group's queue.
pub const GROUP_QUEUED: usize = 10_000;

/// The late-binding cycle on the kernel: one group of [`GROUP_MEMBERS`] sessions, all busy,
/// [`GROUP_QUEUED`] tasks in the group's queue. One cycle: submit to the group, finish the
/// oldest running task; its member is the only free one and takes the group's head.
#[derive(Debug)]
pub struct KernelGroup {
    kernel: Kernel,
    class: ClassId,
    group: GroupId,
    running: VecDeque<TaskId>,
    now: Instant,
}

impl KernelGroup {
    /// Builds the steady state.
    pub fn new() -> Self {
        let mut config = grid_config(GROUP_MEMBERS, GROUP_QUEUED);
        config.limits.queue_len_max = (GROUP_QUEUED + 10) as u32;
        let mut kernel = Kernel::new(config).expect("config");
        let class = kernel.class_id("op").expect("class");
        let ids = connect_all(&mut kernel, GROUP_MEMBERS);
        let mut group = GroupId(0);
        for s in ids {
            group = kernel.join_group(Instant::ZERO, "pool", s).expect("join");
        }
        let mut g = KernelGroup {
            kernel,
            class,
            group,
            running: VecDeque::new(),
            now: Instant::ZERO,
        };
        for _ in 0..GROUP_MEMBERS + GROUP_QUEUED {
            g.kernel
                .submit(g.now, Submit::new(class, Target::Group(group)))
                .expect("submit");
        }
        g.drain();
        for _ in 0..2 * RETENTION.as_nanos() / DT.as_nanos() {
            g.cycle();
        }
        g
    }

    fn drain(&mut self) {
        while let Some(a) = self.kernel.poll_action() {
            if let Action::Start { task, .. } = a {
                self.running.push_back(task);
            }
        }
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        self.now = self.now + DT;
        let now = self.now;
        let k = &mut self.kernel;
        k.submit(now, Submit::new(self.class, Target::Group(self.group)))
            .expect("submit");
        let done = self.running.pop_front().expect("running");
        k.finished(now, done, Exit::Completed).expect("finished");
        if k.poll_timeout().is_some_and(|t| t <= now) {
            k.handle_timeout(now).expect("handle_timeout");
        }
        self.drain();
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

impl Default for KernelGroup {
    fn default() -> Self {
        Self::new()
    }
}

/// The late-binding cycle on baseline (a).
#[derive(Debug)]
pub struct HandGroup {
    pool: HandPool,
    running: VecDeque<u64>,
    started: Vec<HandStarted>,
}

impl HandGroup {
    /// Builds the steady state.
    pub fn new() -> Self {
        let pool = HandPool::new(GROUP_MEMBERS as u64);
        let mut started = Vec::new();
        for _ in 0..GROUP_MEMBERS + GROUP_QUEUED {
            pool.submit(PRIORITY, &mut started);
        }
        let running = started.drain(..).map(|s| s.task).collect();
        HandGroup {
            pool,
            running,
            started,
        }
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        self.pool.submit(PRIORITY, &mut self.started);
        let done = self.running.pop_front().expect("running");
        self.pool
            .finished(done, &mut self.started)
            .expect("finished");
        self.running.extend(self.started.drain(..).map(|s| s.task));
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

impl Default for HandGroup {
    fn default() -> Self {
        Self::new()
    }
}

/// The late-binding cycle on baseline (c).
#[derive(Debug)]
pub struct LeanGroup {
    pool: LeanPool,
    running: VecDeque<usize>,
    started: Vec<LeanStarted>,
}

impl LeanGroup {
    /// Builds the steady state.
    pub fn new() -> Self {
        let mut pool = LeanPool::new(GROUP_MEMBERS as u32);
        let mut started = Vec::new();
        for _ in 0..GROUP_MEMBERS + GROUP_QUEUED {
            pool.submit(&mut started);
        }
        let running = started.drain(..).map(|s| s.task as usize).collect();
        LeanGroup {
            pool,
            running,
            started,
        }
    }

    /// One cycle.
    pub fn cycle(&mut self) {
        self.pool.submit(&mut self.started);
        let done = self.running.pop_front().expect("running");
        self.pool.finished(done, &mut self.started);
        self.running
            .extend(self.started.drain(..).map(|s| s.task as usize));
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

impl Default for LeanGroup {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_kernel::TaskState;

    #[test]
    fn kernel_grid_keeps_its_backlog_and_collects_garbage() {
        for (s, q) in [(1, 100), (10, 5), (10, 1000)] {
            let mut g = KernelGrid::new(s, q);
            let before = g.kernel.counts();
            for _ in 0..5000 {
                g.cycle();
            }
            let c = g.kernel.counts();
            assert_eq!(c.get(TaskState::Queued), q as u64);
            assert_eq!(c.get(TaskState::Running), s as u64);
            assert_eq!(
                c.get(TaskState::Completed),
                before.get(TaskState::Completed)
            );
            let retained = RETENTION.as_nanos() / DT.as_nanos();
            assert!(c.get(TaskState::Completed) <= retained + 1, "{c:?}");
            assert!(c.get(TaskState::Completed) >= retained - 1, "{c:?}");
            assert!(g.kernel.check_invariants().is_ok());
        }
    }

    #[test]
    fn baseline_grids_keep_their_backlog() {
        let mut h = HandGrid::new(10, 1000);
        let mut l = LeanGrid::new(10, 1000);
        for _ in 0..5000 {
            h.cycle();
            l.cycle();
        }
        assert_eq!(h.hand.counts(), (1000, 10));
        assert_eq!(l.len(), 1010);
        let rt = tokio_runtime(false);
        rt.block_on(async {
            let mut t = TokioGrid::new(10, 1000).await;
            for _ in 0..5000 {
                t.cycle().await;
            }
            assert_eq!(t.shape.registry_len(), 1010);
            assert_eq!(
                t.shape.count(crate::baseline_tokio::TokioState::Running),
                10
            );
        });
    }

    #[test]
    fn limited_class_keeps_the_limit_busy() {
        let mut k = KernelLimited::new(10_000);
        let mut h = HandLimited::new(10_000);
        let mut l = LeanLimited::new(10_000);
        for _ in 0..3000 {
            k.cycle();
            h.cycle();
            l.cycle();
        }
        assert_eq!(k.running(), LIMIT as usize);
        assert_eq!(h.running(), LIMIT as usize);
        assert_eq!(l.running(), LIMIT as usize);
        assert_eq!(
            k.kernel.counts().get(TaskState::Queued),
            10_000,
            "the backlog stays"
        );
        tokio_runtime(false).block_on(async {
            let mut t = TokioLimited::new(10_000).await;
            for _ in 0..3000 {
                t.cycle().await;
            }
            assert_eq!(t.running.len(), LIMIT as usize);
        });
    }

    #[test]
    fn timer_heavy_expires_most_tasks() {
        let mut k = KernelTimers::new();
        let m0 = k.kernel().metrics();
        for _ in 0..20_000 {
            k.cycle();
        }
        let m = k.kernel().metrics();
        let totals = |m: &baton_kernel::Metrics| m.classes[0].totals.clone();
        let (a, b) = (totals(&m0), totals(&m));
        let submitted = b.submitted - a.submitted;
        let started = b.started - a.started;
        assert_eq!(submitted, 20_000);
        assert!(
            started * 5 < submitted,
            "most expire: {started}/{submitted}"
        );
        let queued = k.kernel().counts().get(TaskState::Queued);
        assert!((8_000..=11_000).contains(&queued), "{queued}");

        let mut l = LeanTimers::new();
        let e0 = l.expired;
        for _ in 0..20_000 {
            l.cycle();
        }
        assert!(l.expired - e0 > 15_000, "{}", l.expired - e0);

        tokio_runtime(true).block_on(async {
            let mut t = TokioTimers::new().await;
            let e0 = t.shape.expired();
            for _ in 0..20_000 {
                t.cycle().await;
            }
            assert!(
                t.shape.expired() - e0 > 15_000,
                "{}",
                t.shape.expired() - e0
            );
        });
    }

    #[test]
    fn storms_cancel_and_refill() {
        let mut k = KernelStorm::new();
        let mut h = HandStorm::new();
        let mut l = LeanStorm::new();
        for _ in 0..50 {
            k.storm();
            h.storm();
            l.storm();
        }
        let per = (STORM_DEPTH + 1) * STORM_SESSIONS;
        let c = k.kernel().counts();
        assert_eq!(
            c.get(TaskState::Queued) + c.get(TaskState::Running),
            per as u64
        );
        assert!(c.get(TaskState::Cancelled) > 0);
        assert_eq!(h.registry_len(), per);
        assert_eq!(l.len(), per);
        tokio_runtime(false).block_on(async {
            let mut t = TokioStorm::new().await;
            for _ in 0..50 {
                t.storm().await;
            }
            tokio::task::yield_now().await;
            assert_eq!(t.shape.registry_len(), per);
        });
    }

    #[test]
    fn groups_bind_late() {
        let mut k = KernelGroup::new();
        let mut h = HandGroup::new();
        let mut l = LeanGroup::new();
        for _ in 0..3000 {
            k.cycle();
            h.cycle();
            l.cycle();
        }
        assert_eq!(k.running(), GROUP_MEMBERS);
        assert_eq!(h.running(), GROUP_MEMBERS);
        assert_eq!(l.running(), GROUP_MEMBERS);
    }
}
