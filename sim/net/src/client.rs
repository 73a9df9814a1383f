//! A client host: one [`Scheduler`] on the tokio runtime turmoil gives the host, sessions of the
//! messaging-account preset (one TCP connection each), and a planned workload of RPCs submitted
//! as tasks. Every task's body is a real request over the simulated network.
//!
//! The body is what a careful user of the adapter writes: it selects (`biased;`) on
//! `ctx.cancelled()` alongside its I/O, and when cancelled it *abandons* its request before
//! returning — it sends `Cancel` and waits for the server's `CancelAck` (or the response) up
//! to [`Timing::abandon_wait`]; without either it resets the connection, and the next operation
//! reconnects, which ends the old operation on the server. The session is only freed once the
//! body has returned, so the server never sees two operations of one session at a time — unless
//! the adapter frees it earlier.

use crate::log::{Abandon, Class, Event, Log};
use crate::server::PORT;
use crate::wire::{Frame, Origin, read_frame, write_frame};
use baton_kernel::{Config, preset};
use baton_runtime::{
    Fault, MemoryLog, Runtime, Scheduler, TaskContext, TaskError, TaskFailure, TokioRuntime,
};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use turmoil::net::TcpStream;

/// The shortened deadlines of a run (the preset's are minutes; a simulated run lasts seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Run timeouts of monitoring, scraping and sending (preset: 3600 s, 300 s, 60 s).
    pub run_timeout: [Duration; 3],
    /// Queue timeout of every class (preset: 60 s).
    pub queue_timeout: Duration,
    /// Cancel grace of every class and the disconnect grace (preset: 5 s).
    pub grace: Duration,
    /// How long a connect may take.
    pub connect_timeout: Duration,
    /// How long the server may take to acknowledge `Hello`.
    pub hello_timeout: Duration,
    /// How long a cancelled body waits for the server to confirm before resetting the
    /// connection. Shorter than `grace`, so a correct adapter never has to abort a body.
    pub abandon_wait: Duration,
    /// How long a body waits after a failed connect before failing (cancellable).
    pub fail_pause: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            run_timeout: [
                Duration::from_millis(1500),
                Duration::from_millis(600),
                Duration::from_millis(300),
            ],
            queue_timeout: Duration::from_millis(3000),
            grace: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(200),
            hello_timeout: Duration::from_millis(200),
            abandon_wait: Duration::from_millis(150),
            fail_pause: Duration::from_millis(50),
        }
    }
}

impl Timing {
    /// The class's run timeout.
    pub fn run_timeout(&self, class: Class) -> Duration {
        self.run_timeout[class as usize]
    }

    /// The longest run timeout.
    pub fn max_run_timeout(&self) -> Duration {
        self.run_timeout.iter().copied().max().unwrap_or_default()
    }

    /// The messaging-account preset (`baton_kernel::preset::session_manager`) with these
    /// deadlines: classes, priorities and the scrape limit stay the preset's.
    pub fn kernel_config(&self) -> Config {
        let mut config = preset::session_manager();
        for (class, cfg) in Class::ALL.iter().zip(config.classes.iter_mut()) {
            debug_assert_eq!(class.name(), cfg.name);
            cfg.run_timeout = Some(kd(self.run_timeout(*class)));
            cfg.queue_timeout = Some(kd(self.queue_timeout));
            cfg.grace = kd(self.grace);
        }
        config.disconnect_grace = kd(self.grace);
        config
    }
}

fn kd(d: Duration) -> baton_kernel::Duration {
    baton_kernel::Duration::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One planned operation of a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedOp {
    /// When to submit it (simulated ms since the run began).
    pub at_ms: u64,
    /// Which of the client's sessions.
    pub session: u8,
    /// Its class.
    pub class: Class,
    /// Server-side work.
    pub op_ms: u32,
    /// Cancel it (by id, as a user would) this long after submitting.
    pub cancel_after_ms: Option<u64>,
}

/// Which clock the scheduler's runtime reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// `TokioRuntime`: tokio's (paused, simulated) clock.
    #[default]
    Tokio,
    /// A broken runtime that reads the wall clock (`std::time::Instant::now()`) instead of the
    /// runtime's: what `Runtime::now`'s default gives a runtime that forgets to override it.
    Wall,
}

