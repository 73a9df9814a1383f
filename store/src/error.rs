//! Typed errors of the store.

use baton_kernel::{Config, ConfigError};
use thiserror::Error;

/// Everything that can go wrong opening, recovering or writing a store.
///
/// Errors from [`Store::commit`](crate::Store::commit) and [`Store::snapshot`](crate::Store::snapshot)
/// that come from the database are *fail-stop*: the first one is returned as it happened
/// ([`StoreError::Full`] or [`StoreError::Sqlite`]), and every later call returns
/// [`StoreError::Stopped`] with its text. Restarting and recovering is the way on.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// The database or its disk is full (`SQLITE_FULL`, or the configured size cap).
    #[error("store full: {0}")]
    Full(#[source] rusqlite::Error),
    /// A previous commit or snapshot failed; the store accepts nothing more. Reopen it to
    /// recover.
    #[error("store stopped after a failed write ({cause}); reopen it to recover")]
    Stopped {
        /// The text of the error that stopped it.
        cause: String,
    },
    /// The stored data is not what this store wrote and cannot be recovered around.
    #[error("corrupt store: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
    /// The file is a database, but not a baton store (it has tables and no schema version).
    #[error("not a baton store: the database has tables but no baton schema version")]
    NotAStore,
    /// The store was created with another configuration. The stored state is the truth: open
    /// it with the configuration it was created with (or start a new store).
    #[error("the store was created with another kernel Config; refusing to open it with this one")]
    ConfigChanged {
        /// The configuration the store was created with.
        stored: Box<Config>,
        /// The configuration given to `open`.
        given: Box<Config>,
    },
    /// The configuration given to `open` is invalid.
    #[error("invalid config: {0}")]
    InvalidConfig(#[from] ConfigError),
    /// The store was written by a newer version of this crate.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The schema version found in the file.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// JSON encoding or decoding failed.
    #[error("json: {0}")]
    Serde(#[from] serde_json::Error),
    /// A batch's entries do not continue the journal (`seq` must be last + 1, +2, …). Nothing
    /// was written; the store is not stopped.
    #[error("journal entry seq {found} where {expected} was expected")]
    SeqOutOfOrder {
        /// The seq that would continue the journal.
        expected: u64,
        /// The seq given.
        found: u64,
    },
    /// A snapshot's seq is after the last committed entry or before the newest snapshot.
    /// Nothing was written; the store is not stopped.
    #[error(
        "snapshot at seq {seq}: must be between the newest snapshot ({newest}) and the last committed entry ({last_seq})"
    )]
    SnapshotSeq {
        /// The seq given.
        seq: u64,
        /// The newest snapshot's seq.
        newest: u64,
        /// The last committed entry's seq.
        last_seq: u64,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            StoreError::Full(e)
        } else {
            StoreError::Sqlite(e)
        }
    }
}

impl StoreError {
    /// A [`StoreError::Corrupt`] with this text.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt { what: what.into() }
    }
}
