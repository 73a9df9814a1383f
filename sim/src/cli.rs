//! Command-line interface.

use baton_sim::campaign::{self, Campaign};
use baton_sim::record::Recording;
use baton_sim::sometimes::Sometimes;
use baton_sim::{MutantKind, OracleConfig, RunReport, Scenario, Sim, SimOptions, shrink, swf};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;

/// Deterministic simulator for the baton scheduling kernel.
#[derive(Parser, Debug)]
#[command(name = "baton-sim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OracleMode {
    /// No checks: the fastest way to drive the kernel.
    Off,
    /// Every property after every input; `check_invariants()` on an adaptive cadence.
    Full,
    /// Like full, with `check_invariants()` and the metrics cross-check after every input.
    Paranoid,
}

impl OracleMode {
    fn config(self) -> Option<OracleConfig> {
        match self {
            OracleMode::Off => None,
            OracleMode::Full => Some(OracleConfig::full()),
            OracleMode::Paranoid => Some(OracleConfig::paranoid()),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a campaign: scenarios × seeds on all cores, with a summary table.
    Run {
        /// Built-in scenario name, a TOML file, or `all` (repeatable).
        #[arg(long, short, default_value = "all")]
        scenario: Vec<String>,
        /// Seeds as `A..B` (default: each scenario's `seeds`).
        #[arg(long)]
        seeds: Option<String>,
        /// Worker threads (default: available cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// How thorough the oracle is.
        #[arg(long, value_enum, default_value = "full")]
        oracle: OracleMode,
        /// Plant a bug (to see the oracle catch it).
        #[arg(long)]
        mutant: Option<String>,
        /// Re-run every N-th seed and compare trace hashes (0: never).
        #[arg(long, default_value_t = 4)]
        determinism_every: u64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Run one seed of one scenario, print its report and optionally write its trace.
    Replay {
        /// Built-in scenario name or TOML file.
        #[arg(long, short)]
        scenario: Option<String>,
        /// The seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write the JSONL trace here.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
        /// Replay a recorded input log (from `shrink`, `--record` or `sim/regressions/`)
        /// instead; with `--oracle off`, through the bare kernel, to measure its throughput.
        #[arg(long)]
        input: Option<std::path::PathBuf>,
        /// Also write the run's kernel input log here (JSON).
        #[arg(long)]
        record: Option<std::path::PathBuf>,
        /// How thorough the oracle is.
        #[arg(long, value_enum, default_value = "full")]
        oracle: OracleMode,
        /// Plant a bug.
        #[arg(long)]
        mutant: Option<String>,
    },
    /// Shrink a failing run to a minimal kernel input list and write it as a replayable log.
    Shrink {
        /// Built-in scenario name or TOML file.
        #[arg(long, short)]
        scenario: String,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Where to write the log (default: `<scenario>-<seed>.json`).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Plant a bug.
        #[arg(long)]
        mutant: Option<String>,
        /// Give up after this many replays.
        #[arg(long, default_value_t = 5_000)]
        max_tests: u64,
    },
    /// Replay a Parallel Workloads Archive log (SWF) under the oracle.
    Swf {
        /// The SWF file.
        file: std::path::PathBuf,
        /// Only the first N jobs.
        #[arg(long)]
        limit: Option<usize>,
        /// How thorough the oracle is.
        #[arg(long, value_enum, default_value = "full")]
        oracle: OracleMode,
        /// Write the JSONL trace here.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
    },
    /// Replay an input log recorded from a real run (`Scheduler::recording`, JSON Lines): check
    /// that the kernel reproduces every answer and action exactly, then run the oracle over it.
    /// Also takes the simulator's own JSON input logs (`replay --record`).
    ReplayLog {
        /// The log.
        log: std::path::PathBuf,
        /// How thorough the oracle is.
        #[arg(long, value_enum, default_value = "full")]
        oracle: OracleMode,
        /// Also write the recorded run as a JSONL trace (the simulator's trace format) here.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
    },
    /// What if: replay a recorded run's arrivals and bodies under another configuration and
    /// compare per class (queue wait, run time, timeouts, rejections, throughput).
    Whatif {
        /// The input log of the real run (JSON Lines).
        log: std::path::PathBuf,
        /// A TOML file of `[[class]]` / `[kernel]` overrides of the recorded configuration, in
        /// the scenario files' syntax (e.g. `[[class]]` `name = "scraping"` `limit = 2`).
        #[arg(long)]
        config: std::path::PathBuf,
        /// Where to draw the queue-wait comparison.
        #[arg(long, default_value = "whatif.png")]
        png: std::path::PathBuf,
    },
    /// List the built-in scenarios.
    Scenarios,
    /// Validate a scenario file.
    Check {
        /// The TOML file.
        file: String,
    },
}

fn parse_mutant(m: Option<&str>) -> Result<Option<MutantKind>, String> {
    match m {
        None => Ok(None),
        Some(name) => MutantKind::from_name(name).map(Some).ok_or_else(|| {
            format!(
                "unknown mutant {name:?} (known: {})",
                MutantKind::ALL
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
    }
}

fn parse_seeds(s: &str) -> Result<std::ops::Range<u64>, String> {
    let bad = || format!("--seeds {s:?}: expected A..B (for example 0..100)");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if b <= a {
        return Err(bad());
    }
    Ok(a..b)
}

fn trace_sink(path: Option<&std::path::Path>) -> Result<Option<Box<dyn Write + Send>>, String> {
    match path {
        None => Ok(None),
        Some(p) => {
            let f = std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(Some(Box::new(std::io::BufWriter::new(f))))
        }
    }
}

/// Runs the command line; returns the exit code.
pub(crate) fn main() -> i32 {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run {
        scenario: vec!["all".to_owned()],
        seeds: None,
        jobs: None,
        oracle: OracleMode::Full,
        mutant: None,
        determinism_every: 4,
        quiet: false,
    });
    match run(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("baton-sim: {e}");
            2
        }
    }
}

fn run(command: Command) -> Result<i32, String> {
    match command {
        Command::Run {
            scenario,
            seeds,
            jobs,
            oracle,
            mutant,
            determinism_every,
            quiet,
        } => {
            let mut scenarios = Vec::new();
            for s in &scenario {
                if s == "all" {
                    for (name, _) in baton_sim::scenario::BUILTIN {
                        scenarios.push((
                            Scenario::load(name).map_err(|e| e.to_string())?,
                            (*name).to_owned(),
                        ));
                    }
                } else {
                    scenarios.push((Scenario::load(s).map_err(|e| e.to_string())?, s.clone()));
                }
            }
            let c = Campaign {
                scenarios,
                seeds: seeds.as_deref().map(parse_seeds).transpose()?,
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                oracle: oracle.config(),
                mutant: parse_mutant(mutant.as_deref())?,
                determinism_every,
                check_sometimes: true,
            };
            campaign_command(&c, oracle, quiet)
        }
        Command::Replay {
            scenario,
            seed,
            trace,
            input,
            record,
            oracle,
            mutant,
        } => {
            if let Some(path) = input {
                return replay_log(&path, oracle);
            }
            let name = scenario.ok_or("replay needs --scenario (or --input LOG)")?;
            let s = Scenario::load(&name).map_err(|e| e.to_string())?;
            let mutant = parse_mutant(mutant.as_deref())?;
            let options = SimOptions {
                oracle: oracle.config(),
                mutant,
                trace: trace_sink(trace.as_deref())?,
                record: record.is_some(),
                ..SimOptions::default()
            };
            let report = Sim::new(&s, seed, options)?.run();
            print_report(&report);
            if let (Some(path), Some(rec)) = (&record, &report.recording) {
                std::fs::write(path, rec.to_json())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                println!(
                    "input log:  {} ({} inputs)",
                    path.display(),
                    rec.inputs.len()
                );
            }
            if let Some(t) = trace {
                println!("trace:      {} ({} lines)", t.display(), report.trace_lines);
            }
            Ok(i32::from(!report.violations.is_empty()))
        }
        Command::Shrink {
            scenario,
            seed,
            out,
            mutant,
            max_tests,
        } => {
            let s = Scenario::load(&scenario).map_err(|e| e.to_string())?;
            let mutant = parse_mutant(mutant.as_deref())?;
            let options = SimOptions {
                mutant,
                record: true,
                ..SimOptions::default()
            };
            let report = Sim::new(&s, seed, options)?.run();
            let Some(first) = report.violations.first().cloned() else {
                println!("{} seed {seed}: no violation, nothing to shrink", s.name);
                return Ok(0);
            };
            println!("failure: {first}");
            let rec = report.recording.ok_or("no recording")?;
            let shrunk = shrink::shrink(&rec, first.property, max_tests)?;
            let path = out.unwrap_or_else(|| format!("{}-{seed}.json", s.name).into());
            std::fs::write(&path, shrunk.recording.to_json())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            println!(
                "shrunk {} inputs to {} in {} replays; wrote {}",
                shrunk.from,
                shrunk.to,
                shrunk.tests,
                path.display()
            );
            for r in &shrunk.recording.inputs {
                println!("  t={:>14}  {:?}", r.t, r.input);
            }
            println!("replay: baton-sim replay --input {}", path.display());
            Ok(1)
        }
        Command::ReplayLog { log, oracle, trace } => {
            replay_input_log(&log, oracle, trace.as_deref())
        }
        Command::Whatif { log, config, png } => whatif_command(&log, &config, &png),
        Command::Swf {
            file,
            limit,
            oracle,
            trace,
        } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let w = swf::parse(&text, limit).map_err(|e| format!("{}: {e}", file.display()))?;
            let options = SimOptions {
                oracle: oracle.config(),
                trace: trace_sink(trace.as_deref())?,
                ..SimOptions::default()
            };
            let report = swf::run(&w, options)?;
            println!(
                "swf {}: {} jobs ({} skipped: unknown run time), {} users, simulated span {:.1} days",
                file.display(),
                w.jobs.len(),
                w.skipped,
                w.users.len(),
                w.span_ns as f64 / 86_400e9
            );
            print_report(&report);
            Ok(i32::from(!report.violations.is_empty()))
        }
        Command::Scenarios => {
            for (name, _) in baton_sim::scenario::BUILTIN {
                let s = Scenario::load(name).map_err(|e| e.to_string())?;
                println!("{:<24} {:>3} seeds  {}", s.name, s.seeds, s.description);
            }
            Ok(0)
        }
        Command::Check { file } => {
            let s = Scenario::load(&file).map_err(|e| e.to_string())?;
            println!(
                "{file}: scenario {:?} is valid ({} workloads)",
                s.name,
                s.workloads.len()
            );
            Ok(0)
        }
    }
}

fn campaign_command(c: &Campaign, oracle: OracleMode, quiet: bool) -> Result<i32, String> {
    let total: u64 = c
        .scenarios
        .iter()
        .map(|(s, _)| c.seeds.clone().map_or(s.seeds, |r| r.end - r.start))
        .sum();
    println!(
        "baton-sim run: {} scenarios, {total} runs, {} jobs, oracle {:?}{}",
        c.scenarios.len(),
        c.jobs,
        oracle,
        c.mutant
            .map(|m| format!(", mutant {}", m.name()))
            .unwrap_or_default()
    );
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed_precise} eta {eta}")
                .map_err(|e| e.to_string())?,
        );
        b
    };
    let report = campaign::run(c, |done, _| bar.set_position(done));
    bar.finish_and_clear();
    print!("{}", campaign::table(&report));
    // Driver timing as a fault: how often the late driver's knob really fired.
    let mut counters = baton_sim::sometimes::Counters::default();
    for s in &report.scenarios {
        counters.add(&s.counters);
    }
    println!(
        "late driver: {}",
        [
            Sometimes::LateTimer,
            Sometimes::InputBeforeDueTimeout,
            Sometimes::LateDelivery,
        ]
        .map(|e| format!("{}={}", e.name(), counters.get(e)))
        .join(" ")
    );
    println!(
        "{} inputs, {} runs in {:.1}s: {:.0} inputs/s ({:.0} per core)",
        report.inputs(),
        report.runs(),
        report.wall.as_secs_f64(),
        report.inputs_per_s(),
        report.inputs_per_core_s()
    );
    let mutant = c
        .mutant
        .map(|m| format!(" --mutant {}", m.name()))
        .unwrap_or_default();
    for s in &report.scenarios {
        for (seed, v) in &s.failures {
            println!("FAIL {} seed {seed}: {v}", s.name);
            println!(
                "  replay: baton-sim replay --scenario {} --seed {seed}{mutant}",
                s.source
            );
        }
        if !s.missing.is_empty() {
            println!(
                "FAIL {}: required events never happened over {} runs: {}",
                s.name,
                s.runs,
                s.missing
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let violations = report.violations();
    if violations == 0 {
        println!("ok: no violations");
        Ok(0)
    } else {
        println!("{violations} violations");
        Ok(1)
    }
}

fn print_report(r: &RunReport) {
    let secs = r.wall.as_secs_f64().max(1e-9);
    println!("scenario:   {} seed {}", r.scenario, r.seed);
    if !r.knobs.is_empty() {
        println!("knobs:      {}", r.knobs.join(" "));
    }
    println!(
        "simulated:  {:.3}s virtual, {} tasks, {} kernel inputs, {} steps",
        r.virtual_ns as f64 / 1e9,
        r.tasks,
        r.inputs,
        r.steps
    );
    println!(
        "wall:       {:.3}s ({:.0} inputs/s)",
        secs,
        r.inputs as f64 / secs
    );
    println!("trace hash: {:016x}", r.trace_hash);
    let counters: Vec<String> = r
        .counters
        .nonzero()
        .iter()
        .map(|(n, c)| format!("{n}={c}"))
        .collect();
    println!("events:     {}", counters.join(" "));
    if r.violations.is_empty() {
        println!("ok: no violations");
    }
    for v in &r.violations {
        println!("VIOLATION {v}");
    }
}

fn replay_log(path: &std::path::Path, oracle: OracleMode) -> Result<i32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rec = Recording::from_json(&text)?;
    let Some(cfg) = oracle.config() else {
        let (inputs, wall) = rec.replay_bare()?;
        println!(
            "{}: {inputs} inputs through the bare kernel in {:.3}s: {:.0} kernel inputs/s",
            path.display(),
            wall.as_secs_f64(),
            inputs as f64 / wall.as_secs_f64().max(1e-9)
        );
        return Ok(0);
    };
    let out = rec.replay(None, cfg)?;
    println!(
        "{}: {} inputs from {} seed {}{}",
        path.display(),
        out.inputs,
        rec.scenario,
        rec.seed,
        rec.mutant
            .as_ref()
            .map(|m| format!(" (mutant {m})"))
            .unwrap_or_default()
    );
    for v in &out.violations {
        println!("VIOLATION {v}");
    }
    if out.violations.is_empty() {
        println!("ok: no violations");
    }
    Ok(i32::from(!out.violations.is_empty()))
}

fn read_log(path: &std::path::Path) -> Result<(String, baton_sim::input_log::InputLog), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let log = baton_sim::input_log::InputLog::parse(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((text, log))
}

fn replay_input_log(
    path: &std::path::Path,
    oracle: OracleMode,
    trace: Option<&std::path::Path>,
) -> Result<i32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !baton_sim::input_log::InputLog::looks_like(&text) {
        if trace.is_some() {
            return Err("--trace needs an input log recorded by Scheduler::recording".to_owned());
        }
        return replay_log(path, oracle);
    }
    let (_, log) = read_log(path)?;
    if let Some(out) = trace {
        let hash = log.write_trace(trace_sink(Some(out))?)?;
        println!("trace: {} (hash {hash:016x})", out.display());
    }
    match log.reproduce() {
        Ok(r) => println!(
            "{}: reproduced exactly: {} inputs, {} actions, every answer and action identical",
            path.display(),
            r.inputs,
            r.actions
        ),
        Err(diff) => {
            println!("{}: NOT reproduced: {diff}", path.display());
            return Ok(1);
        }
    }
    let Some(cfg) = oracle.config() else {
        return Ok(0);
    };
    let name = path
        .file_stem()
        .map_or("log".to_owned(), |s| s.to_string_lossy().into_owned());
    let out = log.recording(&name).replay(None, cfg)?;
    for v in &out.violations {
        println!("VIOLATION {v}");
    }
    if out.violations.is_empty() {
        println!("oracle ({oracle:?}): {} inputs, no violations", out.inputs);
    }
    Ok(i32::from(!out.violations.is_empty()))
}

fn whatif_command(
    path: &std::path::Path,
    overrides: &std::path::Path,
    png: &std::path::Path,
) -> Result<i32, String> {
    use baton_sim::whatif;
    let (_, log) = read_log(path)?;
    let text =
        std::fs::read_to_string(overrides).map_err(|e| format!("{}: {e}", overrides.display()))?;
    let o: whatif::Overrides =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", overrides.display()))?;
    let other = o
        .apply(&log.config)
        .map_err(|e| format!("{}: {e}", overrides.display()))?;
    let recorded = whatif::replay(&log, &log.config)?;
    let whatif = whatif::replay(&log, &other)?;
    let label = overrides
        .file_stem()
        .map_or("what if".to_owned(), |s| s.to_string_lossy().into_owned());
    let columns: [(&str, &[whatif::ClassStats]); 2] =
        [("recorded", &recorded), (label.as_str(), &whatif)];
    println!(
        "{}: {} inputs recorded; arrivals and bodies replayed under the recorded configuration and under {}\n",
        path.display(),
        log.entries.len(),
        overrides.display()
    );
    print!("{}", whatif::table(&columns));
    match whatif::plot(&columns, png) {
        Ok(()) => println!("\nplot: {}", png.display()),
        Err(e) => println!("\nplot skipped: {e}"),
    }
    Ok(0)
}
