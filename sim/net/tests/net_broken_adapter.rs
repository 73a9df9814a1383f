//! Each end-to-end property catches a deliberately broken adapter: the same seeds that pass
//! with the real adapter break the property once the bug is injected (`baton-runtime` feature
//! `fault-injection`, `Scheduler::inject_fault`; or, for determinism, a runtime that reads the
//! wall clock).
//!
//! `BATON_NET_SEEDS` sets how many seeds each test tries (default 3); every one must catch it.

use baton_sim_net::runner::{describe, parse_fault, seeds};
use baton_sim_net::{Options, Property, Scenario, harness};

/// How many of the seeds must catch the bug.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Catches {
    /// Every seed: the property is the one that guards against this bug.
    EverySeed,
    /// At least one seed: a further symptom, which a seed may not provoke.
    SomeSeed,
}

/// Runs `scenario` on each seed with the real adapter (which must pass) and with `bug` (which
/// must break `property` on every seed, or on some).
fn caught(scenario: Scenario, bug: &str, property: Property, catches: Catches) {
    let broken = parse_fault(bug).expect("known bug");
    let seeds = seeds(3);
    let mut caught = 0;
    let mut missed = Vec::new();
    for &seed in &seeds {
        let clean = harness::run(&scenario, seed, Options::default());
        assert!(
            clean.violations.is_empty(),
            "seed {seed} of {} fails even without {bug}:\n{}",
            scenario.name,
            describe(&clean.violations, 3)
        );
        let report = harness::run(&scenario, seed, broken);
        if report.broke(property) {
            caught += 1;
        } else {
            missed.push(format!(
                "seed {seed} of {}: {bug} was not caught by the {} property; it broke:\n{}",
                scenario.name,
                property.name(),
                describe(&report.violations, 3)
            ));
        }
    }
    println!(
        "{bug} caught by {} on {caught} of {} seeds of {}",
        property.name(),
        seeds.len(),
        scenario.name
    );
    match catches {
        Catches::EverySeed => assert!(missed.is_empty(), "{}", missed.join("\n")),
        Catches::SomeSeed => assert!(caught > 0, "{}", missed.join("\n")),
    }
}

/// Releasing the session when the kernel asks a task to cancel (instead of when its future is
/// gone) lets the next operation reach the server while the cancelled one still runs there.
#[test]
fn exclusive_catches_release_on_cancel() {
    caught(
        Scenario::partition(),
        "release-on-cancel",
        Property::Exclusive,
        Catches::EverySeed,
    );
}

/// … and the handle resolves before the request was given up.
#[test]
fn timeout_catches_release_on_cancel() {
    caught(
        Scenario::partition(),
        "release-on-cancel",
        Property::Timeout,
        Catches::SomeSeed,
    );
}

/// Dropping `Cancel`: bodies never see `ctx.cancelled()`, so a run timeout ends in an abort
/// after the grace (`abandoned`), the request is never given up, and the session moves on while
/// it still runs on the server.
#[test]
fn timeout_catches_ignore_cancel() {
    caught(
        Scenario::partition(),
        "ignore-cancel",
        Property::Timeout,
        Catches::EverySeed,
    );
}

/// (The same bug, seen by the server.)
#[test]
fn exclusive_catches_ignore_cancel() {
    caught(
        Scenario::partition(),
        "ignore-cancel",
        Property::Exclusive,
        Catches::SomeSeed,
    );
}

/// A lost driver wake-up: run timeouts do not fire while a partition holds the response, so
/// the operation completes long past its run timeout.
#[test]
fn timeout_catches_lost_wakeup() {
    caught(
        Scenario::partition(),
        "lost-wakeup",
        Property::Timeout,
        Catches::SomeSeed,
    );
}

/// Before the kernel kept time itself, a lost wake-up also broke liveness (a lost response was
/// waited for until the end). Now every input first fires the deadlines it passed, so the next
/// operation, heartbeat or report rescues the sleeping deadlines: runs drain. The lateness is
/// still caught — by the timeout property, on every seed (below).
#[test]
fn a_lost_wakeup_no_longer_breaks_liveness() {
    let broken = parse_fault("lost-wakeup").expect("known");
    let scenario = Scenario::partition();
    for seed in seeds(3) {
        let report = harness::run(&scenario, seed, broken);
        assert!(
            !report.broke(Property::Liveness),
            "seed {seed}: a later input should have caught the deadlines up:\n{}",
            describe(&report.violations, 3)
        );
    }
}

/// Never reporting an attempt that failed: across server bounces (connections reset, connects
/// refused) failed tasks never reach a terminal state.
#[test]
fn accounting_catches_lose_failed_exit() {
    caught(
        Scenario::bounce(),
        "lose-failed-exit",
        Property::Accounting,
        Catches::EverySeed,
    );
}

/// … and their sessions stay held, so nothing drains.
#[test]
fn liveness_catches_lose_failed_exit() {
    caught(
        Scenario::bounce(),
        "lose-failed-exit",
        Property::Liveness,
        Catches::SomeSeed,
    );
}

/// Every seed catches a lost wake-up: an operation that completes past its run timeout (its
/// deadline fires only when a later input catches up), or one that never ends.
#[test]
fn lost_wakeup_is_caught_on_every_seed() {
    let broken = parse_fault("lost-wakeup").expect("known");
    let scenario = Scenario::partition();
    for seed in seeds(3) {
        let report = harness::run(&scenario, seed, broken);
        assert!(
            report.broke(Property::Timeout) || report.broke(Property::Liveness),
            "seed {seed}: lost-wakeup not caught:\n{}",
            describe(&report.violations, 3)
        );
    }
}

/// A runtime whose clock is the wall clock: two runs of one seed give different logs, while
/// the real runtime gives the same log twice.
#[test]
fn determinism_catches_wall_clock() {
    let scenario = Scenario::quick();
    let wall = parse_fault("wall-clock").expect("known");
    // A wall-clock run takes wall time (its deadlines wait for the real clock): 3 seeds at most.
    for seed in seeds(3).into_iter().take(3) {
        let a = harness::run(&scenario, seed, Options::default());
        let b = harness::run(&scenario, seed, Options::default());
        assert_eq!(
            a.hash, b.hash,
            "seed {seed}: the real runtime is not deterministic"
        );
        let a = harness::run(&scenario, seed, wall);
        let b = harness::run(&scenario, seed, wall);
        assert_ne!(
            a.hash, b.hash,
            "seed {seed}: the wall-clock runtime gave the same log twice"
        );
        println!("seed {seed}: wall-clock runtime caught by determinism");
    }
}
