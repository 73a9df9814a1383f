//! loom: the completion slot behind a `TaskHandle`. Whatever the interleaving, a handle sees
//! exactly one result (no double completion), the value only if the task completed, and wakes
//! when it is resolved (no lost wake-up).
#![cfg(loom)]

use baton_kernel::{CancelReason, Outcome};
use baton_runtime::TaskError;
use baton_runtime::loom_exports::Slot;
use loom::future::block_on;
use loom::thread;
use std::future::poll_fn;
use std::sync::Arc;

#[test]
fn a_completed_task_hands_over_its_value() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let runner = {
            let slot = slot.clone();
            thread::spawn(move || {
                slot.stage(7);
                slot.resolve_outcome(Outcome::Completed)
            })
        };
        let result = block_on(poll_fn(|cx| slot.poll_take(cx)));
        assert_eq!(result, Ok(7));
        assert!(runner.join().unwrap());
    });
}

#[test]
fn racing_resolutions_complete_the_handle_once() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let finish = {
            let slot = slot.clone();
            thread::spawn(move || slot.resolve_outcome(Outcome::Cancelled(CancelReason::User)))
        };
        let refuse = {
            let slot = slot.clone();
            thread::spawn(move || slot.resolve_err(TaskError::Shutdown))
        };
        let result = block_on(poll_fn(|cx| slot.poll_take(cx)));
        let (a, b) = (finish.join().unwrap(), refuse.join().unwrap());
        assert!(a ^ b, "exactly one resolution wins");
        let expected = if a {
            Err(TaskError::Cancelled(CancelReason::User))
        } else {
            Err(TaskError::Shutdown)
        };
        assert_eq!(result, expected);
    });
}

#[test]
fn a_cancelled_task_resolves_without_its_late_value() {
    // The body returns a value while the kernel is already ending the task as cancelled: the
    // handle resolves with the cancellation in every order, and never with the value.
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let body = {
            let slot = slot.clone();
            thread::spawn(move || slot.stage(1))
        };
        let kernel = {
            let slot = slot.clone();
            thread::spawn(move || slot.resolve_outcome(Outcome::Cancelled(CancelReason::User)))
        };
        let result = block_on(poll_fn(|cx| slot.poll_take(cx)));
        assert_eq!(result, Err(TaskError::Cancelled(CancelReason::User)));
        body.join().unwrap();
        assert!(kernel.join().unwrap());
    });
}
