//! The lease table: attempts parked by the server's task bodies, offered to remote workers, and
//! the fencing tokens that tie a worker's reports to one attempt.
//!
//! Every configured kind's body (see [`crate::kinds`]) does not run the work: it *offers* the
//! attempt here and waits. A worker's poll *claims* an offered attempt and gets a token
//! `{task}-{attempt}-{128 random bits}`; heartbeats, completions and failures must carry the
//! current attempt's token (compared in constant time), so a report of an earlier attempt — a
//! worker that went silent, whose lease expired and whose task was re-delivered — is refused.
//!
//! Lock order: this table's lock is never held while calling into the scheduler (the kernel
//! may drop a body, and with it a [`LeaseGuard`], under its own lock).

use baton_kernel::{CancelReason, ClassId, SessionId, TaskId};
use baton_runtime::{TaskContext, TaskFailure};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// What a worker reports at the end of its lease.
pub type Report = Result<Value, TaskFailure>;

/// Why a lease operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The task has no lease now (never leased, already reported, expired, or ended).
    #[error("task {0} has no current lease (it ended, was reported, or its lease expired)")]
    NoLease(TaskId),
    /// The token is not the current attempt's (a stale worker, or a wrong token).
    #[error("the token is not the current lease's of task {task} (attempt {attempt} holds it)")]
    StaleToken {
        /// The task.
        task: TaskId,
        /// The attempt that holds the lease now.
        attempt: u32,
    },
}

/// Progress reported with a heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseProgress {
    /// Units done.
    pub current: u64,
    /// Units in all, if known.
    pub total: Option<u64>,
    /// A short message.
    pub message: String,
}

struct Claim {
    token: String,
    deadline: Instant,
    progress: LeaseProgress,
}

struct Lease {
    seq: u64,
    attempt: u32,
    kind: String,
    params: Value,
    session: Option<SessionId>,
    timeout: Duration,
    ctx: TaskContext,
    claim: Option<Claim>,
    cancel: Option<CancelReason>,
    report: Option<oneshot::Sender<Report>>,
    changed: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    next_seq: u64,
    leases: BTreeMap<TaskId, Lease>,
}

/// The server's lease table (one per server; shared by the task bodies and the HTTP routes).
pub struct LeaseTable {
    inner: Mutex<Inner>,
    offered: Notify,
    timeouts: Vec<Duration>,
}

impl std::fmt::Debug for LeaseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (offered, claimed) = self.counts();
        f.debug_struct("LeaseTable")
            .field("offered", &offered)
            .field("claimed", &claimed)
            .finish()
    }
}

/// A lease handed to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Granted {
    /// The task.
    pub task: TaskId,
    /// Its kind.
    pub kind: String,
    /// Its parameters.
    pub params: Value,
    /// The attempt (1 for the first).
    pub attempt: u32,
    /// The fencing token of this attempt.
    pub token: String,
    /// Heartbeat at least this often.
    pub timeout: Duration,
}

/// What a heartbeat answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    /// Why the task is being cancelled, if it is: the worker should stop and report.
    pub cancel: Option<CancelReason>,
    /// The lease's new heartbeat timeout, from now.
    pub timeout: Duration,
    /// The attempt.
    pub attempt: u32,
}

/// Which leases a worker takes.
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    /// Kinds it runs.
    pub kinds: Vec<String>,
    /// Only leases of these sessions (`None`: any lease, with or without a session).
    pub sessions: Option<Vec<SessionId>>,
}

/// Removes its lease from the table when the body that offered it ends or is dropped.
pub struct LeaseGuard {
    table: Arc<LeaseTable>,
    task: TaskId,
    seq: u64,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        if inner
            .leases
            .get(&self.task)
            .is_some_and(|l| l.seq == self.seq)
        {
            inner.leases.remove(&self.task);
        }
    }
}

