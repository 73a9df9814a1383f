//! The durable journal's in-memory side (feature `store`): every kernel input the core applies
//! gets the next sequence number and waits here, with the rows it changed, until the committer
//! writes it; actions wait in the core's backlog until the input that caused them is committed
//! ("nothing visible before it is durable"); durable submits wait for their entry.
//!
//! Written only under the core's lock; the committer thread takes a batch under the lock and
//! commits it outside it, so many inputs share one transaction (group commit).

use crate::signal::Signal;
use baton_kernel::{Action, Applied, Error, Input, Instant, Kernel, Notice, TaskId};
use baton_store::{Batch, JournalEntry, TaskRow};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex};

/// What a durable submit waits for: its entry committed, or the store's failure.
pub(crate) type Ack = Arc<Signal<Result<(), String>>>;

/// Wakes the committer thread when there is something to commit (or it should stop).
#[derive(Debug, Default)]
pub(crate) struct Nudge {
    state: Mutex<(bool, bool)>, // (work, stop)
    cond: Condvar,
}

impl Nudge {
    pub(crate) fn work(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.0 {
            s.0 = true;
            self.cond.notify_one();
        }
    }

    pub(crate) fn stop(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = true;
        self.cond.notify_one();
    }

    /// Waits for work; returns whether the committer should stop once it has none.
    pub(crate) fn wait(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while !s.0 && !s.1 {
            s = self.cond.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.0 = false;
        s.1
    }
}

/// What a task's row carries besides the kernel's view: (kind and parameters, result).
type RowExtras = (Option<(String, Value)>, Option<Value>);

/// A batch taken for the committer: what to write, the last seq in it, and (every so often) a
/// copy of the kernel at that seq to snapshot once the batch is durable.
pub(crate) struct Taken {
    pub(crate) batch: Batch,
    pub(crate) last: u64,
    pub(crate) snapshot: Option<Kernel>,
}

pub(crate) struct Journal {
    /// The last seq given out.
    last: u64,
    /// Everything up to here is durable.
    committed: u64,
    pending: Vec<JournalEntry>,
    /// Tasks whose row must be rewritten with the next batch.
    touched: BTreeSet<TaskId>,
    /// Tasks backing off: the end of a backoff emits no action, so their rows are rewritten
    /// when a batch finds them queued again.
    backing_off: BTreeSet<TaskId>,
    /// Kind and parameters for the next submit (a durable submit stages them under the lock).
    staged: Option<(String, Value)>,
    /// Results of durable tasks, waiting for their `Finished` input.
    results: BTreeMap<TaskId, Value>,
    /// What the next batch's rows carry besides the kernel's view: kind and parameters of
    /// durable tasks submitted, results of durable tasks finished.
    row_extras: BTreeMap<TaskId, RowExtras>,
    waiters: Vec<(u64, Ack)>,
    /// Set when a commit failed: nothing more becomes durable or visible (fail-stop).
    failed: Option<String>,
    since_snapshot: u64,
    snapshot_every: u64,
    nudge: Arc<Nudge>,
}

impl Journal {
    pub(crate) fn new(last: u64, snapshot_every: u64, nudge: Arc<Nudge>) -> Self {
        Journal {
            last,
            committed: last,
            pending: Vec::new(),
            touched: BTreeSet::new(),
            backing_off: BTreeSet::new(),
            staged: None,
            results: BTreeMap::new(),
            row_extras: BTreeMap::new(),
            waiters: Vec::new(),
            failed: None,
            since_snapshot: 0,
            snapshot_every: snapshot_every.max(1),
            nudge,
        }
    }

    /// The last seq given out.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// Everything up to here is durable.
    pub(crate) fn committed(&self) -> u64 {
        self.committed
    }

    /// The next submit is a durable task of `kind` with `params`.
    pub(crate) fn stage(&mut self, kind: String, params: Value) {
        self.staged = Some((kind, params));
    }

    /// A durable task's result, to store with its `Finished` input.
    pub(crate) fn stage_result(&mut self, task: TaskId, result: Value) {
        self.results.insert(task, result);
    }

