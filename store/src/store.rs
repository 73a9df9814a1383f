//! The store trait and the unit it commits.

use crate::entry::JournalEntry;
use crate::error::StoreError;
use crate::row::TaskRow;
use baton_kernel::Kernel;

/// What one commit writes, atomically: journal entries (consecutive seqs) and task row upserts.
///
/// A runtime groups the inputs of one turn of its loop into one batch, so one durable commit
/// (one `fsync`) acknowledges them all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Journal entries, in seq order, continuing the journal.
    pub entries: Vec<JournalEntry>,
    /// Task rows to upsert, applied in order after the entries.
    pub rows: Vec<TaskRow>,
}

impl Batch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.rows.is_empty()
    }
}

/// Durable storage for a kernel: journal, snapshots and the tasks table.
///
/// Writes are fail-stop: once a commit or snapshot fails in the database, every later call
/// returns [`StoreError::Stopped`]; the state that was acknowledged before is intact, and
/// reopening the store recovers it. Refusals of a caller's mistake made before anything is
/// written ([`StoreError::SeqOutOfOrder`], [`StoreError::SnapshotSeq`]) do not stop it.
pub trait Store: Send {
    /// Appends the batch's entries to the journal and upserts its rows in one transaction;
    /// returns once it is durable. An empty batch does nothing.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;

    /// Stores the kernel's state after entry `seq` (canonical JSON and its digest), keeps the
    /// newest two snapshots, and deletes the journal entries at or below the older kept one's
    /// seq (so falling back to it still finds its suffix).
    fn snapshot(&mut self, seq: u64, kernel: &Kernel) -> Result<(), StoreError>;

    /// The seq of the last committed entry (0 for an empty journal).
    fn last_seq(&self) -> u64;

    /// Whether a failed write has stopped the store.
    fn is_stopped(&self) -> bool;

    /// One task's row.
    fn task_row(&self, id: u64) -> Result<Option<TaskRow>, StoreError>;

    /// Task rows by id, after `after` (exclusive), at most `limit`, optionally only in `state`.
    fn task_rows(
        &self,
        state: Option<&str>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskRow>, StoreError>;

    /// How many rows are in each state, by state name.
    fn state_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;
}
