//! Real crashes: the `durable_crash` binary runs durable tasks on a SQLite store and is killed
//! with SIGKILL at random points, `BATON_SIGKILL_ROUNDS` times (default 50), restarted each
//! time; a last run lets everything finish. Then every acknowledged task must be accounted for:
//! in the tasks table, completed exactly once with its own result, run no more often than the
//! kernel started it (re-runs only for interrupted attempts), and the table must agree with the
//! kernel.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_durable_crash");

/// A small deterministic generator for the kill points (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Runs the binary in `mode`, killing it after `kill_after` if given; returns its stdout lines.
fn run(db: &Path, runs: &Path, mode: &str, kill_after: Option<Duration>) -> Vec<String> {
    let mut child = Command::new(BIN)
        .arg(db)
        .arg(runs)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn durable_crash");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    match kill_after {
        Some(after) => {
            std::thread::sleep(after);
            child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
            let _ = child.wait();
        }
        None => {
            // A finish that hangs is a failure, not a stuck CI job.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("the finish run did not end within 120 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(status.success(), "finish run failed: {status}");
        }
    }
    reader.join().expect("reader")
}

#[test]
fn acknowledged_tasks_survive_sigkill_exactly_once() {
    let rounds: u32 = std::env::var("BATON_SIGKILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("baton.db");
    let runs = dir.path().join("runs.log");
    let mut rng = Rng(0x5eed);
    let mut acked: Vec<u64> = Vec::new();
    for _ in 0..rounds {
        let after = Duration::from_millis(40 + rng.next() % 260);
        for line in run(&db, &runs, "work", Some(after)) {
            if let Some(n) = line.strip_prefix("ACK ") {
                acked.push(n.parse().unwrap());
            }
        }
    }
    let finish = run(&db, &runs, "finish", None);
    assert_eq!(
        finish.last().map(String::as_str),
        Some("DONE"),
        "{finish:?}"
    );
    assert!(
        acked.len() > rounds as usize,
        "only {} tasks acknowledged in {rounds} rounds",
        acked.len()
    );

    // What the kernel says at the end.
    let kernel: BTreeMap<u64, (String, u32)> = finish
        .iter()
        .filter_map(|l| l.strip_prefix("TASK "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                (f[1].to_owned(), f[2].parse().unwrap()),
            )
        })
        .collect();
    // What the table says, by parameter n.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare(
            "select id, state, attempt, json_extract(params, '$'), json_extract(result, '$') \
             from tasks where kind = 'work'",
        )
        .unwrap();
    let table: BTreeMap<u64, (u64, String, u32, Option<u64>)> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(3)? as u64,
                (
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                ),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // How often each body really ran.
    let mut ran: BTreeMap<u64, u32> = BTreeMap::new();
    for line in std::fs::read_to_string(&runs).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() == 3 && f[0] == "RUN" {
            *ran.entry(f[1].parse().unwrap()).or_default() += 1;
        }
    }

    let mut interrupted = 0;
    for n in &acked {
        let Some((id, state, attempt, result)) = table.get(n) else {
            panic!("acknowledged task n={n} is not in the tasks table: lost");
        };
        assert_eq!(state, "completed", "n={n} (task {id})");
        assert_eq!(*result, Some(*n), "n={n}: its own result, once");
        let runs = ran.get(n).copied().unwrap_or(0);
        assert!(runs >= 1, "n={n} completed without running");
        assert!(
            runs <= *attempt,
            "n={n} ran {runs} times but the kernel started {attempt} attempts: a duplicate"
        );
        if *attempt > 1 {
            interrupted += 1;
        }
        // The table agrees with the kernel.
        let (k_state, k_attempt) = kernel.get(id).expect("in the registry (long retention)");
        assert_eq!((k_state, k_attempt), (state, attempt), "task {id}");
    }
    assert!(
        interrupted > 0,
        "no acknowledged task was interrupted by a kill: the test did not test crashes"
    );
    eprintln!(
        "{rounds} kills: {} acknowledged tasks, {interrupted} re-run after an interrupted attempt",
        acked.len()
    );
}
