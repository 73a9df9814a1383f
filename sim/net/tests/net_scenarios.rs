//! Every built-in network scenario over many seeds, with every property checked on every run.
//! `cargo test` runs 10 seeds each; `run.sh` runs more (`BATON_NET_SEEDS`). A failure prints the
//! seed and a one-line replay command. `BATON_NET_FAULT=<bug>` injects an adapter bug, and these
//! tests then fail (see `net_broken_adapter.rs` for which property catches which bug).

use baton_sim_net::runner::check_scenario;

#[test]
fn partition() {
    check_scenario("partition", "net_scenarios");
}

#[test]
fn loss() {
    check_scenario("loss", "net_scenarios");
}

#[test]
fn bounce() {
    check_scenario("bounce", "net_scenarios");
}

#[test]
fn crash() {
    check_scenario("crash", "net_scenarios");
}

#[test]
fn chaos() {
    check_scenario("chaos", "net_scenarios");
}

#[test]
fn quick() {
    check_scenario("quick", "net_scenarios");
}
