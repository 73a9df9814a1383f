//! The HTTP handlers, one file per resource.

pub mod ops;
pub mod sessions;
pub mod tasks;
pub mod workers;

use crate::app::AppState;
use crate::error::ApiError;
use baton_kernel::{TaskId, TaskView};

/// The view of task `id`, or a 404 naming it.
pub(crate) fn task_or_404(state: &AppState, id: u64) -> Result<TaskView, ApiError> {
    state
        .scheduler
        .task(TaskId(id))
        .ok_or_else(|| ApiError::not_found("unknown_task", format!("no task {id}")))
}

/// Waits until everything applied so far is durable.
pub(crate) async fn durable(state: &AppState) -> Result<(), ApiError> {
    state.scheduler.flush().await.map_err(ApiError::from)
}
