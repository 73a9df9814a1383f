//! Remote workers: `/v1/workers/poll` hands out leases, `/v1/leases/{task}/…` takes
//! heartbeats and the final report, each checked against the attempt's fencing token.

use super::{durable, task_or_404};
use crate::app::AppState;
use crate::dto::{
    CompleteRequest, FailRequest, HeartbeatRequest, HeartbeatResponse, LeaseDto, PollRequest,
    PollResponse, ReportResponse, state_name,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::lease::{LeaseError, LeaseProgress, Report, Wanted};
use axum::Json;
use axum::extract::State;
use baton_kernel::{TaskId, TaskState};
use baton_runtime::TaskFailure;
use std::time::Duration;

/// The longest long poll.
const MAX_WAIT_SECS: u64 = 60;

fn lease_error(e: LeaseError) -> ApiError {
    let code = match e {
        LeaseError::NoLease(_) => "no_lease",
        LeaseError::StaleToken { .. } => "stale_lease",
    };
    ApiError::conflict(code, e.to_string())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Waits up to `wait_secs` for a lease of one of `kinds` (and of one of `sessions`, if given).
#[utoipa::path(post, path = "/v1/workers/poll", request_body = PollRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "a lease, or none", body = PollResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "unknown kind or session", body = ErrorBody)))]
pub async fn poll(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PollRequest>,
) -> Result<Json<PollResponse>, ApiError> {
    if req.kinds.is_empty() {
        return Err(ApiError::bad_request("no_kinds", "name at least one kind"));
    }
    if let Some(kind) = req.kinds.iter().find(|k| !state.kinds.contains(*k)) {
        return Err(ApiError::unprocessable(
            "unknown_kind",
            format!("unknown task kind {kind:?}"),
        ));
    }
    if req.wait_secs > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(
            "bad_wait",
            format!("wait_secs is at most {MAX_WAIT_SECS}"),
        ));
    }
    let sessions = match &req.sessions {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    state.scheduler.session_id(n).ok_or_else(|| {
                        ApiError::unprocessable(
                            "unknown_session",
                            format!("no connected session {n:?}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let wanted = Wanted {
        kinds: req.kinds,
        sessions,
    };
    let mut stopping = state.stopping.clone();
    let wait = Duration::from_secs(req.wait_secs);
    let granted = tokio::select! {
        granted = state.leases.poll(&wanted, wait) => granted,
        _ = stopping.wait_for(|s| *s) => None,
    };
    Ok(Json(PollResponse {
        lease: granted.map(|g| LeaseDto {
            task: g.task.0,
            kind: g.kind,
            params: g.params,
            attempt: g.attempt,
            token: g.token,
            heartbeat_deadline_ms: ms(g.timeout),
        }),
    }))
}

/// Extends a lease and records progress; says whether the task is being cancelled.
#[utoipa::path(post, path = "/v1/leases/{task}/heartbeat", request_body = HeartbeatRequest,
    params(("task" = u64, Path, description = "task id")), security(("bearer" = [])),
    responses((status = 200, body = HeartbeatResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not the current lease's token", body = ErrorBody),
        (status = 422, description = "progress refused (message too long, current above total)", body = ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    ApiPath(task): ApiPath<u64>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    task_or_404(&state, task)?;
    let progress = req.progress.map(|p| LeaseProgress {
        current: p.current,
        total: p.total,
        message: p.message,
    });
    let (beat, ctx, progress) = state
        .leases
        .heartbeat(TaskId(task), &req.token, progress)
        .map_err(lease_error)?;
    match ctx.progress(progress.current, progress.total, progress.message) {
        Ok(()) | Err(baton_kernel::Error::NotRunning { .. }) => {}
        Err(e) => return Err(ApiError::unprocessable("bad_progress", e.to_string())),
    }
    Ok(Json(HeartbeatResponse {
        cancelled: beat.cancel.is_some(),
        reason: beat.cancel.map(|r| r.name().to_owned()),
        heartbeat_deadline_ms: ms(beat.timeout),
    }))
}

/// Ends the attempt with the worker's result.
#[utoipa::path(post, path = "/v1/leases/{task}/complete", request_body = CompleteRequest,
    params(("task" = u64, Path, description = "task id")), security(("bearer" = [])),
    responses((status = 200, body = ReportResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not the current lease's token", body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    ApiPath(task): ApiPath<u64>,
    ApiJson(req): ApiJson<CompleteRequest>,
) -> Result<Json<ReportResponse>, ApiError> {
    report(&state, task, &req.token, Ok(req.result)).await
}

/// Ends the attempt with the worker's failure (retried if `retryable` and the class allows).
#[utoipa::path(post, path = "/v1/leases/{task}/fail", request_body = FailRequest,
    params(("task" = u64, Path, description = "task id")), security(("bearer" = [])),
    responses((status = 200, body = ReportResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not the current lease's token", body = ErrorBody)))]
pub async fn fail(
    State(state): State<AppState>,
    ApiPath(task): ApiPath<u64>,
    ApiJson(req): ApiJson<FailRequest>,
) -> Result<Json<ReportResponse>, ApiError> {
    let failure = if req.retryable {
        TaskFailure::retryable(req.error)
    } else {
        TaskFailure::new(req.error)
    };
    report(&state, task, &req.token, Err(failure)).await
}

/// Hands the report to the parked body, then waits (a bounded while) until the kernel has
/// applied it and it is durable, and answers with the task's state.
async fn report(
    state: &AppState,
    task: u64,
    token: &str,
    outcome: Report,
) -> Result<Json<ReportResponse>, ApiError> {
    task_or_404(state, task)?;
    let attempt = state
        .leases
        .report(TaskId(task), token, outcome)
        .map_err(lease_error)?;
    let applied = |v: &baton_kernel::TaskView| {
        v.attempt != attempt || !matches!(v.state, TaskState::Running | TaskState::Cancelling)
    };
    let mut view = task_or_404(state, task)?;
    for _ in 0..400 {
        if applied(&view) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        view = task_or_404(state, task)?;
    }
    durable(state).await?;
    Ok(Json(ReportResponse {
        task,
        attempt,
        state: state_name(view.state).to_owned(),
    }))
}
