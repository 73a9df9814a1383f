//! The embedded store: one SQLite file in WAL mode with `synchronous = FULL`.

use crate::checksum;
use crate::error::StoreError;
use crate::recovery::Recovered;
use crate::replay;
use crate::row::TaskRow;
use crate::schema;
use crate::sql::{
    EncodedRow, ROW_COLUMNS, from_sql, meta_get, meta_set, meta_u64, read_row, to_sql,
};
use crate::store::{Batch, Store};
use baton_kernel::{Config, Kernel};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;

/// Options of [`SqliteStore::open_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a statement waits for another connection's lock (`PRAGMA busy_timeout`).
    pub busy_timeout: std::time::Duration,
    /// A cap on the database's size in bytes (`PRAGMA max_page_count`, rounded up to whole
    /// pages); past it a commit fails with [`StoreError::Full`] as on a full disk. `None`: no
    /// cap but the disk's.
    pub max_size_bytes: Option<u64>,
}

impl Default for SqliteOptions {
    /// A five-second busy timeout and no size cap.
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: std::time::Duration::from_secs(5),
            max_size_bytes: None,
        }
    }
}

/// A [`Store`] in one SQLite file (see the crate documentation for the schema).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    /// The text of the error that stopped the store.
    stopped: Option<String>,
    last_seq: u64,
    newest_snapshot: u64,
}

/// Nanoseconds since the Unix epoch now (0 if the clock is before it).
fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with the default [`SqliteOptions`]; see
    /// [`SqliteStore::open_with`].
    pub fn open(
        path: impl AsRef<Path>,
        config: &Config,
        epoch_unix_ns_if_new: u64,
    ) -> Result<(SqliteStore, Recovered), StoreError> {
        Self::open_with(
            path,
            config,
            epoch_unix_ns_if_new,
            &SqliteOptions::default(),
        )
    }

    /// Opens the store at `path` and recovers its kernel.
    ///
    /// A new file gets the schema, `config`, the epoch `epoch_unix_ns_if_new` and a snapshot of
    /// `Kernel::new(config)` at seq 0, in one transaction. An existing store is migrated to the
    /// current schema (refused if newer: [`StoreError::SchemaTooNew`]), its config compared with
    /// `config` (refused if different: [`StoreError::ConfigChanged`]), and recovered: the newest
    /// snapshot that verifies (checksum, decodes, re-encodes identically, same config), then the
    /// journal entries after it, each replayed and checked to get the answer it got first. The
    /// first bad entry (checksum, undecodable, gap, divergence) and everything after it are
    /// deleted; snapshots that did not verify are deleted; both are in the report.
    pub fn open_with(
        path: impl AsRef<Path>,
        config: &Config,
        epoch_unix_ns_if_new: u64,
        options: &SqliteOptions,
    ) -> Result<(SqliteStore, Recovered), StoreError> {
        let initial = Kernel::new(config.clone())?;
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(options.busy_timeout)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::corrupt(format!(
                "cannot use WAL mode (journal_mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        if let Some(max) = options.max_size_bytes {
            let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let pages = max.div_ceil(from_sql(page).max(1)).max(1);
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get::<_, i64>(0)
            })?;
        }

        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let created = schema::migrate(&tx)?;
        if created {
            meta_set(&tx, "config", &serde_json::to_string(config)?)?;
            meta_set(&tx, "epoch_unix_ns", &epoch_unix_ns_if_new.to_string())?;
            meta_set(&tx, "created_unix_ns", &unix_now_ns().to_string())?;
            meta_set(&tx, "compacted_through", "0")?;
            insert_snapshot(&tx, 0, &serde_json::to_string(&initial)?)?;
        }
        tx.commit()?;

        let stored = meta_get(&conn, "config")?
            .ok_or_else(|| StoreError::corrupt("meta.config is missing"))?;
        let stored: Config = serde_json::from_str(&stored)
            .map_err(|e| StoreError::corrupt(format!("meta.config: {e}")))?;
        if &stored != config {
            return Err(StoreError::ConfigChanged {
                stored: Box::new(stored),
                given: Box::new(config.clone()),
            });
        }
        let epoch_unix_ns = meta_u64(&conn, "epoch_unix_ns")?;

        let mut out = replay::recover(&mut conn, config)?;
        out.report.created = created;
        let durable = replay::durable(&conn, &out.kernel)?;
        let store = SqliteStore {
            conn,
            stopped: None,
            last_seq: out.last_seq,
            newest_snapshot: out.newest_snapshot,
        };
        let recovered = Recovered {
            kernel: out.kernel,
            last_seq: out.last_seq,
            epoch_unix_ns,
            durable,
            report: out.report,
        };
        Ok((store, recovered))
    }

    /// Refuses if a failed write stopped the store.
    fn check_running(&self) -> Result<(), StoreError> {
        match &self.stopped {
            Some(cause) => Err(StoreError::Stopped {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Stops the store if `r` is a database error, and returns it typed.
    fn fail_stop<T>(&mut self, r: rusqlite::Result<T>) -> Result<T, StoreError> {
        r.map_err(|e| {
            self.stopped = Some(e.to_string());
            StoreError::from(e)
        })
    }
}

/// Inserts (or replaces) the snapshot at `seq`.
fn insert_snapshot(conn: &Connection, seq: u64, state: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO snapshots (seq, state, digest, created_unix_ns) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        to_sql(seq),
        state,
        i64::from(checksum::snapshot(seq, state)),
        to_sql(unix_now_ns()),
    ])?;
    Ok(())
}

/// Writes a batch in one transaction.
fn write_batch(
    conn: &mut Connection,
    batch: &Batch,
    payloads: &[String],
    rows: &[EncodedRow<'_>],
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx
            .prepare_cached("INSERT INTO journal (seq, t, payload, crc) VALUES (?1, ?2, ?3, ?4)")?;
        for (e, payload) in batch.entries.iter().zip(payloads) {
            let t = e.t.as_nanos();
            insert.execute(params![
                to_sql(e.seq),
                to_sql(t),
                payload,
                i64::from(checksum::entry(e.seq, t, payload)),
            ])?;
        }
    }
    for row in rows {
        row.upsert(&tx, false)?;
    }
    tx.commit()
}

/// Writes a snapshot and compacts, in one transaction. Returns the newest kept seq.
fn write_snapshot(conn: &mut Connection, seq: u64, state: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    insert_snapshot(&tx, seq, state)?;
    let older: Option<i64> = tx
        .query_row(
            "SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 1 OFFSET 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(older) = older {
        tx.execute("DELETE FROM snapshots WHERE seq < ?1", [older])?;
        tx.execute("DELETE FROM journal WHERE seq <= ?1", [older])?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'compacted_through' \
             AND CAST(value AS INTEGER) < ?1",
            [older],
        )?;
    }
    tx.commit()
}

