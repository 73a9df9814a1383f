//! The API's request and response bodies (the OpenAPI schemas are derived from these).

use baton_kernel::{TaskState, TaskView};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /v1/tasks`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The task kind (one of the configured `kinds`).
    pub kind: String,
    /// Its parameters (any JSON; handed to the worker as is).
    #[serde(default)]
    pub params: Value,
    /// The class.
    pub class: String,
    /// Run on this connected session (by name). At most one of `session` and `group`.
    pub session: Option<String>,
    /// Run on any member of this group (by name).
    pub group: Option<String>,
    /// Priority (0..=255, higher first); the class's default when absent.
    pub priority: Option<u8>,
    /// Parent task id (an active task).
    pub parent: Option<u64>,
}

/// `201` of `POST /v1/tasks`: the task is committed to the store.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SubmitResponse {
    /// The task's id.
    pub id: u64,
}

/// Progress as last reported.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
pub struct ProgressDto {
    /// Units done.
    pub current: u64,
    /// Units in all, if known.
    pub total: Option<u64>,
    /// A short message.
    #[serde(default)]
    pub message: String,
}

/// A task as the API shows it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
pub struct TaskDto {
    /// Its id.
    pub id: u64,
    /// Its class's name.
    pub class: String,
    /// `queued backoff running cancelling completed failed cancelled timed_out rejected
    /// abandoned`.
    pub state: String,
    /// The current attempt (1 for the first).
    pub attempt: u32,
    /// Effective priority.
    pub priority: u8,
    /// The session id it runs or ran on.
    pub session: Option<u64>,
    /// Its parent's id.
    pub parent: Option<u64>,
    /// Kernel time of its submission, in ms.
    pub created_at_ms: u64,
    /// Kernel time its latest attempt started, in ms.
    pub started_at_ms: Option<u64>,
    /// Kernel time it ended, in ms.
    pub finished_at_ms: Option<u64>,
    /// Time since its submission, in ms.
    pub age_ms: u64,
    /// Last reported progress.
    pub progress: ProgressDto,
    /// How it ended (`completed`, `failed`, `timed_out`, …).
    pub outcome: Option<String>,
    /// Error text of the latest failure.
    pub error: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Asked to abort and not stopped.
    pub stuck: bool,
    /// Active children.
    pub children: usize,
    /// Its kind (from the store).
    pub kind: Option<String>,
    /// Its parameters (from the store).
    pub params: Option<Value>,
    /// The result of a completed task (from the store).
    pub result: Option<Value>,
}

/// A state's API spelling (as in the store's `tasks` table and the metrics): the kernel's own
/// [`TaskState::name`].
pub fn state_name(state: TaskState) -> &'static str {
    state.name()
}

/// A state from its API spelling.
pub fn parse_state(name: &str) -> Option<TaskState> {
    TaskState::ALL.into_iter().find(|s| state_name(*s) == name)
}

fn ms(i: baton_kernel::Instant) -> u64 {
    i.as_nanos() / 1_000_000
}

impl TaskDto {
    /// The view's fields (no durable columns yet).
    pub fn from_view(v: &TaskView) -> TaskDto {
        TaskDto {
            id: v.id.0,
            class: v.class_name.clone(),
            state: state_name(v.state).to_owned(),
            attempt: v.attempt,
            priority: v.priority,
            session: v.session.map(|s| s.0),
            parent: v.parent.map(|p| p.0),
            created_at_ms: ms(v.created_at),
            started_at_ms: v.started_at.map(ms),
            finished_at_ms: v.finished_at.map(ms),
            age_ms: v.age.as_nanos() / 1_000_000,
            progress: ProgressDto {
                current: v.progress.current,
                total: v.progress.total,
                message: v.progress.message.clone(),
            },
            outcome: v.outcome.map(|o| o.name().to_owned()),
            error: v.error.clone(),
            cancel_reason: v.cancel_reason.map(|r| r.name().to_owned()),
            stuck: v.stuck,
            children: v.children,
            kind: None,
            params: None,
            result: None,
        }
    }
}

/// `GET /v1/tasks` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this state.
    pub state: Option<String>,
    /// Only this class (by name).
    pub class: Option<String>,
    /// Only tasks of this connected session (by name).
    pub session: Option<String>,
    /// Only children of this task.
    pub parent: Option<u64>,
    /// The cursor: ids after this one (the previous page's `next`).
    pub after: Option<u64>,
    /// At most this many (default 100, capped by the kernel's page bound).
    pub limit: Option<usize>,
}

