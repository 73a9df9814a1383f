//! Determinism: the same seed gives the same event log, byte for byte (compared by hash), and
//! the premise that makes `--cfg tokio_unstable` unnecessary holds.
//!
//! turmoil seeds tokio's RNG only under `--cfg tokio_unstable`. On the current-thread runtimes
//! turmoil gives each host, tokio 1.x draws from that RNG only in `select!` without `biased;`
//! (`macros/select.rs`), in `sync::watch` (`sync/watch.rs`, which waiter shard to notify) and
//! in the blocking pool (`runtime/blocking/sharded.rs`, which queue shard). So code under test
//! that uses none of them runs the same with or without the cfg; the audit below keeps it so,
//! and the hash comparison checks the result.

use baton_sim_net::{Options, Scenario, harness, runner::seeds};
use std::path::{Path, PathBuf};

#[test]
fn the_same_seed_gives_the_same_log() {
    for scenario in Scenario::all() {
        for seed in seeds(2) {
            let a = harness::run(&scenario, seed, Options::default());
            let b = harness::run(&scenario, seed, Options::default());
            assert_eq!(
                a.hash,
                b.hash,
                "scenario {} seed {seed}: two runs, two logs ({} and {} events)",
                scenario.name,
                a.log.len(),
                b.log.len()
            );
        }
    }
}

#[test]
fn different_seeds_give_different_logs() {
    let scenario = Scenario::chaos();
    let a = harness::run(&scenario, 1, Options::default());
    let b = harness::run(&scenario, 2, Options::default());
    assert_ne!(a.hash, b.hash);
}

/// With `BATON_NET_HASHES=<file>`, writes `scenario seed hash` for the seeds the environment
/// asks for: `run.sh --tokio-unstable` compares this list between a normal build and a
/// `--cfg tokio_unstable` build (where turmoil seeds tokio's RNG).
#[test]
fn write_log_hashes() {
    let Ok(path) = std::env::var("BATON_NET_HASHES") else {
        return;
    };
    let mut out = String::new();
    for scenario in Scenario::all() {
        for seed in seeds(10) {
            let report = harness::run(&scenario, seed, Options::default());
            out.push_str(&format!("{} {seed} {:016x}\n", scenario.name, report.hash));
        }
    }
    std::fs::write(&path, out).expect("writable BATON_NET_HASHES");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source lines without comments (`//` to the end of the line; good enough for this code).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("readable source");
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let code = line.split("//").next().unwrap_or("").to_owned();
            (i + 1, code)
        })
        .collect()
}

/// Every `select!` in the code under test (this crate's hosts and the adapter) starts with
/// `biased;`, and nothing draws from an unseeded source.
#[test]
fn code_under_test_has_no_unseeded_randomness() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&here.join("src"), &mut files);
    rust_files(&here.join("../../runtime-adapters/src"), &mut files);
    let mut problems = Vec::new();
    let mut selects = 0;
    for file in &files {
        let lines = code_lines(file);
        for (i, (n, code)) in lines.iter().enumerate() {
            if code.contains("select!") {
                selects += 1;
                let next = lines[i + 1..]
                    .iter()
                    .map(|(_, c)| c.trim())
                    .find(|c| !c.is_empty());
                let inline_biased = code.contains("biased;");
                if !inline_biased && next != Some("biased;") {
                    problems.push(format!("{}:{n}: select! without biased;", file.display()));
                }
            }
            for banned in [
                "watch::",
                "HashMap",
                "HashSet",
                "RandomState",
                "thread_rng",
                "rand::random",
                "new_multi_thread",
            ] {
                if code.contains(banned) {
                    problems.push(format!("{}:{n}: uses {banned}", file.display()));
                }
            }
            if file.starts_with(here) && code.contains("ctx.spawn_blocking") {
                problems.push(format!(
                    "{}:{n}: a body uses the blocking pool",
                    file.display()
                ));
            }
        }
    }
    assert!(
        selects >= 4,
        "the audit found only {selects} select! uses: is it reading the code?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
