//! Writes realistic seeds for the `snapshot_decode` target: the serde JSON of a kernel stopped
//! mid-run by the simulator, for several built-in scenarios, seeds and depths.
//!
//! ```text
//! cargo run -p baton-fuzz --example snapshot_seeds -- DIR
//! ```
//!
//! Only snapshots of 1 KB to 50 KB are kept (libFuzzer mutates small inputs best; `run.sh`
//! fuzzes this target with `-max_len=65536`). File names are `<scenario>-<seed>-<steps>.json`.

use baton_sim::{Scenario, Sim, SimOptions};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: snapshot_seeds DIR");
        std::process::exit(2);
    });
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{dir}: {e}");
        std::process::exit(1);
    }
    let mut written = 0;
    for name in [
        "steady-mix",
        "chaos",
        "group-late-binding",
        "shutdown-mid-flight",
        "retry-storm",
        "stubborn-zombies",
        "disconnect-mid-op",
        "heartbeat-stalls",
        "source-job-manager",
        "source-cache-tracker",
    ] {
        let scenario = match Scenario::builtin(name) {
            Some(Ok(s)) => s,
            other => {
                eprintln!("{name}: {other:?}");
                std::process::exit(1);
            }
        };
        for seed in [1, 2] {
            let options = SimOptions {
                oracle: None,
                ..SimOptions::default()
            };
            let Ok(mut sim) = Sim::new(&scenario, seed, options) else {
                continue;
            };
            let mut steps = 0u64;
            for stop in [40u64, 150, 400, 1_000, 3_000] {
                while steps < stop && sim.step() {
                    steps += 1;
                }
                let Ok(json) = serde_json::to_string(sim.kernel()) else {
                    continue;
                };
                if !(1_000..=50_000).contains(&json.len()) {
                    continue;
                }
                let path = format!("{dir}/{name}-{seed}-{steps}.json");
                if let Err(e) = std::fs::write(&path, json) {
                    eprintln!("{path}: {e}");
                    std::process::exit(1);
                }
                written += 1;
            }
        }
    }
    println!("wrote {written} snapshots to {dir}");
}
