#![forbid(unsafe_code)]
//! # baton-server
//!
//! `baton serve`: an HTTP control plane over a durable baton scheduler
//! ([`baton_runtime::Scheduler::open_durable`]), whose task kinds are run by **remote workers
//! on fenced leases**.
//!
//! - Tasks: `POST /v1/tasks` (201 once committed), `GET /v1/tasks/{id}`, `GET /v1/tasks`
//!   (filters and cursor paging), `POST /v1/tasks/{id}/cancel`, `GET /v1/tasks/{id}/explain`,
//!   `GET /v1/counts`.
//! - Sessions: `POST /v1/sessions`, `DELETE /v1/sessions/{name}` (the cleanup report),
//!   `GET /v1/sessions`.
//! - Workers: `POST /v1/workers/poll` (long poll) → a lease with a fencing token;
//!   `POST /v1/leases/{task}/heartbeat|complete|fail` with that token (409 when it is not the
//!   current attempt's).
//! - `GET /metrics` (Prometheus/OpenMetrics text), `GET /openapi.json`, `GET /healthz`.
//!
//! Every request that is not a `GET` needs `Authorization: Bearer <token>`; bodies are capped
//! at 1 MiB; every error is a JSON body `{"error", "detail"}`. See [`config`] for the
//! configuration file and [`lease`] for the lease protocol.

pub mod app;
pub mod auth;
pub mod config;
pub mod dto;
pub mod error;
pub mod extract;
pub mod kinds;
pub mod lease;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod store_view;

pub use app::{AppState, BODY_LIMIT, ServeError, Server, router};
pub use config::{ConfigFileError, ServerConfig};
pub use error::{ApiError, ErrorBody};
