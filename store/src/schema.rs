//! The SQLite schema and its migrations, versioned with `PRAGMA user_version`.

use crate::error::StoreError;
use rusqlite::Connection;

/// The migrations, in order: entry `i` takes the schema from version `i` to `i + 1`.
/// Released migrations are never edited; a new schema version appends one.
const MIGRATIONS: &[&str] = &[
    // v1: the first release.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE journal (
        seq     INTEGER PRIMARY KEY,
        t       INTEGER NOT NULL,
        payload TEXT NOT NULL,
        crc     INTEGER NOT NULL
    );
    CREATE TABLE snapshots (
        seq             INTEGER PRIMARY KEY,
        state           TEXT NOT NULL,
        digest          INTEGER NOT NULL,
        created_unix_ns INTEGER NOT NULL
    );
    CREATE TABLE tasks (
        id          INTEGER PRIMARY KEY,
        kind        TEXT,
        class       TEXT NOT NULL,
        session     TEXT,
        grp         TEXT,
        parent      INTEGER,
        priority    INTEGER NOT NULL,
        state       TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        params      TEXT,
        result      TEXT,
        error       TEXT,
        progress    TEXT,
        created_ns  INTEGER NOT NULL,
        started_ns  INTEGER,
        finished_ns INTEGER
    );
    CREATE INDEX tasks_state ON tasks (state);
    CREATE INDEX tasks_class ON tasks (class);
    CREATE INDEX tasks_created ON tasks (created_ns);",
];

/// The schema version this build writes (and the newest it reads).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the schema up to [`SCHEMA_VERSION`] inside the caller's transaction. Returns whether
/// the database was new (no schema at all).
pub(crate) fn migrate(conn: &Connection) -> Result<bool, StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let found = u32::try_from(found).map_err(|_| StoreError::corrupt("negative user_version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let new = found == 0;
    if new {
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        if tables > 0 {
            return Err(StoreError::NotAStore);
        }
    }
    for (version, sql) in (found..).zip(MIGRATIONS.iter().skip(found as usize)) {
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", version + 1)?;
    }
    Ok(new)
}
