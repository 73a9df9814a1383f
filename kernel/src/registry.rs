//! The task registry (and the session table): records keyed by an increasing id, in chunks.
//!
//! Task and session ids are issued in increasing order and never reused, so the registry stores
//! records in fixed chunks of 64 consecutive ids, and the recent chunks in a ring indexed by
//! chunk number minus the ring's first. A lookup is two index operations, O(1); records never
//! move once stored; a chunk is freed when its last record leaves, and the ring's front advances
//! past freed chunks. A long-lived record would otherwise pin the ring open behind it, so the ring
//! is kept dense: when it holds more than twice as many entries as live chunks (plus 64), its
//! oldest chunks move to an ordered map of stragglers (O(log) to reach, each chunk moves once).
//! Memory is O(live chunks) whatever the ids. Iteration is in id order, which the paged list
//! relies on.

use crate::id::{SessionId, TaskId};
use crate::session::Session;
use crate::task::Task;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, VecDeque};
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
    slots: Box<[Option<T>]>,
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
#[derive(Clone, Debug)]
pub(crate) struct Slab<T> {
    /// Chunks numbered below `base` that are still live (long-lived records).
    old: BTreeMap<u64, Chunk<T>>,
    /// Chunk `base + i` at index `i`; `None` for a chunk with no live record. The front and back
    /// entries are always `Some` (the ring is trimmed on removal).
    chunks: VecDeque<Option<Chunk<T>>>,
    /// The chunk number of `chunks[0]`.
    base: u64,
    /// `Some` entries in `chunks`.
    ring_live: usize,
    len: usize,
}

/// Two slabs are equal when they hold equal records, whatever their layout.
impl<T: Keyed + PartialEq> PartialEq for Slab<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.values().eq(other.values())
    }
}

impl<T: Keyed + Eq> Eq for Slab<T> {}

/// Every task record, by id.
pub(crate) type Registry = Slab<Task>;

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            old: BTreeMap::new(),
            chunks: VecDeque::new(),
            base: 0,
            ring_live: 0,
            len: 0,
        }
    }
}

fn split(raw: u64) -> (u64, usize) {
    (raw / CHUNK_LEN, (raw % CHUNK_LEN) as usize)
}

impl<T: Keyed> Slab<T> {
    fn chunk(&self, number: u64) -> Option<&Chunk<T>> {
        match number.checked_sub(self.base) {
            Some(i) => self.chunks.get(usize::try_from(i).ok()?)?.as_ref(),
            None => self.old.get(&number),
        }
    }

    fn chunk_mut(&mut self, number: u64) -> Option<&mut Chunk<T>> {
        match number.checked_sub(self.base) {
            Some(i) => self.chunks.get_mut(usize::try_from(i).ok()?)?.as_mut(),
            None => self.old.get_mut(&number),
        }
    }

    /// Whether the ring may grow to `len` entries and stay dense.
    fn dense(&self, len: usize) -> bool {
        len <= 2 * self.ring_live + 64
    }

    /// Moves the ring's oldest chunks to `old` until the ring is dense again.
    fn compact_ring(&mut self) {
        while !self.dense(self.chunks.len()) {
            match self.chunks.pop_front() {
                Some(Some(c)) => {
                    self.old.insert(self.base, c);
                    self.ring_live -= 1;
                }
                Some(None) => {}
                None => break,
            }
            self.base += 1;
        }
        while matches!(self.chunks.front(), Some(None)) {
            self.chunks.pop_front();
            self.base += 1;
        }
    }

    /// The chunk for `number`, created if needed.
    fn chunk_entry(&mut self, number: u64) -> Option<&mut Chunk<T>> {
        if self.chunks.is_empty() {
            // Every straggler stays below the ring.
            let floor = self.old.last_key_value().map_or(0, |(k, _)| k + 1);
            self.base = number.max(floor);
        }
        let Some(i) = number.checked_sub(self.base) else {
            return Some(self.old.entry(number).or_insert_with(Chunk::new));
        };
        let mut i = usize::try_from(i).ok()?;
        if i >= self.chunks.len() && !self.dense(i + 1) {
            // A jump far past the ring (a doctored snapshot, or after a long gap): every ring
            // chunk becomes a straggler and the ring restarts here.
            for (k, c) in std::mem::take(&mut self.chunks).into_iter().enumerate() {
                if let Some(c) = c {
                    self.old.insert(self.base + k as u64, c);
                }
            }
            self.ring_live = 0;
            self.base = number;
            i = 0;
        }
        while self.chunks.len() <= i {
            self.chunks.push_back(None);
        }
        let entry = self.chunks.get_mut(i)?;
        if entry.is_none() {
            *entry = Some(Chunk::new());
            self.ring_live += 1;
        }
        let grew = self.ring_live;
        if !self.dense(self.chunks.len()) {
            self.compact_ring();
        }
        debug_assert!(grew >= self.ring_live);
        self.chunk_mut(number)
    }

