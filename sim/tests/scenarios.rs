//! Every built-in scenario runs clean under the full oracle, and one seed of each under the
//! paranoid oracle (`check_invariants()` and the metrics cross-check after every single input).

use baton_sim::{OracleConfig, Scenario, Sim, SimOptions};

#[test]
fn every_builtin_scenario_passes() {
    for s in Scenario::builtins().unwrap() {
        for seed in 1..4 {
            let r = Sim::new(&s, seed, SimOptions::default()).unwrap().run();
            let name = &s.name;
            assert!(r.violations.is_empty(), "{name} {seed}: {:?}", r.violations);
            assert!(r.inputs > 100, "{name} did little: {} inputs", r.inputs);
        }
    }
}

#[test]
fn paranoid_oracle_on_every_scenario() {
    for s in Scenario::builtins().unwrap() {
        let options = SimOptions {
            oracle: Some(OracleConfig::paranoid()),
            ..SimOptions::default()
        };
        let r = Sim::new(&s, 0, options).unwrap().run();
        assert!(r.violations.is_empty(), "{}: {:?}", s.name, r.violations);
    }
}

#[test]
fn the_example_scenario_file_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/example.toml");
    let s = Scenario::load(path).unwrap();
    let r = Sim::new(&s, 0, SimOptions::default()).unwrap().run();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}

#[test]
fn a_scenario_whose_events_never_happen_fails_the_campaign() {
    let text = r#"
name = "quiet"
duration_ms = 5_000
preset = "session_manager"
sometimes = ["zombie", "contention"]
[sessions]
count = 4
[[workload]]
class = "sending"
rate_per_s = 5.0
"#;
    let s = Scenario::from_toml(text, "quiet").unwrap();
    let c = baton_sim::campaign::Campaign {
        scenarios: vec![(s, "quiet".to_owned())],
        seeds: Some(0..4),
        jobs: 2,
        oracle: Some(OracleConfig::full()),
        mutant: None,
        determinism_every: 2,
        check_sometimes: true,
    };
    let r = baton_sim::campaign::run(&c, |_, _| {});
    let sum = &r.scenarios[0];
    assert_eq!(sum.runs, 4);
    assert_eq!(sum.missing, vec![baton_sim::sometimes::Sometimes::Zombie]);
    assert_eq!(sum.violations[baton_sim::Property::Sometimes.index()], 1);
    assert_eq!(r.violations(), 1, "nothing else failed");
    assert!(baton_sim::campaign::table(&r).contains("quiet"));
}
