//! The ready index of one class: the heads of its available lanes, best first.
//!
//! Without a class limit, a lane's head is published and started within the same input, so the
//! set mostly holds zero or one entry and flips between them on every cycle; an ordered tree
//! would allocate and free its root node each time. A sorted vector keeps its buffer and costs a
//! few comparisons while small; past [`SMALL`] entries (a limited class with many waiting
//! sessions) the set moves to a `BTreeSet`, and back below [`SMALL`] / 4 (hysteresis, so a set
//! hovering at the threshold does not move back and forth).

use crate::queue::{LaneRef, Rank};
use std::collections::BTreeSet;

/// Up to this many entries the set is a sorted vector.
pub(crate) const SMALL: usize = 32;

type Entry = (Rank, LaneRef);

/// An ordered set of lane heads.
#[derive(Clone, Debug)]
pub(crate) enum ReadySet {
    Small(Vec<Entry>),
    Big(BTreeSet<Entry>),
}

impl Default for ReadySet {
    fn default() -> Self {
        ReadySet::Small(Vec::new())
    }
}

/// Equal when they hold the same entries, whichever form each is in.
impl PartialEq for ReadySet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ReadySet {}

impl ReadySet {
    /// O(log n) to find, plus O(n) to shift while small.
    pub(crate) fn insert(&mut self, e: Entry) {
        match self {
            ReadySet::Small(v) => {
                if let Err(i) = v.binary_search(&e) {
                    v.insert(i, e);
                }
                if v.len() > SMALL {
                    *self = ReadySet::Big(v.drain(..).collect());
                }
            }
            ReadySet::Big(set) => {
                set.insert(e);
            }
        }
    }

    pub(crate) fn remove(&mut self, e: &Entry) {
        match self {
            ReadySet::Small(v) => {
                if let Ok(i) = v.binary_search(e) {
                    v.remove(i);
                }
            }
            ReadySet::Big(set) => {
                set.remove(e);
                if set.len() < SMALL / 4 {
                    *self = ReadySet::Small(std::mem::take(set).into_iter().collect());
                }
            }
        }
    }

    /// The best entry. O(1) small, O(log n) big.
    pub(crate) fn first(&self) -> Option<&Entry> {
        match self {
            ReadySet::Small(v) => v.first(),
            ReadySet::Big(set) => set.first(),
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = ReadySet::default();
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ReadySet::Small(v) => v.len(),
            ReadySet::Big(set) => set.len(),
        }
    }

    /// Entries, best first.
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = &Entry> + '_> {
        match self {
            ReadySet::Small(v) => Box::new(v.iter()),
            ReadySet::Big(set) => Box::new(set.iter()),
        }
    }

    /// Checks its own shape: a small set is sorted without duplicates.
    pub(crate) fn consistent(&self) -> Result<(), String> {
        if let ReadySet::Small(v) = self
            && let Some(w) = v.windows(2).find(|w| w.first() >= w.get(1))
        {
            return Err(format!("ready index out of order at {w:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;

    fn e(urgency: u8, seq: u64, s: u64) -> Entry {
        (Rank { urgency, seq }, LaneRef::Session(SessionId(s)))
    }

    #[test]
    fn stays_ordered_through_growing_big_and_shrinking_small() {
        let mut r = ReadySet::default();
        // Inserted worst first, so every insert shifts.
        for i in (0..100u64).rev() {
            r.insert(e(1, i, i));
        }
        r.insert(e(1, 5, 5)); // a duplicate changes nothing
        assert!(matches!(r, ReadySet::Big(_)));
        assert_eq!(r.len(), 100);
        assert_eq!(r.first(), Some(&e(1, 0, 0)));
        for i in 0..95u64 {
            r.remove(&e(1, i, i));
        }
        assert!(matches!(r, ReadySet::Small(_)));
        assert_eq!(
            r.iter().map(|(rank, _)| rank.seq).collect::<Vec<_>>(),
            vec![95, 96, 97, 98, 99]
        );
        assert!(r.consistent().is_ok());
        let mut small = ReadySet::default();
        for i in 95..100u64 {
            small.insert(e(1, i, i));
        }
        assert_eq!(r, small);
        r.clear();
        assert_eq!(r.first(), None);
    }

    #[test]
    fn a_small_set_out_of_order_is_found() {
        let r = ReadySet::Small(vec![e(1, 2, 2), e(1, 1, 1)]);
        assert!(r.consistent().is_err());
        let r = ReadySet::Small(vec![e(1, 1, 1), e(1, 1, 1)]);
        assert!(r.consistent().is_err());
    }
}
