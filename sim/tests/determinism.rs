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
    for scenario in ["steady-mix", "clock-jumps", "bad-reports"] {
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
        "shutdown" => vec![],
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
                "background_queue_len_max",
                "classes",
                "cleanup_interval_ns",
                "ev",
                "queue_len_max"
            ]
        );
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
                    "run_timeout_ns",
                    "total_timeout_ns"
                ]
            );
        }
        let mut last_t = 0;
        let mut seen = std::collections::BTreeSet::new();
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let obj = v.as_object().unwrap();
            let t = obj["t"].as_u64().unwrap();
            assert!(t >= last_t, "time goes forward: {line}");
            last_t = t;
            let ev = obj["ev"].as_str().unwrap();
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
