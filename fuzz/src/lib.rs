//! Fuzz targets for baton, as plain functions over bytes.
//!
//! Each `fuzz_targets/*.rs` binary hands libFuzzer's input to one of these functions, and
//! `tests/corpus.rs` replays every committed corpus and regression file through the same
//! functions on the stable toolchain, so a crash found once stays fixed.
//!
//! A target "fails" by panicking: that is how libFuzzer recognises a crash.

use arbitrary::Unstructured;
use baton_kernel::{Action, Input, Instant, Kernel, SessionId, TaskId};
use baton_sim::OracleConfig;
use baton_sim::oracle::Oracle;
use baton_sim::under_test::{KernelUnderTest, RealKernel};
use std::collections::BTreeMap;

mod decode;
mod inputs;

pub use decode::{scenario_decode, swf_parse, trace_decode};
pub use inputs::{arbitrary_config, arbitrary_input};

/// A fuzz target: panics on a failure.
pub type Target = fn(&[u8]);

/// Every target, by name, for the corpus replay test.
pub const TARGETS: &[(&str, Target)] = &[
    ("kernel_inputs", kernel_inputs),
    ("snapshot_decode", snapshot_decode),
    ("scenario_decode", scenario_decode),
    ("trace_decode", trace_decode),
    ("swf_parse", swf_parse),
];

/// An arbitrary configuration and input sequence (time advances, huge jumps, backwards steps,
/// unknown ids, stale per-attempt reports): the kernel never panics, `check_invariants()` holds
/// after every input, a refused input leaves the serialized state byte-identical to what
/// `handle_timeout(now)` alone leaves, the
/// simulator's oracle (reference model and properties, with `check_invariants()` and the deep
/// comparisons after every input) reports nothing, and the final state round-trips through serde.
///
/// The oracle is driven the way `baton_sim::record` replays an input log: it sees each input,
/// the kernel's answer and the drained actions; physical run intervals are synthesized (an
/// exclusive task begins running at its `Start` and stops when its finish report is accepted,
/// so an aborted task that is never reported counts as a zombie still holding its session).
pub fn kernel_inputs(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(config) = arbitrary_config(&mut u) else {
        return;
    };
    let Ok(kernel) = Kernel::new(config.clone()) else {
        return;
    };
    let mut kernel = RealKernel::new(kernel);
    let mut oracle = Oracle::new(&config, OracleConfig::paranoid());
    let mut running: BTreeMap<TaskId, Option<SessionId>> = BTreeMap::new();
    let mut now = Instant::from_nanos(1_000);
    let mut steps = 0usize;
    while !u.is_empty() && steps < 2_000 {
        steps += 1;
        let Ok((at, input)) = arbitrary_input(&mut u, kernel.kernel(), &mut now) else {
            break;
        };
        // Time keeps itself: a refused input may only do what handle_timeout(at) does.
        let mut caught_up = kernel.kernel().clone();
        if at >= caught_up.now() {
            let _ = caught_up.handle_timeout(at);
        }
        let before_json = serialize(&caught_up);
        let before = oracle.before(&kernel, at, &input);
        if input == Input::Restart && at >= kernel.kernel().now() {
            // A restart says the process that ran every body died: they all stopped with it.
            for (task, session) in std::mem::take(&mut running) {
                oracle.run_end(task, session);
            }
        }
        let result = kernel.apply(at, input.clone());
        if let Err(e) = &result {
            let after = serialize(kernel.kernel());
            assert!(
                before_json == after,
                "refused {input:?} ({e}) but changed more than handle_timeout({at:?})"
            );
        }
        let actions: Vec<Action> = std::iter::from_fn(|| kernel.poll_action()).collect();
        oracle.after(&kernel, at, &input, &result, &actions, before);
        if let (Input::Finished { task, .. } | Input::FinishedAttempt { task, .. }, Ok(_)) =
            (&input, &result)
        {
            oracle.run_end(*task, running.remove(task).flatten());
        }
        for a in &actions {
            if let Action::Start {
                task,
                class,
                session,
                ..
            } = a
            {
                let exclusive = config
                    .classes
                    .get(class.index())
                    .is_some_and(|c| c.exclusive);
                oracle.run_begin(at.as_nanos(), *task, *session, exclusive);
                running.insert(*task, *session);
            }
        }
        if let Some(v) = oracle.violations().first() {
            panic!("step {steps} after {input:?} -> {result:?}: oracle: {v}");
        }
        if let Err(v) = kernel.check_invariants() {
            panic!("step {steps} after {input:?}: {v}");
        }
    }
    let json = serialize(kernel.kernel());
    let back: Kernel = match serde_json::from_str(&json) {
        Ok(k) => k,
        Err(e) => panic!("snapshot does not decode: {e}"),
    };
    assert!(
        &back == kernel.kernel(),
        "snapshot round-trip changed the state"
    );
}

/// Arbitrary bytes into the snapshot decoder: a typed error, never a panic; a decoded state is
/// either refused by `check_invariants()` or safe to drive (a few inputs run without panics and
/// keep the invariants).
pub fn snapshot_decode(data: &[u8]) {
    let Ok(mut kernel) = serde_json::from_slice::<Kernel>(data) else {
        return;
    };
    if kernel.check_invariants().is_err() {
        return;
    }
    let mut u = Unstructured::new(data);
    let mut now = kernel.now();
    for _ in 0..16 {
        let Ok((at, input)) = arbitrary_input(&mut u, &kernel, &mut now) else {
            break;
        };
        let _ = kernel.apply(at, input.clone());
        while kernel.poll_action().is_some() {}
        if let Err(v) = kernel.check_invariants() {
            panic!("decoded state broke after {input:?}: {v}");
        }
    }
}

fn serialize(kernel: &Kernel) -> String {
    match serde_json::to_string(kernel) {
        Ok(s) => s,
        Err(e) => panic!("kernel state does not serialize: {e}"),
    }
}