    /// O(1).
    pub(crate) fn get(&self, id: &T::Id) -> Option<&T> {
        let (chunk, slot) = split(T::raw(*id));
        self.chunk(chunk)?.slots.get(slot)?.as_ref()
    }

    /// O(1).
    pub(crate) fn get_mut(&mut self, id: &T::Id) -> Option<&mut T> {
        let (chunk, slot) = split(T::raw(*id));
        self.chunk_mut(chunk)?.slots.get_mut(slot)?.as_mut()
    }

    pub(crate) fn contains_key(&self, id: &T::Id) -> bool {
        self.get(id).is_some()
    }

    /// Stores `record` under its id, handing back a record it replaced. O(1) amortized for the
    /// ids the kernel issues (each larger than the last); O(log n) for an id older than the ring.
    pub(crate) fn insert(&mut self, record: T) -> Option<T> {
        let (number, slot) = split(T::raw(record.id()));
        let c = self.chunk_entry(number)?;
        let cell = c.slots.get_mut(slot)?;
        let old = cell.replace(record);
        if old.is_none() {
            c.live += 1;
            self.len += 1;
        }
        old
    }

    /// Removes a record. O(1) amortized (O(log n) for a straggler).
    pub(crate) fn remove(&mut self, id: &T::Id) -> Option<T> {
        let (number, slot) = split(T::raw(*id));
        let Some(i) = number.checked_sub(self.base) else {
            let c = self.old.get_mut(&number)?;
            let record = c.slots.get_mut(slot)?.take()?;
            c.live = c.live.saturating_sub(1);
            self.len = self.len.saturating_sub(1);
            if c.live == 0 {
                self.old.remove(&number);
            }
            return Some(record);
        };
        let entry = self.chunks.get_mut(usize::try_from(i).ok()?)?;
        let c = entry.as_mut()?;
        let record = c.slots.get_mut(slot)?.take()?;
        c.live = c.live.saturating_sub(1);
        self.len = self.len.saturating_sub(1);
        if c.live == 0 {
            *entry = None;
            self.ring_live = self.ring_live.saturating_sub(1);
            while matches!(self.chunks.front(), Some(None)) {
                self.chunks.pop_front();
                self.base += 1;
            }
            while matches!(self.chunks.back(), Some(None)) {
                self.chunks.pop_back();
            }
        }
        Some(record)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.old
            .values()
            .chain(self.chunks.iter().flatten())
            .flat_map(|c| c.slots.iter().filter_map(Option::as_ref))
    }

