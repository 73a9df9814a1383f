//! Determinism and the trace contract: same seed, same bytes; the trace is DESIGN.md's JSONL.

use baton_sim::trace::fnv1a;
use baton_sim::{Scenario, Sim, SimOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(scenario: &str, seed: u64, oracle: bool) -> (u64, Vec<u8>) {
    let s = Scenario::builtin(scenario).unwrap().unwrap();
    let sink = Shared::default();
    let options = SimOptions {
        oracle: oracle.then(baton_sim::OracleConfig::full),
        trace: Some(Box::new(sink.clone())),
        ..SimOptions::default()
    };
    let r = Sim::new(&s, seed, options).unwrap().run();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    let bytes = sink.0.lock().unwrap().clone();
    (r.trace_hash, bytes)
}

#[test]
fn same_seed_same_trace_with_or_without_the_oracle() {
    for scenario in ["steady-mix", "clock-jumps", "bad-reports", "late-driver"] {
        let (a, bytes_a) = run(scenario, 3, true);
        let (b, bytes_b) = run(scenario, 3, false);
        assert_eq!(a, b, "{scenario}: the oracle must not change the run");
        assert_eq!(bytes_a, bytes_b);
        assert_eq!(
            a,
            fnv1a(0xcbf2_9ce4_8422_2325, &bytes_a),
            "hash covers the file bytes"
        );
        let (c, _) = run(scenario, 4, false);
        assert_ne!(a, c, "{scenario}: another seed, another run");
    }
}

/// Every event and its exact keys, as DESIGN.md's "Trace format" lists them.
fn keys(ev: &str, line: &serde_json::Map<String, serde_json::Value>) -> Option<Vec<&'static str>> {
    Some(match ev {
        "connect" | "disconnect" => vec!["session"],
        "shutdown" => vec!["grace_ns"],
        "progress" | "run_begin" | "run_end" | "abort" | "gc" => vec!["task"],
        "submit" => vec!["task", "class", "priority", "session", "group", "parent"],
        "start" => vec!["task", "session", "attempt"],
        "cancel" => vec!["task", "reason"],
        "finish" if line.get("outcome").and_then(|o| o.as_str()) == Some("rejected") => {
            vec!["task", "outcome", "reason"]
        }
        "finish" => vec!["task", "outcome"],
        "retry" => vec!["task", "at"],
        "submit_refused" => vec!["class", "session", "group", "reason"],
        "violation" => vec!["property", "detail"],
        _ => return None,
    })
}

#[test]
fn trace_lines_follow_the_format() {
    for scenario in [
        "source-session-manager",
        "bad-reports",
        "group-late-binding",
        "shutdown-mid-flight",
    ] {
        let (_, bytes) = run(scenario, 1, false);
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        let config: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let mut top: Vec<&str> = config
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        top.sort_unstable();
        assert_eq!(
            top,
            [
                "classes",
                "cleanup_interval_ns",
                "disconnect_grace_ns",
                "ev",
                "fence_reconnect",
                "limits",
                "seed"
            ]
        );
        let mut limits: Vec<&str> = config["limits"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        limits.sort_unstable();
        let mut want = baton_sim::trace::LIMIT_FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(limits, want);
        for class in config["classes"].as_array().unwrap() {
            let mut k: Vec<&str> = class
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            k.sort_unstable();
            assert_eq!(
                k,
                [
                    "exclusive",
                    "grace_ns",
                    "heartbeat_timeout_ns",
                    "limit",
                    "name",
                    "priority",
                    "queue_timeout_ns",
                    "retention_ns",
                    "retry",
                    "run_timeout_ns",
                    "total_timeout_ns"
                ]
            );
            if let Some(retry) = class["retry"].as_object() {
                let mut k: Vec<&str> = retry.keys().map(String::as_str).collect();
                k.sort_unstable();
                assert_eq!(k, ["base_ns", "cap_ns", "jitter_permille", "max_attempts"]);
            }
        }
        let mut last_t = 0;
        let mut seen = std::collections::BTreeSet::new();
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let obj = v.as_object().unwrap();
            let t = obj["t"].as_u64().unwrap();
            let ev = obj["ev"].as_str().unwrap();
            // Kernel events carry kernel instants, which never go back; the world's own events
            // (physical runs) may be written before a late driver's kernel catches up.
            if !matches!(ev, "run_begin" | "run_end" | "violation") {
                assert!(t >= last_t, "kernel time goes forward: {line}");
                last_t = t;
            }
            let want = keys(ev, obj).unwrap_or_else(|| panic!("unknown event {ev}"));
            let mut got: Vec<&str> = obj
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "t" && *k != "ev")
                .collect();
            got.sort_unstable();
            let mut want = want;
            want.sort_unstable();
            assert_eq!(got, want, "{line}");
            if let Some(s) = obj.get("session").and_then(|s| s.as_str()) {
                assert!(s.contains('#'), "sessions are name#generation: {line}");
            }
            seen.insert(ev.to_owned());
        }
        for ev in ["submit", "start", "run_begin", "run_end", "finish", "gc"] {
            assert!(seen.contains(ev), "{scenario}: no {ev} event");
        }
    }
}

