//! Recovery: round trips, snapshots and compaction, and every kind of corruption.

mod common;

use baton_store::{CutReason, SqliteStore, Store, checksum};
use common::{Driver, config, db, script};
use rusqlite::Connection;
use serde_json::json;

const EPOCH: u64 = 1_700_000_000_000_000_000;

fn scalar(path: &std::path::Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_reopened_store_recovers_the_live_kernel() {
    let (_dir, path) = db();
    let (mut store, rec) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    assert!(rec.report.created);
    assert_eq!(rec.last_seq, 0);
    let mut d = Driver::new(config());
    let s = script(&mut d, &mut store, 3);
    assert_eq!(store.last_seq(), 16);
    drop(store);

    let (mut store, rec) = SqliteStore::open(&path, &config(), 42).unwrap();
    assert_eq!(serde_json::to_string(&rec.kernel).unwrap(), d.json());
    assert_eq!(rec.last_seq, 16);
    assert_eq!(rec.epoch_unix_ns, EPOCH, "the epoch is fixed at creation");
    assert!(!rec.report.created);
    assert_eq!(rec.report.snapshot_seq, Some(0));
    assert_eq!(rec.report.replayed, 16);
    assert_eq!(rec.report.cut, None);
    assert_eq!(
        rec.report.to_string(),
        "recovered from snapshot 0, replayed 16 entries"
    );
    let [b, g] = s.durable_unfinished[..] else {
        panic!()
    };
    assert_eq!(
        rec.durable,
        vec![
            (b.0, "mail".to_owned(), json!({"to": "b"})),
            (g.0, "index".to_owned(), json!([1, 2, 3])),
        ]
    );
    // Rows keep kind, params and result across later updates that did not carry them.
    let done = store.task_row(s.completed.0).unwrap().unwrap();
    assert_eq!(done.state, "completed");
    assert_eq!(done.kind.as_deref(), Some("mail"));
    assert_eq!(done.params, Some(json!({"to": "a"})));
    assert_eq!(done.result, Some(json!({"sent": true})));
    assert_eq!(done.session.as_deref(), Some("alice#1"));
    assert_eq!(
        done.progress,
        Some(json!({"current": 1, "total": 2, "message": "half"}))
    );
    let retried = store.task_row(g.0).unwrap().unwrap();
    assert_eq!((retried.state.as_str(), retried.attempt), ("running", 2));
    assert_eq!(retried.error.as_deref(), Some("flaky"));

    // The store goes on from last_seq + 1.
    d.step(1_000, baton_kernel::Input::Timeout).unwrap();
    d.flush(&mut store).unwrap();
    drop(store);
    let (_, rec) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    assert_eq!(rec.last_seq, 17);
    assert_eq!(serde_json::to_string(&rec.kernel).unwrap(), d.json());
}

#[test]
fn a_batch_that_does_not_continue_the_journal_is_refused_without_stopping() {
    let (_dir, path) = db();
    let (mut store, _) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    let mut d = Driver::new(config());
    d.step(1, baton_kernel::Input::Timeout).unwrap();
    d.pending.entries[0].seq = 2;
    let e = d.flush(&mut store).unwrap_err();
    assert!(matches!(
        e,
        baton_store::StoreError::SeqOutOfOrder {
            expected: 1,
            found: 2
        }
    ));
    assert!(!store.is_stopped());
    assert_eq!(scalar(&path, "select count(*) from journal"), 0);
}

/// A 16-entry run committed one input at a time, with snapshots after 5 and 10.
fn with_snapshots(path: &std::path::Path) -> Driver {
    let (mut store, _) = SqliteStore::open(path, &config(), EPOCH).unwrap();
    let mut d = Driver::new(config());
    d.snapshot_at = vec![5, 10];
    script(&mut d, &mut store, 1);
    d
}

fn text(path: &std::path::Path, sql: &str) -> String {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn exec(path: &std::path::Path, sql: &str, params: impl rusqlite::Params) {
    let n = Connection::open(path)
        .unwrap()
        .execute(sql, params)
        .unwrap();
    assert!(n > 0, "{sql} changed nothing");
}

fn json_of(rec: &baton_store::Recovered) -> String {
    serde_json::to_string(&rec.kernel).unwrap()
}

#[test]
fn snapshots_compact_the_journal_and_recovery_replays_the_suffix() {
    let (_dir, path) = db();
    let d = with_snapshots(&path);
    // The newest two snapshots are kept; the journal keeps what follows the older one.
    assert_eq!(
        text(
            &path,
            "select group_concat(seq) from (select seq from snapshots order by seq)"
        ),
        "5,10"
    );
    assert_eq!(scalar(&path, "select min(seq) from journal"), 6);
    assert_eq!(scalar(&path, "select max(seq) from journal"), 16);
    assert_eq!(
        text(
            &path,
            "select value from meta where key = 'compacted_through'"
        ),
        "5"
    );
    let (_, rec) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    assert_eq!(rec.report.snapshot_seq, Some(10));
    assert_eq!(rec.report.replayed, 6);
    assert_eq!(rec.last_seq, 16);
    assert_eq!(json_of(&rec), d.json());
}

#[test]
fn a_snapshot_out_of_range_is_refused_without_stopping() {
    let (_dir, path) = db();
    let d = with_snapshots(&path);
    let (mut store, _) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    for seq in [4, 17] {
        let e = store.snapshot(seq, &d.kernel).unwrap_err();
        assert!(
            matches!(
                e,
                baton_store::StoreError::SnapshotSeq {
                    newest: 10,
                    last_seq: 16,
                    ..
                }
            ),
            "{e}"
        );
    }
    assert!(!store.is_stopped());
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    let (_dir, path) = db();
    let d = with_snapshots(&path);
    exec(
        &path,
        "update snapshots set state = replace(state, '\"now\":', '\"now\": ') where seq = 10",
        [],
    );
    let (_, rec) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    assert_eq!(rec.report.snapshot_seq, Some(5));
    assert_eq!(rec.report.skipped_snapshots.len(), 1);
    assert_eq!(rec.report.skipped_snapshots[0].seq, 10);
    assert_eq!(rec.report.skipped_snapshots[0].reason, "checksum mismatch");
    assert_eq!(rec.report.replayed, 11);
    assert_eq!(rec.report.cut, None);
    assert_eq!(json_of(&rec), d.json());
    assert_eq!(
        scalar(&path, "select count(*) from snapshots where seq = 10"),
        0
    );
}

#[test]
fn a_snapshot_with_a_good_checksum_but_a_bad_state_is_skipped() {
    let (_dir, path) = db();
    let d = with_snapshots(&path);
    // A forged snapshot: the checksum matches, the state is not a kernel.
    let forged = r#"{"config":null}"#;
    exec(
        &path,
        "update snapshots set state = ?1, digest = ?2 where seq = 10",
        rusqlite::params![forged, i64::from(checksum::snapshot(10, forged))],
    );
    let (_, rec) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    assert_eq!(rec.report.snapshot_seq, Some(5));
    assert!(
        rec.report.skipped_snapshots[0]
            .reason
            .starts_with("undecodable state"),
        "{}",
        rec.report
    );
    assert_eq!(json_of(&rec), d.json());
}

#[test]
fn with_no_snapshot_left_and_a_compacted_journal_recovery_refuses() {
    let (_dir, path) = db();
    with_snapshots(&path);
    exec(&path, "update snapshots set digest = digest + 1", []);
    let e = SqliteStore::open(&path, &config(), EPOCH).unwrap_err();
    assert!(matches!(e, baton_store::StoreError::Corrupt { .. }), "{e}");
}

/// A 16-entry run committed one input at a time, no snapshot but the initial one.
fn plain(path: &std::path::Path) -> Driver {
    let (mut store, _) = SqliteStore::open(path, &config(), EPOCH).unwrap();
    let mut d = Driver::new(config());
    script(&mut d, &mut store, 1);
    d
}

/// Opens the store and checks it was cut at `first` with `reason`, recovering the state before.
/// (After a gap, the first entry removed is the one after the gap.)
fn assert_cut_at(path: &std::path::Path, d: &Driver, first: u64, reason: CutReason) {
    let (mut store, rec) = SqliteStore::open(path, &config(), EPOCH).unwrap();
    let cut = rec.report.cut.clone().expect("a cut");
    let removed_from = match reason {
        CutReason::Gap { found, .. } => found,
        _ => first,
    };
    assert_eq!(cut.first_seq, removed_from);
    assert_eq!(cut.count, 17 - removed_from);
    assert_eq!(cut.reason, reason);
    assert_eq!(rec.last_seq, first - 1);
    assert_eq!(rec.report.replayed, first - 1);
    assert_eq!(json_of(&rec), d.states[(first - 1) as usize]);
    assert_eq!(
        scalar(path, "select count(*) from journal where seq >= 1"),
        (first - 1) as i64
    );
    // The rows match the recovered registry: no row for a task the kernel has not given out.
    let mut total = 0;
    for (state, n) in store.state_counts().unwrap() {
        let s = baton_kernel::TaskState::ALL
            .into_iter()
            .find(|s| s.name() == state)
            .unwrap();
        assert_eq!(rec.kernel.counts().get(s), n, "{state}");
        total += n;
    }
    assert_eq!(total, rec.kernel.counts().total());
    // It goes on from the cut.
    let mut live = Driver::new(config());
    live.kernel = rec.kernel;
    live.seq = rec.last_seq;
    live.t = live.kernel.now().as_nanos();
    live.step(1_000, baton_kernel::Input::Timeout).unwrap();
    live.flush(&mut store).unwrap();
    assert_eq!(store.last_seq(), first);
}

#[test]
fn a_corrupt_journal_entry_cuts_the_tail_there() {
    let (_dir, path) = db();
    let d = plain(&path);
    exec(
        &path,
        "update journal set payload = 'garbage' where seq = 6",
        [],
    );
    assert_cut_at(&path, &d, 6, CutReason::Checksum);
    let (_, rec) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    assert_eq!(rec.report.cut, None, "the cut is made once");
}

#[test]
fn a_torn_entry_of_the_wrong_type_cuts_the_tail_there() {
    let (_dir, path) = db();
    let d = plain(&path);
    exec(&path, "update journal set crc = 'x' where seq = 16", []);
    assert_cut_at(&path, &d, 16, CutReason::Checksum);
}

#[test]
fn an_undecodable_entry_cuts_the_tail_there() {
    let (_dir, path) = db();
    let d = plain(&path);
    let t = scalar(&path, "select t from journal where seq = 9");
    let payload = r#"{"t":1,"input":"no_such_input","accepted":true}"#;
    exec(
        &path,
        "update journal set payload = ?1, crc = ?2 where seq = 9",
        rusqlite::params![payload, i64::from(checksum::entry(9, t as u64, payload))],
    );
    let (_, rec) = SqliteStore::open(&path, &config(), EPOCH).unwrap();
    let Some(baton_store::Cut {
        first_seq: 9,
        reason: CutReason::Undecodable(e),
        count: 8,
    }) = rec.report.cut.clone()
    else {
        panic!("{}", rec.report)
    };
    assert!(e.contains("no_such_input"), "{e}");
    assert_eq!(json_of(&rec), d.states[8]);
}

#[test]
fn a_missing_entry_cuts_the_tail_at_the_gap() {
    let (_dir, path) = db();
    let d = plain(&path);
    exec(&path, "delete from journal where seq = 4", []);
    assert_cut_at(
        &path,
        &d,
        4,
        CutReason::Gap {
            expected: 4,
            found: 5,
        },
    );
}

#[test]
fn a_diverging_replay_cuts_the_tail_and_recovers_the_state_before() {
    let (_dir, path) = db();
    let d = plain(&path);
    // Entry 3 (a refused reconnect) claims it was accepted.
    let (t, payload): (i64, String) = Connection::open(&path)
        .unwrap()
        .query_row("select t, payload from journal where seq = 3", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(payload.contains(r#""accepted":false"#), "{payload}");
    let payload = payload.replace(r#""accepted":false"#, r#""accepted":true"#);
    exec(
        &path,
        "update journal set payload = ?1, crc = ?2 where seq = 3",
        rusqlite::params![payload, i64::from(checksum::entry(3, t as u64, &payload))],
    );
    assert_cut_at(
        &path,
        &d,
        3,
        CutReason::Diverged {
            accepted_then: true,
            error_now: Some("session \"alice\" is already connected".into()),
        },
    );
}