/// A page of tasks.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PageDto {
    /// The tasks, by id.
    pub items: Vec<TaskDto>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<u64>,
}

/// Counts by state (only states with a count are listed… all ten are, zeros included).
pub type CountsDto = std::collections::BTreeMap<String, u64>;

/// `GET /v1/counts`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CountsResponse {
    /// Over the whole registry.
    #[schema(value_type = Object)]
    pub total: CountsDto,
    /// Per class name.
    #[schema(value_type = Object)]
    pub classes: std::collections::BTreeMap<String, CountsDto>,
    /// Per connected session name.
    #[schema(value_type = Object)]
    pub sessions: std::collections::BTreeMap<String, CountsDto>,
}

/// Counts of `c` by state name.
pub fn counts_dto(c: &baton_kernel::StateCounts) -> CountsDto {
    TaskState::ALL
        .into_iter()
        .map(|s| (state_name(s).to_owned(), c.get(s)))
        .collect()
}

/// `POST /v1/tasks/{id}/cancel`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CancelResponse {
    /// The task.
    pub id: u64,
    /// Its state after the cancel (`cancelling`, or terminal if it was still queued).
    pub state: String,
}

/// `GET /v1/tasks/{id}/explain`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ExplainResponse {
    /// The task.
    pub id: u64,
    /// One line for people.
    pub summary: String,
    /// The kernel's structured explanation.
    #[schema(value_type = Object)]
    pub explanation: Value,
}

/// `POST /v1/sessions`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// The session's name.
    pub name: String,
}

/// A session.
#[derive(Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
pub struct SessionDto {
    /// Its name.
    pub name: String,
    /// Its id (a new generation of a name gets a new id).
    pub id: u64,
    /// Whether it is closing (disconnect waits for its tasks).
    pub closing: bool,
}

/// `DELETE /v1/sessions/{name}`: the cleanup report.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct DisconnectResponse {
    /// The session's name.
    pub name: String,
    /// Kernel time cleanup ended, in ms.
    pub at_ms: u64,
    /// Tasks that had not stopped when cleanup ended (their ids).
    pub stuck: Vec<u64>,
}

/// `POST /v1/workers/poll`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// The kinds this worker runs (at least one).
    pub kinds: Vec<String>,
    /// Only leases of these sessions (by name); absent: any.
    pub sessions: Option<Vec<String>>,
    /// Wait up to this many seconds for a lease (default 0, at most 60).
    #[serde(default)]
    pub wait_secs: u64,
}

/// A lease: run `kind` with `params`, heartbeat within `heartbeat_deadline_ms`, report with
/// `token`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct LeaseDto {
    /// The task.
    pub task: u64,
    /// Its kind.
    pub kind: String,
    /// Its parameters.
    pub params: Value,
    /// The attempt (1 for the first).
    pub attempt: u32,
    /// The fencing token: send it with every heartbeat and the final report.
    pub token: String,
    /// Heartbeat within this many ms, or the lease expires (and the attempt fails, retryably).
    pub heartbeat_deadline_ms: u64,
}

/// `200` of a poll: a lease, or none when the wait ended empty.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PollResponse {
    /// The lease, if one was available.
    pub lease: Option<LeaseDto>,
}

/// `POST /v1/leases/{task}/heartbeat`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The lease's token.
    pub token: String,
    /// Progress to record (also the task's kernel heartbeat).
    pub progress: Option<ProgressDto>,
}

/// `200` of a heartbeat.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct HeartbeatResponse {
    /// The task is being cancelled: stop and report (`fail`).
    pub cancelled: bool,
    /// Why (`user`, `timeout`, `stalled`, `disconnect`, `shutdown`, `parent`).
    pub reason: Option<String>,
    /// Heartbeat again within this many ms.
    pub heartbeat_deadline_ms: u64,
}

/// `POST /v1/leases/{task}/complete`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The lease's token.
    pub token: String,
    /// The task's result.
    #[serde(default)]
    pub result: Value,
}

/// `POST /v1/leases/{task}/fail`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    /// The lease's token.
    pub token: String,
    /// What went wrong.
    pub error: String,
    /// Whether a retry may help (the class's retry policy decides).
    #[serde(default)]
    pub retryable: bool,
}

/// `200` of complete/fail: the attempt's report was handed over and is durable.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ReportResponse {
    /// The task.
    pub task: u64,
    /// The attempt that was reported.
    pub attempt: u32,
    /// The task's state once the report was applied (`completed`, `backoff`, `failed`, …).
    pub state: String,
}

/// `GET /healthz`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}
