#![forbid(unsafe_code)]
//! `baton`: the control plane's command line. `baton serve` runs the HTTP server over a durable
//! store (see the `baton_server` crate docs for the API and the configuration file).

use baton_server::{Server, ServerConfig};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The baton control plane.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API over a durable store.
    Serve {
        /// The SQLite store (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// The configuration file (TOML: classes or a preset, and the task kinds).
        #[arg(long)]
        config: PathBuf,
        /// Where to listen (loopback by default).
        #[arg(long, default_value = "127.0.0.1:7411")]
        listen: SocketAddr,
        /// The bearer token of every mutating request (or env BATON_TOKEN).
        #[arg(long, env = "BATON_TOKEN", hide_env_values = true)]
        token: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("baton: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve {
            db,
            config,
            listen,
            token,
        } => {
            if token.is_empty() {
                return Err("--token must not be empty".into());
            }
            let config = ServerConfig::load(&config)?;
            let (server, report) = Server::open(&db, &config, &token)?;
            tracing::info!(db = %db.display(), "recovered: {report}");
            let listener = tokio::net::TcpListener::bind(listen).await?;
            tracing::info!(addr = %listener.local_addr()?, "listening");
            server.run(listener, shutdown_signal()).await?;
            tracing::info!("closed: queued work stays in the store");
            Ok(())
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("stopping");
}
