//! loom: the holds that keep a session busy until a task's code has really stopped. The body's
//! future and a blocking job release in any order: exactly one release reports, it reports the
//! body's exit, and a hold taken concurrently is either refused or delays the report.
#![cfg(loom)]

use baton_kernel::Exit;
use baton_runtime::loom_exports::Holds;
use loom::thread;
use std::sync::Arc;

#[test]
fn exactly_one_release_reports_the_exit() {
    loom::model(|| {
        let holds = Arc::new(Holds::new());
        assert!(holds.acquire()); // a blocking job
        let job = {
            let holds = holds.clone();
            thread::spawn(move || holds.release(None))
        };
        let body = holds.release(Some(Exit::Dropped));
        let job = job.join().unwrap();
        assert!(body.is_some() ^ job.is_some(), "{body:?} / {job:?}");
        assert_eq!(body.or(job), Some(Exit::Dropped));
        assert_eq!(holds.holders(), 0);
    });
}

#[test]
fn a_late_hold_never_outlives_the_report() {
    loom::model(|| {
        let holds = Arc::new(Holds::new());
        let late = {
            let holds = holds.clone();
            thread::spawn(move || holds.acquire().then(|| holds.release(None)))
        };
        let body = holds.release(Some(Exit::Completed));
        match late.join().unwrap() {
            // Refused: the body's release was the last and reported.
            None => assert_eq!(body, Some(Exit::Completed)),
            // Taken: whichever released last reported, once.
            Some(job) => {
                assert!(body.is_some() ^ job.is_some());
                assert_eq!(body.or(job), Some(Exit::Completed));
            }
        }
    });
}
