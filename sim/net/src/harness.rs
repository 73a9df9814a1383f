//! Runs one `(scenario, seed)`: builds the turmoil world (a server host and the client hosts),
//! steps it, injects the plan's faults on time (or on their trigger), heals everything at the
//! plan's heal time, and stops once every client has finished and the server is idle — or at
//! the liveness deadline. Then the properties are checked on the log.

use crate::check::{self, Property, Violation};
use crate::client::{self, ClientSpec, Clock};
use crate::log::{End, Event, Log};
use crate::scenario::{ARM_MS, FaultKind, Plan, Scenario};
use crate::server::{self, ServerSpec};
use baton_runtime::Fault;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// The simulation's tick.
pub const TICK: Duration = Duration::from_millis(1);

/// How a run is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The adapter bug to inject into every client's scheduler.
    pub fault: Option<Fault>,
    /// The clients' runtime clock.
    pub clock: Clock,
    /// Skip the simulator's oracle over the recorded kernel inputs (property `oracle`; on by
    /// default).
    pub without_oracle: bool,
}

/// What a run gives.
#[derive(Clone, Debug)]
pub struct Report {
    /// Scenario name.
    pub scenario: &'static str,
    /// Seed.
    pub seed: u64,
    /// Hash of the event log.
    pub hash: u64,
    /// Broken properties.
    pub violations: Vec<Violation>,
    /// Counts.
    pub stats: Stats,
    /// The event log.
    pub log: Log,
    /// Each client incarnation's kernel input log (JSON Lines), in client order.
    pub recordings: Vec<String>,
}

impl Report {
    /// Whether `property` was broken.
    pub fn broke(&self, property: Property) -> bool {
        self.violations.iter().any(|v| v.property == property)
    }
}

/// Counts of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Faults injected, by kind (triggered ones only once fired).
    pub faults: BTreeMap<&'static str, u64>,
    /// Tasks submitted.
    pub tasks: u64,
    /// Task outcomes, by name.
    pub outcomes: BTreeMap<String, u64>,
    /// Operations the server ran.
    pub server_ops: u64,
    /// How the server ended them.
    pub server_ends: BTreeMap<String, u64>,
    /// Simulated milliseconds.
    pub sim_ms: u64,
}

impl Stats {
    /// Adds `other` into `self` (campaign totals).
    pub fn add(&mut self, other: &Stats) {
        for (k, v) in &other.faults {
            *self.faults.entry(k).or_default() += v;
        }
        for (k, v) in &other.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.server_ends {
            *self.server_ends.entry(k.clone()).or_default() += v;
        }
        self.tasks += other.tasks;
        self.server_ops += other.server_ops;
        self.sim_ms += other.sim_ms;
    }
}

/// A fault's life in the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Planned,
    Armed,
    Active { until_ms: u64 },
    Over,
}

fn client_host(client: u8) -> String {
    format!("client{client}")
}

/// Runs `scenario` with `seed`: the plan the seed draws, on a network seeded with it.
pub fn run(scenario: &Scenario, seed: u64, options: Options) -> Report {
    run_plan(scenario, &scenario.plan(seed), seed, options)
}

