//! Failures at the store's edges: a full disk, another config, a newer schema, a foreign file;
//! and the tasks table as SQL tools see it.

mod common;

use baton_kernel::{ClassConfig, Input, TaskState};
use baton_store::{SCHEMA_VERSION, SqliteOptions, SqliteStore, Store, StoreError};
use common::{Driver, config, db, script};
use rusqlite::Connection;
use serde_json::json;

#[test]
fn a_full_disk_stops_the_store_and_keeps_what_was_acknowledged() {
    let (_dir, path) = db();
    let options = SqliteOptions {
        max_size_bytes: Some(96 * 1024),
        ..SqliteOptions::default()
    };
    let (mut store, _) = SqliteStore::open_with(&path, &config(), 0, &options).unwrap();
    let mut d = Driver::new(config());
    let big = "x".repeat(4_000);
    let mut acknowledged = 0;
    let error = loop {
        assert!(d.seq < 200, "the size cap never filled");
        d.step_with(
            1_000,
            Input::Submit(baton_kernel::Submit::new(
                baton_kernel::ClassId(1),
                baton_kernel::Target::None,
            )),
            Some(("blob", json!(big))),
            None,
        )
        .unwrap();
        match d.flush(&mut store) {
            Ok(()) => acknowledged = d.seq,
            Err(e) => break e,
        }
    };
    assert!(matches!(error, StoreError::Full(_)), "{error}");
    assert!(acknowledged > 3, "{acknowledged}");
    assert!(store.is_stopped());
    // Every later call is refused, naming the first failure.
    d.step(1_000, Input::Timeout).unwrap();
    let later = d.flush(&mut store).unwrap_err();
    let StoreError::Stopped { cause } = &later else {
        panic!("{later}")
    };
    assert!(cause.contains("full"), "{cause}");
    assert!(matches!(
        store.snapshot(acknowledged, &d.kernel),
        Err(StoreError::Stopped { .. })
    ));
    assert!(matches!(
        store.state_counts(),
        Err(StoreError::Stopped { .. })
    ));
    drop(store);

    // Restart and recover: exactly the acknowledged entries.
    let (_, rec) = SqliteStore::open(&path, &config(), 0).unwrap();
    assert_eq!(rec.last_seq, acknowledged);
    assert_eq!(rec.report.cut, None);
    assert_eq!(
        serde_json::to_string(&rec.kernel).unwrap(),
        d.states[acknowledged as usize]
    );
    assert_eq!(rec.durable.len() as u64, acknowledged);
}

#[test]
fn opening_with_another_config_is_refused() {
    let (_dir, path) = db();
    drop(SqliteStore::open(&path, &config(), 0).unwrap());
    let mut other = config();
    other.classes.push(ClassConfig::background("extra", 3));
    let e = SqliteStore::open(&path, &other, 0).unwrap_err();
    let StoreError::ConfigChanged { stored, given } = e else {
        panic!("{e}")
    };
    assert_eq!(*stored, config());
    assert_eq!(*given, other);
    // The same config still opens.
    assert!(SqliteStore::open(&path, &config(), 0).is_ok());
}

#[test]
fn an_invalid_config_is_refused_before_touching_the_file() {
    let (_dir, path) = db();
    let mut bad = config();
    bad.classes.clear();
    let e = SqliteStore::open(&path, &bad, 0).unwrap_err();
    assert!(matches!(e, StoreError::InvalidConfig(_)), "{e}");
    assert!(!path.exists());
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path) = db();
    drop(SqliteStore::open(&path, &config(), 0).unwrap());
    let conn = Connection::open(&path).unwrap();
    let v: u32 = conn
        .query_row("pragma user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 1);
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let e = SqliteStore::open(&path, &config(), 0).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 1
            }
        ),
        "{e}"
    );
}

#[test]
fn a_foreign_database_is_refused() {
    let (_dir, path) = db();
    Connection::open(&path)
        .unwrap()
        .execute_batch("create table people (name text)")
        .unwrap();
    let e = SqliteStore::open(&path, &config(), 0).unwrap_err();
    assert!(matches!(e, StoreError::NotAStore), "{e}");
}

#[test]
fn the_tasks_table_answers_sql() {
    let (_dir, path) = db();
    let (mut store, _) = SqliteStore::open(&path, &config(), 0).unwrap();
    let mut d = Driver::new(config());
    script(&mut d, &mut store, 4);

    // What a job manager's REST endpoint said, from the sqlite3 command line.
    let conn = Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("select state, count(*) from tasks group by state order by state")
        .unwrap();
    let by_state: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        by_state,
        vec![
            ("cancelled".to_owned(), 1),
            ("completed".to_owned(), 1),
            ("failed".to_owned(), 1),
            ("running".to_owned(), 2),
        ]
    );
    let counts = d.kernel.counts();
    for (state, n) in &by_state {
        let s = TaskState::ALL
            .into_iter()
            .find(|s| s.name() == state)
            .unwrap();
        assert_eq!(counts.get(s), *n as u64, "{state}");
    }
    assert_eq!(
        store.state_counts().unwrap(),
        by_state
            .iter()
            .map(|(s, n)| (s.clone(), *n as u64))
            .collect::<Vec<_>>()
    );
    // JSON columns are queryable with SQLite's JSON functions.
    let to: String = conn
        .query_row(
            "select json_extract(params, '$.to') from tasks where kind = 'mail' and state = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(to, "b");
    let cancelled: String = conn
        .query_row(
            "select error from tasks where state = 'cancelled'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cancelled, "cancelled: user");
    // The store's own helper pages by id and filters by state.
    let running = store.task_rows(Some("running"), None, 10).unwrap();
    assert_eq!(running.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 4]);
    let page = store.task_rows(None, Some(2), 2).unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 4]);
    // The indexes exist.
    let indexes: i64 = conn
        .query_row(
            "select count(*) from sqlite_master where type = 'index' and tbl_name = 'tasks' \
             and name in ('tasks_state', 'tasks_class', 'tasks_created')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 3);
    let mode: String = conn
        .query_row("pragma journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}