/// Everything a client host needs, shared by its incarnations.
#[derive(Debug)]
pub struct ClientSpec {
    /// Client index (host `client{index}`).
    pub client: u8,
    /// Sessions on this client.
    pub sessions: u8,
    /// The workload, by submit time.
    pub plan: Vec<PlannedOp>,
    /// Deadlines.
    pub timing: Timing,
    /// The adapter bug to inject, if any.
    pub fault: Option<Fault>,
    /// The runtime's clock.
    pub clock: Clock,
    /// The run's log.
    pub log: Log,
    /// Incarnations started so far.
    pub incs: AtomicU32,
    /// Each incarnation's kernel input log, as its scheduler recorded it.
    pub recordings: Mutex<Vec<MemoryLog>>,
}

/// The session's name on the kernel and on the wire.
pub fn session_name(client: u8, session: u8) -> String {
    format!("c{client}/s{session}")
}

/// The client software (turmoil runs it again when a crashed client is bounced; the new
/// incarnation submits the rest of the plan).
pub async fn run(spec: Arc<ClientSpec>) -> turmoil::Result {
    let inc = spec.incs.fetch_add(1, Ordering::SeqCst);
    let log = spec.log.clone();
    log.unmute(spec.client);
    log.push(Event::ClientUp {
        client: spec.client,
        inc,
    });
    let tokio_rt = TokioRuntime::try_current().ok_or("no tokio runtime in the host")?;
    let runtime: Arc<dyn Runtime> = match spec.clock {
        Clock::Tokio => Arc::new(tokio_rt),
        Clock::Wall => Arc::new(WallClockRuntime(tokio_rt)),
    };
    let recording = MemoryLog::default();
    if let Ok(mut all) = spec.recordings.lock() {
        all.push(recording.clone());
    }
    let scheduler = Scheduler::recording(
        spec.timing.kernel_config(),
        Some(runtime),
        recording.clone(),
    )?;
    scheduler.inject_fault(spec.fault);
    let mut links = Vec::new();
    let mut ids = Vec::new();
    for s in 0..spec.sessions {
        let name = session_name(spec.client, s);
        ids.push(scheduler.connect(&name)?);
        links.push(Arc::new(Link {
            client: spec.client,
            name,
            timing: spec.timing.clone(),
            log: log.clone(),
            state: Mutex::new(LinkState::default()),
        }));
    }
    let mut watchers = Vec::new();
    for (plan, op) in spec.plan.iter().enumerate() {
        let at = op.at_ms * 1_000_000;
        let now = log.now();
        if at < now {
            // Planned while this client was down.
            continue;
        }
        tokio::time::sleep(Duration::from_nanos(at - now)).await;
        let plan = u32::try_from(plan).unwrap_or(u32::MAX);
        let link = links[usize::from(op.session)].clone();
        let body_op = op.clone();
        let body_log = log.clone();
        let client = spec.client;
        let handle = scheduler.submit(ids[usize::from(op.session)], op.class.name(), move |ctx| {
            let origin = Origin {
                client,
                inc,
                task: ctx.id().0,
            };
            body(ctx, link.clone(), body_op.clone(), origin, body_log.clone())
        });
        let Some(id) = handle.id() else {
            let error = handle
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            log.push(Event::Refused {
                client,
                inc,
                plan,
                error,
            });
            continue;
        };
        let origin = Origin {
            client,
            inc,
            task: id.0,
        };
        log.push(Event::Submit {
            origin,
            session: op.session,
            class: op.class,
            plan,
        });
        if let Some(after) = op.cancel_after_ms {
            let scheduler = scheduler.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(after)).await;
                let _ = scheduler.cancel(id);
            });
        }
        let watcher_log = log.clone();
        let watcher_scheduler = scheduler.clone();
        watchers.push(tokio::spawn(async move {
            let result = handle.await;
            let view = watcher_scheduler.task(id);
            watcher_log.push(Event::Outcome {
                origin,
                outcome: outcome_name(&result),
                started_ns: view
                    .as_ref()
                    .and_then(|v| v.started_at)
                    .map(|i| i.as_nanos()),
                finished_ns: view
                    .as_ref()
                    .and_then(|v| v.finished_at)
                    .map(|i| i.as_nanos()),
            });
        }));
    }
    for watcher in watchers {
        let _ = watcher.await;
    }
    for s in 0..spec.sessions {
        let report = scheduler.disconnect(&session_name(spec.client, s)).await?;
        log.push(Event::Cleanup {
            client: spec.client,
            inc,
            session: s,
            stuck: report.stuck.len(),
        });
    }
    scheduler.shutdown(spec.timing.grace).await?;
    for link in &links {
        link.close();
    }
    log.push(Event::ClientDone {
        client: spec.client,
        inc,
        registry: scheduler.registry_len(),
        pending: scheduler.pending_handles(),
    });
    Ok(())
}

