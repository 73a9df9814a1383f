//! Replaying a real workload log (the KTH SP2 log from the Parallel Workloads Archive).

use baton_sim::{SimOptions, swf};

#[test]
fn kth_log_prefix_replays_clean() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/traces/KTH-SP2-1996-2.1-cln.swf"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("skipped: {path} not found");
        return;
    };
    let w = swf::parse(&text, Some(2_000)).unwrap();
    assert_eq!(w.jobs.len(), 2_000);
    let r = swf::run(&w, SimOptions::default()).unwrap();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.tasks, 2_000);
}

#[test]
fn malformed_lines_are_errors_not_panics() {
    let good = "1 0 5 100 4 -1 -1 4 600 -1 1 7 1 -1 -1 -1 -1 -1\n";
    for (bad, needle) in [
        ("1 0 5 100\n", "expected 18 fields"),
        (
            "1 0 5 1e2 4 -1 -1 4 600 -1 1 7 1 -1 -1 -1 -1 -1\n",
            "run time",
        ),
        (
            "1 -4 5 100 4 -1 -1 4 600 -1 1 7 1 -1 -1 -1 -1 -1\n",
            "negative",
        ),
        (
            "1 0 5 100 4 -1 -1 4 600 -1 1 x 1 -1 -1 -1 -1 -1\n",
            "user id",
        ),
    ] {
        let text = format!("; header\n{good}{bad}");
        let e = swf::parse(&text, None).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
}
