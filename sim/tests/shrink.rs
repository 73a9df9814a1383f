//! Shrinking: a failing run's input log is reduced to a handful of inputs that still fail.

use baton_sim::{MutantKind, Property, Scenario, Sim, SimOptions, shrink};

#[test]
fn a_planted_bug_shrinks_to_a_few_inputs() {
    let s = Scenario::builtin("steady-mix").unwrap().unwrap();
    let options = SimOptions {
        oracle: Some(baton_sim::OracleConfig::only(baton_sim::PropertySet::only(
            Property::Limits,
        ))),
        mutant: Some(MutantKind::ExceedLimit),
        record: true,
        ..SimOptions::default()
    };
    let r = Sim::new(&s, 1, options).unwrap().run();
    let v = r.violations.first().expect("the mutant is caught");
    let rec = r.recording.expect("recorded");
    let shrunk = shrink::shrink(&rec, v.property, 2_000).unwrap();
    assert!(shrunk.to < shrunk.from, "{} -> {}", shrunk.from, shrunk.to);
    // A scrape limit of 5 needs at least six submits (and their sessions) to be exceeded.
    assert!(shrunk.to <= 12, "still {} inputs", shrunk.to);
    let replay = shrunk
        .recording
        .replay(None, baton_sim::OracleConfig::full())
        .unwrap();
    assert!(
        replay
            .violations
            .iter()
            .any(|x| x.property == Property::Limits)
    );
    // The written form round-trips.
    let again = baton_sim::Recording::from_json(&shrunk.recording.to_json()).unwrap();
    assert_eq!(again, shrunk.recording);
}

#[test]
fn a_clean_log_does_not_shrink() {
    let s = Scenario::builtin("steady-mix").unwrap().unwrap();
    let options = SimOptions {
        record: true,
        ..SimOptions::default()
    };
    let r = Sim::new(&s, 1, options).unwrap().run();
    assert!(r.violations.is_empty());
    let rec = r.recording.unwrap();
    assert!(shrink::shrink(&rec, Property::Order, 10).is_err());
    assert!(
        rec.replay(None, baton_sim::OracleConfig::paranoid())
            .unwrap()
            .violations
            .is_empty()
    );
}