/// The short name of a handle's result, as logged.
pub fn outcome_name<T>(result: &Result<T, TaskError>) -> String {
    match result {
        Ok(_) => "completed".into(),
        Err(TaskError::Failed(_)) => "failed".into(),
        Err(TaskError::RunTimeout) => "timed_out".into(),
        Err(TaskError::Stalled) => "stalled".into(),
        Err(TaskError::Cancelled(reason)) => format!("cancelled:{}", reason.name()),
        Err(TaskError::Abandoned) => "abandoned".into(),
        Err(TaskError::QueueTimeout) => "rejected:queue_timeout".into(),
        Err(TaskError::SessionClosed) => "rejected:session_closed".into(),
        Err(TaskError::Shutdown) => "rejected:shutdown".into(),
        Err(TaskError::QueueFull) => "rejected:queue_full".into(),
        Err(e) => format!("other:{e}"),
    }
}

/// Logs `BodyEnd` when the body returns or its future is dropped.
struct BodyGuard {
    log: Log,
    origin: Origin,
    returned: bool,
}

impl Drop for BodyGuard {
    fn drop(&mut self) {
        self.log.push(Event::BodyEnd {
            origin: self.origin,
            dropped: !self.returned,
        });
    }
}

fn stopped(reason: baton_kernel::CancelReason) -> TaskFailure {
    TaskFailure::new(format!("stopped: {}", reason.name()))
}

/// One operation: connect if needed, send the request, wait for the response — or, when
/// cancelled, abandon the request before returning.
async fn body(
    ctx: TaskContext,
    link: Arc<Link>,
    op: PlannedOp,
    origin: Origin,
    log: Log,
) -> Result<(), TaskFailure> {
    log.push(Event::BodyStart { origin });
    let mut guard = BodyGuard {
        log: log.clone(),
        origin,
        returned: false,
    };
    let result = async {
        let conn = tokio::select! {
            biased;
            reason = ctx.cancelled() => {
                log.push(Event::Abandoned { origin, how: Abandon::NotSent });
                return Err(stopped(reason));
            }
            conn = link.connection() => conn,
        };
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => {
                tokio::select! {
                    biased;
                    reason = ctx.cancelled() => {
                        log.push(Event::Abandoned { origin, how: Abandon::NotSent });
                        return Err(stopped(reason));
                    }
                    () = tokio::time::sleep(link.timing.fail_pause) => {}
                }
                return Err(TaskFailure::new(format!("connect: {e}")));
            }
        };
        let (req, mut reply) = conn
            .request(origin, op.op_ms)
            .map_err(|e| TaskFailure::new(format!("send: {e}")))?;
        log.push(Event::Sent {
            origin,
            conn: conn.num,
            req,
        });
        tokio::select! {
            biased;
            reason = ctx.cancelled() => {
                let how = link.abandon(&conn, req, &mut reply).await;
                log.push(Event::Abandoned { origin, how });
                Err(stopped(reason))
            }
            reply = &mut reply => match reply {
                Ok(Reply::Done) => Ok(()),
                Ok(Reply::CancelAck) => Err(TaskFailure::new("the server cancelled it")),
                Err(_) => Err(TaskFailure::new("connection lost")),
            },
        }
    }
    .await;
    guard.returned = true;
    drop(guard);
    result
}

/// The answer to a request.
#[derive(Debug)]
enum Reply {
    /// `Response`: the operation completed.
    Done,
    /// `CancelAck`: it stopped (or was not running).
    CancelAck,
}

/// A session's connection slot: connected on first use, replaced after a reset.
struct Link {
    client: u8,
    name: String,
    timing: Timing,
    log: Log,
    state: Mutex<LinkState>,
}

#[derive(Default)]
struct LinkState {
    conn: Option<Arc<Conn>>,
    next_conn: u64,
}

impl Link {
    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session's live connection, connecting (and saying `Hello`) if there is none.
    async fn connection(&self) -> io::Result<Arc<Conn>> {
        let num = {
            let mut state = self.state();
            if let Some(conn) = &state.conn {
                if !conn.is_closed() {
                    return Ok(conn.clone());
                }
            }
            state.conn = None;
            state.next_conn += 1;
            state.next_conn
        };
        let conn = Conn::open(self, num).await?;
        self.state().conn = Some(conn.clone());
        Ok(conn)
    }

