//! smol: an executor (the global one by default), `smol::unblock` and `smol::Timer`.

use super::Runtime;
use futures::future::BoxFuture;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// Runs the scheduler on smol: tasks on the global executor (`smol::spawn`) or on an
/// [`Executor`](smol::Executor) of your own, blocking jobs on `smol::unblock`'s pool, timers on
/// `smol::Timer`.
#[derive(Clone, Default)]
pub struct SmolRuntime {
    executor: Option<Arc<::smol::Executor<'static>>>,
}

impl SmolRuntime {
    /// Spawns on smol's global executor (its threads start on first use).
    pub fn global() -> Self {
        SmolRuntime { executor: None }
    }

    /// Spawns on `executor`; something must run it (`executor.run(..)` on some thread).
    pub fn with_executor(executor: Arc<::smol::Executor<'static>>) -> Self {
        SmolRuntime {
            executor: Some(executor),
        }
    }
}

impl fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.executor {
            None => f.write_str("SmolRuntime(global)"),
            Some(_) => f.write_str("SmolRuntime(executor)"),
        }
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        match &self.executor {
            None => ::smol::spawn(future).detach(),
            Some(executor) => executor.spawn(future).detach(),
        }
    }

    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        ::smol::unblock(job).detach();
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            ::smol::Timer::at(deadline).await;
        })
    }

    fn timer(&self) -> Option<Box<dyn super::Timer>> {
        Some(Box::new(SmolTimer {
            timer: ::smol::Timer::never(),
            expired: false,
        }))
    }
}

/// smol's [`Timer`](::smol::Timer), created once and moved with `Timer::set_at`.
struct SmolTimer {
    timer: ::smol::Timer,
    /// smol's timer fires once; the driver's contract is "ready until reset".
    expired: bool,
}

impl super::Timer for SmolTimer {
    fn reset(&mut self, deadline: std::time::Instant) {
        self.expired = false;
        self.timer.set_at(deadline);
    }

    fn poll_expired(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if !self.expired && std::pin::Pin::new(&mut self.timer).poll(cx).is_ready() {
            self.expired = true;
        }
        if self.expired {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}
