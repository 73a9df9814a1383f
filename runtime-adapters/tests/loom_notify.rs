//! loom: the driver's wake-up. An input that changes the next deadline and then notifies is
//! always seen by the driver, whether the notify comes before, during or after its wait.
#![cfg(loom)]

use baton_runtime::loom_exports::Notify;
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::sync::Arc;

#[test]
fn no_lost_wake_up() {
    loom::model(|| {
        let notify = Arc::new(Notify::new(false));
        let deadline_changes = Arc::new(AtomicUsize::new(0));
        let inputs: Vec<_> = (0..2)
            .map(|_| {
                let (notify, changes) = (notify.clone(), deadline_changes.clone());
                thread::spawn(move || {
                    changes.fetch_add(1, SeqCst);
                    notify.notify();
                })
            })
            .collect();
        // The driver: reads the state, and waits only when it has seen every change so far.
        block_on(async {
            while deadline_changes.load(SeqCst) < 2 {
                notify.notified().await;
            }
        });
        for input in inputs {
            input.join().unwrap();
        }
    });
}

#[test]
fn a_notify_before_the_first_wait_is_kept() {
    loom::model(|| {
        let notify = Arc::new(Notify::new(false));
        let input = {
            let notify = notify.clone();
            thread::spawn(move || notify.notify())
        };
        input.join().unwrap();
        block_on(notify.notified());
    });
}
