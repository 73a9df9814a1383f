//! # baton-sim
//!
//! A deterministic simulator for the [`baton_kernel`] scheduling kernel. A run is a
//! `(scenario, seed)` pair: a virtual clock, one seeded ChaCha8 generator, a simulated world of
//! task executions (durations, failures, progress, children, stubborn tasks, zombies), driver
//! latency and a seeded fault injector drive the kernel exactly as a runtime adapter would, while
//! an oracle — a predictive model of the kernel plus physical checks — checks DESIGN.md's
//! properties after every input (timing independence included).
//!
//! ```
//! use baton_sim::{Scenario, Sim, SimOptions};
//!
//! let scenario = Scenario::builtin("steady-mix").unwrap().unwrap();
//! let report = Sim::new(&scenario, 7, SimOptions::default()).unwrap().run();
//! assert!(report.violations.is_empty(), "{:?}", report.violations);
//! // Same scenario, same seed: byte-identical trace.
//! let again = Sim::new(&scenario, 7, SimOptions::default()).unwrap().run();
//! assert_eq!(report.trace_hash, again.trace_hash);
//! ```
//!
//! The pieces, one concept per file: [`rng`] (the seeded generator), [`world`] (executions and
//! the event queue), [`harness`] (the clock and the driver: `step`, `drive_bounded`), `workload`
//! and `fault` (what happens), [`scenario`] (TOML files and swarm-drawn plans), [`reference`]
//! (the naive dispatch rule), [`oracle`] (the properties), [`timing`] (property 11: a lazy
//! kernel beside the kernel under test), [`trace`] (JSONL and its hash),
//! [`record`] and [`shrink`] (input logs, replay and delta debugging), [`swf`] (real workload
//! logs), [`campaign`] (many seeds on all cores) and [`mutant`] (planted bugs that prove the
//! oracle bites).

pub mod campaign;
mod crash;
mod fault;
pub mod harness;
pub mod input_log;
pub mod mutant;
pub mod oracle;
pub mod plot;
pub mod property;
pub mod record;
pub mod reference;
pub mod rng;
pub mod scenario;
pub mod shrink;
pub mod sometimes;
pub mod swf;
pub mod timing;
pub mod trace;
mod trace_read;
pub mod under_test;
pub mod whatif;
mod workload;
pub mod world;

pub use harness::{Phase, RunReport, Sim, SimOptions};
pub use mutant::MutantKind;
pub use oracle::OracleConfig;
pub use property::{Property, PropertySet, Violation};
pub use record::Recording;
pub use scenario::Scenario;
