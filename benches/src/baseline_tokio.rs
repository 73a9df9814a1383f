//! Baseline (b): the tokio-primitives shape a user would write.
//!
//! Every submitted operation is a spawned task (tracked by a [`TaskTracker`], registered in a
//! `HashMap` with its [`AbortHandle`]) that waits for its turn under
//! `tokio::time::timeout(queue_timeout, ..)` and then runs its body under
//! `tokio::time::timeout(run_timeout, ..)`. Each session has a worker task, a priority queue
//! (`std::sync::Mutex<BinaryHeap>` + [`Notify`]) and a `tokio::sync::Mutex` held while an
//! operation runs on it; each class has a [`Semaphore`] (with `MAX_PERMITS` when unlimited).
//! The worker pops the best live entry, takes the session lock, acquires a class permit, and
//! hands the operation a grant: a "finish" receiver (the outside world saying the operation's
//! I/O is done) and a "done" sender it fires when its body returns.
//!
//! It does the kernel's core work — one running operation per session, priority then FIFO in a
//! session, a kernel-wide limit per class, queue and run deadlines, cancellation (abort), a
//! registry of live tasks — the way tokio users compose it. There is no retention of finished
//! records, no metrics and no `explain`. The unit tests check exclusivity, order, the limit,
//! queue timeouts and cancellation.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::{Duration, timeout};
use tokio_util::task::TaskTracker;

/// A class of work: its limit and deadlines.
#[derive(Clone, Copy, Debug)]
pub struct TokioClass {
    /// At most this many operations of the class run at once (`None`: unlimited).
    pub limit: Option<u32>,
    /// Queue deadline.
    pub queue_timeout: Duration,
    /// Run deadline.
    pub run_timeout: Duration,
}

/// An operation that the shape just started; send on `finish` to let its body return.
#[derive(Debug)]
pub struct TokioStarted {
    /// The session it holds.
    pub session: usize,
    /// The task.
    pub task: u64,
    /// Completes the operation's body.
    pub finish: oneshot::Sender<()>,
}

/// Where a registered task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokioState {
    /// Waiting for its session and a class permit.
    Queued,
    /// Its body runs.
    Running,
}

#[derive(Debug)]
struct Record {
    #[allow(dead_code)] // kept like the source's registry keeps it, for queries
    session: usize,
    #[allow(dead_code)]
    class: usize,
    state: TokioState,
    abort: Option<AbortHandle>,
}