/// The config line is the whole configuration: an outsider rebuilds it exactly.
#[test]
fn the_config_line_rebuilds_the_kernel_configuration() {
    for (name, _) in baton_sim::scenario::BUILTIN {
        let s = Scenario::builtin(name).unwrap().unwrap();
        for seed in [0, 5] {
            let mut rng = baton_sim::rng::SimRng::new(seed);
            let plan = s.plan(seed, &mut rng);
            let line = run_config_line(&plan.config);
            let event = baton_sim::trace::read_line(1, &line).unwrap();
            let baton_sim::trace::TraceEvent::Config(c) = event else {
                panic!("{name}: not a config line: {line}");
            };
            assert_eq!(c.to_config(), plan.config, "{name} seed {seed}: {line}");
        }
    }
}

fn run_config_line(config: &baton_kernel::Config) -> String {
    let sink = Shared::default();
    let mut trace = baton_sim::trace::Trace::new(Some(Box::new(sink.clone())));
    trace.config(config);
    trace.finish().unwrap();
    let bytes = sink.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap().trim_end().to_owned()
}

/// Under a late driver, deadline-driven events carry their deadline (the kernel instant), not
/// the instant the driver noticed: judged from the trace alone, with the config line's
/// timeouts, for classes without retries or total timeouts.
#[test]
fn late_driver_traces_carry_kernel_instants() {
    let mut judged = (0, 0);
    for seed in 0..6 {
        let (_, bytes) = run_any("late-driver", seed);
        let text = String::from_utf8(bytes).unwrap();
        let events = baton_sim::trace::read(&text).unwrap();
        let baton_sim::trace::TraceEvent::Config(config) = &events[0] else {
            panic!("no config line");
        };
        let class = |name: &str| config.classes.iter().find(|c| c.name == name).unwrap();
        let mut submitted = std::collections::BTreeMap::new();
        let mut started = std::collections::BTreeMap::new();
        for e in &events[1..] {
            use baton_sim::trace::{TraceEvent as E, TraceOutcome};
            match e {
                E::Submit {
                    t, task, class: c, ..
                } => {
                    submitted.insert(*task, (*t, c.clone()));
                }
                E::Start { t, task, .. } => {
                    started.insert(*task, *t);
                }
                E::Finish {
                    t,
                    task,
                    outcome: TraceOutcome::Rejected(baton_kernel::RejectReason::QueueTimeout),
                } => {
                    let (at, c) = &submitted[task];
                    let c = class(c);
                    if c.retry.is_none() && c.total_timeout_ns.is_none() {
                        assert_eq!(*t, at + c.queue_timeout_ns.unwrap(), "{task} seed {seed}");
                        judged.0 += 1;
                    }
                }
                E::Cancel {
                    t,
                    task,
                    reason: baton_kernel::CancelReason::Timeout,
                } => {
                    let c = class(&submitted[task].1);
                    if c.retry.is_none() && c.total_timeout_ns.is_none() {
                        assert_eq!(*t, started[task] + c.run_timeout_ns.unwrap(), "{task}");
                        judged.1 += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(judged.0 > 10 && judged.1 > 10, "{judged:?}");
}

/// A run's trace whatever the oracle thinks of it.
fn run_any(scenario: &str, seed: u64) -> (u64, Vec<u8>) {
    let s = Scenario::builtin(scenario).unwrap().unwrap();
    let sink = Shared::default();
    let options = SimOptions {
        oracle: None,
        trace: Some(Box::new(sink.clone())),
        ..SimOptions::default()
    };
    let r = Sim::new(&s, seed, options).unwrap().run();
    let bytes = sink.0.lock().unwrap().clone();
    (r.trace_hash, bytes)
}
