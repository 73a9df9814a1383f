//! `/v1/tasks` and `/v1/counts`.

use super::{durable, task_or_404};
use crate::app::AppState;
use crate::dto::{
    CancelResponse, CountsResponse, ExplainResponse, ListQuery, PageDto, SubmitRequest,
    SubmitResponse, TaskDto, counts_dto, parse_state, state_name,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baton_kernel::{ListFilter, Target, TaskId};

/// The default page length of `GET /v1/tasks`.
const DEFAULT_LIMIT: usize = 100;

/// Submits a durable task; answers once it is committed to the store.
#[utoipa::path(post, path = "/v1/tasks", request_body = SubmitRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "committed", body = SubmitResponse),
        (status = 400, description = "bad JSON or both session and group", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 413, description = "body over 1 MiB", body = ErrorBody),
        (status = 422, description = "unknown kind, class, session, group, or refused", body = ErrorBody),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SubmitRequest>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    if !state.kinds.contains(&req.kind) {
        return Err(ApiError::unprocessable(
            "unknown_kind",
            format!("unknown task kind {:?}", req.kind),
        ));
    }
    if state.scheduler.class_id(req.class.as_str()).is_none() {
        return Err(ApiError::unprocessable(
            "unknown_class",
            format!("unknown class {:?}", req.class),
        ));
    }
    let target = match (&req.session, &req.group) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "bad_target",
                "give `session` or `group`, not both",
            ));
        }
        (Some(name), None) => {
            Target::Session(state.scheduler.session_id(name).ok_or_else(|| {
                ApiError::unprocessable("unknown_session", format!("no connected session {name:?}"))
            })?)
        }
        (None, Some(name)) => {
            let group = state.scheduler.inspect(|k| k.group_id(name));
            Target::Group(group.ok_or_else(|| {
                ApiError::unprocessable("unknown_group", format!("no group {name:?}"))
            })?)
        }
        (None, None) => Target::None,
    };
    let mut builder = state.scheduler.task_builder(target, req.class.as_str());
    if let Some(p) = req.priority {
        builder = builder.priority(p);
    }
    if let Some(parent) = req.parent {
        task_or_404(&state, parent)
            .map_err(|_| ApiError::unprocessable("unknown_parent", format!("no task {parent}")))?;
        builder = builder.parent(TaskId(parent));
    }
    let handle = builder.submit_durable(&req.kind, req.params).await?;
    let id = handle
        .id()
        .ok_or_else(|| ApiError::internal("the submit was acknowledged without an id"))?;
    handle.detach();
    Ok((StatusCode::CREATED, Json(SubmitResponse { id: id.0 })))
}

/// One task, with its kind, parameters and (once completed) result from the store.
#[utoipa::path(get, path = "/v1/tasks/{id}", params(("id" = u64, Path, description = "task id")),
    responses((status = 200, body = TaskDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<TaskDto>, ApiError> {
    let view = task_or_404(&state, id)?;
    // The store's row catches up with the view once what was applied is committed.
    durable(&state).await?;
    let mut dto = TaskDto::from_view(&view);
    let row = state.store.durable(id).await.map_err(ApiError::internal)?;
    dto.kind = row.kind;
    dto.params = row.params;
    dto.result = if view.state == baton_kernel::TaskState::Completed {
        row.result
    } else {
        None
    };
    Ok(Json(dto))
}

/// A page of tasks by id (filters combine; `next` is the cursor for `after`).
#[utoipa::path(get, path = "/v1/tasks", params(ListQuery),
    responses((status = 200, body = PageDto), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageDto>, ApiError> {
    let mut filter = ListFilter::default();
    if let Some(s) = &q.state {
        filter.state =
            Some(parse_state(s).ok_or_else(|| {
                ApiError::bad_request("bad_state", format!("unknown state {s:?}"))
            })?);
    }
    if let Some(c) = &q.class {
        filter.class = Some(state.scheduler.class_id(c.as_str()).ok_or_else(|| {
            ApiError::unprocessable("unknown_class", format!("unknown class {c:?}"))
        })?);
    }
    if let Some(name) = &q.session {
        filter.session = Some(state.scheduler.session_id(name).ok_or_else(|| {
            ApiError::unprocessable("unknown_session", format!("no connected session {name:?}"))
        })?);
    }
    filter.parent = q.parent.map(TaskId);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 {
        return Err(ApiError::bad_request(
            "bad_limit",
            "limit must be at least 1",
        ));
    }
    let page = state.scheduler.list(&filter, q.after.map(TaskId), limit);
    Ok(Json(PageDto {
        items: page.items.iter().map(TaskDto::from_view).collect(),
        next: page.next.map(|t| t.0),
    }))
}

/// Counts by state: in all, per class and per connected session.
#[utoipa::path(get, path = "/v1/counts", responses((status = 200, body = CountsResponse)))]
pub async fn counts(State(state): State<AppState>) -> Json<CountsResponse> {
    let (total, classes, sessions) = state.scheduler.inspect(|k| {
        let classes = k
            .config()
            .classes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let id = baton_kernel::ClassId(u16::try_from(i).ok()?);
                Some((c.name.clone(), counts_dto(&k.class_counts(id)?)))
            })
            .collect();
        let sessions = k
            .sessions()
            .filter_map(|(id, name, _)| Some((name.to_owned(), counts_dto(&k.session_counts(id)?))))
            .collect();
        (counts_dto(&k.counts()), classes, sessions)
    });
    Json(CountsResponse {
        total,
        classes,
        sessions,
    })
}

/// Cancels a task (a running one's worker learns it on its next heartbeat).
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", params(("id" = u64, Path, description = "task id")),
    security(("bearer" = [])),
    responses((status = 200, body = CancelResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "already ended", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<CancelResponse>, ApiError> {
    match state.scheduler.cancel(TaskId(id)) {
        Ok(()) => {}
        Err(baton_kernel::Error::UnknownTask(_)) => {
            return Err(ApiError::not_found("unknown_task", format!("no task {id}")));
        }
        Err(e @ baton_kernel::Error::AlreadyEnded(_)) => {
            return Err(ApiError::conflict("already_ended", e.to_string()));
        }
        Err(e) => return Err(ApiError::unprocessable("refused", e.to_string())),
    }
    durable(&state).await?;
    let view = task_or_404(&state, id)?;
    Ok(Json(CancelResponse {
        id,
        state: state_name(view.state).to_owned(),
    }))
}

/// Why a task is where it is.
#[utoipa::path(get, path = "/v1/tasks/{id}/explain", params(("id" = u64, Path, description = "task id")),
    responses((status = 200, body = ExplainResponse), (status = 404, body = ErrorBody)))]
pub async fn explain(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ExplainResponse>, ApiError> {
    let explanation = state
        .scheduler
        .explain(TaskId(id))
        .ok_or_else(|| ApiError::not_found("unknown_task", format!("no task {id}")))?;
    let summary = explanation.to_string();
    let explanation =
        serde_json::to_value(&explanation).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(ExplainResponse {
        id,
        summary,
        explanation,
    }))
}
