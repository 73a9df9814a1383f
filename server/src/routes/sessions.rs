//! `/v1/sessions`: connect, disconnect (with the cleanup report) and list.

use super::durable;
use crate::app::AppState;
use crate::dto::{ConnectRequest, DisconnectResponse, SessionDto};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Connects a session by name (a detached name after a restart re-attaches).
#[utoipa::path(post, path = "/v1/sessions", request_body = ConnectRequest,
    security(("bearer" = [])),
    responses((status = 201, body = SessionDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "already connected", body = ErrorBody),
        (status = 422, description = "bad name or too many sessions", body = ErrorBody)))]
pub async fn connect(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ConnectRequest>,
) -> Result<(StatusCode, Json<SessionDto>), ApiError> {
    let id = match state.scheduler.connect(&req.name) {
        Ok(id) => id,
        Err(e @ baton_kernel::Error::AlreadyConnected(_)) => {
            return Err(ApiError::conflict("already_connected", e.to_string()));
        }
        Err(e) => return Err(ApiError::unprocessable("refused", e.to_string())),
    };
    durable(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionDto {
            name: req.name,
            id: id.0,
            closing: false,
        }),
    ))
}

/// Disconnects a session: its waiting tasks are rejected, its running ones cancelled; answers
/// with the cleanup report once they have stopped (or the disconnect grace has passed).
#[utoipa::path(delete, path = "/v1/sessions/{name}", params(("name" = String, Path, description = "session name")),
    security(("bearer" = [])),
    responses((status = 200, body = DisconnectResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disconnect(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<DisconnectResponse>, ApiError> {
    let report = match state.scheduler.disconnect(&name).await {
        Ok(report) => report,
        Err(e @ baton_kernel::Error::UnknownSession(_)) => {
            return Err(ApiError::not_found("unknown_session", e.to_string()));
        }
        Err(e) => return Err(ApiError::unprocessable("refused", e.to_string())),
    };
    durable(&state).await?;
    Ok(Json(DisconnectResponse {
        name,
        at_ms: report.at.as_nanos() / 1_000_000,
        stuck: report.stuck.iter().map(|s| s.task.0).collect(),
    }))
}

/// Connected and closing sessions.
#[utoipa::path(get, path = "/v1/sessions", responses((status = 200, body = Vec<SessionDto>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<SessionDto>> {
    let sessions = state.scheduler.inspect(|k| {
        k.sessions()
            .map(|(id, name, closing)| SessionDto {
                name: name.to_owned(),
                id: id.0,
                closing,
            })
            .collect()
    });
    Json(sessions)
}
