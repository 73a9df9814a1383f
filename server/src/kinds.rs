//! The server's task kinds: one handler per configured kind whose body does not run the work
//! but parks the attempt in the [`LeaseTable`] for a remote worker, and returns what the worker
//! reports.

use crate::lease::LeaseTable;
use baton_runtime::{Kinds, TaskContext, TaskFailure};
use serde_json::Value;
use std::sync::Arc;

/// Registers a remote (leased) handler for each of `kinds`.
pub fn remote_kinds(kinds: &[String], table: &Arc<LeaseTable>) -> Kinds {
    kinds.iter().fold(Kinds::new(), |registered, kind| {
        let table = table.clone();
        let name = kind.clone();
        registered.register(kind, move |ctx: TaskContext, params: Value| {
            remote_body(table.clone(), name.clone(), ctx, params)
        })
    })
}

/// One attempt of a remote task: offered, claimed by a worker, then whatever the worker
/// reports. A claimed lease whose worker stops heartbeating fails the attempt retryably (the
/// class's retry policy re-delivers it); the kernel's own deadlines (heartbeat, run) cancel it,
/// and the worker learns that on its next heartbeat; an unclaimed lease that is cancelled is
/// withdrawn at once. The lease leaves the table when this future ends or is dropped.
async fn remote_body(
    table: Arc<LeaseTable>,
    kind: String,
    ctx: TaskContext,
    params: Value,
) -> Result<Value, TaskFailure> {
    let task = ctx.id();
    let mut offer = table.offer(&ctx, &kind, params);
    let mut cancel_seen = false;
    loop {
        let deadline = table.deadline(task);
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            report = &mut offer.report => {
                return report.unwrap_or_else(|_| Err(TaskFailure::new("the lease was dropped")));
            }
            reason = ctx.cancelled(), if !cancel_seen => {
                cancel_seen = true;
                if !table.cancel(task, reason) {
                    return Err(TaskFailure::new(format!(
                        "cancelled ({}) before a worker claimed it",
                        reason.name()
                    )));
                }
            }
            () = offer.changed.notified() => {}
            () = expiry => {
                if table.expire_if_due(task) {
                    return Err(TaskFailure::retryable(
                        "lease expired: the worker sent no heartbeat within the lease timeout",
                    ));
                }
            }
        }
    }
}
