//! A small driver for the tests: applies inputs to a live kernel the way a runtime would,
//! journals each one and mirrors the registry into rows.

#![allow(dead_code, unreachable_pub)]

use baton_kernel::{
    Action, Applied, ClassConfig, Config, Duration, Error, Exit, Input, Kernel, RetryPolicy,
    Submit, Target, TaskId,
};
use baton_store::{Batch, JournalEntry, Store, StoreError, TaskRow};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Two classes: exclusive `io` and background `bg` (with retries).
pub fn config() -> Config {
    Config::new(vec![
        ClassConfig::exclusive("io", 5),
        ClassConfig::background("bg", 1).with_retry(RetryPolicy::exponential(
            3,
            Duration::from_millis(10),
            Duration::from_millis(100),
        )),
    ])
}

/// A fresh temporary directory and the store path in it.
pub fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    (dir, path)
}

/// A live kernel, its journal so far (pending commit) and its state after every seq.
pub struct Driver {
    pub kernel: Kernel,
    pub seq: u64,
    pub t: u64,
    pub pending: Batch,
    /// `states[s]` is the kernel's canonical JSON after entry `s` (`states[0]`: before any).
    pub states: Vec<String>,
    /// Started attempts, in order.
    pub started: Vec<(TaskId, u32)>,
    /// Seqs after whose commit `flush` snapshots the live kernel.
    pub snapshot_at: Vec<u64>,
}

