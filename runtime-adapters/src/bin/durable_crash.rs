//! A process for the crash test (`tests/sigkill.rs`): it runs durable tasks on a store and is
//! killed with SIGKILL at random points, then restarted.
//!
//! `durable_crash DB RUNS_LOG work` submits durable tasks without end (half on four account
//! sessions, half in the background) and prints `ACK <n>` once each submit is acknowledged;
//! each body appends `RUN <n> <attempt>` to RUNS_LOG, works a few milliseconds and returns `n`.
//! `durable_crash DB RUNS_LOG finish` recovers, lets everything finish, prints
//! `TASK <id> <state> <attempt>` for every task in the registry, then `DONE`, and shuts down.

use baton_kernel::{ClassConfig, Config, Duration, RetryPolicy, Target, TaskState};
use baton_runtime::{DurableOptions, Kinds, Scheduler, TaskFailure};
use std::io::Write;
use std::sync::Arc;

const ACCOUNTS: [&str; 4] = ["a0", "a1", "a2", "a3"];

fn config() -> Config {
    let retry = RetryPolicy {
        jitter_permille: 0,
        ..RetryPolicy::exponential(1_000, Duration::from_millis(1), Duration::from_millis(5))
    };
    let mut config = Config::new(vec![
        ClassConfig::exclusive("op", 5)
            .with_retry(retry.clone())
            .with_retention(Duration::from_secs(86_400)),
        ClassConfig::background("bg", 5)
            .with_retry(retry)
            .with_retention(Duration::from_secs(86_400)),
    ]);
    config.limits.queue_len_max = 10_000;
    config.limits.background_queue_len_max = 10_000;
    config
}

fn kinds(runs: std::path::PathBuf) -> Kinds {
    let log = Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(runs)
            .expect("runs log"),
    ));
    Kinds::new().register("work", move |ctx, n: u64| {
        let log = log.clone();
        async move {
            {
                // One write per line (a kill cannot split it), each line starting afresh in case
                // the previous process died in the middle of one.
                let line = format!("\nRUN {n} {}\n", ctx.attempt());
                let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
                f.write_all(line.as_bytes()).map_err(TaskFailure::new)?;
            }
            ctx.sleep(std::time::Duration::from_millis(1 + n % 7)).await;
            Ok::<_, TaskFailure>(n)
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(db), Some(runs), Some(mode)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: durable_crash DB RUNS_LOG work|finish");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = DurableOptions {
        snapshot_every: 2_000,
        ..DurableOptions::default()
    };
    rt.block_on(async {
        let (s, report) =
            Scheduler::open_durable(db, config(), kinds(runs.into()), None, options).expect("open");
        eprintln!("recovered: {report}");
        let sessions: Vec<_> = ACCOUNTS
            .iter()
            .map(|a| s.connect(a).expect("connect"))
            .collect();
        match mode.as_str() {
            "work" => {
                // Eight submitters at once, so commits carry many submits (group commit) and
                // acknowledgements are always in flight when the kill comes.
                let base = u64::from(std::process::id()) << 24;
                let submitters: Vec<_> = (0..8u64)
                    .map(|k| {
                        let s = s.clone();
                        let sessions = sessions.clone();
                        tokio::spawn(async move {
                            for i in 0u64.. {
                                let n = base + i * 8 + k;
                                let submitted = if n % 2 == 0 {
                                    let target = sessions[(n / 2) as usize % sessions.len()];
                                    s.submit_durable(target, "op", "work", n).await
                                } else {
                                    s.submit_durable(Target::None, "bg", "work", n).await
                                };
                                match submitted {
                                    Ok(handle) => {
                                        handle.detach();
                                        let mut out = std::io::stdout().lock();
                                        let _ = writeln!(out, "ACK {n}");
                                        let _ = out.flush();
                                    }
                                    Err(e) => eprintln!("submit: {e}"),
                                }
                                if s.counts().get(TaskState::Queued) > 400 {
                                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                                } else {
                                    tokio::task::yield_now().await;
                                }
                            }
                        })
                    })
                    .collect();
                for t in submitters {
                    let _ = t.await;
                }
            }
            "finish" => {
                for _ in 0..30_000 {
                    let c = s.counts();
                    if c.active() == 0
                        && c.get(TaskState::Queued) == 0
                        && c.get(TaskState::Backoff) == 0
                    {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                s.flush().await.expect("flush");
                let mut out = std::io::stdout().lock();
                let mut after = None;
                loop {
                    let page = s.list(&baton_kernel::ListFilter::default(), after, 1_000);
                    for v in &page.items {
                        let _ = writeln!(out, "TASK {} {} {}", v.id.0, v.state.name(), v.attempt);
                    }
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                let _ = writeln!(out, "DONE");
                let _ = out.flush();
                drop(out);
                let _ = s.shutdown(std::time::Duration::from_secs(1)).await;
                s.flush().await.expect("flush");
            }
            other => {
                eprintln!("unknown mode {other}");
                std::process::exit(2);
            }
        }
    });
}