/// An attempt parked in the table: the guard and where the worker's report arrives.
pub struct Offer {
    /// Forgets the lease on drop.
    pub guard: LeaseGuard,
    /// The worker's report.
    pub report: oneshot::Receiver<Report>,
    /// Notified when the lease is claimed or heartbeats (its deadline moved).
    pub changed: Arc<Notify>,
}

fn new_token(task: TaskId, attempt: u32) -> String {
    let (a, b): (u64, u64) = (rand::random(), rand::random());
    format!("{}-{attempt}-{a:016x}{b:016x}", task.0)
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl LeaseTable {
    /// A table whose class `i` leases time out after `timeouts[i]` without a heartbeat.
    pub fn new(timeouts: Vec<Duration>) -> Self {
        LeaseTable {
            inner: Mutex::new(Inner::default()),
            offered: Notify::new(),
            timeouts,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held leaves a table that is still consistent (every
        // operation is one map update), so a poisoned lock is taken over.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lease timeout of `class`.
    pub fn timeout_of(&self, class: ClassId) -> Duration {
        self.timeouts
            .get(class.index())
            .copied()
            .unwrap_or(crate::config::DEFAULT_LEASE_TIMEOUT)
    }

    /// Parks the attempt of `ctx` (of `kind` with `params`) for a worker to claim.
    pub fn offer(self: &Arc<Self>, ctx: &TaskContext, kind: &str, params: Value) -> Offer {
        let (tx, rx) = oneshot::channel();
        let changed = Arc::new(Notify::new());
        let task = ctx.id();
        let seq = {
            let mut inner = self.lock();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.leases.insert(
                task,
                Lease {
                    seq,
                    attempt: ctx.attempt(),
                    kind: kind.to_owned(),
                    params,
                    session: ctx.session(),
                    timeout: self.timeout_of(ctx.class()),
                    ctx: ctx.clone(),
                    claim: None,
                    cancel: None,
                    report: Some(tx),
                    changed: changed.clone(),
                },
            );
            seq
        };
        self.offered.notify_waiters();
        Offer {
            guard: LeaseGuard {
                table: self.clone(),
                task,
                seq,
            },
            report: rx,
            changed,
        }
    }

    /// The heartbeat deadline of the claimed lease of `task`, if it is claimed.
    pub fn deadline(&self, task: TaskId) -> Option<Instant> {
        self.lock()
            .leases
            .get(&task)
            .and_then(|l| l.claim.as_ref())
            .map(|c| c.deadline)
    }

    /// Records that the kernel cancels `task`; returns whether a worker holds its lease (and so
    /// must be waited for). An unclaimed lease is withdrawn.
    pub fn cancel(&self, task: TaskId, reason: CancelReason) -> bool {
        let mut inner = self.lock();
        let Some(lease) = inner.leases.get_mut(&task) else {
            return false;
        };
        if lease.claim.is_none() {
            inner.leases.remove(&task);
            return false;
        }
        lease.cancel = Some(reason);
        true
    }

    /// Withdraws the claimed lease of `task` if its heartbeat deadline has passed.
    pub fn expire_if_due(&self, task: TaskId) -> bool {
        let mut inner = self.lock();
        let due = inner
            .leases
            .get(&task)
            .and_then(|l| l.claim.as_ref())
            .is_some_and(|c| c.deadline <= Instant::now());
        if due {
            inner.leases.remove(&task);
        }
        due
    }

    /// Claims the oldest offered lease a worker wants, if any.
    pub fn try_claim(&self, wanted: &Wanted) -> Option<Granted> {
        let (granted, ctx, changed) = {
            let mut inner = self.lock();
            let lease = inner
                .leases
                .iter_mut()
                .filter(|(_, l)| l.claim.is_none() && l.cancel.is_none())
                .filter(|(_, l)| wanted.kinds.contains(&l.kind))
                .filter(|(_, l)| match &wanted.sessions {
                    None => true,
                    Some(ids) => l.session.is_some_and(|s| ids.contains(&s)),
                })
                .min_by_key(|(_, l)| l.seq);
            let (task, lease) = lease?;
            let token = new_token(*task, lease.attempt);
            lease.claim = Some(Claim {
                token: token.clone(),
                deadline: Instant::now() + lease.timeout,
                progress: LeaseProgress::default(),
            });
            let granted = Granted {
                task: *task,
                kind: lease.kind.clone(),
                params: lease.params.clone(),
                attempt: lease.attempt,
                token,
                timeout: lease.timeout,
            };
            (granted, lease.ctx.clone(), lease.changed.clone())
        };
        changed.notify_one();
        // The claim is the attempt's first heartbeat (outside this table's lock).
        let _ = ctx.progress(0, None, "leased");
        Some(granted)
    }

    /// Waits up to `wait` for a lease the worker wants (a long poll).
    pub async fn poll(&self, wanted: &Wanted, wait: Duration) -> Option<Granted> {
        let until = Instant::now() + wait;
        loop {
            let notified = self.offered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(granted) = self.try_claim(wanted) {
                return Some(granted);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(until) => return self.try_claim(wanted),
            }
        }
    }

    /// Checks `token` against the current lease of `task`; on success runs `f` on the lease.
    fn with_claim<R>(
        &self,
        task: TaskId,
        token: &str,
        f: impl FnOnce(&mut Lease) -> R,
    ) -> Result<R, LeaseError> {
        let mut inner = self.lock();
        let lease = inner
            .leases
            .get_mut(&task)
            .ok_or(LeaseError::NoLease(task))?;
        let valid = lease.claim.as_ref().is_some_and(|c| same(&c.token, token));
        if !valid {
            return Err(LeaseError::StaleToken {
                task,
                attempt: lease.attempt,
            });
        }
        Ok(f(lease))
    }

    /// A worker's heartbeat: extends the lease, records `progress` (or repeats the last one)
    /// as the task's kernel heartbeat, and says whether the task is being cancelled.
    pub fn heartbeat(
        &self,
        task: TaskId,
        token: &str,
        progress: Option<LeaseProgress>,
    ) -> Result<(Beat, TaskContext, LeaseProgress), LeaseError> {
        let (beat, ctx, progress, changed) = self.with_claim(task, token, |lease| {
            let timeout = lease.timeout;
            let claim = lease.claim.as_mut().map(|c| {
                c.deadline = Instant::now() + timeout;
                if let Some(p) = progress {
                    c.progress = p;
                }
                c.progress.clone()
            });
            let beat = Beat {
                cancel: lease.cancel,
                timeout,
                attempt: lease.attempt,
            };
            (
                beat,
                lease.ctx.clone(),
                claim.unwrap_or_default(),
                lease.changed.clone(),
            )
        })?;
        changed.notify_one();
        Ok((beat, ctx, progress))
    }

    /// A worker's final report: hands `report` to the parked body and withdraws the lease, so
    /// its token is refused from now on. Returns the attempt.
    pub fn report(&self, task: TaskId, token: &str, report: Report) -> Result<u32, LeaseError> {
        let lease = {
            let mut inner = self.lock();
            let lease = inner.leases.get(&task).ok_or(LeaseError::NoLease(task))?;
            if !lease.claim.as_ref().is_some_and(|c| same(&c.token, token)) {
                return Err(LeaseError::StaleToken {
                    task,
                    attempt: lease.attempt,
                });
            }
            inner.leases.remove(&task)
        };
        let Some(mut lease) = lease else {
            return Err(LeaseError::NoLease(task));
        };
        if let Some(sender) = lease.report.take() {
            // The body may have been dropped meanwhile (an abort): nothing waits then.
            let _ = sender.send(report);
        }
        Ok(lease.attempt)
    }

    /// Leases offered and not claimed, and leases claimed by a worker.
    pub fn counts(&self) -> (u64, u64) {
        let inner = self.lock();
        let claimed = inner.leases.values().filter(|l| l.claim.is_some()).count() as u64;
        (inner.leases.len() as u64 - claimed, claimed)
    }
}
