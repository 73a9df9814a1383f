//! Campaigns over many seeds, driven by environment variables so that `cargo test` runs a few
//! seeds and `run.sh` (CI) runs many, and so that a failure replays with one command.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `BATON_NET_SEED` | run only this seed (and write its log to `BATON_NET_LOG` if set) | |
//! | `BATON_NET_SEEDS` | how many seeds per scenario | 10 |
//! | `BATON_NET_FIRST_SEED` | the first seed | 0 |
//! | `BATON_NET_FAULT` | inject an adapter bug into every scheduler (see [`parse_fault`]) — the scenario tests then fail | |
//! | `BATON_NET_RERUN` | also run every `n`-th seed a second time and compare log hashes | 5 |
//! | `BATON_NET_LOG` | file to write the event log of a single-seed run to | |

use crate::check::{Property, Violation};
use crate::client::Clock;
use crate::harness::{self, Options, Report, Stats};
use crate::scenario::Scenario;
use baton_runtime::Fault;
use std::time::Instant;

/// The adapter bug named `name` (`release-on-cancel`, `ignore-cancel`, `lose-failed-exit`,
/// `lost-wakeup`), or the broken runtime clock (`wall-clock`).
pub fn parse_fault(name: &str) -> Option<Options> {
    let fault = match name {
        "release-on-cancel" => Fault::ReleaseOnCancel,
        "ignore-cancel" => Fault::IgnoreCancel,
        "lose-failed-exit" => Fault::LoseFailedExit,
        "lost-wakeup" => Fault::LostWakeup,
        "wall-clock" => {
            return Some(Options {
                fault: None,
                clock: Clock::Wall,
                ..Options::default()
            });
        }
        _ => return None,
    };
    Some(Options {
        fault: Some(fault),
        clock: Clock::Tokio,
        ..Options::default()
    })
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// The seeds the environment asks for (`default_count` seeds from 0 if it says nothing).
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("BATON_NET_SEED") {
        return vec![seed];
    }
    let first = env_u64("BATON_NET_FIRST_SEED").unwrap_or(0);
    let count = env_u64("BATON_NET_SEEDS").unwrap_or(default_count);
    (first..first + count).collect()
}

/// The options the environment asks for (`BATON_NET_FAULT`).
pub fn options() -> Options {
    match std::env::var("BATON_NET_FAULT") {
        Ok(name) if !name.is_empty() => {
            parse_fault(&name).unwrap_or_else(|| panic!("BATON_NET_FAULT={name:?}: unknown"))
        }
        _ => Options::default(),
    }
}

/// The one-line command that replays `seed` of `scenario` in the test binary `test`.
pub fn replay_command(test: &str, scenario: &str, seed: u64) -> String {
    let fault = std::env::var("BATON_NET_FAULT")
        .ok()
        .filter(|f| !f.is_empty())
        .map(|f| format!("BATON_NET_FAULT={f} "))
        .unwrap_or_default();
    format!(
        "{fault}BATON_NET_SEED={seed} BATON_NET_LOG=/tmp/baton-net-{scenario}-{seed}.log \
         cargo test -p baton-sim-net --test {test} -- {scenario} --exact"
    )
}

/// A campaign's result.
#[derive(Debug, Default)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Reports of the failing seeds.
    pub failures: Vec<Report>,
    /// Totals over every seed.
    pub totals: Stats,
    /// Seeds run twice for the determinism check.
    pub reruns: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
}

/// Runs `scenario` over `seeds`; every `rerun_every`-th seed (0: none) runs twice and must give
/// the same log hash.
pub fn campaign(scenario: &Scenario, seeds: &[u64], options: Options, rerun_every: u64) -> Summary {
    let began = Instant::now();
    let mut summary = Summary::default();
    for (i, &seed) in seeds.iter().enumerate() {
        let mut report = harness::run(scenario, seed, options);
        if rerun_every > 0 && (i as u64) % rerun_every == 0 {
            summary.reruns += 1;
            let again = harness::run(scenario, seed, options);
            if again.hash != report.hash {
                report.violations.push(Violation {
                    property: Property::Determinism,
                    detail: format!(
                        "two runs of seed {seed} gave log hashes {:016x} and {:016x} ({} and {} events)",
                        report.hash,
                        again.hash,
                        report.log.len(),
                        again.log.len()
                    ),
                });
            }
        }
        summary.seeds += 1;
        summary.totals.add(&report.stats);
        if !report.violations.is_empty() {
            summary.failures.push(report);
        }
    }
    summary.wall_s = began.elapsed().as_secs_f64();
    summary
}

/// Lists violations grouped by property: a count, then the first `per_property` details.
pub fn describe(violations: &[Violation], per_property: usize) -> String {
    let mut by_property: std::collections::BTreeMap<Property, Vec<&Violation>> =
        std::collections::BTreeMap::new();
    for v in violations {
        by_property.entry(v.property).or_default().push(v);
    }
    let mut out = String::new();
    for (property, list) in by_property {
        out.push_str(&format!("  {} × {}:\n", list.len(), property.name()));
        for v in list.iter().take(per_property) {
            out.push_str(&format!("    {}\n", v.detail));
        }
        if list.len() > per_property {
            out.push_str(&format!("    … and {} more\n", list.len() - per_property));
        }
    }
    out
}

/// Formats counts as `name=n, …`.
pub fn counts<K: std::fmt::Display>(map: &std::collections::BTreeMap<K, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The scenario test: runs the seeds the environment asks for (10 by default), prints a
/// summary, and panics with each failing seed, its violations and its replay command.
pub fn check_scenario(name: &str, test: &str) {
    let scenario = Scenario::named(name).unwrap_or_else(|| panic!("no scenario {name:?}"));
    let seeds = seeds(10);
    let options = options();
    let rerun = env_u64("BATON_NET_RERUN").unwrap_or(5);
    let summary = campaign(&scenario, &seeds, options, rerun);
    if let (Ok(path), [seed]) = (std::env::var("BATON_NET_LOG"), seeds.as_slice()) {
        let report = harness::run(&scenario, *seed, options);
        let text: String = report
            .log
            .entries()
            .iter()
            .map(|e| format!("{e}\n"))
            .collect();
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        eprintln!("event log of seed {seed} written to {path}");
    }
    let t = &summary.totals;
    // One print, so parallel tests do not interleave their summaries.
    println!(
        "scenario {name}: {} seeds ({} run twice) in {:.1}s, {} failed; {} sim-s, {} tasks, \
         {} server ops\n  faults: {}\n  outcomes: {}\n  server ends: {}",
        summary.seeds,
        summary.reruns,
        summary.wall_s,
        summary.failures.len(),
        t.sim_ms / 1000,
        t.tasks,
        t.server_ops,
        counts(&t.faults),
        counts(&t.outcomes),
        counts(&t.server_ends)
    );
    if summary.failures.is_empty() {
        return;
    }
    let mut message = String::new();
    for report in &summary.failures {
        message.push_str(&format!(
            "
seed {} of scenario {name}: {} violation(s)
",
            report.seed,
            report.violations.len(),
        ));
        message.push_str(&describe(&report.violations, 2));
        message.push_str(&format!(
            "  replay: {}\n",
            replay_command(test, name, report.seed)
        ));
    }
    eprintln!("{message}");
    panic!(
        "{} of {} seeds of scenario {name} failed (see above for seeds and replay commands)",
        summary.failures.len(),
        summary.seeds
    );
}
