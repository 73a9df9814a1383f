//! The server: opens the durable scheduler with the remote kinds, builds the router, serves
//! until told to stop, then *closes* the scheduler (queued work stays in the store).

use crate::config::ServerConfig;
use crate::kinds::remote_kinds;
use crate::lease::LeaseTable;
use crate::routes;
use crate::store_view::StoreView;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use baton_runtime::{DurableError, DurableOptions, RecoveryReport, Scheduler};
use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The largest request body accepted: 1 MiB (larger is a 413).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The durable scheduler could not be opened, or closing it failed.
    #[error("durable store: {0}")]
    Durable(#[from] DurableError),
    /// The store's `tasks` table could not be opened for reading.
    #[error("store view: {0}")]
    View(#[from] rusqlite::Error),
    /// Binding or serving failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
}

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The durable scheduler.
    pub scheduler: Scheduler,
    /// The lease table.
    pub leases: Arc<LeaseTable>,
    /// The store's `tasks` table, read-only.
    pub store: StoreView,
    /// The kinds the server accepts.
    pub kinds: Arc<BTreeSet<String>>,
    /// The bearer token of mutating requests.
    pub token: Arc<str>,
    /// Turns `true` when the server stops (long polls return at once).
    pub stopping: watch::Receiver<bool>,
}

/// A server over one durable store.
#[derive(Debug)]
pub struct Server {
    state: AppState,
    stop: watch::Sender<bool>,
}

impl Server {
    /// Opens (or creates) the store at `db` with `config` and registers a remote handler for
    /// each configured kind. Must be called inside a tokio runtime. Returns the recovery report.
    pub fn open(
        db: &Path,
        config: &ServerConfig,
        token: &str,
    ) -> Result<(Server, RecoveryReport), ServeError> {
        let timeouts = config
            .kernel
            .classes
            .iter()
            .map(|c| {
                config
                    .lease_timeouts
                    .get(&c.name)
                    .copied()
                    .unwrap_or(crate::config::DEFAULT_LEASE_TIMEOUT)
            })
            .collect();
        let leases = Arc::new(LeaseTable::new(timeouts));
        let kinds = remote_kinds(&config.kinds, &leases);
        let (scheduler, report) = Scheduler::open_durable(
            db,
            config.kernel.clone(),
            kinds,
            None,
            DurableOptions::default(),
        )?;
        let store = StoreView::open(db)?;
        let (stop, stopping) = watch::channel(false);
        let state = AppState {
            scheduler,
            leases,
            store,
            kinds: Arc::new(config.kinds.iter().cloned().collect()),
            token: Arc::from(token),
            stopping,
        };
        Ok((Server { state, stop }, report))
    }

    /// The routes (see the crate docs for the list).
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then lets requests in flight finish
    /// (long polls return at once) and closes the scheduler: everything applied is durable,
    /// queued work stays in the store for the next start.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let app = self.router();
        let stop = self.stop;
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await?;
        let scheduler = self.state.scheduler.clone();
        drop(self.state);
        scheduler.close().await?;
        Ok(())
    }
}

/// The router over `state`.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route(
            "/tasks",
            post(routes::tasks::submit).get(routes::tasks::list),
        )
        .route("/tasks/{id}", get(routes::tasks::get_one))
        .route("/tasks/{id}/cancel", post(routes::tasks::cancel))
        .route("/tasks/{id}/explain", get(routes::tasks::explain))
        .route("/counts", get(routes::tasks::counts))
        .route(
            "/sessions",
            post(routes::sessions::connect).get(routes::sessions::list),
        )
        .route(
            "/sessions/{name}",
            axum::routing::delete(routes::sessions::disconnect),
        )
        .route("/workers/poll", post(routes::workers::poll))
        .route("/leases/{task}/heartbeat", post(routes::workers::heartbeat))
        .route("/leases/{task}/complete", post(routes::workers::complete))
        .route("/leases/{task}/fail", post(routes::workers::fail));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(routes::ops::healthz))
        .route("/metrics", get(routes::ops::metrics))
        .route("/openapi.json", get(routes::ops::openapi))
        .fallback(routes::ops::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_token,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