#[derive(Debug)]
struct Grant {
    finish: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Pending {
    priority: u8,
    seq: u64,
    task: u64,
    class: usize,
    grant: oneshot::Sender<Grant>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending {}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
struct SessionSlot {
    lock: tokio::sync::Mutex<()>,
    queue: Mutex<BinaryHeap<Pending>>,
    notify: Notify,
}

#[derive(Debug)]
struct ClassSlot {
    permits: Semaphore,
    config: TokioClass,
}

#[derive(Debug, Default)]
struct Outcomes {
    completed: AtomicU64,
    timed_out: AtomicU64,
    expired: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    sessions: Vec<SessionSlot>,
    classes: Vec<ClassSlot>,
    registry: Mutex<HashMap<u64, Record>>,
    started: mpsc::UnboundedSender<TokioStarted>,
    outcomes: Outcomes,
}

/// The tokio-primitives scheduler. Build and use it inside a tokio runtime.
#[derive(Debug)]
pub struct TokioShape {
    shared: Arc<Shared>,
    started: mpsc::UnboundedReceiver<TokioStarted>,
    tracker: TaskTracker,
    workers: Vec<AbortHandle>,
    next_task: u64,
    next_seq: u64,
}

impl TokioShape {
    /// `sessions` sessions (ids `0..sessions`), each with its worker, and the classes.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new(sessions: usize, classes: Vec<TokioClass>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            sessions: (0..sessions)
                .map(|_| SessionSlot {
                    lock: tokio::sync::Mutex::new(()),
                    queue: Mutex::new(BinaryHeap::new()),
                    notify: Notify::new(),
                })
                .collect(),
            classes: classes
                .into_iter()
                .map(|c| ClassSlot {
                    permits: Semaphore::new(c.limit.map_or(Semaphore::MAX_PERMITS, |l| l as usize)),
                    config: c,
                })
                .collect(),
            registry: Mutex::new(HashMap::new()),
            started: tx,
            outcomes: Outcomes::default(),
        });
        let workers = (0..sessions)
            .map(|s| tokio::spawn(worker(shared.clone(), s)).abort_handle())
            .collect();
        TokioShape {
            shared,
            started: rx,
            tracker: TaskTracker::new(),
            workers,
            next_task: 1,
            next_seq: 0,
        }
    }

    /// Submits an operation: registers it, queues it on its session and spawns its task.
    pub fn submit(&mut self, session: usize, class: usize, priority: u8) -> u64 {
        let task = self.next_task;
        self.next_task += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        let (grant_tx, grant_rx) = oneshot::channel();
        let handle = self
            .tracker
            .spawn(run_task(self.shared.clone(), task, class, grant_rx));
        self.shared.registry.lock().expect("poisoned").insert(
            task,
            Record {
                session,
                class,
                state: TokioState::Queued,
                abort: Some(handle.abort_handle()),
            },
        );
        if let Some(slot) = self.shared.sessions.get(session) {
            slot.queue.lock().expect("poisoned").push(Pending {
                priority,
                seq,
                task,
                class,
                grant: grant_tx,
            });
            slot.notify.notify_one();
        }
        task
    }

    /// Cancels an operation: it leaves the registry and its task is aborted (a queued entry is
    /// skipped by the worker, a running body is dropped and frees its session).
    pub fn cancel(&mut self, task: u64) -> bool {
        let rec = self.shared.registry.lock().expect("poisoned").remove(&task);
        match rec {
            Some(r) => {
                if let Some(a) = r.abort {
                    a.abort();
                }
                true
            }
            None => false,
        }
    }

    /// Waits for the next started operation.
    pub async fn next_started(&mut self) -> Option<TokioStarted> {
        self.started.recv().await
    }

    /// The next started operation, if one is ready.
    pub fn try_started(&mut self) -> Option<TokioStarted> {
        self.started.try_recv().ok()
    }

    /// Registered (queued or running) operations.
    pub fn registry_len(&self) -> usize {
        self.shared.registry.lock().expect("poisoned").len()
    }

    /// Registered operations in `state`: a pass over the registry.
    pub fn count(&self, state: TokioState) -> usize {
        self.shared
            .registry
            .lock()
            .expect("poisoned")
            .values()
            .filter(|r| r.state == state)
            .count()
    }

    /// Operations that hit their queue deadline so far.
    pub fn expired(&self) -> u64 {
        self.shared.outcomes.expired.load(AtomicOrdering::Relaxed)
    }

    /// Operations whose body returned so far.
    pub fn completed(&self) -> u64 {
        self.shared.outcomes.completed.load(AtomicOrdering::Relaxed)
    }

    /// Operations that hit their run deadline so far.
    pub fn timed_out(&self) -> u64 {
        self.shared.outcomes.timed_out.load(AtomicOrdering::Relaxed)
    }
}

impl Drop for TokioShape {
    fn drop(&mut self) {
        for w in &self.workers {
            w.abort();
        }
        self.tracker.close();
    }
}

/// The operation's own task: wait for a grant within the queue deadline, then run the body
/// within the run deadline.
async fn run_task(shared: Arc<Shared>, task: u64, class: usize, grant: oneshot::Receiver<Grant>) {
    let Some(config) = shared.classes.get(class).map(|c| c.config) else {
        return;
    };
    let grant = match timeout(config.queue_timeout, grant).await {
        Ok(Ok(g)) => g,
        Ok(Err(_)) => return,
        Err(_) => {
            shared.registry.lock().expect("poisoned").remove(&task);
            shared
                .outcomes
                .expired
                .fetch_add(1, AtomicOrdering::Relaxed);
            return;
        }
    };
    if let Some(r) = shared.registry.lock().expect("poisoned").get_mut(&task) {
        r.state = TokioState::Running;
    }
    let outcome = timeout(config.run_timeout, grant.finish).await;
    shared.registry.lock().expect("poisoned").remove(&task);
    let counter = match outcome {
        Ok(_) => &shared.outcomes.completed,
        Err(_) => &shared.outcomes.timed_out,
    };
    counter.fetch_add(1, AtomicOrdering::Relaxed);
    let _ = grant.done.send(());
}

