//! # baton-store
//!
//! Durable state for the baton scheduling kernel, event-sourced.
//!
//! The kernel is deterministic, so its state is a function of its inputs. The store keeps:
//!
//! - a **journal** of kernel inputs ([`JournalEntry`]): every input the runtime applied, in
//!   order, *accepted or not* — a refused input still fires the deadlines due at its instant —
//!   each with its instant, the kernel's answer (accepted or not), and for durable tasks their
//!   kind, parameters and result. Each row carries a checksum ([`checksum::entry`]);
//! - **snapshots**: the kernel's canonical serde form after a given entry, with a digest
//!   ([`checksum::snapshot`]). The newest two are kept, and the journal is compacted up to the
//!   older one, so a corrupt newest snapshot falls back to the previous one and its suffix;
//! - a **`tasks` table** ([`TaskRow`]) mirroring the registry for people and SQL tools — the
//!   journal and snapshots are the truth, the table is for reading:
//!   `sqlite3 baton.db "select state, count(*) from tasks group by state"`.
//!
//! A runtime applies inputs to its kernel, groups them with the changed rows into a [`Batch`],
//! and acknowledges them once [`Store::commit`] returns (one durable transaction per batch:
//! group commit). Now and then it calls [`Store::snapshot`].
//!
//! **Recovery** ([`SqliteStore::open`]) loads the newest snapshot that verifies and replays the
//! journal after it, checking that every input gets the answer it got the first time. A torn or
//! corrupt tail (bad checksum, undecodable entry, a gap in seq, a diverging replay) is cut at
//! the last good entry and reported in the [`RecoveryReport`] — never a panic, never a silent
//! loss. The recovered kernel has no pending actions; tasks it shows running were interrupted,
//! and whether they run again (at least once) is the runtime's decision, helped by
//! [`Recovered::durable`] (the kind and parameters of each unfinished durable task).
//!
//! **Failure is fail-stop**: when a commit or snapshot fails (disk full, I/O error) the store
//! returns the typed error, then [`StoreError::Stopped`] for every later call. What was
//! acknowledged before is intact; restart and recover.
//!
//! The store is a trait ([`Store`]) so that other backends (Postgres, for more than one
//! machine) can follow; [`SqliteStore`] is the embedded default: SQLite (bundled) in WAL mode
//! with `synchronous = FULL`, so an acknowledged batch survives power loss. The schema is
//! versioned ([`SCHEMA_VERSION`], `PRAGMA user_version`) with migrations from version 1.
//!
//! ## Schema (version 1)
//!
//! ```sql
//! meta      (key TEXT PRIMARY KEY, value TEXT)   -- config (JSON), epoch_unix_ns,
//!                                                -- created_unix_ns, compacted_through
//! journal   (seq INTEGER PRIMARY KEY, t INTEGER, payload TEXT /* JSON */, crc INTEGER)
//! snapshots (seq INTEGER PRIMARY KEY, state TEXT /* JSON */, digest INTEGER, created_unix_ns INTEGER)
//! tasks     (id INTEGER PRIMARY KEY, kind, class, session, grp, parent, priority, state,
//!            attempt, params /* JSON */, result /* JSON */, error, progress /* JSON */,
//!            created_ns, started_ns, finished_ns)   -- indexed by state, class, created_ns
//! ```
//!
//! ## Where the brief was silent
//! - A store's config is fixed at creation; opening it with another is refused
//!   ([`StoreError::ConfigChanged`]).
//! - Recovery deletes the snapshots that did not verify (the report names them), and when the
//!   journal was cut it rewrites the rows of the recovered registry from the kernel and deletes
//!   rows of task ids the kernel has not given out yet.
//! - Without any snapshot that verifies, recovery starts from `Kernel::new(config)` if the
//!   journal was never compacted, and otherwise refuses ([`StoreError::Corrupt`]).
//! - Caller mistakes refused before anything is written (a seq that does not continue the
//!   journal, a snapshot seq out of range) return a typed error without stopping the store.

#![forbid(unsafe_code)]
// No panics on any input or database content: no unwrap, expect, panic or indexing outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod checksum;
mod entry;
mod error;
mod recovery;
mod replay;
mod row;
mod schema;
mod sql;
mod sqlite;
mod store;

pub use entry::JournalEntry;
pub use error::StoreError;
pub use recovery::{Cut, CutReason, Recovered, RecoveryReport, SkippedSnapshot};
pub use row::TaskRow;
pub use schema::SCHEMA_VERSION;
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{Batch, Store};
