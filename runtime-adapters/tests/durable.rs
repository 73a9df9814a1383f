//! Durable schedulers on a real SQLite file: acknowledged means durable, nothing visible before
//! it is durable, recovery after a crash (interrupted attempts run again, closure tasks are
//! lost, sessions re-attach), and fail-stop when the disk is full.
//!
//! A crash is simulated in-process by dropping the runtime that ran the scheduler without
//! shutting it down (its bodies and driver die with it) and forgetting the scheduler; the real
//! process kill is `tests/sigkill.rs`.

use baton_kernel::{ClassConfig, Config, Duration, RetryPolicy, TaskState};
use baton_runtime::{DurableError, DurableOptions, Kinds, Scheduler, TaskFailure};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn config() -> Config {
    Config::new(vec![
        ClassConfig::exclusive("op", 5)
            .with_queue_timeout(Duration::from_secs(60))
            .with_retry(RetryPolicy {
                jitter_permille: 0,
                ..RetryPolicy::exponential(3, Duration::from_millis(10), Duration::from_millis(10))
            }),
        ClassConfig::background("bg", 5).with_retention(Duration::from_secs(3600)),
    ])
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Echo {
    n: u32,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn rows(path: &Path, sql: &str) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn open(path: &Path, kinds: Kinds) -> (Scheduler, baton_runtime::RecoveryReport) {
    Scheduler::open_durable(path, config(), kinds, None, DurableOptions::default()).unwrap()
}

#[test]
fn durable_tasks_complete_and_the_tasks_table_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let rt = runtime();
    rt.block_on(async {
        let kinds = Kinds::new().register("echo", |_ctx, e: Echo| async move {
            Ok::<_, TaskFailure>(Echo { n: e.n * 2 })
        });
        let (s, report) = open(&path, kinds);
        assert!(report.created);
        let mut handles = Vec::new();
        for n in 0..20 {
            handles.push(
                s.submit_durable(baton_kernel::Target::None, "bg", "echo", Echo { n })
                    .await
                    .unwrap(),
            );
        }
        for (n, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), serde_json::json!({ "n": n * 2 }));
        }
        s.flush().await.unwrap();
        assert_eq!(
            rows(&path, "select state, count(*) from tasks group by state"),
            vec![("completed".to_owned(), 20)]
        );
        assert_eq!(
            rows(
                &path,
                "select kind, json_extract(result, '$.n') from tasks where id = 3"
            ),
            vec![("echo".to_owned(), 4)],
            "kind and result are in the row"
        );
        // Errors a caller can make are typed and change nothing.
        assert!(matches!(
            s.submit_durable(baton_kernel::Target::None, "bg", "nope", Echo { n: 1 })
                .await,
            Err(DurableError::UnknownKind(k)) if k == "nope"
        ));
        assert!(matches!(
            s.submit_durable(
                baton_kernel::Target::None,
                "no-class",
                "echo",
                Echo { n: 1 }
            )
            .await,
            Err(DurableError::Refused(_))
        ));
    });
}

#[test]
fn a_body_starts_only_after_its_submit_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let rt = runtime();
    let seen = path.clone();
    rt.block_on(async move {
        // The body reads the journal through its own connection: it sees only committed
        // entries, so finding its submit there proves the start waited for the commit.
        let kinds = Kinds::new().register("look", move |ctx, _: ()| {
            let path = seen.clone();
            async move {
                let conn = rusqlite::Connection::open(&path).map_err(TaskFailure::new)?;
                let submits: i64 = conn
                    .query_row(
                        "select count(*) from journal where payload like '%\"submit\"%'",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(TaskFailure::new)?;
                Ok::<_, TaskFailure>((ctx.id().0, submits))
            }
        });
        let (s, _) = open(&path, kinds);
        let mut handles = Vec::new();
        for _ in 0..10 {
            handles.push(
                s.submit_durable(baton_kernel::Target::None, "bg", "look", ())
                    .await
                    .unwrap(),
            );
        }
        for h in handles {
            let v = h.await.unwrap();
            let (id, submits): (u64, i64) = serde_json::from_value(v).unwrap();
            assert!(submits >= id as i64, "task {id} saw only {submits} submits");
        }
    });
}

