//! loom: the whole adapter — scheduler, driver, runner — on a loom "runtime" whose tasks are
//! loom threads. A task cancelled while its body starts on another thread always resolves its
//! handle with the cancellation; one that finishes while being cancelled resolves exactly once;
//! and dropping the scheduler lets the driver stop (loom fails a model whose threads never end).
#![cfg(loom)]

use baton_kernel::{CancelReason, ClassConfig, Config};
use baton_runtime::{Runtime, Scheduler, TaskError, TaskFailure};
use futures::future::BoxFuture;
use loom::future::block_on;
use loom::thread;
use std::sync::Arc;

/// Every spawned future runs on its own loom thread; time stands still (a model must be
/// deterministic) and timers never fire (the models need no deadline to).
#[derive(Debug)]
struct LoomRuntime {
    now: std::time::Instant,
}

fn runtime() -> Arc<LoomRuntime> {
    Arc::new(LoomRuntime {
        now: std::time::Instant::now(),
    })
}

impl Runtime for LoomRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        thread::spawn(move || block_on(future));
    }

    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        thread::spawn(job);
    }

    fn sleep_until(&self, _deadline: std::time::Instant) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    fn now(&self) -> std::time::Instant {
        self.now
    }
}

/// Runs a whole-adapter model. Three threads (test, driver, runner) doing a few dozen lock and
/// wake operations each: at 3 preemptions that is ~400 s on two cores, at 2 about 25 s, so these
/// models are bounded at 2 whatever `LOOM_MAX_PREEMPTIONS` says (the primitives' models, in the
/// other `loom_*` files, run at the suite's bound).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(2, |b| b.min(2)));
    builder.check(f);
}

fn config() -> Config {
    Config::new(vec![ClassConfig::exclusive("op", 1).without_timeouts()])
}

#[test]
fn a_cancelled_task_always_resolves() {
    model(|| {
        let s = Scheduler::with_runtime(config(), runtime()).unwrap();
        let a = s.connect("a").unwrap();
        let h = s.submit(a, "op", |ctx| async move {
            ctx.cancelled().await;
            Ok::<_, TaskFailure>(())
        });
        let id = h.id().unwrap();
        let canceller = {
            let s = s.clone();
            thread::spawn(move || s.cancel(id).unwrap())
        };
        assert_eq!(block_on(h), Err(TaskError::Cancelled(CancelReason::User)));
        canceller.join().unwrap();
        drop(s);
    });
}

#[test]
fn a_task_finishing_while_cancelled_resolves_once() {
    model(|| {
        let s = Scheduler::with_runtime(config(), runtime()).unwrap();
        let a = s.connect("a").unwrap();
        let h = s.submit(a, "op", |_| async { Ok::<_, TaskFailure>(5) });
        let cancelled = s.cancel(h.id().unwrap()).is_ok();
        let result = block_on(h);
        if cancelled {
            // Asked to stop before the report: the outcome is the cancellation, even though the
            // body may have returned its value.
            assert_eq!(result, Err(TaskError::Cancelled(CancelReason::User)));
        } else {
            assert_eq!(result, Ok(5));
        }
        assert_eq!(s.pending_handles(), 0);
        drop(s);
    });
}