    /// Journals one applied input (accepted or not).
    pub(crate) fn input(&mut self, t: Instant, input: &Input, result: &Result<Applied, Error>) {
        self.last += 1;
        let mut entry = JournalEntry {
            seq: self.last,
            t,
            input: input.clone(),
            accepted: result.is_ok(),
            kind: None,
            params: None,
            result: None,
        };
        match (input, result) {
            (Input::Submit(_), Ok(Applied::Task(id))) => {
                self.touched.insert(*id);
                if let Some((kind, params)) = self.staged.take() {
                    entry.kind = Some(kind.clone());
                    entry.params = Some(params.clone());
                    self.row_extras.entry(*id).or_default().0 = Some((kind, params));
                }
            }
            (Input::Submit(_), _) => self.staged = None,
            (Input::Finished { task, .. } | Input::FinishedAttempt { task, .. }, result) => {
                // Taken whatever the answer, so a refused report (the kernel had already ended
                // the task) leaves nothing behind.
                let staged = self.results.remove(task);
                if result.is_ok() {
                    self.touched.insert(*task);
                    if let Some(value) = &staged {
                        self.row_extras.entry(*task).or_default().1 = Some(value.clone());
                    }
                    entry.result = staged;
                }
            }
            (
                Input::Cancel { task }
                | Input::Progress { task, .. }
                | Input::ProgressAttempt { task, .. },
                Ok(_),
            ) => {
                self.touched.insert(*task);
            }
            _ => {}
        }
        if self.pending.is_empty() {
            self.nudge.work();
        }
        self.pending.push(entry);
    }

    /// An action left the kernel: its task's row changes.
    pub(crate) fn action(&mut self, action: &Action) {
        if let Action::Notify(Notice::Retrying { task, .. }) = action {
            self.backing_off.insert(*task);
        }
        let task = match action {
            Action::Start { task, .. }
            | Action::Cancel { task, .. }
            | Action::Abort { task }
            | Action::Notify(Notice::Finished { task, .. })
            | Action::Notify(Notice::Retrying { task, .. }) => *task,
            Action::Notify(Notice::Removed { .. } | Notice::Closed(_)) => return,
        };
        self.touched.insert(task);
    }

    /// A durable submit waits for everything up to `seq`.
    pub(crate) fn wait_for(&mut self, seq: u64) -> Ack {
        let ack: Ack = Arc::new(Signal::new());
        if let Some(e) = &self.failed {
            ack.set(Err(e.clone()));
        } else if seq <= self.committed {
            ack.set(Ok(()));
        } else {
            self.waiters.push((seq, ack.clone()));
        }
        ack
    }

    /// Takes what waits to be committed, with the rows it changed (read from `kernel` now).
    pub(crate) fn take(&mut self, kernel: &Kernel) -> Option<Taken> {
        if self.pending.is_empty() || self.failed.is_some() {
            return None;
        }
        let entries = std::mem::take(&mut self.pending);
        let touched = &mut self.touched;
        self.backing_off.retain(|id| {
            let still = kernel
                .task(*id)
                .is_some_and(|v| v.state == baton_kernel::TaskState::Backoff);
            if !still {
                touched.insert(*id);
            }
            still
        });
        let mut rows: Vec<TaskRow> = Vec::with_capacity(self.touched.len());
        for id in std::mem::take(&mut self.touched) {
            if let Some(view) = kernel.task(id) {
                rows.push(TaskRow::from_view(&view, kernel));
            }
        }
        for (id, (submitted, result)) in std::mem::take(&mut self.row_extras) {
            // Rows are in id order (`touched` is a set).
            if let Ok(i) = rows.binary_search_by_key(&id.0, |r| r.id)
                && let Some(row) = rows.get_mut(i)
            {
                if let Some((kind, params)) = submitted {
                    row.kind = Some(kind);
                    row.params = Some(params);
                }
                if result.is_some() {
                    row.result = result;
                }
            }
        }
        let last = self.last;
        self.since_snapshot += entries.len() as u64;
        let snapshot = (self.since_snapshot >= self.snapshot_every).then(|| {
            self.since_snapshot = 0;
            kernel.clone()
        });
        Some(Taken {
            batch: Batch { entries, rows },
            last,
            snapshot,
        })
    }

    /// A batch up to `last` is durable: release what waited for it.
    pub(crate) fn committed_through(&mut self, last: u64) {
        self.committed = self.committed.max(last);
        let committed = self.committed;
        self.waiters.retain(|(seq, ack)| {
            if *seq <= committed {
                ack.set(Ok(()));
                false
            } else {
                true
            }
        });
    }

    /// A commit failed: fail-stop.
    pub(crate) fn fail(&mut self, error: String) {
        for (_, ack) in self.waiters.drain(..) {
            ack.set(Err(error.clone()));
        }
        self.failed = Some(error);
    }
}