impl Store for SqliteStore {
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.check_running()?;
        let mut next = self.last_seq + 1;
        for e in &batch.entries {
            if e.seq != next {
                return Err(StoreError::SeqOutOfOrder {
                    expected: next,
                    found: e.seq,
                });
            }
            next += 1;
        }
        if batch.is_empty() {
            return Ok(());
        }
        let payloads = batch
            .entries
            .iter()
            .map(|e| e.payload())
            .collect::<Result<Vec<_>, _>>()?;
        let rows = batch
            .rows
            .iter()
            .map(EncodedRow::new)
            .collect::<Result<Vec<_>, _>>()?;
        let written = write_batch(&mut self.conn, batch, &payloads, &rows);
        self.fail_stop(written)?;
        self.last_seq = next - 1;
        Ok(())
    }

    fn snapshot(&mut self, seq: u64, kernel: &Kernel) -> Result<(), StoreError> {
        self.check_running()?;
        if seq > self.last_seq || seq < self.newest_snapshot {
            return Err(StoreError::SnapshotSeq {
                seq,
                newest: self.newest_snapshot,
                last_seq: self.last_seq,
            });
        }
        let state = serde_json::to_string(kernel)?;
        let written = write_snapshot(&mut self.conn, seq, &state);
        self.fail_stop(written)?;
        self.newest_snapshot = seq;
        Ok(())
    }

    fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    fn task_row(&self, id: u64) -> Result<Option<TaskRow>, StoreError> {
        self.check_running()?;
        let sql = format!("SELECT {ROW_COLUMNS} FROM tasks WHERE id = ?1");
        let raw = self
            .conn
            .prepare_cached(&sql)?
            .query_row([to_sql(id)], read_row)
            .optional()?;
        raw.map(|r| r.parse()).transpose()
    }

    fn task_rows(
        &self,
        state: Option<&str>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRow>, StoreError> {
        self.check_running()?;
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM tasks WHERE (?1 IS NULL OR state = ?1) \
             AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let raws = stmt
            .query_map(params![state, after.map(to_sql), limit], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(|r| r.parse()).collect()
    }

    fn state_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.check_running()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, count(*) FROM tasks GROUP BY state ORDER BY state")?;
        let counts = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, from_sql(r.get(1)?))))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(counts)
    }
}
