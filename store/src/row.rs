//! Task rows: the `tasks` table, a mirror of the kernel's registry for people and SQL tools.

use baton_kernel::{Kernel, Outcome, Progress, Target, TaskView};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One row of the `tasks` table.
///
/// The runtime sends a row whenever a task changes. Rows are upserted by `id`; `kind`, `params`,
/// `result` and `session` set to `None` keep what the row had (SQL `COALESCE`), so `kind` and
/// `params` are sent once at submit, `result` once at completion, and a session label survives
/// its session's removal from the kernel. Rows outlive the kernel's retention: the table is
/// history as well as the present.
///
/// Instants are nanoseconds since the store's epoch (`meta.epoch_unix_ns` is its Unix time);
/// in SQL they are signed 64-bit integers, so values above `i64::MAX` (past the year 2262)
/// would show as negative numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    /// The task's id.
    pub id: u64,
    /// The durable task kind, if the runtime registered one.
    pub kind: Option<String>,
    /// The class's name.
    pub class: String,
    /// The session's label (`name#id`) it is aimed at, runs or last ran on.
    pub session: Option<String>,
    /// The group it is aimed at, if any (see [`TaskRow::from_view`]).
    pub group: Option<String>,
    /// Its parent task.
    pub parent: Option<u64>,
    /// Its effective priority.
    pub priority: u8,
    /// Its lifecycle state: one of `queued`, `backoff`, `running`, `cancelling`, `completed`,
    /// `failed`, `cancelled`, `timed_out`, `rejected`, `abandoned`.
    pub state: String,
    /// Its current attempt (1 for the first).
    pub attempt: u32,
    /// The durable task's parameters.
    pub params: Option<Value>,
    /// The durable task's result, once it completed.
    pub result: Option<Value>,
    /// Why it did not complete: the error text of its latest failure, or for a task cancelled,
    /// timed out or rejected without one, the reason (`cancelled: user`, `rejected: queue_full`).
    pub error: Option<String>,
    /// Its last progress report (`{"current":…,"total":…,"message":…}`), if it ever made one.
    pub progress: Option<Value>,
    /// First submission, in nanoseconds since the epoch.
    pub created_ns: u64,
    /// Start of the latest attempt.
    pub started_ns: Option<u64>,
    /// When it ended.
    pub finished_ns: Option<u64>,
}

impl TaskRow {
    /// The row for a task as the kernel sees it now, with no `kind`, `params` or `result`
    /// (set them on the returned row when the runtime has them).
    ///
    /// `state` is the lifecycle state's name ([`TaskState::name`](baton_kernel::TaskState::name)),
    /// so a terminal task shows how it ended (`completed`, `failed`, `timed_out`, …) and the
    /// reason goes to `error`. A group is named as it was joined. A session that the kernel no longer has gives `None` (and the
    /// stored row keeps the label it had).
    pub fn from_view(view: &TaskView, kernel: &Kernel) -> TaskRow {
        let group = match view.target {
            Target::Group(g) => kernel.group_name(g).map(str::to_owned),
            Target::Session(_) | Target::None => None,
        };
        let session = view
            .session
            .or(match view.target {
                Target::Session(s) => Some(s),
                Target::Group(_) | Target::None => None,
            })
            .and_then(|s| kernel.session_label(s));
        let error = view.error.clone().or_else(|| match view.outcome {
            Some(Outcome::Cancelled(r)) => Some(format!("cancelled: {}", r.name())),
            Some(Outcome::TimedOut(r)) => Some(format!("timed_out: {}", r.name())),
            Some(Outcome::Rejected(r)) => Some(format!("rejected: {}", r.name())),
            Some(Outcome::Abandoned) => Some("abandoned".to_owned()),
            Some(Outcome::Completed | Outcome::Failed) | None => None,
        });
        let progress = (view.progress != Progress::default())
            .then(|| serde_json::to_value(&view.progress).ok())
            .flatten();
        TaskRow {
            id: view.id.0,
            kind: None,
            class: view.class_name.clone(),
            session,
            group,
            parent: view.parent.map(|p| p.0),
            priority: view.priority,
            state: view.state.name().to_owned(),
            attempt: view.attempt,
            params: None,
            result: None,
            error,
            progress,
            created_ns: view.created_at.as_nanos(),
            started_ns: view.started_at.map(|t| t.as_nanos()),
            finished_ns: view.finished_at.map(|t| t.as_nanos()),
        }
    }
}
