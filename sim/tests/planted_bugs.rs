//! The oracle bites: each planted bug is caught, by the property meant to catch it when that
//! property is the only one checked, and by the full oracle.

use baton_sim::campaign::{self, Campaign};
use baton_sim::{MutantKind, OracleConfig, Property, PropertySet, Scenario, Sim, SimOptions};

fn caught(scenario: &str, mutant: MutantKind, oracle: OracleConfig, seeds: u64) -> Option<String> {
    let s = Scenario::builtin(scenario).unwrap().unwrap();
    (0..seeds).find_map(|seed| {
        let options = SimOptions {
            oracle: Some(oracle),
            mutant: Some(mutant),
            ..SimOptions::default()
        };
        let r = Sim::new(&s, seed, options).unwrap().run();
        r.violations.first().map(|v| format!("seed {seed}: {v}"))
    })
}

fn assert_caught_by(scenario: &str, mutant: MutantKind, property: Property) {
    let only = OracleConfig::only(PropertySet::only(property));
    let hit = caught(scenario, mutant, only, 8);
    let hit = hit.unwrap_or_else(|| panic!("{} was not caught by {property} alone", mutant.name()));
    assert!(hit.contains(property.name()), "{hit}");
    let full = caught(scenario, mutant, OracleConfig::full(), 8);
    assert!(
        full.is_some(),
        "{} was not caught by the full oracle",
        mutant.name()
    );
}

#[test]
fn starting_the_second_best_task_breaks_order() {
    assert_caught_by("steady-mix", MutantKind::SecondBest, Property::Order);
}

#[test]
fn freeing_a_session_before_its_task_stops_breaks_exclusivity() {
    assert_caught_by(
        "stubborn-zombies",
        MutantKind::EarlyFree,
        Property::Exclusivity,
    );
}

#[test]
fn a_deadline_one_nanosecond_late_breaks_deadlines() {
    assert_caught_by("steady-mix", MutantKind::LateDeadline, Property::Deadlines);
}

#[test]
fn exceeding_a_limit_by_one_breaks_limits() {
    assert_caught_by("steady-mix", MutantKind::ExceedLimit, Property::Limits);
}

#[test]
fn a_duplicated_terminal_notice_breaks_accounting() {
    assert_caught_by("steady-mix", MutantKind::DoubleNotice, Property::Accounting);
}

#[test]
fn changing_state_on_an_error_breaks_robustness() {
    assert_caught_by("bad-reports", MutantKind::DirtyError, Property::Robustness);
}

#[test]
fn a_slow_disconnect_cleanup_breaks_cleanup() {
    assert_caught_by(
        "disconnect-mid-op",
        MutantKind::LeakyDisconnect,
        Property::Cleanup,
    );
}

#[test]
fn a_late_start_breaks_work_conservation() {
    assert_caught_by(
        "steady-mix",
        MutantKind::LazyStart,
        Property::WorkConservation,
    );
}

#[test]
fn an_input_that_skips_due_deadlines_breaks_timing_independence() {
    // Against a lazy driver (never calls handle_timeout) the mutant applies inputs before the
    // deadlines they should first fire: different decisions at different instants.
    assert_caught_by(
        "steady-mix",
        MutantKind::SkipCatchUp,
        Property::TimingIndependence,
    );
}

#[test]
fn an_input_that_skips_due_deadlines_breaks_deadlines_under_a_late_driver() {
    // The late driver hands the mutant inputs while deadlines are due: the input does not
    // first do what handle_timeout(now) does.
    assert_caught_by("late-driver", MutantKind::SkipCatchUp, Property::Deadlines);
}

#[test]
fn a_lost_finish_report_breaks_liveness() {
    assert_caught_by("steady-mix", MutantKind::DropReport, Property::Liveness);
}

#[test]
fn nondeterministic_jitter_breaks_determinism() {
    let s = Scenario::builtin("retry-storm").unwrap().unwrap();
    let c = Campaign {
        scenarios: vec![(s, "retry-storm".to_owned())],
        seeds: Some(0..2),
        jobs: 1,
        oracle: Some(OracleConfig::only(PropertySet::NONE)),
        mutant: Some(MutantKind::Nondeterministic),
        determinism_every: 1,
        check_sometimes: false,
    };
    let r = campaign::run(&c, |_, _| {});
    assert!(r.scenarios[0].violations[Property::Determinism.index()] > 0);
}

#[test]
fn the_real_kernel_passes_the_same_runs() {
    for (scenario, seeds) in [
        ("steady-mix", 2),
        ("stubborn-zombies", 2),
        ("bad-reports", 2),
        ("late-driver", 2),
    ] {
        let s = Scenario::builtin(scenario).unwrap().unwrap();
        for seed in 0..seeds {
            let r = Sim::new(&s, seed, SimOptions::default()).unwrap().run();
            assert!(
                r.violations.is_empty(),
                "{scenario} {seed}: {:?}",
                r.violations
            );
        }
    }
}

#[test]
fn scribbling_on_a_refusal_breaks_robustness() {
    assert_caught_by(
        "bad-reports",
        MutantKind::ScribbleOnRefusal,
        Property::Robustness,
    );
}

#[test]
fn an_explain_miscount_breaks_accounting() {
    assert_caught_by(
        "steady-mix",
        MutantKind::ExplainMiscount,
        Property::Accounting,
    );
}

#[test]
fn a_cursor_that_skips_a_task_breaks_accounting() {
    assert_caught_by("steady-mix", MutantKind::CursorSkip, Property::Accounting);
}

#[test]
fn abandoning_without_abort_breaks_cleanup() {
    assert_caught_by(
        "shutdown-mid-flight",
        MutantKind::SilentAbandon,
        Property::Cleanup,
    );
}

#[test]
fn a_fence_that_lifts_early_breaks_name_exclusivity() {
    assert_caught_by(
        "stubborn-zombies",
        MutantKind::EarlyUnfence,
        Property::NameExclusivity,
    );
}

#[test]
fn a_restart_that_forgets_the_crash_breaks_accounting() {
    assert_caught_by(
        "crash-recovery",
        MutantKind::ForgetfulRestart,
        Property::Accounting,
    );
}

#[test]
fn a_journal_that_loses_an_input_breaks_determinism() {
    assert_caught_by(
        "crash-recovery",
        MutantKind::LossyJournal,
        Property::Determinism,
    );
}
