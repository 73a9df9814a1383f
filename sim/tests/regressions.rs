//! Shrunk input logs in `sim/regressions/`. A log made with a planted bug (`mutant`) must still
//! break its property, proving the oracle keeps biting on a minimal input list; a log without one
//! records a fixed kernel bug and must pass the paranoid oracle.

use baton_sim::{OracleConfig, Property, PropertySet, Recording};

fn logs(dir: &str) -> Vec<(String, Recording)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let rec =
                Recording::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path.display().to_string(), rec));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn regressions_replay() {
    let logs = logs("regressions");
    assert!(!logs.is_empty(), "sim/regressions/ holds the shrunk logs");
    for (path, rec) in logs {
        match (
            &rec.mutant,
            rec.property.as_deref().and_then(Property::from_name),
        ) {
            (Some(m), Some(p)) => {
                let out = rec
                    .replay(None, OracleConfig::only(PropertySet::only(p)))
                    .unwrap();
                assert!(
                    out.violations.iter().any(|v| v.property == p),
                    "{path}: mutant {m} no longer breaks {p}: {:?}",
                    out.violations
                );
            }
            _ => {
                let out = rec.replay(None, OracleConfig::paranoid()).unwrap();
                assert!(out.violations.is_empty(), "{path}: {:?}", out.violations);
            }
        }
    }
}
