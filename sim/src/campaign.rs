//! Campaigns: many `(scenario, seed)` runs on all cores, summed per scenario and property.
//!
//! Workers are plain threads pulling the next job from a shared counter; results come back over
//! a channel in completion order, but each run is deterministic and the summary is keyed by
//! scenario and seed, so the totals do not depend on scheduling. Every `determinism_every`-th
//! seed is run a second time with the oracle off and the two trace hashes must agree (which also
//! proves the oracle never influences the run). After all seeds, a scenario whose required
//! "sometimes" events never happened fails.

use crate::harness::{RunReport, Sim, SimOptions};
use crate::mutant::MutantKind;
use crate::oracle::OracleConfig;
use crate::property::{Property, Violation};
use crate::scenario::Scenario;
use crate::sometimes::{Counters, Sometimes};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// What to run.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// Scenarios, with the name or path that loads each (for replay commands).
    pub scenarios: Vec<(Scenario, String)>,
    /// Seeds per scenario; `None` uses each scenario's `seeds`.
    pub seeds: Option<std::ops::Range<u64>>,
    /// Worker threads.
    pub jobs: usize,
    /// The oracle (or `None`).
    pub oracle: Option<OracleConfig>,
    /// A planted bug.
    pub mutant: Option<MutantKind>,
    /// Re-run every this many seeds to compare trace hashes (0: never).
    pub determinism_every: u64,
    /// Fail scenarios whose required events never happened (needs a few seeds).
    pub check_sometimes: bool,
}

/// Per-scenario totals.
#[derive(Clone, Debug, Default)]
pub struct ScenarioSummary {
    /// Scenario name.
    pub name: String,
    /// How to load it again.
    pub source: String,
    /// Runs.
    pub runs: u64,
    /// Kernel inputs.
    pub inputs: u64,
    /// Tasks submitted.
    pub tasks: u64,
    /// Violations per property ([`Property::index`]).
    pub violations: [u64; Property::ALL.len()],
    /// Summed counters.
    pub counters: Counters,
    /// First violation of each failing seed.
    pub failures: Vec<(u64, Violation)>,
    /// Required events that never happened.
    pub missing: Vec<Sometimes>,
    /// Sum of per-run wall time.
    pub busy: std::time::Duration,
}

/// The whole campaign.
#[derive(Clone, Debug, Default)]
pub struct CampaignReport {
    /// One entry per scenario, in the order given.
    pub scenarios: Vec<ScenarioSummary>,
    /// Wall-clock time.
    pub wall: std::time::Duration,
}

impl CampaignReport {
    /// Kernel inputs in all.
    pub fn inputs(&self) -> u64 {
        self.scenarios.iter().map(|s| s.inputs).sum()
    }

    /// Runs in all.
    pub fn runs(&self) -> u64 {
        self.scenarios.iter().map(|s| s.runs).sum()
    }

    /// Violations in all.
    pub fn violations(&self) -> u64 {
        self.scenarios
            .iter()
            .map(|s| s.violations.iter().sum::<u64>())
            .sum()
    }

