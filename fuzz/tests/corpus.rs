//! Replays every committed corpus and regression file through its fuzz target on the stable
//! toolchain, so crashes found by libFuzzer stay fixed without libFuzzer.

use std::path::Path;

#[test]
fn every_corpus_and_regression_file_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0usize;
    for (name, target) in baton_fuzz::TARGETS {
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
    }
    assert!(
        replayed > 0,
        "no corpus files found: the corpus test would test nothing"
    );
    println!("replayed {replayed} corpus files");
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
