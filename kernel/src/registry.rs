//! The task registry (and the session table): a slab keyed by an increasing id, in chunks.
//!
//! Task and session ids are issued in increasing order and never reused, so the registry stores records in
//! fixed chunks of 64 consecutive ids, found through an ordered map of chunk numbers. A lookup is
//! one search in a map 64× smaller than the registry plus an index; records never move once
//! stored (no memmove of large records as in a `BTreeMap<TaskId, Task>`); a chunk is freed when
//! its last record leaves, so a long-lived task pins at most one chunk, not the ids after it.
//! Iteration is in id order, which the paged list relies on.

use crate::id::{SessionId, TaskId};
use crate::session::Session;
use crate::task::Task;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Ids per chunk: a power of two small enough that a mostly-empty chunk costs little.
const CHUNK_LEN: u64 = 64;

/// A record stored under an increasing, never-reused id.
pub(crate) trait Keyed {
    /// The id type.
    type Id: Copy + Ord + std::fmt::Display;
    /// The record's id as a number.
    fn raw(id: Self::Id) -> u64;
    /// The record's id.
    fn id(&self) -> Self::Id;
}

impl Keyed for Task {
    type Id = TaskId;
    fn raw(id: TaskId) -> u64 {
        id.0
    }
    fn id(&self) -> TaskId {
        self.id
    }
}

impl Keyed for Session {
    type Id = SessionId;
    fn raw(id: SessionId) -> u64 {
        id.0
    }
    fn id(&self) -> SessionId {
        self.id
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Chunk<T> {
    slots: Vec<Option<T>>,
    live: u32,
}

impl<T> Chunk<T> {
    fn new() -> Self {
        Chunk {
            slots: (0..CHUNK_LEN).map(|_| None).collect(),
            live: 0,
        }
    }
}

/// Records by id, in id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slab<T> {
    chunks: BTreeMap<u64, Chunk<T>>,
    len: usize,
}

/// Every task record, by id.
pub(crate) type Registry = Slab<Task>;

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: BTreeMap::new(),
            len: 0,
        }
    }
}

fn split(raw: u64) -> (u64, usize) {
    (raw / CHUNK_LEN, (raw % CHUNK_LEN) as usize)
}

impl<T: Keyed> Slab<T> {
    /// O(log(n/64)).
    pub(crate) fn get(&self, id: &T::Id) -> Option<&T> {
        let (chunk, slot) = split(T::raw(*id));
        self.chunks.get(&chunk)?.slots.get(slot)?.as_ref()
    }

    /// O(log(n/64)).
    pub(crate) fn get_mut(&mut self, id: &T::Id) -> Option<&mut T> {
        let (chunk, slot) = split(T::raw(*id));
        self.chunks.get_mut(&chunk)?.slots.get_mut(slot)?.as_mut()
    }

    pub(crate) fn contains_key(&self, id: &T::Id) -> bool {
        self.get(id).is_some()
    }

    /// Stores `task` under its id, handing back a record it replaced. O(log(n/64)).
    pub(crate) fn insert(&mut self, task: T) -> Option<T> {
        let (chunk, slot) = split(T::raw(task.id()));
        let c = self.chunks.entry(chunk).or_insert_with(Chunk::new);
        let cell = c.slots.get_mut(slot)?;
        let old = cell.replace(task);
        if old.is_none() {
            c.live += 1;
            self.len += 1;
        }
        old
    }

    /// Removes a record. O(log(n/64)).
    pub(crate) fn remove(&mut self, id: &T::Id) -> Option<T> {
        let (chunk, slot) = split(T::raw(*id));
        let c = self.chunks.get_mut(&chunk)?;
        let old = c.slots.get_mut(slot)?.take()?;
        c.live = c.live.saturating_sub(1);
        self.len = self.len.saturating_sub(1);
        if c.live == 0 {
            self.chunks.remove(&chunk);
        }
        Some(old)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.chunks
            .values()
            .flat_map(|c| c.slots.iter().filter_map(Option::as_ref))
    }

