//! Fuzz targets for baton, as plain functions over bytes.
//!
//! Each `fuzz_targets/*.rs` binary hands libFuzzer's input to one of these functions, and
//! `tests/corpus.rs` replays every committed corpus and regression file through the same
//! functions on the stable toolchain, so a crash found once stays fixed.
//!
//! A target "fails" by panicking: that is how libFuzzer recognises a crash.

use arbitrary::Unstructured;
use baton_kernel::{Instant, Kernel};

mod inputs;

pub use inputs::{arbitrary_config, arbitrary_input};

/// Every target, by name, for the corpus replay test.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("kernel_inputs", kernel_inputs),
    ("snapshot_decode", snapshot_decode),
];

/// An arbitrary configuration and input sequence (time advances, huge jumps, backwards steps,
/// unknown ids): the kernel never panics, `check_invariants()` holds after every input, a
/// refused input leaves the serialized state byte-identical, and the final state round-trips
/// through serde.
pub fn kernel_inputs(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(config) = arbitrary_config(&mut u) else {
        return;
    };
    let Ok(mut kernel) = Kernel::new(config) else {
        return;
    };
    let mut now = Instant::from_nanos(1_000);
    let mut steps = 0usize;
    while !u.is_empty() && steps < 2_000 {
        steps += 1;
        let Ok((at, input)) = arbitrary_input(&mut u, &kernel, &mut now) else {
            break;
        };
        let before = serialize(&kernel);
        if let Err(e) = kernel.apply(at, input.clone()) {
            let after = serialize(&kernel);
            assert!(
                before == after,
                "refused {input:?} ({e}) but the state changed"
            );
        }
        while kernel.poll_action().is_some() {}
        if let Err(v) = kernel.check_invariants() {
            panic!("step {steps} after {input:?}: {v}");
        }
    }
    let json = serialize(&kernel);
    let back: Kernel = match serde_json::from_str(&json) {
        Ok(k) => k,
        Err(e) => panic!("snapshot does not decode: {e}"),
    };
    assert!(back == kernel, "snapshot round-trip changed the state");
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
