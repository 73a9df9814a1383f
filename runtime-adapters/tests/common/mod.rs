//! The harness shared by the integration suites: every scenario is an `async fn(Rt)` run once on
//! tokio and once on smol by [`on_both_runtimes!`].
#![allow(dead_code, unreachable_pub)]

use baton_kernel::{ClassConfig, Config, Duration as KDuration};
use baton_runtime::Runtime;
use futures::future::{Either, select};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The runtime under test.
pub type Rt = Arc<dyn Runtime>;

/// No scenario may take longer than this: a hang fails instead of blocking the suite.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a scenario on a two-worker tokio runtime.
#[cfg(feature = "tokio")]
pub fn run_tokio<F, Fut>(scenario: F)
where
    F: FnOnce(Rt) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let runtime: Rt = Arc::new(baton_runtime::TokioRuntime::new(rt.handle().clone()));
    rt.block_on(with_timeout(runtime.clone(), scenario(runtime)));
}

/// Runs a scenario on a smol executor of its own, run by two threads (like the tokio side's
/// runtime per test: tests running in parallel do not share, or stall, one executor).
#[cfg(feature = "smol")]
pub fn run_smol<F, Fut>(scenario: F)
where
    F: FnOnce(Rt) -> Fut,
    Fut: Future<Output = ()>,
{
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (executor, stopped) = (executor.clone(), stopped.clone());
            std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
        })
        .collect();
    let runtime: Rt = Arc::new(baton_runtime::SmolRuntime::with_executor(executor));
    smol::block_on(with_timeout(runtime.clone(), scenario(runtime)));
    drop(stop);
    for thread in threads {
        let _ = thread.join();
    }
}

async fn with_timeout(rt: Rt, scenario: impl Future<Output = ()>) {
    let deadline = rt.sleep_until(rt.now() + SCENARIO_TIMEOUT);
    match select(Box::pin(scenario), deadline).await {
        Either::Left(((), _)) => {}
        Either::Right(_) => panic!("scenario still running after {SCENARIO_TIMEOUT:?}"),
    }
}

/// Sleeps on the runtime under test.
pub async fn sleep(rt: &Rt, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

/// Waits until `cond` holds, checking every millisecond; panics after 10 s.
pub async fn eventually(rt: &Rt, what: &str, mut cond: impl FnMut() -> bool) {
    let start = rt.now();
    while !cond() {
        assert!(
            rt.now().duration_since(start) < Duration::from_secs(10),
            "timed out waiting for: {what}"
        );
        sleep(rt, Duration::from_millis(1)).await;
    }
}

/// Milliseconds as a kernel duration.
pub fn ms(n: u64) -> KDuration {
    KDuration::from_millis(n)
}

/// The source's messaging-account manager (monitoring 10 / scraping 5 with limit 5 / sending 1,
/// queue 100) with its grace scaled down: cancel grace `grace_ms` per class, disconnect grace
/// `disconnect_ms`, and a background class `send_one` for bulk-send children. Terminal records
/// are kept 1 s (swept every 100 ms).
pub fn session_manager(grace_ms: u64, disconnect_ms: u64) -> Config {
    let mut config = baton_kernel::preset::session_manager();
    for class in &mut config.classes {
        class.grace = ms(grace_ms);
        class.retention = ms(1000);
    }
    config.classes.push(
        ClassConfig::background("send_one", 1)
            .with_grace(ms(grace_ms))
            .with_retention(ms(1000)),
    );
    config.disconnect_grace = ms(disconnect_ms);
    config.cleanup_interval = ms(100);
    config
}

/// Instantiates each named scenario (an `async fn(Rt)` in the including file) as one test per
/// enabled runtime: `tokio::name` and `smol::name`.
#[macro_export]
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "tokio")]
        mod tokio_runtime {
            $(
                #[test]
                fn $name() {
                    $crate::common::run_tokio(super::$name);
                }
            )*
        }
        #[cfg(feature = "smol")]
        mod smol_runtime {
            $(
                #[test]
                fn $name() {
                    $crate::common::run_smol(super::$name);
                }
            )*
        }
    };
}