    /// Gives up request `req`: see the module docs.
    async fn abandon(
        &self,
        conn: &Arc<Conn>,
        req: u64,
        reply: &mut oneshot::Receiver<Reply>,
    ) -> Abandon {
        match reply.try_recv() {
            Ok(_) => return Abandon::AlreadyDone,
            Err(oneshot::error::TryRecvError::Closed) => return Abandon::ConnLost,
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        if conn.send(Frame::Cancel { id: req }).is_err() {
            return Abandon::ConnLost;
        }
        match tokio::time::timeout(self.timing.abandon_wait, reply).await {
            Ok(Ok(_)) => Abandon::Acked,
            Ok(Err(_)) => Abandon::ConnLost,
            Err(_) => {
                conn.reset();
                let mut state = self.state();
                if state.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
                    state.conn = None;
                }
                Abandon::Reset
            }
        }
    }

    fn close(&self) {
        if let Some(conn) = self.state().conn.take() {
            conn.reset();
        }
    }
}

/// One TCP connection: a writer task, a reader task that routes replies by request id, and the
/// table of requests waiting for a reply.
struct Conn {
    num: u64,
    tx: mpsc::UnboundedSender<Frame>,
    shared: Arc<Mutex<ConnShared>>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct ConnShared {
    pending: BTreeMap<u64, oneshot::Sender<Reply>>,
    next_id: u64,
    closed: bool,
}

fn lock(shared: &Mutex<ConnShared>) -> MutexGuard<'_, ConnShared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl Conn {
    async fn open(link: &Link, num: u64) -> io::Result<Arc<Conn>> {
        let stream = tokio::time::timeout(
            link.timing.connect_timeout,
            TcpStream::connect(("server", PORT)),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
        let shared = Arc::new(Mutex::new(ConnShared {
            next_id: 1,
            ..ConnShared::default()
        }));
        let writer = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if write_frame(&mut wr, &frame).await.is_err() {
                    break;
                }
            }
        });
        let reader_shared = shared.clone();
        let log = link.log.clone();
        let client = link.client;
        let reader = tokio::spawn(async move {
            loop {
                let (id, reply) = match read_frame(&mut rd).await {
                    Ok(Some(Frame::HelloAck)) => (0, Reply::Done),
                    Ok(Some(Frame::Response { id })) => (id, Reply::Done),
                    Ok(Some(Frame::CancelAck { id })) => (id, Reply::CancelAck),
                    Ok(Some(_)) | Ok(None) | Err(_) => break,
                };
                let waiter = lock(&reader_shared).pending.remove(&id);
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(reply);
                    }
                    None if matches!(reply, Reply::Done) => log.push(Event::Stale {
                        client,
                        conn: num,
                        req: id,
                    }),
                    None => {}
                }
            }
            let mut shared = lock(&reader_shared);
            shared.closed = true;
            shared.pending.clear();
        });
        let conn = Arc::new(Conn {
            num,
            tx,
            shared,
            tasks: vec![writer, reader],
        });
        let (hello_tx, hello_rx) = oneshot::channel();
        lock(&conn.shared).pending.insert(0, hello_tx);
        conn.send(Frame::Hello {
            session: link.name.clone(),
        })?;
        match tokio::time::timeout(link.timing.hello_timeout, hello_rx).await {
            Ok(Ok(_)) => Ok(conn),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "closed before HelloAck",
            )),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no HelloAck")),
        }
    }

    fn is_closed(&self) -> bool {
        lock(&self.shared).closed
    }

    fn send(&self, frame: Frame) -> io::Result<()> {
        if self.is_closed() {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "closed"));
        }
        self.tx
            .send(frame)
            .map_err(|_| io::Error::new(io::ErrorKind::NotConnected, "writer gone"))
    }

    fn request(&self, origin: Origin, op_ms: u32) -> io::Result<(u64, oneshot::Receiver<Reply>)> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut shared = lock(&self.shared);
            if shared.closed {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "closed"));
            }
            let id = shared.next_id;
            shared.next_id += 1;
            shared.pending.insert(id, tx);
            id
        };
        self.send(Frame::Request { id, origin, op_ms })?;
        Ok((id, rx))
    }

    /// Drops the connection: turmoil sends the FIN (or RST) when the tasks' halves drop.
    fn reset(&self) {
        {
            let mut shared = lock(&self.shared);
            shared.closed = true;
            shared.pending.clear();
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A deliberately broken runtime: tokio's spawn and timers, but the wall clock for `now` —
/// what a `Runtime` that forgets to override `now` gives. Under simulation the kernel's
/// instants then depend on the machine's speed, so two runs of one seed differ.
#[derive(Debug)]
pub struct WallClockRuntime(pub TokioRuntime);

impl Runtime for WallClockRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        self.0.spawn(future);
    }

    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        self.0.spawn_blocking(job);
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> BoxFuture<'static, ()> {
        self.0.sleep_until(deadline)
    }

    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}