/// Runs a given plan in `scenario`'s world (its clients, sessions, timing and latency); `seed`
/// seeds turmoil (latencies, loss). For hand-written plans (see `tests/net_targeted.rs`).
pub fn run_plan(scenario: &Scenario, plan: &Plan, seed: u64, options: Options) -> Report {
    let plan = plan.clone();
    let log = Log::new();
    let base_latency = Duration::from_millis(scenario.max_latency_ms);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(TICK)
        .simulation_duration(Duration::from_millis(plan.deadline_ms + 1000))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(base_latency)
        .repair_rate(0.05)
        .build();
    let server_spec = ServerSpec {
        log: log.clone(),
        incs: Arc::new(AtomicU32::new(0)),
    };
    sim.host("server", move || server::serve(server_spec.clone()));
    let mut specs = Vec::new();
    for (client, ops) in plan.clients.iter().enumerate() {
        let client = u8::try_from(client).expect("few clients");
        let spec = Arc::new(ClientSpec {
            client,
            sessions: scenario.sessions,
            plan: ops.clone(),
            timing: scenario.timing.clone(),
            fault: options.fault,
            clock: options.clock,
            log: log.clone(),
            incs: AtomicU32::new(0),
            recordings: std::sync::Mutex::new(Vec::new()),
        });
        specs.push(spec.clone());
        sim.host(client_host(client), move || client::run(spec.clone()));
    }

    let mut stats = Stats::default();
    let mut violations = Vec::new();
    let mut phases = vec![Phase::Planned; plan.faults.len()];
    let mut healed = false;
    let mut seen = 0usize;
    let mut active_ops = 0i64;
    let mut client_inc = vec![0u32; plan.clients.len()];
    let mut client_done = vec![false; plan.clients.len()];
    let mut finished = false;
    loop {
        let now = sim.elapsed();
        let now_ms = now.as_millis() as u64;
        log.set_now(u64::try_from(now.as_nanos()).unwrap_or(u64::MAX));

        // Faults: heal everything at the heal time, else start and stop them on time.
        if !healed && now_ms >= plan.heal_ms {
            healed = true;
            for (i, fault) in plan.faults.iter().enumerate() {
                if let Phase::Active { .. } = phases[i] {
                    stop(&mut sim, &fault.kind, scenario, &log);
                }
                phases[i] = Phase::Over;
            }
            heal(&mut sim, scenario, &log);
        }
        if !healed {
            for (i, fault) in plan.faults.iter().enumerate() {
                match phases[i] {
                    Phase::Planned if now_ms >= fault.at_ms => {
                        if fault.kind.is_triggered() {
                            phases[i] = Phase::Armed;
                        } else {
                            start(&mut sim, &fault.kind, &log);
                            *stats.faults.entry(fault.kind.name()).or_default() += 1;
                            phases[i] = Phase::Active {
                                until_ms: now_ms + fault.dur_ms,
                            };
                        }
                    }
                    Phase::Armed if now_ms >= fault.at_ms + ARM_MS => phases[i] = Phase::Over,
                    Phase::Active { until_ms } if now_ms >= until_ms => {
                        stop(&mut sim, &fault.kind, scenario, &log);
                        phases[i] = Phase::Over;
                    }
                    _ => {}
                }
            }
        }

        if let Err(e) = sim.step() {
            violations.push(Violation {
                property: Property::Host,
                detail: format!("the simulation failed at {now_ms} ms: {e}"),
            });
            break;
        }

        // Read what happened in the step: triggers, server load, clients' progress.
        let new = log.since(seen);
        seen += new.len();
        for entry in &new {
            match &entry.event {
                Event::Arrive { origin, .. } => {
                    active_ops += 1;
                    if !healed {
                        fire(
                            &mut sim,
                            &plan,
                            &mut phases,
                            &log,
                            &mut stats,
                            now_ms,
                            |k| {
                                *k == FaultKind::LoseResponse {
                                    client: origin.client,
                                }
                            },
                        );
                    }
                }
                Event::End { origin, how, .. } => {
                    active_ops -= 1;
                    if *how == End::Completed && !healed {
                        fire(
                            &mut sim,
                            &plan,
                            &mut phases,
                            &log,
                            &mut stats,
                            now_ms,
                            |k| {
                                *k == FaultKind::HoldResponse {
                                    client: origin.client,
                                }
                            },
                        );
                    }
                }
                Event::ClientUp { client, inc } => {
                    client_inc[usize::from(*client)] = *inc;
                    client_done[usize::from(*client)] = false;
                }
                Event::ClientDone { client, inc, .. }
                    if client_inc[usize::from(*client)] == *inc =>
                {
                    client_done[usize::from(*client)] = true;
                }
                _ => {}
            }
        }
        let now_ms = sim.elapsed().as_millis() as u64;
        if healed && now_ms >= plan.end_ms && active_ops == 0 && client_done.iter().all(|d| *d) {
            finished = true;
            break;
        }
        if now_ms >= plan.deadline_ms {
            break;
        }
    }
    stats.sim_ms = sim.elapsed().as_millis() as u64;
    // Dropping the simulation drops every scheduler still alive, which flushes its log.
    drop(sim);
    let recordings: Vec<(String, String)> = specs
        .iter()
        .flat_map(|spec| {
            let logs = spec
                .recordings
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default();
            logs.into_iter().enumerate().map(move |(inc, r)| {
                (
                    format!("client {} incarnation {inc}", spec.client),
                    r.text(),
                )
            })
        })
        .collect();
    if !options.without_oracle {
        for (who, text) in &recordings {
            violations.extend(oracle_check(who, text));
        }
    }

    let entries = log.entries();
    violations.extend(check::check(scenario, &plan, &entries, finished));
    for entry in &entries {
        match &entry.event {
            Event::Submit { .. } => stats.tasks += 1,
            Event::Outcome { outcome, .. } => {
                *stats.outcomes.entry(outcome.clone()).or_default() += 1
            }
            Event::Arrive { .. } => stats.server_ops += 1,
            Event::End { how, .. } => {
                *stats.server_ends.entry(format!("{how:?}")).or_default() += 1;
            }
            _ => {}
        }
    }
    Report {
        scenario: scenario.name,
        seed,
        hash: log.hash(),
        violations,
        stats,
        log,
        recordings: recordings.into_iter().map(|(_, text)| text).collect(),
    }
}

