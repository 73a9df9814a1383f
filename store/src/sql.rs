//! SQL helpers shared by the SQLite store: integer conversions, the meta table and task rows.

use crate::error::StoreError;
use crate::row::TaskRow;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

/// A `u64` as SQLite's signed 64-bit integer (bit for bit: values above `i64::MAX` wrap).
pub(crate) fn to_sql(n: u64) -> i64 {
    n as i64
}

/// The inverse of [`to_sql`].
pub(crate) fn from_sql(n: i64) -> u64 {
    n as u64
}

/// A meta value.
pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, String>(0)
        })
        .optional()?)
}

/// A meta value that must be present and a `u64`.
pub(crate) fn meta_u64(conn: &Connection, key: &str) -> Result<u64, StoreError> {
    let text = meta_get(conn, key)?
        .ok_or_else(|| StoreError::corrupt(format!("meta.{key} is missing")))?;
    text.parse()
        .map_err(|_| StoreError::corrupt(format!("meta.{key} is not a number: {text:?}")))
}

/// Sets a meta value.
pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute([key, value])?;
    Ok(())
}

/// The columns of `tasks`, in the order [`read_row`] reads them.
pub(crate) const ROW_COLUMNS: &str = "id, kind, class, session, grp, parent, priority, state, \
     attempt, params, result, error, progress, created_ns, started_ns, finished_ns";

/// Upserts a row: `kind`, `params`, `result` and `session` keep the stored value when `NULL`.
const UPSERT_ROW: &str = "INSERT INTO tasks (id, kind, class, session, grp, parent, priority, \
     state, attempt, params, result, error, progress, created_ns, started_ns, finished_ns) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
     ON CONFLICT (id) DO UPDATE SET \
     kind = COALESCE(excluded.kind, kind), class = excluded.class, \
     session = COALESCE(excluded.session, session), grp = excluded.grp, \
     parent = excluded.parent, priority = excluded.priority, state = excluded.state, \
     attempt = excluded.attempt, params = COALESCE(excluded.params, params), \
     result = COALESCE(excluded.result, result), error = excluded.error, \
     progress = excluded.progress, created_ns = excluded.created_ns, \
     started_ns = excluded.started_ns, finished_ns = excluded.finished_ns";

/// Like [`UPSERT_ROW`], but recovery's resync: the kernel is the truth, so a `result` is kept
/// only while the task is completed.
const RESYNC_ROW: &str = "INSERT INTO tasks (id, kind, class, session, grp, parent, priority, \
     state, attempt, params, result, error, progress, created_ns, started_ns, finished_ns) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
     ON CONFLICT (id) DO UPDATE SET \
     class = excluded.class, session = COALESCE(excluded.session, session), \
     grp = excluded.grp, parent = excluded.parent, priority = excluded.priority, \
     state = excluded.state, attempt = excluded.attempt, \
     result = CASE WHEN excluded.state = 'completed' THEN result END, \
     error = excluded.error, progress = excluded.progress, created_ns = excluded.created_ns, \
     started_ns = excluded.started_ns, finished_ns = excluded.finished_ns";

/// A row's JSON columns, encoded before a transaction starts.
pub(crate) struct EncodedRow<'a> {
    row: &'a TaskRow,
    params: Option<String>,
    result: Option<String>,
    progress: Option<String>,
}

fn json(v: Option<&Value>) -> Result<Option<String>, serde_json::Error> {
    v.map(serde_json::to_string).transpose()
}

impl<'a> EncodedRow<'a> {
    /// Encodes the JSON columns of `row`.
    pub(crate) fn new(row: &'a TaskRow) -> Result<Self, serde_json::Error> {
        Ok(EncodedRow {
            row,
            params: json(row.params.as_ref())?,
            result: json(row.result.as_ref())?,
            progress: json(row.progress.as_ref())?,
        })
    }

    /// Upserts the row (`resync`: recovery's variant, see [`RESYNC_ROW`]).
    pub(crate) fn upsert(&self, conn: &Connection, resync: bool) -> rusqlite::Result<()> {
        let r = self.row;
        conn.prepare_cached(if resync { RESYNC_ROW } else { UPSERT_ROW })?
            .execute(params![
                to_sql(r.id),
                r.kind,
                r.class,
                r.session,
                r.group,
                r.parent.map(to_sql),
                r.priority,
                r.state,
                r.attempt,
                self.params,
                self.result,
                r.error,
                self.progress,
                to_sql(r.created_ns),
                r.started_ns.map(to_sql),
                r.finished_ns.map(to_sql),
            ])?;
        Ok(())
    }
}

/// A row as stored, before its JSON columns are parsed.
pub(crate) struct RawRow {
    id: i64,
    kind: Option<String>,
    class: String,
    session: Option<String>,
    group: Option<String>,
    parent: Option<i64>,
    priority: i64,
    state: String,
    attempt: i64,
    params: Option<String>,
    result: Option<String>,
    error: Option<String>,
    progress: Option<String>,
    created_ns: i64,
    started_ns: Option<i64>,
    finished_ns: Option<i64>,
}

/// Reads the [`ROW_COLUMNS`] of a result row.
pub(crate) fn read_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        class: r.get(2)?,
        session: r.get(3)?,
        group: r.get(4)?,
        parent: r.get(5)?,
        priority: r.get(6)?,
        state: r.get(7)?,
        attempt: r.get(8)?,
        params: r.get(9)?,
        result: r.get(10)?,
        error: r.get(11)?,
        progress: r.get(12)?,
        created_ns: r.get(13)?,
        started_ns: r.get(14)?,
        finished_ns: r.get(15)?,
    })
}

fn parse(text: Option<String>) -> Result<Option<Value>, serde_json::Error> {
    text.as_deref().map(serde_json::from_str).transpose()
}

impl RawRow {
    /// The row, its JSON columns parsed.
    pub(crate) fn parse(self) -> Result<TaskRow, StoreError> {
        let bad = |col: &str| StoreError::corrupt(format!("tasks row {}: bad {col}", self.id));
        Ok(TaskRow {
            id: from_sql(self.id),
            priority: u8::try_from(self.priority).map_err(|_| bad("priority"))?,
            attempt: u32::try_from(self.attempt).map_err(|_| bad("attempt"))?,
            params: parse(self.params)?,
            result: parse(self.result)?,
            progress: parse(self.progress)?,
            kind: self.kind,
            class: self.class,
            session: self.session,
            group: self.group,
            parent: self.parent.map(from_sql),
            state: self.state,
            error: self.error,
            created_ns: from_sql(self.created_ns),
            started_ns: self.started_ns.map(from_sql),
            finished_ns: self.finished_ns.map(from_sql),
        })
    }
}