    /// Ids in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = T::Id> + '_ {
        self.values().map(|t| t.id())
    }

    /// Removes every record.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Records with ids in `range`, in id order. O(log(n/64) + visited).
    pub(crate) fn range(&self, range: (Bound<T::Id>, Bound<T::Id>)) -> impl Iterator<Item = &T> {
        let first_chunk = match range.0 {
            Bound::Included(id) | Bound::Excluded(id) => T::raw(id) / CHUNK_LEN,
            Bound::Unbounded => 0,
        };
        self.chunks
            .range(first_chunk..)
            .flat_map(|(_, c)| c.slots.iter().filter_map(Option::as_ref))
            .filter(move |t| match range.0 {
                Bound::Included(id) => t.id() >= id,
                Bound::Excluded(id) => t.id() > id,
                Bound::Unbounded => true,
            })
            .take_while(move |t| match range.1 {
                Bound::Included(id) => t.id() <= id,
                Bound::Excluded(id) => t.id() < id,
                Bound::Unbounded => true,
            })
    }
}

impl<T: Keyed + Serialize> Serialize for Slab<T> {
    /// A sequence of records in id order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.values())
    }
}

impl<'de, T: Keyed + Deserialize<'de>> Deserialize<'de> for Slab<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let records = Vec::<T>::deserialize(deserializer)?;
        let mut registry = Slab::default();
        for task in records {
            let id = task.id();
            if registry.insert(task).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "duplicate record for {id}"
                )));
            }
        }
        Ok(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;
    use crate::session::Session;
    use crate::time::Instant;

    fn session(id: u64) -> Session {
        Session {
            id: SessionId(id),
            name: format!("s{id}"),
            holder: None,
            idle_since: Instant::ZERO,
            lanes: Default::default(),
            tasks: Default::default(),
            counts: Default::default(),
            queue_len: 0,
            groups: Default::default(),
            closing: None,
            fenced: false,
        }
    }

    #[test]
    fn insert_get_remove_across_chunks_in_order() {
        let mut slab: Slab<Session> = Slab::default();
        for id in [200u64, 1, 64, 63, 65] {
            assert!(slab.insert(session(id)).is_none());
        }
        assert!(
            slab.insert(session(64)).is_some(),
            "replacing hands the old record back"
        );
        assert_eq!(slab.len(), 5);
        let ids: Vec<u64> = slab.keys().map(|s| s.0).collect();
        assert_eq!(ids, vec![1, 63, 64, 65, 200]);
        let after: Vec<u64> = slab
            .range((
                Bound::Excluded(SessionId(63)),
                Bound::Excluded(SessionId(200)),
            ))
            .map(|s| s.id.0)
            .collect();
        assert_eq!(after, vec![64, 65]);
        let through: Vec<u64> = slab
            .range((
                Bound::Included(SessionId(63)),
                Bound::Included(SessionId(65)),
            ))
            .map(|s| s.id.0)
            .collect();
        assert_eq!(through, vec![63, 64, 65]);
        assert_eq!(
            slab.remove(&SessionId(200)).map(|s| s.id),
            Some(SessionId(200))
        );
        assert!(slab.remove(&SessionId(200)).is_none());
        assert!(slab.get(&SessionId(7)).is_none());
        // The chunk of 200 was freed with its last record.
        assert_eq!(slab.chunks.len(), 2);
    }

    #[test]
    fn serde_round_trip_and_duplicates_refused() {
        let mut slab: Slab<Session> = Slab::default();
        slab.insert(session(3));
        slab.insert(session(70));
        let json = serde_json::to_string(&slab).expect("serializes");
        let back: Slab<Session> = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, slab);
        let dup = format!(
            "[{0},{0}]",
            serde_json::to_string(&session(3)).expect("serializes")
        );
        assert!(serde_json::from_str::<Slab<Session>>(&dup).is_err());
    }
}