/// Starts the first armed fault matching `matches`.
fn fire(
    sim: &mut turmoil::Sim<'_>,
    plan: &Plan,
    phases: &mut [Phase],
    log: &Log,
    stats: &mut Stats,
    now_ms: u64,
    matches: impl Fn(&FaultKind) -> bool,
) {
    for (i, fault) in plan.faults.iter().enumerate() {
        if phases[i] == Phase::Armed && matches(&fault.kind) {
            start(sim, &fault.kind, log);
            *stats.faults.entry(fault.kind.name()).or_default() += 1;
            phases[i] = Phase::Active {
                until_ms: now_ms + fault.dur_ms,
            };
            return;
        }
    }
}

fn start(sim: &mut turmoil::Sim<'_>, kind: &FaultKind, log: &Log) {
    log.push(Event::Fault(format!("start {kind:?}")));
    match *kind {
        FaultKind::Partition { client } | FaultKind::LoseResponse { client } => {
            sim.partition("server", client_host(client));
        }
        FaultKind::Hold { client } | FaultKind::HoldResponse { client } => {
            sim.hold("server", client_host(client));
        }
        FaultKind::LatencySpike { client, max_ms } => {
            sim.set_link_max_message_latency(
                "server",
                client_host(client),
                Duration::from_millis(max_ms),
            );
        }
        FaultKind::Loss { client, per_mille } => {
            sim.set_link_fail_rate("server", client_host(client), f64::from(per_mille) / 1000.0);
        }
        FaultKind::ServerCrash => sim.crash("server"),
        FaultKind::ClientCrash { client } => {
            // A crashed host sends nothing: cut its link while turmoil drops its runtime, so
            // the FINs of its dropped connections are lost (their order follows tokio's
            // process-wide task ids, so letting them out would make runs differ). Its events
            // are muted for the same reason. The server learns of the crash when the restarted
            // client says `Hello` again.
            log.push(Event::ClientCrash { client });
            log.mute(client);
            sim.partition("server", client_host(client));
            sim.crash(client_host(client));
            sim.repair("server", client_host(client));
        }
    }
}

fn stop(sim: &mut turmoil::Sim<'_>, kind: &FaultKind, scenario: &Scenario, log: &Log) {
    log.push(Event::Fault(format!("stop {kind:?}")));
    match *kind {
        FaultKind::Partition { client } | FaultKind::LoseResponse { client } => {
            sim.repair("server", client_host(client));
        }
        FaultKind::Hold { client } | FaultKind::HoldResponse { client } => {
            sim.release("server", client_host(client));
        }
        FaultKind::LatencySpike { client, .. } => {
            sim.set_link_max_message_latency(
                "server",
                client_host(client),
                Duration::from_millis(scenario.max_latency_ms),
            );
        }
        FaultKind::Loss { client, .. } => {
            sim.set_link_fail_rate("server", client_host(client), 0.0);
            sim.repair("server", client_host(client));
        }
        FaultKind::ServerCrash => sim.bounce("server"),
        FaultKind::ClientCrash { client } => sim.bounce(client_host(client)),
    }
}

/// Heals every link and restarts every host that is down.
fn heal(sim: &mut turmoil::Sim<'_>, scenario: &Scenario, log: &Log) {
    log.push(Event::Fault("heal".into()));
    for client in 0..scenario.clients {
        let host = client_host(client);
        sim.repair("server", host.clone());
        sim.release("server", host.clone());
        sim.set_link_fail_rate("server", host.clone(), 0.0);
        sim.set_link_max_message_latency(
            "server",
            host,
            Duration::from_millis(scenario.max_latency_ms),
        );
    }
}

/// The simulator's oracle over one client incarnation's recorded kernel inputs (`who` names it
/// in the violations): the log must replay exactly (every answer and action), and the full
/// oracle must hold on it. A crashed incarnation's log ends where the crash cut it: still a
/// valid run, just a shorter one.
pub fn oracle_check(who: &str, text: &str) -> Vec<Violation> {
    let violation = |detail: String| Violation {
        property: Property::Oracle,
        detail: format!("{who}: {detail}"),
    };
    let log = match baton_sim::input_log::InputLog::parse(text) {
        Ok(log) => log,
        Err(e) => return vec![violation(format!("unreadable input log: {e}"))],
    };
    if let Err(diff) = log.reproduce() {
        return vec![violation(format!(
            "the recorded run does not replay: {diff}"
        ))];
    }
    match log
        .recording(who)
        .replay(None, baton_sim::OracleConfig::full())
    {
        Ok(r) => r
            .violations
            .into_iter()
            .map(|v| violation(v.to_string()))
            .collect(),
        Err(e) => vec![violation(e)],
    }
}
