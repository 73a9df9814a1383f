//! Group 5 of issue 7: the deterministic simulator (`baton-sim`), see `BENCHMARKS.md`.
//!
//! - `sim_inputs`: one run of the built-in scenario [`SCENARIO`] with seed [`SEED`] per
//!   iteration, with the oracle off (`oracle_off`) and with the full oracle (`oracle_full`,
//!   `OracleConfig::full()`: every property after every input, `check_invariants()` on the
//!   adaptive cadence, property 11's lazy kernel), and with the full oracle without property 11
//!   (`oracle_full_no_timing`, its cost measured in the same run). Throughput in kernel inputs,
//!   so criterion reports inputs per second.
//! - `sim_swf_replay`: wall time to replay the KTH SP2 log, `swf::parse` + `swf::run` (file
//!   already read into memory), oracle off and full. The log is found at
//!   `$BATON_SWF` or `<repo>/../shared/traces/KTH-SP2-1996-2.1-cln.swf`; without it the group is
//!   skipped with a message.
//!
//! Writes `simulator.json` (the input counts, for the report) into `$BATON_BENCH_OUT`.

use baton_sim::{OracleConfig, Property, PropertySet, RunReport, Scenario, Sim, SimOptions, swf};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

/// The scenario timed for inputs per second.
const SCENARIO: &str = "steady-mix";
/// Its seed (fixed: every iteration replays the same run, so every sample does the same work).
const SEED: u64 = 1;
/// The log replayed by `sim_swf_replay`.
const SWF_NAME: &str = "KTH-SP2-1996-2.1-cln.swf";

fn options(oracle: Option<OracleConfig>) -> SimOptions {
    SimOptions {
        oracle,
        ..SimOptions::default()
    }
}

const ORACLES: [(&str, Option<OracleConfig>); 3] = [
    ("oracle_off", None),
    ("oracle_full", Some(OracleConfig::full())),
    // The full oracle without property 11's lazy kernel: what the timing-independence check
    // costs, measured in the same run.
    (
        "oracle_full_no_timing",
        Some(OracleConfig {
            properties: PropertySet::ALL.without(Property::TimingIndependence),
            ..OracleConfig::full()
        }),
    ),
];

fn checked(report: RunReport) -> RunReport {
    assert!(
        report.violations.is_empty(),
        "{}: {:?}",
        report.scenario,
        report.violations
    );
    report
}

fn sim_inputs(c: &mut Criterion) {
    let scenario = Scenario::load(SCENARIO).expect("built-in scenario");
    let run = |oracle: Option<OracleConfig>| {
        checked(
            Sim::new(&scenario, SEED, options(oracle))
                .expect("sim")
                .run(),
        )
    };
    let inputs = run(None).inputs;
    assert_eq!(run(Some(OracleConfig::full())).inputs, inputs);
    let mut group = c.benchmark_group("sim_inputs");
    group.throughput(Throughput::Elements(inputs));
    group.sample_size(20);
    for (name, oracle) in ORACLES {
        group.bench_function(name, |b| b.iter(|| black_box(run(oracle).inputs)));
    }
    group.finish();
    baton_benches::record(
        "sim_inputs",
        &serde_json::json!({ "scenario": SCENARIO, "seed": SEED, "inputs": inputs }),
    );
}

/// The KTH SP2 log: `$BATON_SWF`, else `../shared/traces/` next to the repository.
fn swf_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BATON_SWF") {
        return Some(PathBuf::from(p));
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|d| d.join("shared/traces").join(SWF_NAME))
        .find(|p| p.is_file())
}

fn sim_swf_replay(c: &mut Criterion) {
    let Some(path) = swf_path() else {
        eprintln!("sim_swf_replay: {SWF_NAME} not found (set BATON_SWF); skipped");
        return;
    };
    let text = std::fs::read_to_string(&path).expect("read the SWF log");
    let replay = |oracle: Option<OracleConfig>| {
        let w = swf::parse(&text, None).expect("parse the SWF log");
        checked(swf::run(&w, options(oracle)).expect("replay"))
    };
    let w = swf::parse(&text, None).expect("parse the SWF log");
    let report = replay(None);
    let mut group = c.benchmark_group("sim_swf_replay");
    group.throughput(Throughput::Elements(report.inputs));
    group.sample_size(10);
    for (name, oracle) in ORACLES {
        group.bench_function(name, |b| b.iter(|| black_box(replay(oracle).inputs)));
    }
    group.finish();
    baton_benches::record(
        "sim_swf",
        &serde_json::json!({
            "file": SWF_NAME,
            "jobs": w.jobs.len(),
            "users": w.users.len(),
            "span_days": w.span_ns as f64 / 86_400e9,
            "inputs": report.inputs,
            "tasks": report.tasks,
        }),
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = sim_inputs, sim_swf_replay
}
criterion_main!(benches);