/// The session's worker: best live entry, session lock, class permit, grant, wait for the body.
async fn worker(shared: Arc<Shared>, session: usize) {
    let Some(slot) = shared.sessions.get(session) else {
        return;
    };
    loop {
        let pending = loop {
            let next = {
                let mut q = slot.queue.lock().expect("poisoned");
                let mut found = None;
                while let Some(p) = q.pop() {
                    if !p.grant.is_closed() {
                        found = Some(p);
                        break;
                    }
                }
                found
            };
            match next {
                Some(p) => break p,
                None => slot.notify.notified().await,
            }
        };
        let _guard = slot.lock.lock().await;
        let Some(class) = shared.classes.get(pending.class) else {
            continue;
        };
        let Ok(_permit) = class.permits.acquire().await else {
            return;
        };
        let (finish_tx, finish_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let grant = Grant {
            finish: finish_rx,
            done: done_tx,
        };
        if pending.grant.send(grant).is_err() {
            continue; // timed out or cancelled while we waited for the lock or a permit
        }
        let _ = shared.started.send(TokioStarted {
            session,
            task: pending.task,
            finish: finish_tx,
        });
        let _ = done_rx.await; // Err when the body was aborted: the session is free all the same
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(paused: bool) -> tokio::runtime::Runtime {
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.enable_time();
        if paused {
            b.start_paused(true);
        }
        b.build().unwrap()
    }

    fn class(limit: Option<u32>) -> TokioClass {
        TokioClass {
            limit,
            queue_timeout: Duration::from_secs(60),
            run_timeout: Duration::from_secs(300),
        }
    }

    #[test]
    fn one_running_per_session_priority_then_fifo() {
        rt(false).block_on(async {
            let mut t = TokioShape::new(1, vec![class(None)]);
            let first = t.submit(0, 0, 1);
            let mut pending = vec![t.next_started().await.unwrap()];
            let low = t.submit(0, 0, 1);
            let high_a = t.submit(0, 0, 9);
            let high_b = t.submit(0, 0, 9);
            let mut order = Vec::new();
            for _ in 0..4 {
                let st = match pending.pop() {
                    Some(st) => st,
                    None => t.next_started().await.unwrap(),
                };
                // Nothing else may start on the session while this one runs.
                tokio::task::yield_now().await;
                assert!(t.try_started().is_none());
                assert_eq!(t.count(TokioState::Running), 1);
                order.push(st.task);
                st.finish.send(()).unwrap();
            }
            // The first was granted before the others were queued behind it.
            assert_eq!(order, vec![first, high_a, high_b, low]);
            tokio::task::yield_now().await;
            assert_eq!(t.registry_len(), 0);
            assert_eq!(t.completed(), 4);
        });
    }

    #[test]
    fn class_limit_across_sessions() {
        rt(false).block_on(async {
            let mut t = TokioShape::new(4, vec![class(Some(2))]);
            for s in 0..4 {
                t.submit(s, 0, 5);
            }
            let a = t.next_started().await.unwrap();
            let _b = t.next_started().await.unwrap();
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            assert!(t.try_started().is_none(), "the limit holds");
            a.finish.send(()).unwrap();
            let c = t.next_started().await.unwrap();
            assert_eq!(c.session, 2);
        });
    }

    #[test]
    fn queue_timeout_and_cancel() {
        rt(true).block_on(async {
            let mut t = TokioShape::new(
                1,
                vec![TokioClass {
                    limit: None,
                    queue_timeout: Duration::from_millis(10),
                    run_timeout: Duration::from_secs(300),
                }],
            );
            let a = t.submit(0, 0, 5);
            let st = t.next_started().await.unwrap();
            assert_eq!(st.task, a);
            let b = t.submit(0, 0, 5);
            let c = t.submit(0, 0, 5);
            tokio::task::yield_now().await; // their tasks arm their queue deadlines
            tokio::time::advance(Duration::from_millis(5)).await;
            assert!(t.cancel(b));
            tokio::time::advance(Duration::from_millis(6)).await;
            tokio::task::yield_now().await;
            assert_eq!(t.expired(), 1, "c hit its queue deadline");
            assert!(!t.cancel(c));
            let d = t.submit(0, 0, 5);
            assert!(t.cancel(a), "cancelling the running task frees the session");
            let st = t.next_started().await.unwrap();
            assert_eq!(st.task, d);
            assert_eq!(t.registry_len(), 1);
        });
    }
}
