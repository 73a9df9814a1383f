//! The simulator's oracle on the real adapter: every client incarnation's scheduler records its
//! kernel inputs, and the run's report includes property `oracle` — the log must replay exactly
//! and satisfy every property of the predictive model. This shows the check is wired in and
//! catches a log that does not match the kernel.

use baton_sim_net::harness::{self, oracle_check};
use baton_sim_net::{Options, Property, Scenario};

#[test]
fn every_incarnation_is_recorded_and_passes_the_oracle() {
    let report = harness::run(&Scenario::quick(), 0, Options::default());
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(!report.recordings.is_empty());
    for text in &report.recordings {
        // A header and inputs: at least the connects and the submits.
        assert!(text.lines().count() > 2, "{text}");
        assert!(oracle_check("clean", text).is_empty());
    }
}

#[test]
fn a_log_that_does_not_match_the_kernel_is_an_oracle_violation() {
    let report = harness::run(&Scenario::quick(), 1, Options::default());
    let text = report
        .recordings
        .iter()
        .find(|t| t.contains("\"start\""))
        .expect("a recorded start");
    // Drop the first recorded `start` action from its line.
    let mut doctored = Vec::new();
    let mut done = false;
    for line in text.lines() {
        if !done && line.contains("\"start\"") && line.contains("\"actions\":[[") {
            let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let actions = entry["actions"].as_array_mut().unwrap();
            let i = actions
                .iter()
                .position(|a| a[1].get("start").is_some())
                .unwrap();
            actions.remove(i);
            doctored.push(entry.to_string());
            done = true;
        } else {
            doctored.push(line.to_owned());
        }
    }
    assert!(done);
    let found = oracle_check("doctored", &doctored.join("\n"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].property, Property::Oracle);
    assert!(found[0].detail.contains("does not replay"), "{found:?}");
    // And an unreadable one.
    let found = oracle_check("torn", "{\"format\":");
    assert!(found[0].detail.contains("unreadable"), "{found:?}");
}

#[test]
fn the_oracle_can_be_switched_off() {
    let options = Options {
        without_oracle: true,
        ..Options::default()
    };
    let report = harness::run(&Scenario::quick(), 0, options);
    assert!(report.violations.is_empty());
    assert!(!report.recordings.is_empty());
}
