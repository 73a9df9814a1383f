//! Replays every committed corpus and regression file through its fuzz target on the stable
//! toolchain, so crashes found by libFuzzer stay fixed without libFuzzer.

use std::path::Path;

/// Replays one target's corpus and regression files; returns how many it replayed.
fn replay(name: &str, target: baton_fuzz::Target) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0usize;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap_or_default();
            let result = std::panic::catch_unwind(|| target(&data));
            assert!(result.is_ok(), "{name}: {} crashes", file.display());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn every_corpus_and_regression_file_passes() {
    // One thread per target: the kernel_inputs corpus runs the paranoid oracle and dominates.
    let counts: Vec<(&str, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = baton_fuzz::TARGETS
            .iter()
            .map(|(name, target)| (*name, scope.spawn(move || replay(name, *target))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| match h.join() {
                Ok(n) => (name, n),
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    });
    for (name, n) in &counts {
        assert!(
            *n > 0,
            "no corpus files for {name}: its corpus test would test nothing"
        );
    }
    println!("replayed {counts:?}");
}

#[test]
fn targets_survive_simple_inputs() {
    for (_, target) in baton_fuzz::TARGETS {
        target(&[]);
        target(&[0; 64]);
        target(&[0xff; 64]);
        target(&(0..=255u8).collect::<Vec<_>>());
    }
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect()
}

/// Formats change (the kernel's snapshot format did); a stale corpus would only exercise the
/// JSON or TOML parser. Each decoder's corpus must keep some inputs that decode today.
#[test]
fn corpora_still_hold_valid_inputs() {
    let valid = |name: &str, ok: &dyn Fn(&[u8]) -> bool| {
        let n = corpus(name).iter().filter(|d| ok(d)).count();
        assert!(
            n >= 3,
            "only {n} inputs of corpus/{name} decode: regenerate its seeds (fuzz/README.md)"
        );
    };
    valid("snapshot_decode", &|d| {
        serde_json::from_slice::<baton_kernel::Kernel>(d)
            .is_ok_and(|k| k.check_invariants().is_ok() && k.registry_len() > 0)
    });
    valid("scenario_decode", &|d| {
        std::str::from_utf8(d).is_ok_and(|t| baton_sim::Scenario::from_toml(t, "corpus").is_ok())
    });
    valid("trace_decode", &|d| {
        std::str::from_utf8(d).is_ok_and(|t| baton_sim::trace::read(t).is_ok_and(|e| e.len() > 1))
    });
    valid("swf_parse", &|d| {
        std::str::from_utf8(d).is_ok_and(|t| baton_sim::swf::parse(t, None).is_ok())
    });
}