    /// Inputs per second of wall time.
    pub fn inputs_per_s(&self) -> f64 {
        self.inputs() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Inputs per second of one core's busy time.
    pub fn inputs_per_core_s(&self) -> f64 {
        let busy: f64 = self.scenarios.iter().map(|s| s.busy.as_secs_f64()).sum();
        self.inputs() as f64 / busy.max(1e-9)
    }
}

/// One finished job.
struct Done {
    scenario: usize,
    seed: u64,
    report: Result<RunReport, String>,
    rerun_hash: Option<u64>,
}

fn options(oracle: Option<OracleConfig>, mutant: Option<MutantKind>) -> SimOptions {
    SimOptions {
        oracle,
        mutant,
        ..SimOptions::default()
    }
}

/// Runs a campaign; `progress(done, total)` is called on the calling thread after each run.
pub fn run(c: &Campaign, mut progress: impl FnMut(u64, u64)) -> CampaignReport {
    let started = std::time::Instant::now();
    let mut plan: Vec<(usize, u64)> = Vec::new();
    for (i, (s, _)) in c.scenarios.iter().enumerate() {
        let seeds = c.seeds.clone().unwrap_or(0..s.seeds);
        plan.extend(seeds.map(|seed| (i, seed)));
    }
    let total = plan.len() as u64;
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Done>();
    let mut summaries: Vec<ScenarioSummary> = c
        .scenarios
        .iter()
        .map(|(s, source)| ScenarioSummary {
            name: s.name.clone(),
            source: source.clone(),
            ..ScenarioSummary::default()
        })
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..c.jobs.max(1) {
            let tx = tx.clone();
            let (plan, next) = (&plan, &next);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(scenario, seed)) = plan.get(i) else {
                        break;
                    };
                    let s = &c.scenarios[scenario].0;
                    let report = Sim::new(s, seed, options(c.oracle, c.mutant)).map(Sim::run);
                    let clean = report.as_ref().is_ok_and(|r| r.violations.is_empty());
                    let rerun_hash =
                        (clean && c.determinism_every > 0 && seed % c.determinism_every == 0)
                            .then(|| {
                                Sim::new(s, seed, options(None, c.mutant))
                                    .map(|x| x.run().trace_hash)
                                    .ok()
                            })
                            .flatten();
                    if tx
                        .send(Done {
                            scenario,
                            seed,
                            report,
                            rerun_hash,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for d in rx {
            done += 1;
            let sum = &mut summaries[d.scenario];
            sum.runs += 1;
            match d.report {
                Ok(mut r) => {
                    // A run stopped at a violation ends early; only clean runs are compared.
                    if let Some(h) = d.rerun_hash
                        && r.violations.is_empty()
                        && h != r.trace_hash
                    {
                        r.violations.push(Violation {
                            property: Property::Determinism,
                            t: r.virtual_ns,
                            step: r.inputs,
                            detail: format!(
                                "trace hash {:016x} on the first run, {h:016x} on the second",
                                r.trace_hash
                            ),
                        });
                    }
                    sum.inputs += r.inputs;
                    sum.tasks += r.tasks;
                    sum.busy += r.wall;
                    sum.counters.add(&r.counters);
                    for v in &r.violations {
                        sum.violations[v.property.index()] += 1;
                    }
                    if let Some(v) = r.violations.first() {
                        sum.failures.push((d.seed, v.clone()));
                    }
                }
                Err(e) => {
                    sum.violations[Property::Robustness.index()] += 1;
                    sum.failures.push((
                        d.seed,
                        Violation {
                            property: Property::Robustness,
                            t: 0,
                            step: 0,
                            detail: format!("could not start: {e}"),
                        },
                    ));
                }
            }
            progress(done, total);
        }
    });
    for (sum, (s, _)) in summaries.iter_mut().zip(&c.scenarios) {
        sum.failures.sort_by_key(|(seed, _)| *seed);
        if c.check_sometimes && sum.runs >= 3 {
            for name in &s.sometimes {
                if let Some(ev) = Sometimes::from_name(name)
                    && sum.counters.get(ev) == 0
                {
                    sum.missing.push(ev);
                    sum.violations[Property::Sometimes.index()] += 1;
                }
            }
        }
    }
    CampaignReport {
        scenarios: summaries,
        wall: started.elapsed(),
    }
}

/// The summary table: one row per scenario, one column per property (violation counts).
pub fn table(r: &CampaignReport) -> String {
    let width = r
        .scenarios
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!("{:<width$} {:>5} {:>11}", "scenario", "runs", "inputs");
    for p in Property::ALL {
        out.push_str(&format!(" {:>7}", p.short()));
    }
    out.push('\n');
    let mut totals = [0u64; Property::ALL.len()];
    for s in &r.scenarios {
        out.push_str(&format!(
            "{:<width$} {:>5} {:>11}",
            s.name, s.runs, s.inputs
        ));
        for p in Property::ALL {
            let v = s.violations[p.index()];
            totals[p.index()] += v;
            out.push_str(&format!(" {:>7}", v));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{:<width$} {:>5} {:>11}",
        "total",
        r.runs(),
        r.inputs()
    ));
    for v in totals {
        out.push_str(&format!(" {:>7}", v));
    }
    out.push('\n');
    out
}