#[test]
fn after_a_crash_interrupted_durable_work_runs_again_and_closures_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let runs = Arc::new(AtomicU32::new(0));
    let kinds = {
        let runs = runs.clone();
        Kinds::new().register("hang_once", move |ctx, e: Echo| {
            let runs = runs.clone();
            async move {
                // The first run hangs until the crash; the run after the restart completes.
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    std::future::pending::<()>().await;
                }
                Ok::<_, TaskFailure>(Echo {
                    n: e.n + ctx.attempt(),
                })
            }
        })
    };

    // The first process: a durable task running on "acct", another queued behind it, and a
    // closure task queued too.
    let rt = runtime();
    let (durable, queued, closure) = rt.block_on(async {
        let (s, _) = open(&path, kinds.clone());
        let acct = s.connect("acct").unwrap();
        let durable = s
            .submit_durable(acct, "op", "hang_once", Echo { n: 10 })
            .await
            .unwrap();
        let queued = s
            .submit_durable(acct, "op", "hang_once", Echo { n: 20 })
            .await
            .unwrap();
        let closure = s.submit(acct, "op", |_| async { Ok::<_, TaskFailure>(()) });
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        s.flush().await.unwrap();
        let ids = (
            durable.id().unwrap(),
            queued.id().unwrap(),
            closure.id().unwrap(),
        );
        std::mem::forget(s); // the crash: no shutdown, nothing more journaled
        ids
    });
    drop(rt);

    // The next process recovers, restarts, and the account connects again.
    let rt = runtime();
    rt.block_on(async {
        let (s, report) = open(&path, kinds);
        assert!(!report.created);
        assert!(report.replayed > 0, "{report}");
        let view = s.task(durable).unwrap();
        assert_eq!(view.state, TaskState::Backoff, "interrupted, retrying");
        assert_eq!(view.error.as_deref(), Some(baton_kernel::INTERRUPTED));
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert_eq!(
            s.task(durable).unwrap().state,
            TaskState::Queued,
            "waits for acct"
        );
        let acct = s.connect("acct").unwrap();
        assert_eq!(s.session_id("acct"), Some(acct));
        for _ in 0..500 {
            if s.counts().active() == 0 && s.counts().get(TaskState::Queued) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let d = s.task(durable).unwrap();
        assert_eq!((d.state, d.attempt), (TaskState::Completed, 2));
        assert_eq!(s.task(queued).unwrap().state, TaskState::Completed);
        let c = s.task(closure).unwrap();
        assert_eq!(c.state, TaskState::Failed);
        assert!(c.error.unwrap().contains("lost with the process"));
        s.flush().await.unwrap();
        let done = rows(
            &path,
            &format!(
                "select state, json_extract(result, '$.n') from tasks where id = {}",
                durable.0
            ),
        );
        assert_eq!(done, vec![("completed".to_owned(), 12)], "10 + attempt 2");
    });
}

#[test]
fn a_full_disk_stops_the_store_and_durable_submits_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let rt = runtime();
    rt.block_on(async {
        let kinds =
            Kinds::new().register(
                "echo",
                |_ctx, e: Echo| async move { Ok::<_, TaskFailure>(e) },
            );
        let mut options = DurableOptions::default();
        options.sqlite.max_size_bytes = Some(256 * 1024);
        let (s, _) = Scheduler::open_durable(&path, config(), kinds, None, options).unwrap();
        let big = "x".repeat(8 * 1024);
        let mut acknowledged = 0;
        let error = loop {
            match s
                .submit_durable(baton_kernel::Target::None, "bg", "echo", big.clone())
                .await
            {
                Ok(h) => {
                    acknowledged += 1;
                    h.detach();
                }
                Err(e) => break e,
            }
            assert!(acknowledged < 1_000, "the disk never filled");
        };
        assert!(
            matches!(&error, DurableError::Store(m) if m.contains("full")),
            "{error}"
        );
        // Fail-stop: every later durable submit fails too.
        assert!(matches!(
            s.submit_durable(baton_kernel::Target::None, "bg", "echo", "small")
                .await,
            Err(DurableError::Store(_))
        ));
        assert!(acknowledged > 0);
    });
}

#[test]
fn an_acknowledged_submit_is_already_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let rt = runtime();
    rt.block_on(async {
        let kinds =
            Kinds::new().register(
                "echo",
                |_ctx, e: Echo| async move { Ok::<_, TaskFailure>(e) },
            );
        let (s, _) = open(&path, kinds);
        let reader = rusqlite::Connection::open(&path).unwrap();
        for n in 0..50 {
            let h = s
                .submit_durable(baton_kernel::Target::None, "bg", "echo", Echo { n })
                .await
                .unwrap();
            h.detach();
            // Read through another connection: only committed entries are visible to it.
            let submits: i64 = reader
                .query_row(
                    "select count(*) from journal where payload like '%\"submit\"%'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(
                submits > i64::from(n),
                "submit {n} acknowledged, {submits} in the journal"
            );
        }
    });
}

#[test]
fn durable_children_and_priorities_go_through_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let rt = runtime();
    rt.block_on(async {
        let kinds = Kinds::new()
            .register(
                "echo",
                |_ctx, e: Echo| async move { Ok::<_, TaskFailure>(e) },
            )
            .register("parent", |ctx, e: Echo| async move {
                // A durable child from inside a body: journaled like any submit.
                let child = ctx
                    .child("bg")
                    .priority(9)
                    .submit_durable("echo", Echo { n: e.n + 1 })
                    .await
                    .map_err(TaskFailure::new)?;
                let v = child.await.map_err(TaskFailure::new)?;
                Ok::<_, TaskFailure>(v)
            });
        let (s, _) = open(&path, kinds);
        let parent = s
            .task_builder(baton_kernel::Target::None, "bg")
            .priority(3)
            .submit_durable("parent", Echo { n: 1 })
            .await
            .unwrap();
        let pid = parent.id().unwrap();
        assert_eq!(parent.await.unwrap(), serde_json::json!({ "n": 2 }));
        s.flush().await.unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let rows: Vec<(i64, String, i64, Option<i64>)> = conn
            .prepare("select id, kind, priority, parent from tasks order by id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            vec![
                (pid.0 as i64, "parent".to_owned(), 3, None),
                (pid.0 as i64 + 1, "echo".to_owned(), 9, Some(pid.0 as i64)),
            ]
        );
    });
}
