//! What only the store knows about a durable task: its kind, parameters and result, read from
//! the store's documented `tasks` table (a read-only connection of its own).

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A task's durable columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durable {
    /// Its kind.
    pub kind: Option<String>,
    /// Its parameters.
    pub params: Option<Value>,
    /// The result of the attempt that completed it.
    pub result: Option<Value>,
}

/// A read-only connection to the store's `tasks` table.
#[derive(Clone, Debug)]
pub struct StoreView {
    conn: Arc<Mutex<Connection>>,
}

impl StoreView {
    /// Opens `path` read-only (the scheduler has created it).
    pub fn open(path: &Path) -> Result<StoreView, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(StoreView {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The durable columns of task `id` (on the blocking pool).
    pub async fn durable(&self, id: u64) -> Result<Durable, String> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let id = i64::try_from(id).map_err(|e| e.to_string())?;
            let row = conn
                .query_row(
                    "SELECT kind, params, result FROM tasks WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| e.to_string())?;
            let Some((kind, params, result)) = row else {
                return Ok(Durable::default());
            };
            let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
            Ok(Durable {
                kind,
                params: json(params),
                result: json(result),
            })
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
