//! Shrinking: delta debugging (Zeller's ddmin) over a failing run's kernel inputs, down to a
//! list where removing any one chunk no longer reproduces the failure.
//!
//! A candidate reproduces when replaying it (see [`crate::record`]) breaks the same property as
//! the original failure. Candidates are judged with only that property enabled and every check
//! after every input, so no other property stops the replay first and no check depends on a
//! cadence that removing inputs would shift. Liveness and determinism failures need the world or a second run, so
//! they cannot be shrunk this way; the log is returned cut at the failing input instead.

use crate::oracle::OracleConfig;
use crate::property::{Property, PropertySet};
use crate::record::Recording;

/// The result of shrinking.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The minimal log (same config, fewer inputs).
    pub recording: Recording,
    /// Inputs before and after.
    pub from: usize,
    /// Inputs kept.
    pub to: usize,
    /// Replays tried.
    pub tests: u64,
}

/// Whether the inputs at `keep` still break `property`.
fn fails(rec: &Recording, keep: &[usize], property: Property, tests: &mut u64) -> bool {
    *tests += 1;
    rec.replay(Some(keep), OracleConfig::only(PropertySet::only(property)))
        .is_ok_and(|o| o.violations.iter().any(|v| v.property == property))
}

/// Shrinks `rec`, which breaks `property`, within `max_tests` replays.
pub fn shrink(rec: &Recording, property: Property, max_tests: u64) -> Result<Shrunk, String> {
    let mut tests = 0;
    let all: Vec<usize> = (0..rec.inputs.len()).collect();
    if !fails(rec, &all, property, &mut tests) {
        return Err(format!(
            "the input log does not reproduce the {property} violation on its own (it may need the simulated world)"
        ));
    }
    // Everything after the first failing input is irrelevant.
    let cut = rec
        .replay(None, OracleConfig::only(PropertySet::only(property)))
        .map(|o| o.inputs as usize)
        .unwrap_or(rec.inputs.len());
    let mut current: Vec<usize> = (0..cut.min(rec.inputs.len())).collect();
    let mut n = 2usize;
    while current.len() >= 2 && tests < max_tests {
        let chunk = current.len().div_ceil(n);
        let mut reduced = false;
        let mut start = 0;
        while start < current.len() && tests < max_tests {
            let end = (start + chunk).min(current.len());
            // Try the complement of this chunk.
            let complement: Vec<usize> = current[..start]
                .iter()
                .chain(current[end..].iter())
                .copied()
                .collect();
            if !complement.is_empty() && fails(rec, &complement, property, &mut tests) {
                current = complement;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
            start = end;
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    let mut out = rec.clone();
    out.inputs = current.iter().map(|i| rec.inputs[*i].clone()).collect();
    out.property = Some(property.name().to_owned());
    Ok(Shrunk {
        recording: out,
        from: rec.inputs.len(),
        to: current.len(),
        tests,
    })
}
