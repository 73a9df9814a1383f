//! Recovery: the newest snapshot that verifies, then the journal suffix, cut at the first bad
//! entry.

use crate::checksum;
use crate::entry::JournalEntry;
use crate::error::StoreError;
use crate::recovery::{Cut, CutReason, RecoveryReport, SkippedSnapshot};
use crate::row::TaskRow;
use crate::sql::{EncodedRow, from_sql, meta_u64, to_sql};
use baton_kernel::{Config, Input, Instant, Kernel, ListFilter, TaskId, TaskView};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

/// What [`recover`] found.
pub(crate) struct Outcome {
    /// The recovered kernel, actions drained.
    pub(crate) kernel: Kernel,
    /// The last good entry's seq.
    pub(crate) last_seq: u64,
    /// The newest snapshot kept.
    pub(crate) newest_snapshot: u64,
    /// The report (with `created` false).
    pub(crate) report: RecoveryReport,
}

/// Recovers the kernel stored in `conn`, created with `config`, and repairs the store: cuts the
/// bad journal tail, deletes the snapshots that did not verify, and (after a cut) brings the
/// task rows back in line with the recovered kernel.
pub(crate) fn recover(conn: &mut Connection, config: &Config) -> Result<Outcome, StoreError> {
    let mut report = RecoveryReport::default();
    let compacted = meta_u64(conn, "compacted_through")?;
    let (base_seq, mut kernel) = base(conn, config, compacted, &mut report)?;
    report.snapshot_seq = base_seq;
    let base_seq = base_seq.unwrap_or(0);
    drain(&mut kernel);

    // Replay the suffix; stop at the first bad entry.
    let base_kernel = kernel.clone();
    let mut applied: Vec<(Instant, Input)> = Vec::new();
    let mut bad: Option<(u64, CutReason)> = None;
    {
        let mut stmt =
            conn.prepare("SELECT seq, t, payload, crc FROM journal WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query([to_sql(base_seq)])?;
        let mut expected = base_seq + 1;
        while let Some(row) = rows.next()? {
            let seq = from_sql(row.get(0)?);
            if seq != expected {
                bad = Some((
                    seq,
                    CutReason::Gap {
                        expected,
                        found: seq,
                    },
                ));
                break;
            }
            let entry = match decode(
                seq,
                row.get::<_, SqlValue>(1)?,
                row.get::<_, SqlValue>(2)?,
                row.get::<_, SqlValue>(3)?,
            ) {
                Ok(e) => e,
                Err(reason) => {
                    bad = Some((seq, reason));
                    break;
                }
            };
            let answer = kernel.apply(entry.t, entry.input.clone());
            drain(&mut kernel);
            if answer.is_ok() != entry.accepted {
                bad = Some((
                    seq,
                    CutReason::Diverged {
                        accepted_then: entry.accepted,
                        error_now: answer.err().map(|e| e.to_string()),
                    },
                ));
                break;
            }
            applied.push((entry.t, entry.input));
            expected += 1;
        }
    }
    if matches!(bad, Some((_, CutReason::Diverged { .. }))) {
        // The diverging input changed the kernel: replay again up to the entry before it.
        kernel = base_kernel;
        for (t, input) in &applied {
            // Each of these gave its recorded answer a moment ago; the kernel is deterministic.
            let _ = kernel.apply(*t, input.clone());
            drain(&mut kernel);
        }
    }
    report.replayed = applied.len() as u64;
    let last_seq = base_seq + report.replayed;

    // Repair, in one transaction.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some((first_seq, reason)) = bad {
        let count = tx.execute("DELETE FROM journal WHERE seq >= ?1", [to_sql(first_seq)])?;
        report.cut = Some(Cut {
            first_seq,
            count: count as u64,
            reason,
        });
        resync_rows(&tx, &kernel)?;
    }
    for s in &report.skipped_snapshots {
        tx.execute("DELETE FROM snapshots WHERE seq = ?1", [to_sql(s.seq)])?;
    }
    tx.commit()?;
    let newest_snapshot = conn
        .query_row("SELECT max(seq) FROM snapshots", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .map_or(0, from_sql);
    Ok(Outcome {
        kernel,
        last_seq,
        newest_snapshot,
        report,
    })
}

/// The newest snapshot that verifies, or a new kernel at seq 0 (`None`) while the journal is
/// whole from seq 1.
fn base(
    conn: &Connection,
    config: &Config,
    compacted: u64,
    report: &mut RecoveryReport,
) -> Result<(Option<u64>, Kernel), StoreError> {
    let seqs: Vec<u64> = conn
        .prepare("SELECT seq FROM snapshots ORDER BY seq DESC")?
        .query_map([], |r| r.get::<_, i64>(0))?
        .map(|s| s.map(from_sql))
        .collect::<Result<_, _>>()?;
    for seq in seqs {
        let row = conn
            .query_row(
                "SELECT state, digest FROM snapshots WHERE seq = ?1",
                [to_sql(seq)],
                |r| Ok((r.get::<_, SqlValue>(0)?, r.get::<_, SqlValue>(1)?)),
            )
            .optional()?;
        let verified = match row {
            Some((state, digest)) => verify_snapshot(seq, state, digest, config, compacted),
            None => Err("vanished while recovering".to_owned()),
        };
        match verified {
            Ok(kernel) => return Ok((Some(seq), kernel)),
            Err(reason) => report
                .skipped_snapshots
                .push(SkippedSnapshot { seq, reason }),
        }
    }
    if compacted == 0 {
        return Ok((None, Kernel::new(config.clone())?));
    }
    Err(StoreError::corrupt(format!(
        "no snapshot verifies and the journal was compacted through seq {compacted}"
    )))
}

/// The kernel in a snapshot row, or why it cannot be used.
fn verify_snapshot(
    seq: u64,
    state: SqlValue,
    digest: SqlValue,
    config: &Config,
    compacted: u64,
) -> Result<Kernel, String> {
    let (SqlValue::Text(state), SqlValue::Integer(digest)) = (state, digest) else {
        return Err("checksum mismatch (columns of the wrong type)".to_owned());
    };
    if i64::from(checksum::snapshot(seq, &state)) != digest {
        return Err("checksum mismatch".to_owned());
    }
    if seq < compacted {
        return Err(format!(
            "its journal suffix was compacted (through seq {compacted})"
        ));
    }
    let kernel: Kernel =
        serde_json::from_str(&state).map_err(|e| format!("undecodable state: {e}"))?;
    match serde_json::to_string(&kernel) {
        Ok(again) if again == state => {}
        Ok(_) => return Err("not canonical: re-serializing gives another state".to_owned()),
        Err(e) => return Err(format!("cannot re-serialize: {e}")),
    }
    if kernel.config() != config {
        return Err("its config differs from the store's".to_owned());
    }
    Ok(kernel)
}

/// The entry in a journal row, or why it is bad.
fn decode(
    seq: u64,
    t: SqlValue,
    payload: SqlValue,
    crc: SqlValue,
) -> Result<JournalEntry, CutReason> {
    let (SqlValue::Integer(t), SqlValue::Text(payload), SqlValue::Integer(crc)) = (t, payload, crc)
    else {
        return Err(CutReason::Checksum);
    };
    let t = from_sql(t);
    if i64::from(checksum::entry(seq, t, &payload)) != crc {
        return Err(CutReason::Checksum);
    }
    let entry = JournalEntry::from_payload(seq, &payload)
        .map_err(|e| CutReason::Undecodable(e.to_string()))?;
    if entry.t.as_nanos() != t {
        return Err(CutReason::Undecodable(format!(
            "payload t {} differs from column t {t}",
            entry.t.as_nanos()
        )));
    }
    Ok(entry)
}

/// Drops the kernel's pending actions: they belonged to the process that wrote the journal.
fn drain(kernel: &mut Kernel) {
    while kernel.poll_action().is_some() {}
}

/// Every task in the kernel's registry, by id.
pub(crate) fn registry(kernel: &Kernel) -> Vec<TaskView> {
    let mut all = Vec::with_capacity(kernel.registry_len());
    let mut after: Option<TaskId> = None;
    loop {
        let page = kernel.list(&ListFilter::default(), after, usize::MAX);
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

/// After a cut the rows may describe inputs that no longer happened: rewrite every registry
/// task's row from the kernel, and delete the rows of task ids the kernel has not given out
/// (it will give them to new tasks).
fn resync_rows(conn: &Connection, kernel: &Kernel) -> Result<(), StoreError> {
    for view in registry(kernel) {
        let row = TaskRow::from_view(&view, kernel);
        EncodedRow::new(&row)?.upsert(conn, true)?;
    }
    // The canonical form names the next task id; without it, leave the rows be.
    if let Some(next) = serde_json::to_value(kernel)?
        .get("next_task")
        .and_then(Value::as_u64)
    {
        conn.execute("DELETE FROM tasks WHERE id >= ?1", [to_sql(next)])?;
    }
    Ok(())
}

/// `(id, kind, params)` of the durable tasks to re-run: rows with a kind whose task is in the
/// kernel's registry and not terminal.
pub(crate) fn durable(
    conn: &Connection,
    kernel: &Kernel,
) -> Result<Vec<(u64, String, Value)>, StoreError> {
    let mut out = Vec::new();
    let mut stmt =
        conn.prepare("SELECT kind, params FROM tasks WHERE id = ?1 AND kind IS NOT NULL")?;
    for view in registry(kernel) {
        if view.state.is_terminal() {
            continue;
        }
        let found = stmt
            .query_row([to_sql(view.id.0)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .optional()?;
        if let Some((kind, params)) = found {
            let params = match params {
                Some(text) => serde_json::from_str(&text).map_err(|e| {
                    StoreError::corrupt(format!("tasks row {}: params: {e}", view.id.0))
                })?,
                None => Value::Null,
            };
            out.push((view.id.0, kind, params));
        }
    }
    Ok(out)
}
