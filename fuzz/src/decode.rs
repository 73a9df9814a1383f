//! Targets for the simulator's text formats: scenario TOML, JSONL traces and SWF logs.

use baton_sim::property::Property;
use baton_sim::trace::{self, TraceEvent};
use baton_sim::{OracleConfig, Scenario, Sim, SimOptions, swf};

/// Steps a fuzzed run may take: enough to connect, submit, start and time out a few tasks.
const RUN_STEPS: u64 = 1_500;

/// Runs `sim` for at most [`RUN_STEPS`] steps and panics on any violation the oracle reports
/// (liveness is judged only at the end of a complete run, so a cut-short run has none).
fn run_briefly(mut sim: Sim, what: &str) {
    let mut steps = 0;
    while steps < RUN_STEPS && sim.step() {
        steps += 1;
    }
    if let Some(v) = sim
        .violations()
        .iter()
        .find(|v| v.property != Property::Liveness)
    {
        panic!("{what}: the oracle reports {v}");
    }
}

fn options() -> SimOptions {
    SimOptions {
        oracle: Some(OracleConfig::full()),
        max_steps: RUN_STEPS,
        ..SimOptions::default()
    }
}

/// Arbitrary text into [`Scenario::from_toml`]: a clear error (naming the source, with a
/// message), or a scenario that builds and runs for one seed and a small step bound under the
/// full oracle without a panic or a violation.
pub fn scenario_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // TOML is UTF-8; the loader reads files with read_to_string.
    };
    match Scenario::from_toml(text, "fuzz.toml") {
        Err(e) => {
            assert!(!e.message.trim().is_empty(), "an empty error: {e:?}");
            assert!(e.to_string().starts_with("fuzz.toml: "), "{e}");
        }
        Ok(scenario) => {
            let sim = match Sim::new(&scenario, 7, options()) {
                Ok(sim) => sim,
                Err(e) => panic!("a validated scenario does not build: {e}"),
            };
            run_briefly(sim, "scenario");
        }
    }
}

/// Arbitrary lines into the trace reader: whole files and single lines either parse or fail
/// with an error naming a line that exists; whatever parses is written back by the simulator's
/// writer and reads back as the same event.
pub fn trace_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    match trace::read(&text) {
        Ok(events) => {
            assert_eq!(events.len(), lines);
            assert!(matches!(events.first(), Some(TraceEvent::Config(_))));
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= lines.max(1), "{e}");
            assert!(!e.message.is_empty());
        }
    }
    for (i, line) in text.lines().enumerate().take(64) {
        match trace::read_line(i + 1, line) {
            Ok(event) => {
                let again = event.to_line();
                match trace::read_line(i + 1, &again) {
                    Ok(back) => assert_eq!(back, event, "{line:?} was rewritten as {again:?}"),
                    Err(e) => panic!("{line:?} was rewritten as {again:?}, which fails: {e}"),
                }
            }
            Err(e) => {
                assert_eq!(e.line, i + 1);
                assert!(e.to_string().starts_with(&format!("line {}: ", i + 1)));
            }
        }
    }
}

/// Arbitrary text into [`swf::parse`]: a clear error naming a line that exists (or line 0, the
/// file as a whole, when no job has a known run time), never a panic; a parsed log has
/// consistent jobs, and its replay plan builds and runs briefly under the oracle.
pub fn swf_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let w = match swf::parse(&text, None) {
        Err(e) => {
            assert!(e.line <= lines, "{e} (of {lines} lines)");
            assert!(!e.message.is_empty());
            if e.line > 0 {
                assert!(e.to_string().starts_with(&format!("line {}: ", e.line)));
            }
            return;
        }
        Ok(w) => w,
    };
    assert!(!w.jobs.is_empty());
    assert!(w.jobs.windows(2).all(|p| p[0].at_ns <= p[1].at_ns));
    for j in &w.jobs {
        assert!(j.line >= 1 && j.line <= lines);
        assert!(j.session < w.users.len());
        assert!(j.class.index() < 3);
    }
    match swf::parse(&text, Some(1)) {
        Ok(first) => assert_eq!(first.jobs.len(), 1),
        Err(e) => panic!("the whole log parses but its first job does not: {e}"),
    }
    let plan = swf::plan(&w);
    match Sim::with_jobs(plan, w.jobs.clone(), options()) {
        Ok(sim) => run_briefly(sim, "swf replay"),
        Err(e) => panic!("the replay plan of a parsed log does not build: {e}"),
    }
}