    /// Records in id order, mutably.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.old
            .values_mut()
            .chain(self.chunks.iter_mut().flatten())
            .flat_map(|c| c.slots.iter_mut().filter_map(Option::as_mut))
    }

    /// Ids in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = T::Id> + '_ {
        self.values().map(|t| t.id())
    }

    /// Removes every record.
    pub(crate) fn clear(&mut self) {
        self.old.clear();
        self.chunks.clear();
        self.base = 0;
        self.ring_live = 0;
        self.len = 0;
    }

    /// Checks the structure itself: every record under its own id, stragglers below the ring,
    /// the ring trimmed and dense, the counts right.
    pub(crate) fn consistent(&self) -> Result<(), String> {
        if self
            .old
            .last_key_value()
            .is_some_and(|(k, _)| *k >= self.base)
            && !self.chunks.is_empty()
        {
            return Err(format!(
                "a straggler chunk at or past the ring's first ({})",
                self.base
            ));
        }
        if matches!(self.chunks.front(), Some(None)) || matches!(self.chunks.back(), Some(None)) {
            return Err("the registry ring is not trimmed".to_owned());
        }
        let live = self.chunks.iter().flatten().count();
        if live != self.ring_live || !self.dense(self.chunks.len()) {
            return Err(format!(
                "the registry ring holds {} entries, {live} live (counted {})",
                self.chunks.len(),
                self.ring_live
            ));
        }
        let mut len = 0usize;
        let numbered = self.old.iter().map(|(k, c)| (*k, c)).chain(
            self.chunks
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.as_ref().map(|c| (self.base + i as u64, c))),
        );
        for (number, c) in numbered {
            let mut in_chunk = 0u32;
            for (slot, record) in c.slots.iter().enumerate() {
                if let Some(r) = record {
                    in_chunk += 1;
                    if T::raw(r.id()) != number * CHUNK_LEN + slot as u64 {
                        return Err(format!("{} stored under another id", r.id()));
                    }
                }
            }
            if in_chunk == 0 || in_chunk != c.live {
                return Err(format!(
                    "chunk {number} holds {in_chunk} records, counts {}",
                    c.live
                ));
            }
            len += in_chunk as usize;
        }
        if len != self.len {
            return Err(format!(
                "the registry holds {len} records, counts {}",
                self.len
            ));
        }
        Ok(())
    }

    /// Records with ids in `range`, in id order. O(1 + visited).
    pub(crate) fn range(&self, range: (Bound<T::Id>, Bound<T::Id>)) -> impl Iterator<Item = &T> {
        let first_chunk = match range.0 {
            Bound::Included(id) | Bound::Excluded(id) => T::raw(id) / CHUNK_LEN,
            Bound::Unbounded => 0,
        };
        let skip = usize::try_from(first_chunk.saturating_sub(self.base)).unwrap_or(usize::MAX);
        self.old
            .range(first_chunk..)
            .map(|(_, c)| c)
            .chain(self.chunks.iter().skip(skip).flatten())
            .flat_map(|c| c.slots.iter().filter_map(Option::as_ref))
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
            detached: false,
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
        // 200 came first, so chunks 0 and 1 (older ids) went among the stragglers; the chunk of
        // 200 was freed with its last record, and the ring emptied behind it.
        assert_eq!(
            (slab.old.len(), slab.ring_live, slab.chunks.len()),
            (2, 0, 0)
        );
        assert!(slab.remove(&SessionId(1)).is_some());
        assert!(slab.remove(&SessionId(63)).is_some());
        assert_eq!(slab.old.len(), 1);
        assert!(slab.get(&SessionId(1)).is_none());
        // An id before the ring's front is stored among the stragglers.
        assert!(slab.insert(session(5)).is_none());
        assert_eq!(
            slab.keys().map(|s| s.0).collect::<Vec<_>>(),
            vec![5, 64, 65]
        );
        assert_eq!(slab.old.len(), 2);
        assert!(slab.remove(&SessionId(5)).is_some());
        assert_eq!(slab.old.len(), 1);
    }

    #[test]
    fn a_long_lived_record_does_not_pin_the_ring_open() {
        let mut slab: Slab<Session> = Slab::default();
        assert!(slab.insert(session(1)).is_none());
        // 100,000 short-lived records after it, each removed before the next arrives.
        for id in 2..100_000u64 {
            assert!(slab.insert(session(id)).is_none());
            assert!(slab.remove(&SessionId(id)).is_some());
        }
        assert!(slab.insert(session(200_000)).is_none());
        assert!(
            slab.chunks.len() <= 2 * slab.ring_live + 64,
            "ring of {} entries for {} live chunks",
            slab.chunks.len(),
            slab.ring_live
        );
        assert_eq!(slab.get(&SessionId(1)).map(|s| s.id), Some(SessionId(1)));
        assert_eq!(
            slab.keys().map(|s| s.0).collect::<Vec<_>>(),
            vec![1, 200_000]
        );
        // A jump far ahead, as a doctored snapshot could ask for, allocates nothing in between.
        assert!(slab.insert(session(u64::MAX - 1)).is_none());
        assert!(slab.chunks.len() <= 2 * slab.ring_live + 64);
        assert_eq!(slab.len(), 3);
        let after: Vec<u64> = slab
            .range((Bound::Excluded(SessionId(1)), Bound::Unbounded))
            .map(|s| s.id.0)
            .collect();
        assert_eq!(after, vec![200_000, u64::MAX - 1]);
        assert_eq!(slab.consistent(), Ok(()));
        // A record stored under another id is found.
        if let Some(Some(c)) = slab.chunks.back_mut()
            && let Some(cell) = c.slots.iter_mut().find(|c| c.is_some())
        {
            *cell = Some(session(3));
        }
        assert!(
            slab.consistent()
                .unwrap_err()
                .contains("stored under another id")
        );
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
