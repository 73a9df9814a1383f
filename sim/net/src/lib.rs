//! # baton-sim-net
//!
//! End-to-end scenarios for the baton kernel and its tokio adapter over a simulated network
//! ([turmoil](https://docs.rs/turmoil) 0.7): a messaging backend host ([`server`]) and client
//! hosts ([`client`]) whose sessions run real RPCs as scheduled tasks, while the harness
//! ([`harness`]) injects the seed's faults — partitions, holds, held and lost responses, latency
//! spikes, message loss, server crashes and bounces, client crashes. The properties
//! ([`check`]) are checked on the run's event log ([`log`]); [`runner`] runs campaigns over
//! many seeds and prints a one-line replay command for every failure.
//!
//! Everything in a run is deterministic: turmoil and the plan are seeded, every host runs on a
//! current-thread tokio runtime with paused time, the adapter reads tokio's clock, no code
//! under test uses `select!` without `biased;`, `tokio::sync::watch` or `spawn_blocking` (the
//! only users of tokio's unseeded RNG on a current-thread runtime), and every map is a
//! `BTreeMap`. So `--cfg tokio_unstable` (which lets turmoil seed tokio's RNG) is not needed;
//! `tests/net_determinism.rs` checks both the premise (a source audit) and the result (two runs,
//! one hash).
//!
//! See `README.md` for how to write a new scenario.

pub mod check;
pub mod client;
pub mod harness;
pub mod log;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod wire;

pub use check::{Property, Violation};
pub use client::{Clock, Timing};
pub use harness::{Options, Report, Stats, run, run_plan};
pub use scenario::{FaultKind, Plan, PlannedFault, Scenario};
