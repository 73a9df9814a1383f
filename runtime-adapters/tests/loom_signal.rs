//! loom: the cancellation signal (many waiters) and the abort switch. A set signal is seen by
//! every waiter whatever the interleaving (no lost wake-up), and an abort drops the body's future
//! before the runner returns.
#![cfg(loom)]

use baton_kernel::CancelReason;
use baton_runtime::loom_exports::{Abortable, Signal, Wait};
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::thread;
use std::sync::Arc;

#[test]
fn every_waiter_sees_the_cancellation() {
    loom::model(|| {
        let signal = Arc::new(Signal::<CancelReason>::new());
        let other_waiter = {
            let signal = signal.clone();
            thread::spawn(move || block_on(Wait::new(signal)))
        };
        let canceller = {
            let signal = signal.clone();
            thread::spawn(move || signal.set(CancelReason::Disconnect))
        };
        assert_eq!(
            block_on(Wait::new(signal.clone())),
            CancelReason::Disconnect
        );
        assert_eq!(other_waiter.join().unwrap(), CancelReason::Disconnect);
        assert!(canceller.join().unwrap());
        assert_eq!(
            signal.waiters(),
            0,
            "finished waiters leave no registration"
        );
    });
}

#[test]
fn the_first_reason_wins() {
    loom::model(|| {
        let signal = Arc::new(Signal::<CancelReason>::new());
        let timeout = {
            let signal = signal.clone();
            thread::spawn(move || signal.set(CancelReason::Timeout))
        };
        let user = signal.set(CancelReason::User);
        let timed_out = timeout.join().unwrap();
        assert!(user ^ timed_out);
        let seen = block_on(Wait::new(signal.clone()));
        assert_eq!(seen == CancelReason::User, user);
    });
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn an_abort_drops_the_future_before_the_runner_returns() {
    loom::model(|| {
        let abort = Arc::new(Signal::<()>::new());
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(dropped.clone());
        let body = Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        let aborter = {
            let abort = abort.clone();
            thread::spawn(move || abort.set(()))
        };
        let out = block_on(Abortable::new(body, abort.clone()));
        assert!(out.is_none());
        assert!(
            dropped.load(SeqCst),
            "the future is gone when the runner sees the abort"
        );
        aborter.join().unwrap();
        assert_eq!(abort.waiters(), 0);
    });
}