impl Driver {
    pub fn new(config: Config) -> Self {
        let kernel = Kernel::new(config).unwrap();
        let states = vec![serde_json::to_string(&kernel).unwrap()];
        Driver {
            kernel,
            seq: 0,
            t: 0,
            pending: Batch::default(),
            states,
            started: Vec::new(),
            snapshot_at: Vec::new(),
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string(&self.kernel).unwrap()
    }

    /// Applies `input` `dt_ns` after the previous one, journals it, and queues rows for every
    /// task in the registry (with `kind`/`params` on a durable submit, `result` on completion).
    pub fn step_with(
        &mut self,
        dt_ns: u64,
        input: Input,
        kind: Option<(&str, Value)>,
        result: Option<Value>,
    ) -> Result<Applied, Error> {
        self.t += dt_ns;
        let t = baton_kernel::Instant::from_nanos(self.t);
        let answer = self.kernel.apply(t, input.clone());
        while let Some(a) = self.kernel.poll_action() {
            if let Action::Start { task, attempt, .. } = a {
                self.started.push((task, attempt));
            }
        }
        self.seq += 1;
        let (kind, params) = match kind {
            Some((k, p)) => (Some(k.to_owned()), Some(p)),
            None => (None, None),
        };
        self.pending.entries.push(JournalEntry {
            seq: self.seq,
            t,
            input,
            accepted: answer.is_ok(),
            kind: kind.clone(),
            params: params.clone(),
            result: result.clone(),
        });
        let new_task = match answer {
            Ok(Applied::Task(id)) => Some(id),
            _ => None,
        };
        let mut after = None;
        loop {
            let page = self.kernel.list(&Default::default(), after, usize::MAX);
            for v in &page.items {
                let mut row = TaskRow::from_view(v, &self.kernel);
                if Some(v.id) == new_task {
                    row.kind = kind.clone();
                    row.params = params.clone();
                }
                if v.state == baton_kernel::TaskState::Completed && result.is_some() {
                    row.result = result.clone();
                }
                self.pending.rows.push(row);
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        self.states.push(self.json());
        answer
    }

    pub fn step(&mut self, dt_ns: u64, input: Input) -> Result<Applied, Error> {
        self.step_with(dt_ns, input, None, None)
    }

    /// Commits what is pending (then snapshots, if the seq is in `snapshot_at`).
    pub fn flush(&mut self, store: &mut dyn Store) -> Result<(), StoreError> {
        let batch = std::mem::take(&mut self.pending);
        store.commit(&batch)?;
        if self.snapshot_at.contains(&self.seq) {
            store.snapshot(self.seq, &self.kernel)?;
        }
        Ok(())
    }

    pub fn submit(&mut self, class: u16, target: Target, kind: Option<(&str, Value)>) -> TaskId {
        let s = Submit::new(baton_kernel::ClassId(class), target);
        match self.step_with(1_000, Input::Submit(s), kind, None) {
            Ok(Applied::Task(id)) => id,
            other => panic!("submit refused: {other:?}"),
        }
    }

    pub fn finish(&mut self, task: TaskId, exit: Exit, result: Option<Value>) {
        self.step_with(1_000, Input::Finished { task, exit }, None, result)
            .unwrap();
    }
}

/// The ids of the tasks `script` leaves unfinished with a kind.
pub struct Script {
    pub alice: baton_kernel::SessionId,
    pub durable_unfinished: Vec<TaskId>,
    pub completed: TaskId,
}

/// A run with sessions, durable and plain tasks, completions, a failure with retry, a cancel,
/// progress and a refused input; commits after every `per_batch` inputs. 16 inputs.
pub fn script(d: &mut Driver, store: &mut dyn Store, per_batch: usize) -> Script {
    let mut n = 0;
    let mut tick = |d: &mut Driver, store: &mut dyn Store| {
        n += 1;
        if n % per_batch == 0 {
            d.flush(store).unwrap();
        }
    };
    let alice = match d.step(
        1_000,
        Input::Connect {
            name: "alice".into(),
        },
    ) {
        Ok(Applied::Session(s)) => s,
        other => panic!("{other:?}"),
    };
    tick(d, store);
    d.step(1_000, Input::Connect { name: "bob".into() })
        .unwrap();
    tick(d, store);
    // Refused: already connected. Journaled all the same.
    assert!(
        d.step(
            1_000,
            Input::Connect {
                name: "alice".into()
            }
        )
        .is_err()
    );
    tick(d, store);
    let a = d.submit(
        0,
        Target::Session(alice),
        Some(("mail", json!({"to": "a"}))),
    );
    tick(d, store);
    let b = d.submit(
        0,
        Target::Session(alice),
        Some(("mail", json!({"to": "b"}))),
    );
    tick(d, store);
    let c = d.submit(0, Target::Session(alice), None);
    tick(d, store);
    let g = d.submit(1, Target::None, Some(("index", json!([1, 2, 3]))));
    tick(d, store);
    let h = d.submit(1, Target::None, None);
    tick(d, store);
    d.step(
        1_000,
        Input::Progress {
            task: a,
            progress: baton_kernel::Progress {
                current: 1,
                total: Some(2),
                message: "half".into(),
            },
        },
    )
    .unwrap();
    tick(d, store);
    d.finish(a, Exit::Completed, Some(json!({"sent": true})));
    tick(d, store);
    // b now runs on alice; c waits behind it. Cancel c while queued.
    d.step(1_000, Input::Cancel { task: c }).unwrap();
    tick(d, store);
    // g fails retryably: backoff, then runs again after a timeout.
    d.finish(
        g,
        Exit::Failed {
            error: "flaky".into(),
            retryable: true,
        },
        None,
    );
    tick(d, store);
    d.step(200_000_000, Input::Timeout).unwrap();
    tick(d, store);
    d.finish(
        h,
        Exit::Failed {
            error: "broken".into(),
            retryable: false,
        },
        None,
    );
    tick(d, store);
    // A report for a task that is not running: refused, journaled.
    assert!(d.step(1_000, Input::Cancel { task: a }).is_err());
    tick(d, store);
    d.step(1_000, Input::Timeout).unwrap();
    tick(d, store);
    d.flush(store).unwrap();
    Script {
        alice,
        durable_unfinished: vec![b, g],
        completed: a,
    }
}
